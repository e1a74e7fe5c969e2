#!/usr/bin/env bash
# Every AWS call each function makes in the end-to-end run on the deployed stack, checked against
# the function's deployed role: deploys the dev environment of template.yaml (or --template PATH)
# into moto, runs local/tests/deployed_stack.rs's end-to-end test and evaluates each recorded call
# (scripts/iam_check.py). Exits non-zero when a role does not allow a call; lists the permissions
# no call used.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"
exec python3 scripts/deploy-local.py --check-iam "$@"
