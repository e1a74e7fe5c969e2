#!/usr/bin/env bash
# Installs what the project needs beyond Rust, Python 3 and Node, by package name only: a Python
# virtualenv (.venv) with cargo-lambda (and its zig), the SAM CLI, cfn-lint, moto server and
# selenium; the npm validators in node_modules; headless Chromium and its driver from Debian;
# cargo-machete (crates.io), which finds unused dependencies.
# Safe to run again: it reinstalls only when the pinned lists change or a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cmp -s requirements-dev.txt .venv/.installed 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt .venv/.installed
fi

if ! cmp -s package-lock.json node_modules/.installed 2>/dev/null; then
  npm ci --silent --no-audit --no-fund
  cp package-lock.json node_modules/.installed
fi

# Headless Chromium and its driver, for the status page's browser test (Debian packages), unless
# CHROME_BIN and CHROMEDRIVER name a browser and driver already installed.
if [ ! -x "${CHROME_BIN:-/usr/bin/chromium}" ] || [ ! -x "${CHROMEDRIVER:-/usr/bin/chromedriver}" ]; then
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends chromium chromium-driver > /dev/null
fi

# cargo-machete, into the project's own cargo root so nothing outside the tree changes.
if [ ! -x .tools/bin/cargo-machete ]; then
  cargo install --quiet --locked --root .tools cargo-machete@0.9.2
fi
