#!/usr/bin/env bash
# The main job, locally: builds the local executor and runs the shipped 64-action goal through the
# real state machine definition with the project's own handlers, on a virtual clock.
# Extra arguments go to `sfn-local run` (see `sfn-local run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --quiet -p sfn-local -- run "$@"
