"""Run the conformance cases through sfn-local serve's Step Functions API and compare with the
AWS-recorded results, as run_pack.py does through `sfn-local exec`.

Usage: python3 run_api.py --cases DIR --binary PATH/TO/sfn-local [--json FILE] [--timeout S]

Starts the Lambda stub and `sfn-local serve --api-clock virtual` on free ports of 127.0.0.1 (with
the recordings' account, 111111111111, as AWS_ACCOUNT_ID); each
case is CreateStateMachine, StartExecution and DescribeExecution until the execution closes.
Prints the failing cases, a tally per category and last the line 'N passed, N failed'.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import lambda_stub  # noqa: E402
from run_pack import decoded, matches  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/conformance"


def run_case(sfn, index, case, timeout):
    exp = json.loads((case / "expected.json").read_text())
    try:
        machine = sfn.create_state_machine(name=f"case-{index}", definition=(case / "definition.json").read_text(), roleArn=ROLE)
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=(case / "input.json").read_text())["executionArn"]
    except ClientError as e:
        return False, f"refused: {e.response['Error']['Code']}: {e.response['Error']['Message'][:160]}"
    deadline = time.time() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.time() > deadline:
            return False, f"no result in {timeout} s"
        time.sleep(0.002)
    output = described.get("output")
    got = {"status": described["status"], "output": None if output is None else json.loads(output),
           "error": described.get("error"), "cause": described.get("cause")}
    diffs = []
    for field in exp.get("compare", ["status", "output", "error", "cause"]):
        want, have = exp.get(field), got.get(field)
        if field in ("output", "cause"):
            want, have = decoded(want), decoded(have)
        if not matches(want, have):
            diffs.append(f"{field}: want {json.dumps(want)[:160]} got {json.dumps(have)[:160]}")
    return not diffs, "; ".join(diffs)


def start_serve(binary, lambda_url, directory):
    serve = subprocess.Popen(
        [binary, "serve", "--port", "0", "--key-file", os.path.join(directory, "dev-key"),
         "--api-clock", "virtual", "--lambda-endpoint", lambda_url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "AWS_ACCOUNT_ID": "111111111111"})
    line = serve.stdout.readline()
    if "listening on " not in line:
        serve.kill()
        sys.exit(f"sfn-local serve did not start: {line!r}")
    threading.Thread(target=serve.stdout.read, daemon=True).start()
    return serve, line.split("listening on ")[1].strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--json")
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    cases = sorted(p.parent for p in pathlib.Path(a.cases).rglob("expected.json"))
    if not cases:
        sys.exit(f"no cases under {a.cases}")
    stub = lambda_stub.serve(0)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as directory:
        serve, endpoint = start_serve(a.binary, f"http://127.0.0.1:{stub.server_address[1]}", directory)
        try:
            sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local",
                               config=Config(retries={"max_attempts": 1}))
            results, per_cat, t0 = [], {}, time.time()
            for index, case in enumerate(cases):
                ok, why = run_case(sfn, index, case, a.timeout)
                cat = case.parent.name
                tally = per_cat.setdefault(cat, [0, 0])
                tally[0 if ok else 1] += 1
                results.append({"case": case.name, "category": cat, "passed": ok, "detail": why})
                if not ok:
                    print(f"FAIL {cat}/{case.name}: {why}")
            elapsed = time.time() - t0
        finally:
            serve.terminate()
            serve.wait(timeout=10)
            stub.shutdown()
    for cat, (p, f) in sorted(per_cat.items()):
        print(f"  {cat:24s} {p:4d} passed {f:4d} failed")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(results, indent=1))
    passed = sum(r["passed"] for r in results)
    print(f"conformance through the API: {len(results)} cases in {elapsed:.1f} s")
    print(f"{passed} passed, {len(results) - passed} failed")


if __name__ == "__main__":
    main()
