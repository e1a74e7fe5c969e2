#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md.
#   bash scripts/bench.sh            transitions and cost, makespan, executor speed next to moto's
#                                    interpreter, start-to-ready time of two function binaries
#   bash scripts/bench.sh --sizes    also every function's arm64 bootstrap and zip size
#                                    (cargo lambda build --release --arm64; ~15 min on 2 cores)
#   bash scripts/bench.sh --suite    also the test suite's time, clean and incremental
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=false
suite=false
for arg in "$@"; do
  case "$arg" in
    --sizes) sizes=true ;;
    --suite) suite=true ;;
    *) echo "usage: bash scripts/bench.sh [--sizes] [--suite]" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh > /dev/null
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "# Machine"
echo
echo "- $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "- $(awk '/MemTotal/ {printf "%.0f GiB memory", $2 / 1048576}' /proc/meminfo), $(uname -sr), $(rustc --version)"
echo

cargo build --quiet --release -p sfn-local -p get-status -p generate-tasks
python scripts/bench_moto_sfn.py local/benches/definitions --repeats 5 > "$work/peer.json"
target/release/sfn-local bench --load --definitions local/benches/definitions --peer "$work/peer.json"

echo
echo "## Start to ready (release build for this machine)"
echo
for fn in get-status generate-tasks; do
  printf -- '- '
  python scripts/start_to_ready.py "target/release/$fn" --runs 20 \
    --env EXECUTIONS_TABLE=bench --env GOALS_TABLE=bench --env ACTIONS_TABLE=bench \
    --env TASKS_TABLE=bench --env ENVIRONMENT=bench --env BEDROCK_MODEL_ID=bench \
    --env TASK_GENERATOR=offline
done

if $sizes; then
  echo
  echo "## Function sizes (arm64 release)"
  echo
  CARGO_TARGET_DIR=target-lambda cargo lambda build --release --arm64 --output-format zip > "$work/lambda.log" 2>&1 \
    || { tail -20 "$work/lambda.log"; exit 1; }
  python - <<'PY'
import pathlib, zipfile
print("| Function | bootstrap | zip |")
print("|---|---:|---:|")
functions = {d.name for d in pathlib.Path("functions").iterdir()}
for archive in sorted(pathlib.Path("target-lambda/lambda").glob("*/bootstrap.zip")):
    if archive.parent.name not in functions:
        continue
    with zipfile.ZipFile(archive) as z:
        binary = z.getinfo("bootstrap").file_size
    print(f"| {archive.parent.name} | {binary / 2**20:.2f} MiB | {archive.stat().st_size / 2**20:.2f} MiB |")
PY
fi

if $suite; then
  echo
  echo "## Test suite"
  echo
  export CARGO_TARGET_DIR="$work/target"
  start=$(date +%s)
  cargo test --quiet --workspace --all-features > "$work/clean.log" 2>&1 || { tail -30 "$work/clean.log"; exit 1; }
  echo "- clean: $(( $(date +%s) - start )) s (cargo test --workspace --all-features, empty target directory)"
  touch shared/src/lib.rs
  start=$(date +%s)
  cargo test --quiet --workspace --all-features > "$work/incremental.log" 2>&1 || { tail -30 "$work/incremental.log"; exit 1; }
  echo "- incremental: $(( $(date +%s) - start )) s (after touching shared/src/lib.rs)"
fi
