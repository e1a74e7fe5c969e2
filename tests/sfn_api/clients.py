"""The Step Functions API of `sfn-local serve`, driven by boto3 and the AWS CLI.

Usage: python tests/sfn_api/clients.py PATH/TO/sfn-local

Starts `sfn-local serve` on a free port of 127.0.0.1 (and a Lambda stub beside it), runs every
check, stops both, and exits non-zero on the first failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/sfn"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


TOKENS = {}


class Lambda(BaseHTTPRequestHandler):
    """A Lambda Invoke endpoint: `double` doubles `n`, `boom` raises ValueError, `callback` keeps
    the task token it is given under its `id`."""

    def do_POST(self):
        name = self.path.split("/functions/")[1].split("/")[0].split(":")[-1]
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if name == "callback":
            TOKENS[payload["id"]] = payload["token"]
            body, headers = {"kept": payload["id"]}, {}
        elif name == "boom":
            body, headers = {"errorType": "ValueError", "errorMessage": "no good"}, {"X-Amz-Function-Error": "Unhandled"}
        else:
            body, headers = {"n": payload["n"] * 2}, {}
        data = json.dumps(body).encode()
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def start_server(binary, lambda_url, directory):
    serve = subprocess.Popen(
        [binary, "serve", "--port", "0", "--key-file", os.path.join(directory, "dev-key"), "--lambda-endpoint", lambda_url],
        stdout=subprocess.PIPE, stderr=open(os.path.join(directory, "serve.log"), "w"), text=True,
    )
    line = serve.stdout.readline()
    if "listening on " not in line:
        serve.kill()
        raise SystemExit(f"sfn-local serve did not start: {line!r}")
    threading.Thread(target=lambda: serve.stdout.read(), daemon=True).start()
    return serve, line.split("listening on ")[1].strip()


def definition(states, start):
    return json.dumps({"StartAt": start, "States": states})


def lambda_task(function, **more):
    return {"Type": "Task", "Resource": f"arn:aws:lambda:us-east-1:123456789012:function:{function}", **more}


def wait_for(sfn, arn, status="RUNNING"):
    deadline = time.time() + 20
    while time.time() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != status:
            return described
        time.sleep(0.05)
    raise AssertionError(f"{arn} still {status}")


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} {kwargs} succeeded")


def check_state_machines(sfn):
    pass_def = definition({"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}, "P")
    created = sfn.create_state_machine(name="pass", definition=pass_def, roleArn=ROLE)
    arn = created["stateMachineArn"]
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:pass", arn
    # The same request again answers the same state machine; a different one is refused.
    assert sfn.create_state_machine(name="pass", definition=pass_def, roleArn=ROLE)["stateMachineArn"] == arn
    other = definition({"Q": {"Type": "Succeed"}}, "Q")
    assert error_code(sfn.create_state_machine, name="pass", definition=other, roleArn=ROLE) == "StateMachineAlreadyExists"
    assert error_code(sfn.create_state_machine, name="bad name", definition=pass_def, roleArn=ROLE) == "InvalidName"
    assert error_code(sfn.create_state_machine, name="broken", definition='{"StartAt":"X","States":{}}', roleArn=ROLE) == "InvalidDefinition"
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert (described["name"], described["type"], described["status"], described["definition"]) == ("pass", "STANDARD", "ACTIVE", pass_def)
    sfn.update_state_machine(stateMachineArn=arn, definition=other)
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == other
    sfn.update_state_machine(stateMachineArn=arn, definition=pass_def)
    validated = sfn.validate_state_machine_definition(definition='{"StartAt":"X","States":{}}')
    assert validated["result"] == "FAIL" and validated["diagnostics"][0]["severity"] == "ERROR", validated
    assert sfn.validate_state_machine_definition(definition=pass_def)["result"] == "OK"
    for i in range(3):
        sfn.create_state_machine(name=f"extra-{i}", definition=pass_def, roleArn=ROLE)
    names = [m["name"] for page in sfn.get_paginator("list_state_machines").paginate(PaginationConfig={"PageSize": 2}) for m in page["stateMachines"]]
    assert names == ["pass", "extra-0", "extra-1", "extra-2"], names
    sfn.delete_state_machine(stateMachineArn=f"{arn[:-4]}extra-2")
    assert error_code(sfn.describe_state_machine, stateMachineArn=f"{arn[:-4]}extra-2") == "StateMachineDoesNotExist"
    assert error_code(sfn.describe_state_machine, stateMachineArn="arn:aws:states:us-east-1:123456789012:nope") == "InvalidArn"
    return arn


def check_tags(sfn):
    pass_def = definition({"P": {"Type": "Pass", "End": True}}, "P")
    arn = sfn.create_state_machine(name="tagged", definition=pass_def, roleArn=ROLE,
                                   tags=[{"key": "team", "value": "a"}])["stateMachineArn"]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "b"}, {"key": "env", "value": "dev"}])
    sfn.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "b"}]
    assert error_code(sfn.list_tags_for_resource, resourceArn=f"{arn}-gone") == "ResourceNotFound"
    assert error_code(sfn.tag_resource, resourceArn=arn, tags=[{"key": "a#b", "value": ""}]) == "ValidationException"


def check_activities(sfn):
    activity = sfn.create_activity(name="approve")["activityArn"]
    states = {"Approve": {"Type": "Task", "Resource": activity, "End": True}}
    machine = sfn.create_state_machine(name="approvals", definition=definition(states, "Approve"), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input='{"id": 1}')["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="approver")
    assert json.loads(task["input"]) == {"id": 1}, task
    sfn.send_task_success(taskToken=task["taskToken"], output='{"approved": true}')
    described = wait_for(sfn, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"approved": True}), described
    assert [a["name"] for a in sfn.list_activities()["activities"]] == ["approve"]
    sfn.delete_activity(activityArn=activity)
    assert error_code(sfn.describe_activity, activityArn=activity) == "ActivityDoesNotExist"


def check_executions(sfn):
    wait_def = definition({"W": {"Type": "Wait", "Seconds": 30, "End": True}}, "W")
    arn = sfn.create_state_machine(name="waits", definition=wait_def, roleArn=ROLE)["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a":1}')
    # The same name and input while it runs: the same execution; other input, or once it is closed: refused.
    again = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a":1}')
    assert again["executionArn"] == first["executionArn"] and again["startDate"] == first["startDate"]
    assert error_code(sfn.start_execution, stateMachineArn=arn, name="once", input='{"a":2}') == "ExecutionAlreadyExists"
    assert error_code(sfn.start_execution, stateMachineArn=arn, input="{not json") == "InvalidExecutionInput"
    assert error_code(sfn.start_execution, stateMachineArn=arn, name="a/b") == "InvalidName"
    assert error_code(sfn.start_execution, stateMachineArn=arn, input="x" * (256 * 1024 + 1)) == "ValidationException"
    assert error_code(sfn.start_execution, stateMachineArn=arn + "-missing") == "StateMachineDoesNotExist"
    assert sfn.describe_execution(executionArn=first["executionArn"])["status"] == "RUNNING"
    stopped = sfn.stop_execution(executionArn=first["executionArn"], error="Halt", cause="test over")
    assert "stopDate" in stopped
    described = sfn.describe_execution(executionArn=first["executionArn"])
    assert (described["status"], described["error"], described["cause"]) == ("ABORTED", "Halt", "test over"), described
    assert error_code(sfn.start_execution, stateMachineArn=arn, name="once", input='{"a":1}') == "ExecutionAlreadyExists"
    events = sfn.get_execution_history(executionArn=first["executionArn"])["events"]
    assert [e["type"] for e in events] == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"], events
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Halt", "cause": "test over"}
    for i in range(3):
        sfn.start_execution(stateMachineArn=arn, name=f"run-{i}")
    running = [e["name"] for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING", PaginationConfig={"PageSize": 2}) for e in page["executions"]]
    assert running == ["run-2", "run-1", "run-0"], running
    aborted = sfn.list_executions(stateMachineArn=arn, statusFilter="ABORTED")["executions"]
    assert [e["name"] for e in aborted] == ["once"], aborted
    for i in range(3):
        sfn.stop_execution(executionArn=f"{first['executionArn'][:-4]}run-{i}")
    for_execution = sfn.describe_state_machine_for_execution(executionArn=first["executionArn"])
    assert for_execution["definition"] == wait_def and for_execution["stateMachineArn"] == arn
    assert error_code(sfn.describe_execution, executionArn=first["executionArn"] + "x") == "ExecutionDoesNotExist"


def check_history(sfn):
    states = {
        "Double": lambda_task("double", ResultPath="$.doubled", Next="Each"),
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}, "ResultPath": "$.echoed", "Next": "Boom"},
        "Boom": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "boom", "Payload.$": "$"}, "End": True},
    }
    arn = sfn.create_state_machine(name="history", definition=definition(states, "Double"), roleArn=ROLE)["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, name="h", input='{"n": 21, "items": [1, 2]}')
    described = wait_for(sfn, started["executionArn"])
    assert described["status"] == "FAILED" and described["error"] == "ValueError", described
    events = sfn.get_execution_history(executionArn=started["executionArn"], maxResults=1000)["events"]
    types = [e["type"] for e in events]
    assert types[:6] == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited"], types
    assert types[-1] == "ExecutionFailed" and "TaskFailed" in types and "MapIterationSucceeded" in types, types
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] == e["id"] - 1 for e in events)
    exited = events[5]["stateExitedEventDetails"]
    assert exited["name"] == "Double" and json.loads(exited["output"]) == {"n": 21, "items": [1, 2], "doubled": {"n": 42}}, exited
    failed = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert (failed["resourceType"], failed["resource"], failed["error"]) == ("lambda", "invoke", "ValueError"), failed
    iteration = next(e for e in events if e["type"] == "MapIterationStarted")["mapIterationStartedEventDetails"]
    assert iteration["name"] == "Each" and iteration["index"] in (0, 1), iteration
    scheduled = next(e for e in events if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    assert json.loads(scheduled["parameters"])["FunctionName"] == "boom" and scheduled["region"] == "us-east-1", scheduled
    backwards = sfn.get_execution_history(executionArn=started["executionArn"], reverseOrder=True)["events"]
    assert [e["id"] for e in backwards] == [e["id"] for e in reversed(events)]
    pages = list(sfn.get_paginator("get_execution_history").paginate(executionArn=started["executionArn"], PaginationConfig={"PageSize": 4}))
    assert len(pages) == (len(events) + 3) // 4 and [e["id"] for p in pages for e in p["events"]] == [e["id"] for e in events]
    bare = sfn.get_execution_history(executionArn=started["executionArn"], includeExecutionData=False)["events"]
    assert "input" not in bare[0]["executionStartedEventDetails"] and "output" not in bare[5]["stateExitedEventDetails"]


def check_express(sfn):
    express = definition({"Add": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "End": True}}, "Add")
    arn = sfn.create_state_machine(name="adder", definition=express, roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    answer = sfn.start_sync_execution(stateMachineArn=arn, input='{"a": 2, "b": 3}')
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"sum": 5}, answer
    standard = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    assert error_code(sfn.start_sync_execution, stateMachineArn=standard) == "StateMachineTypeNotSupported"


def token_of(key):
    deadline = time.time() + 20
    while key not in TOKENS and time.time() < deadline:
        time.sleep(0.02)
    return TOKENS[key]


def check_callbacks(sfn):
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "callback", "Payload": {"id.$": "$.id", "token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 2, "TimeoutSeconds": 30, "End": True}
    arn = sfn.create_state_machine(name="callbacks", definition=definition({"Wait": task}, "Wait"), roleArn=ROLE)["stateMachineArn"]
    ok = sfn.start_execution(stateMachineArn=arn, input='{"id": "ok"}')["executionArn"]
    token = token_of("ok")
    for _ in range(3):  # heartbeats keep it waiting past HeartbeatSeconds
        time.sleep(1)
        sfn.send_task_heartbeat(taskToken=token)
    assert sfn.describe_execution(executionArn=ok)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    described = wait_for(sfn, ok)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"approved": True}, described
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ok)["events"]]
    assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted",
                     "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"], types
    scheduled = next(e for e in sfn.get_execution_history(executionArn=ok)["events"] if e["type"] == "TaskScheduled")
    details = scheduled["taskScheduledEventDetails"]
    assert (details["timeoutInSeconds"], details["heartbeatInSeconds"], details["resource"]) == (30, 2, "invoke.waitForTaskToken"), details
    assert error_code(sfn.send_task_success, taskToken=token, output="{}") == "TaskTimedOut"

    failed = sfn.start_execution(stateMachineArn=arn, input='{"id": "no"}')["executionArn"]
    token = token_of("no")
    assert error_code(sfn.send_task_success, taskToken=token, output="{not json") == "InvalidOutput"
    sfn.send_task_failure(taskToken=token, error="Rejected", cause="by a person")
    described = wait_for(sfn, failed)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Rejected", "by a person"), described

    quiet = sfn.start_execution(stateMachineArn=arn, input='{"id": "quiet"}')["executionArn"]
    token_of("quiet")
    described = wait_for(sfn, quiet)
    assert (described["status"], described["error"]) == ("FAILED", "States.HeartbeatTimeout"), described
    timed_out = [e for e in sfn.get_execution_history(executionArn=quiet)["events"] if e["type"] == "TaskTimedOut"]
    assert timed_out[0]["taskTimedOutEventDetails"]["error"] == "States.HeartbeatTimeout", timed_out


def check_test_state(sfn):
    def test(state, **kwargs):
        return sfn.test_state(definition=json.dumps(state), roleArn=ROLE, **kwargs)

    passed = test({"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, 1)"}, "Next": "After"}, input='{"a": 41}')
    assert (passed["status"], passed["nextState"], json.loads(passed["output"])) == ("SUCCEEDED", "After", {"sum": 42}), passed
    assert "inspectionData" not in passed
    started = time.time()
    waited = test({"Type": "Wait", "Seconds": 100000, "End": True}, input='{"w": 1}')
    assert waited["status"] == "SUCCEEDED" and json.loads(waited["output"]) == {"w": 1} and time.time() - started < 5, waited
    chose = test({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}], "Default": "Other"}, input='{"n": 1}')
    assert chose["nextState"] == "One", chose

    task = {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem", "Parameters": {"TableName": "t", "Key": {"id": {"S.$": "$.id"}}},
            "ResultSelector": {"name.$": "$.Item.name.S"}, "ResultPath": "$.found", "End": True}
    mocked = test(task, input='{"id": "7"}', inspectionLevel="DEBUG", mock={"result": '{"Item": {"name": {"S": "seven"}}}'})
    assert mocked["status"] == "SUCCEEDED" and json.loads(mocked["output"]) == {"id": "7", "found": {"name": "seven"}}, mocked
    data = mocked["inspectionData"]
    assert json.loads(data["input"]) == {"id": "7"} and json.loads(data["afterParameters"]) == {"TableName": "t", "Key": {"id": {"S": "7"}}}, data
    assert json.loads(data["result"]) == {"Item": {"name": {"S": "seven"}}}, data
    assert json.loads(data["afterInputPath"]) == {"id": "7"} and json.loads(data["afterResultSelector"]) == {"name": "seven"}, data
    assert json.loads(data["afterResultPath"]) == {"id": "7", "found": {"name": "seven"}}, data
    boom = {"error": "DynamoDB.AmazonDynamoDBException", "cause": "throttled"}
    failed = test(task, mock={"errorOutput": boom}, input='{"id": "7"}')
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", boom["error"], "throttled"), failed
    retriable = test({**task, "Retry": [{"ErrorEquals": ["States.ALL"]}]}, mock={"errorOutput": boom}, input='{"id": "7"}')
    assert retriable["status"] == "RETRIABLE", retriable
    caught = test({**task, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}]}, mock={"errorOutput": boom}, input='{"id": "7"}')
    assert (caught["status"], caught["nextState"], caught["error"]) == ("CAUGHT_ERROR", "Handle", boom["error"]), caught
    assert json.loads(caught["output"]) == {"Error": boom["error"], "Cause": "throttled"}, caught

    machine = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Output": "{% $prefix & $states.input.name %}", "End": True}}}
    named = sfn.test_state(definition=json.dumps(machine), stateName="B", roleArn=ROLE, input='{"name": "Ada"}', variables='{"prefix": "Dr. "}')
    assert named["status"] == "SUCCEEDED" and json.loads(named["output"]) == "Dr. Ada", named
    assert error_code(sfn.test_state, definition='{"Type": "Pass", "Next": 5}', roleArn=ROLE) == "InvalidDefinition"


def check_cli(endpoint):
    env = {**os.environ, **CREDENTIALS, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def aws(*args, ok=True):
        p = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", "stepfunctions", *args], capture_output=True, text=True, env=env)
        assert (p.returncode == 0) == ok, (args, p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout) if ok and p.stdout.strip() else p.stderr

    choice = definition({
        "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}], "Default": "Small"},
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Small": {"Type": "Fail", "Error": "TooSmall", "Cause": "n is small"},
    }, "Pick")
    arn = aws("create-state-machine", "--name", "cli", "--definition", choice, "--role-arn", ROLE)["stateMachineArn"]
    big = aws("start-execution", "--state-machine-arn", arn, "--name", "big", "--input", '{"n": 11}')["executionArn"]
    small = aws("start-execution", "--state-machine-arn", arn, "--input", '{"n": 1}')["executionArn"]
    deadline = time.time() + 20
    while aws("describe-execution", "--execution-arn", small)["status"] == "RUNNING" and time.time() < deadline:
        time.sleep(0.05)
    described = aws("describe-execution", "--execution-arn", big)
    assert described["status"] == "SUCCEEDED" and described["output"] == '"big"', described
    failed = aws("describe-execution", "--execution-arn", small)
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "TooSmall", "n is small"), failed
    listed = aws("list-executions", "--state-machine-arn", arn, "--status-filter", "SUCCEEDED")["executions"]
    assert [e["name"] for e in listed] == ["big"], listed
    history = aws("get-execution-history", "--execution-arn", small, "--reverse-order")["events"]
    assert history[0]["type"] == "ExecutionFailed" and history[0]["executionFailedEventDetails"]["error"] == "TooSmall", history[0]
    refused = aws("describe-execution", "--execution-arn", arn.replace("stateMachine", "execution") + ":nope", ok=False)
    assert "ExecutionDoesNotExist" in refused, refused
    sync = aws("create-state-machine", "--name", "cli-express", "--type", "EXPRESS", "--definition", choice, "--role-arn", ROLE)["stateMachineArn"]
    answer = aws("start-sync-execution", "--state-machine-arn", sync, "--input", '{"n": 50}')
    assert answer["status"] == "SUCCEEDED" and answer["output"] == '"big"', answer


def main():
    binary = sys.argv[1]
    stub = ThreadingHTTPServer(("127.0.0.1", 0), Lambda)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as directory:
        serve, endpoint = start_server(binary, f"http://127.0.0.1:{stub.server_port}", directory)
        try:
            sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local",
                               config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))
            for check in (check_state_machines, check_tags, check_activities, check_executions, check_history, check_express, check_callbacks, check_test_state):
                check(sfn)
                print(f"ok: boto3 {check.__name__}")
            check_cli(endpoint)
            print("ok: the AWS CLI")
        except BaseException:
            print(open(os.path.join(directory, "serve.log")).read()[-4000:], file=sys.stderr)
            raise
        finally:
            serve.terminate()
            serve.wait(timeout=10)
            stub.shutdown()


if __name__ == "__main__":
    main()
