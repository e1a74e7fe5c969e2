"""Executions per second through a Step Functions API server: sfn-local serve beside moto's server.

Usage: python scripts/bench_sfn_api.py PATH/TO/sfn-local DEFINITIONS_DIR [--runs N] [--json]

Starts `sfn-local serve` (real clock) and moto's server (`execute_state_machine` on) on free ports
of 127.0.0.1, creates each `*.json` definition on both, and for each server and definition runs
`--runs` executions one after another (StartExecution, then DescribeExecution until it closes),
then `--runs` started at once and polled until all close. Prints a Markdown table (or JSON).
"""
import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::123456789012:role/bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(endpoint):
    return boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench",
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=64))


def wait_closed(sfn, arns):
    pending = set(arns)
    outputs = {}
    while pending:
        for arn in list(pending):
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                pending.discard(arn)
                outputs[arn] = (described["status"], described.get("output"))
        if pending:
            time.sleep(0.002)
    return outputs


def measure(sfn, machine, runs, tag):
    started = time.perf_counter()
    statuses = []
    for i in range(runs):
        arn = sfn.start_execution(stateMachineArn=machine, name=f"{tag}-seq-{i}", input="{}")["executionArn"]
        statuses.extend(s for s, _ in wait_closed(sfn, [arn]).values())
    sequential = runs / (time.perf_counter() - started)
    started = time.perf_counter()
    arns = [sfn.start_execution(stateMachineArn=machine, name=f"{tag}-par-{i}", input="{}")["executionArn"] for i in range(runs)]
    outputs = wait_closed(sfn, arns)
    at_once = runs / (time.perf_counter() - started)
    statuses.extend(s for s, _ in outputs.values())
    output = next(iter(outputs.values()))[1]
    return sequential, at_once, sorted(set(statuses)), output


def start(argv, line_hint=None):
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if line_hint:
        line = process.stdout.readline()
        threading.Thread(target=process.stdout.read, daemon=True).start()
        return process, line.split("listening on ")[1].strip()
    return process, None


def wait_up(url):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"moto did not start at {url}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("definitions")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    paths = sorted(pathlib.Path(a.definitions).glob("*.json"))
    with tempfile.TemporaryDirectory() as directory:
        serve, sfn_local = start([a.binary, "serve", "--port", "0", "--key-file", os.path.join(directory, "k")], True)
        port = free_port()
        moto, _ = start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
        moto_url = f"http://127.0.0.1:{port}"
        try:
            wait_up(moto_url)
            request = urllib.request.Request(moto_url + "/moto-api/config", method="POST",
                                             data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode())
            urllib.request.urlopen(request, timeout=5)
            rows = []
            for path in paths:
                row = {"name": path.stem}
                for label, endpoint in (("sfn-local", sfn_local), ("moto", moto_url)):
                    sfn = client(endpoint)
                    machine = sfn.create_state_machine(name=path.stem, definition=path.read_text(), roleArn=ROLE)["stateMachineArn"]
                    row[label] = measure(sfn, machine, a.runs, label)
                rows.append(row)
        finally:
            for process in (serve, moto):
                process.terminate()
                process.wait(timeout=10)
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"| definition | sfn-local one at a time | moto one at a time | sfn-local {a.runs} at once | moto {a.runs} at once | statuses | same output |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        (ls, lp, lst, lout), (ms, mp, mst, mout) = row["sfn-local"], row["moto"]
        same = "yes" if json.loads(lout or "null") == json.loads(mout or "null") else "no"
        print(f"| {row['name']} | {ls:.1f}/s | {ms:.1f}/s | {lp:.1f}/s | {mp:.1f}/s | {'/'.join(lst)} · {'/'.join(mst)} | {same} |")


if __name__ == "__main__":
    main()
