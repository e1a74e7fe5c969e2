#!/usr/bin/env bash
# Runs every function under `cargo lambda watch` against a moto server on loopback and invokes each
# with its sample event (`cargo lambda invoke <fn> --data-file events/<fn>.json`), checking that
# every answer carries what its caller reads next (the next state, or the API client). Both servers
# are started here on free 127.0.0.1 ports and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 "$2"); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 1; done; return 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

moto_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" > "$work/moto.log" 2>&1 &
pids+=($!)
wait_for "$moto_port" 30 || { echo "moto did not start"; exit 1; }
python3 scripts/seed_moto.py "http://127.0.0.1:$moto_port" > "$work/functions.env"

watch_port=$(free_port)
cargo lambda watch -A 127.0.0.1 -P "$watch_port" --env-file "$work/functions.env" > "$work/watch.log" 2>&1 &
pids+=($!)
wait_for "$watch_port" 600 || { echo "cargo lambda watch did not start"; tail -20 "$work/watch.log"; exit 1; }

# What each function must answer: scripts/expected_answers.py FN ANSWER prints what is wrong.

functions=(validate-input get-actions create-batches generate-tasks save-tasks update-progress
  aggregate-results get-status start-workflow retry-failed update-goal-status handle-error finalize-execution
  maintenance cancel list-executions get-goal)
export STATE_MACHINE_ARN MOTO_ENDPOINT="http://127.0.0.1:$moto_port"
STATE_MACHINE_ARN=$(sed -n 's/^STATE_MACHINE_ARN=//p' "$work/functions.env")
failed=0
for fn in "${functions[@]}"; do
  data="events/$fn.json"
  if [ "$fn" = generate-tasks ]; then
    # The AI step refuses to start past its batch's budget, and `cargo lambda watch` builds a
    # function on its first call, which can take longer than that: build it with a call that is
    # refused at once, then give the sample event a batch that has just started.
    cargo lambda invoke "$fn" --data-ascii '{}' -A 127.0.0.1 -P "$watch_port" > /dev/null 2>&1 || true
    data="$work/generate-tasks.json"
    python3 - "$data" <<'PY'
import datetime, json, sys
event = json.load(open("events/generate-tasks.json"))
event["batchStartedAt"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
json.dump(event, open(sys.argv[1], "w"))
PY
  fi
  if [ "$fn" = cancel ]; then
    # The sample run has ended by now; cancel the run start-workflow started, still RUNNING in moto.
    data="$work/cancel.json"
    if ! python3 - "$work/start-workflow.out" "$data" <<'PY'
import json, sys
arn = json.loads(json.load(open(sys.argv[1]))["body"])["executionArn"]
event = json.load(open("events/cancel.json"))
event["pathParameters"]["executionArn"] = arn
event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/workflows/{arn}/cancel"
json.dump(event, open(sys.argv[2], "w"))
PY
    then
      echo "FAIL $fn: start-workflow started no run to cancel"; failed=$((failed + 1)); continue
    fi
  fi
  if ! cargo lambda invoke "$fn" --data-file "$data" -A 127.0.0.1 -P "$watch_port" -o json > "$work/$fn.out" 2> "$work/$fn.err"; then
    echo "FAIL $fn: $(cat "$work/$fn.out" "$work/$fn.err")"; failed=$((failed + 1)); continue
  fi
  if problem=$(python3 scripts/expected_answers.py "$fn" "$work/$fn.out" 2>&1); then
    echo "ok   $fn"
  else
    echo "FAIL $fn: $problem"; echo "     answer: $(cat "$work/$fn.out")"; failed=$((failed + 1))
  fi
done
echo "invoke: $(( ${#functions[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
