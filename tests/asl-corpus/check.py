"""The real-world definitions of this folder through `sfn-local serve`'s Step Functions API.

Usage: python tests/asl-corpus/check.py PATH/TO/sfn-local [--data plain|synth|both] [--json FILE]

1. Every definition goes to ValidateStateMachineDefinition and CreateStateMachine. The ones refused
   must be exactly EXPECTED_REFUSALS (state machine features not implemented, each with the field
   named in the refusal): a definition accepted later fails this check until it leaves the list.
2. Every accepted definition with a Task state runs once per data mode on `ARN#TC`, all its Tasks
   mocked (run.py builds the mocks and inputs), on the virtual clock so that waits and retry
   intervals take no time. Each execution must end SUCCEEDED or in a class run.py puts down to the
   mocked data (`data: ...`), or be one of REVIEWED (checked by hand: AWS's behaviour on that data).
   A running execution must keep adding events (a loop over constant mocks ends at AWS's limit of
   25,000 events); one that adds none for PROBE_SECONDS on the virtual clock has stalled.
3. No server exit, no 5xx answer, no request over 20 s.

Prints the figures (accepted N/147, executions by class, seconds) and exits non-zero on any failure.
"""
import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("corpus_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

# Definitions refused at creation, and the field each refusal names: Distributed Map reading,
# batching or writing items elsewhere than the state's input and output.
EXPECTED_REFUSALS = {
    "d039": "ItemReader",
    "d040": "ItemReader",
    "d045": "ItemReader",
    "d118": "ResultWriter",
    "d193": "ItemReader",
    "d194": "ItemBatcher",
    "d196": "ItemReader",
    "d215": "ItemReader",
}

# Outcomes checked by hand that are AWS's answer to the mocked data, not the emulator's doing.
REVIEWED = {
    ("synth", "d035", "States.QueryEvaluationError"):
        "the mocked ResponseBody.count is the string \"1\"; JSONata's + refuses a string (T2001)",
    # `[?(@.TargetLanguageCode==es)]`, `[?(@.Name==Receipt)]`: Jayway reads a bare word as a number
    # and cannot, so the state fails when it reads the path (the definition itself is accepted).
    ("synth", "d085", "States.Runtime"): "a filter compares with an unquoted word",
    ("synth", "d147", "States.Runtime"): "a filter compares with an unquoted word",
}

# How often running executions are checked for progress; one adding no event between two checks
# on the virtual clock (where mocks answer at once and waits take no time) has stalled.
PROBE_SECONDS = 3


def refusal_field(message):
    for field in EXPECTED_REFUSALS.values():
        if f"field '{field}'" in (message or ""):
            return field
    return None


def accept_all(binary, defs, failures, anomalies):
    srv = run.Server(binary)
    accepted, refused = [], {}
    try:
        for did, d in defs.items():
            body = json.dumps(d)
            v, ve = run.call(srv, anomalies, did, "validate_state_machine_definition", definition=body)
            c, ce = run.call(srv, anomalies, did, "create_state_machine", name=did, definition=body, roleArn=run.ROLE)
            if c:
                accepted.append(did)
            else:
                refused[did] = ce.get("message")
            if (v or {}).get("result") == "OK" and not c:
                failures.append(f"{did}: ValidateStateMachineDefinition says OK, CreateStateMachine refuses: {refused[did]}")
        crashes = srv.crashes
    finally:
        srv.stop()
    failures += [f"server exit while creating {c['def']}: {c['stderr_tail'][-300:]}" for c in crashes]
    for did, message in sorted(refused.items()):
        want = EXPECTED_REFUSALS.get(did)
        if want is None:
            failures.append(f"{did}: refused: {message}")
        elif refusal_field(message) != want:
            failures.append(f"{did}: refused for another reason than its {want}: {message}")
    for did in sorted(set(EXPECTED_REFUSALS) - set(refused)):
        failures.append(f"{did}: now accepted; remove it from EXPECTED_REFUSALS")
    return accepted


def run_mode(binary, defs, ids, mode, failures, anomalies):
    """Starts every execution at once on the virtual clock and classes how each ends."""
    inputs = {d: (run.materialize(run.synth_data(defs[d])) if mode == "synth" else {}) for d in ids}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as mockfile:
        json.dump(run.build_mocks({d: defs[d] for d in ids}, mode), mockfile)
    srv = run.Server(binary, ["--mock-config", mockfile.name, "--api-clock", "virtual"])
    classes = {}
    try:
        running = {}
        for did in ids:
            c, ce = run.call(srv, anomalies, did, "create_state_machine", name=did, definition=json.dumps(defs[did]), roleArn=run.ROLE)
            if not c:
                failures.append(f"{mode} {did}: not created: {ce}")
                continue
            x, xe = run.call(srv, anomalies, did, "start_execution", stateMachineArn=c["stateMachineArn"] + "#TC",
                             input=json.dumps(inputs[did]))
            if not x:
                failures.append(f"{mode} {did}: not started: {xe}")
                continue
            running[did] = x["executionArn"]
        progress = {did: (0, time.time()) for did in running}
        last_probe = time.time()
        while running:
            for did, arn in list(running.items()):
                r, re_ = run.call(srv, anomalies, did, "describe_execution", executionArn=arn)
                if r is None:
                    failures.append(f"{mode} {did}: DescribeExecution failed: {re_}")
                    del running[did]
                elif r["status"] != "RUNNING":
                    tail = run.history_tail(srv, anomalies, did, arn)
                    cls = run.exec_classify(r["status"], r.get("error"), r.get("cause"), tail)
                    classes[did] = cls
                    reviewed = (mode, did, r.get("error")) in REVIEWED
                    if not (cls == "SUCCEEDED" or cls.startswith("data: ") or reviewed):
                        failures.append(f"{mode} {did}: {cls}: {r.get('error')} {(r.get('cause') or '')[:300]}")
                    del running[did]
            if running and time.time() - last_probe > PROBE_SECONDS:
                # A running execution must be adding events; one that is not has stalled.
                last_probe = time.time()
                for did, arn in list(running.items()):
                    h, _e = run.call(srv, anomalies, did, "get_execution_history", executionArn=arn,
                                     reverseOrder=True, maxResults=1)
                    last = h["events"][0]["id"] if h and h["events"] else 0
                    seen, since = progress[did]
                    if last > seen:
                        progress[did] = (last, time.time())
                        continue
                    r, _e = run.call(srv, anomalies, did, "describe_execution", executionArn=arn)
                    if r and r["status"] == "RUNNING" and time.time() - since > PROBE_SECONDS:
                        classes[did] = "hang"
                        failures.append(f"{mode} {did}: stalled at event {last} on the virtual clock")
                        run.call(srv, anomalies, did, "stop_execution", executionArn=arn, error="Check", cause="check.py")
                        del running[did]
            time.sleep(0.1)
        crashes = srv.crashes
    finally:
        srv.stop()
        os.unlink(mockfile.name)
    failures += [f"{mode}: server exit at {c['def']}: {c['stderr_tail'][-300:]}" for c in crashes]
    return classes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--data", choices=["plain", "synth", "both"], default="both")
    ap.add_argument("--json", default=None, help="where to write the figures as JSON")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    t0 = time.time()
    defs = {}
    for name in sorted(os.listdir(os.path.join(HERE, "defs"))):
        with open(os.path.join(HERE, "defs", name)) as fh:
            defs[name.split(".")[0]] = json.load(fh)
    failures, anomalies = [], []
    accepted = accept_all(binary, defs, failures, anomalies)
    with_task = [d for d in accepted if any(s.get("Type") == "Task" for _, s, _ in run.iter_states(defs[d].get("States")))]
    figures = {"definitions": len(defs), "accepted": len(accepted), "refused": len(defs) - len(accepted),
               "executions": {}, "by_class": {}, "seconds": {}}
    figures["seconds"] = {"create": round(time.time() - t0, 1)}
    for mode in (["plain", "synth"] if a.data == "both" else [a.data]):
        t1 = time.time()
        classes = run_mode(binary, defs, with_task, mode, failures, anomalies)
        figures["seconds"][mode] = round(time.time() - t1, 1)
        figures["executions"][mode] = len(classes)
        figures["by_class"][mode] = dict(Counter(classes.values()).most_common())
    failures += [f"{x['kind']} at {x['def']} ({x.get('op')}): {x.get('message') or x.get('error')}" for x in anomalies]
    figures["seconds"]["total"] = round(time.time() - t0, 1)
    print(json.dumps(figures, indent=1))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    for f in failures:
        print("FAIL", f)
    print(f"asl-corpus: {len(accepted)}/{len(defs)} accepted, {sum(figures['executions'].values())} executions, "
          f"{len(failures)} failures, {figures['seconds']['total']} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
