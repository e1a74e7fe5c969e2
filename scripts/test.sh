#!/usr/bin/env bash
# Runs every check the project has: formatting, lints, all tests (unit, property, moto-backed
# adapter and API tests, workflow scenarios, the conformance pack), the third-party validators and
# a local deployment of the stack and a live invocation of every function.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"

# A clean CI build has no use for incremental state; it only costs disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "unused dependencies (cargo-machete)"
.tools/bin/cargo-machete

step "cargo test (all features)"
cargo test --workspace --all-features -- --skip conformance_pack --skip jsonata_test_suite

step "JSONata's own test suite (jsonata/test-suite) through jsonata-engine"
cargo test --quiet -p jsonata-engine --test suite -- --nocapture

step "the AWS-recorded conformance pack (local/conformance) through sfn-local exec"
cargo test --quiet -p sfn-local --all-features --test conformance -- --nocapture

step "the status page in headless Chromium against sfn-local serve"
cargo build --quiet -p sfn-local --all-features
python tests/browser/status_page.py target/debug/sfn-local

step "the Step Functions API of sfn-local serve through boto3 and the AWS CLI"
python tests/sfn_api/clients.py target/debug/sfn-local

step "147 real-world definitions (tests/asl-corpus) through sfn-local serve's Step Functions API"
python tests/asl-corpus/check.py target/debug/sfn-local --data plain

step "OpenAPI document"
openapi-spec-validator docs/openapi.yaml

step "actionlint on the GitHub workflows"
actionlint .github/workflows/*.yml

step "template and state machine validators"
bash scripts/validate.sh

step "the stack deployed into moto with sam deploy (dev and prod), read back, run end to end, every call checked against its role"
python3 scripts/deploy-local.py --verify

step "the IAM check's tests: its evaluator, its reading of requests, and a template missing a permission failing it"
python3 scripts/test_iam_check.py

step "every function under cargo lambda watch, invoked with its sample event, against moto"
bash scripts/invoke-functions.sh
