#!/usr/bin/env bash
# Installs everything the project needs beyond Rust, Python 3 and Node, by package name only:
# a Python virtualenv (.venv) with cargo-lambda (and its zig), the SAM CLI, cfn-lint, moto server and
# actionlint; and the npm tools (asl-validator) in node_modules. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import sys; sys.exit(0)" >/dev/null 2>&1 || \
   ! cmp -s requirements-dev.txt .venv/.requirements-installed 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt .venv/.requirements-installed
fi

if [ ! -d node_modules ] || ! cmp -s package-lock.json node_modules/.package-lock-installed 2>/dev/null; then
  npm ci --silent --no-audit --no-fund
  cp package-lock.json node_modules/.package-lock-installed
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
