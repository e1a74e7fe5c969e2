"""Times Lambda-free definitions in moto's Step Functions interpreter (execute_state_machine).

Each definition runs `--repeats` times in process; the wall time of one execution is from
StartExecution to the first DescribeExecution that shows it finished. Prints JSON:
[{"name", "status", "meanWallSeconds", "output"}].
"""

import argparse
import json
import pathlib
import time

import boto3
from moto import mock_aws

ROLE = "arn:aws:iam::123456789012:role/bench"


@mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
def time_definitions(folder: pathlib.Path, repeats: int) -> list:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    figures = []
    for path in sorted(folder.glob("*.json")):
        machine = sfn.create_state_machine(
            name=path.stem, definition=path.read_text(), roleArn=ROLE
        )["stateMachineArn"]
        total = 0.0
        for run in range(repeats):
            started = time.perf_counter()
            arn = sfn.start_execution(
                stateMachineArn=machine, name=f"run-{run}", input="{}"
            )["executionArn"]
            while (described := sfn.describe_execution(executionArn=arn))[
                "status"
            ] == "RUNNING":
                time.sleep(0.001)
            total += time.perf_counter() - started
        figures.append(
            {
                "name": path.stem,
                "status": described["status"],
                "meanWallSeconds": total / repeats,
                "output": json.loads(described.get("output", "null")),
            }
        )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=pathlib.Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(time_definitions(args.folder, args.repeats), indent=2))
