#!/usr/bin/env bash
# Third-party validators: cfn-lint and `sam validate --lint` on the template, asl-validator on every
# state machine definition. Tools come from scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" \
  AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}" SAM_CLI_TELEMETRY=0

echo "cfn-lint template.yaml"
cfn-lint template.yaml
echo "sam validate --lint"
sam validate --lint
for definition in statemachine/*.asl.json; do
  asl-validator --json-path "$definition"
done
