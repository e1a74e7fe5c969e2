"""What each function must answer to its sample event, in the world seed_moto.py creates and the
functions before it in scripts/invoke-functions.sh have changed.

Usage: python3 scripts/expected_answers.py FUNCTION ANSWER_FILE   (prints what is wrong, exits 1)
For retry-failed and cancel it also asks moto (MOTO_ENDPOINT) what the execution was started with
and whether it really stopped.
"""
import hashlib
import json
import os
import sys
import time

import boto3

fn = sys.argv[1]
try:
    answer = json.load(open(sys.argv[2]))
except ValueError as e:
    print(f"the answer is not JSON: {e}")
    sys.exit(1)
machine = os.environ["STATE_MACHINE_ARN"]
RUN = "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-demo-run-1"
PARTIAL_RUN = "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-partial-run-1"
A0, A1, A2 = "goal-demo-a00", "goal-demo-a01", "goal-demo-a02"
RUN_REF = {"executionArn": RUN, "goalId": "goal-demo", "userId": "user-demo"}
BATCH = {**RUN_REF, "batchIndex": 0, "succeededActionIds": [A0, A1], "tasksWritten": 7}


def execution_arn(goal_id, key):
    """The ARN start-workflow and retry-failed derive from the goal and the idempotency key."""
    digest = hashlib.sha256(f"{goal_id}\n{key}".encode()).hexdigest()[:24]
    return machine.replace(":stateMachine:", ":execution:") + f":goal-{goal_id}-{digest}"


def fields(value, **expected):
    """Checks that `value` is an object holding each expected key with that value."""
    assert isinstance(value, dict), f"not an object: {value!r}"
    for key, want in expected.items():
        assert value.get(key) == want, f"{key} is {value.get(key)!r}, not {want!r}"
    return value


def described(arn):
    """The execution as moto's Step Functions knows it."""
    sfn = boto3.client("stepfunctions", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return sfn.describe_execution(executionArn=arn)


def http(code):
    """The API answer's body, once its status code is `code`."""
    assert answer.get("statusCode") == code, f"statusCode {answer.get('statusCode')}, not {code}"
    return json.loads(answer["body"])


def failed_a2(failed):
    assert [f["actionId"] for f in failed] == [A2], f"failedActions {failed!r}"
    assert failed[0]["error"] == "PermanentError", failed[0]


def check():
    if fn == "validate-input":
        fields(answer, **RUN_REF, goalTitle="A healthier year")
        assert "actionIds" not in answer, "a run over all actions carries no actionIds"
    elif fn == "get-actions":
        fields(answer, **RUN_REF, goalTitle="A healthier year")
        assert [a["actionId"] for a in answer["actions"]] == [A0, A1, A2], f"actions {answer['actions']!r}"
    elif fn == "create-batches":
        fields(answer, **RUN_REF, goalTitle="A healthier year", totalActions=3)
        batches = answer["batches"]
        assert [b["batchIndex"] for b in batches] == [0], f"batches {batches!r}"
        assert [a["actionId"] for a in batches[0]["actions"]] == [A0, A1, A2], f"batch {batches[0]!r}"
    elif fn == "generate-tasks":
        fields(answer, actionId=A0)
        assert answer["tasks"], "no tasks"
        for task in answer["tasks"]:
            fields(task, actionId=A0, goalId="goal-demo", executionArn=RUN)
        assert "failure" not in answer, f"failure {answer['failure']!r}"
    elif fn in ("save-tasks", "update-progress"):
        failed_a2(fields(answer, **BATCH)["failedActions"])
    elif fn == "aggregate-results":
        fields(answer, **RUN_REF, totalActions=3, succeededActions=2, tasksWritten=7, outcome="PARTIAL")
        failed_a2(answer["failedActions"])
    elif fn == "get-status":
        # update-progress has just counted all three actions, one of them failed.
        view = fields(http(200), executionArn=RUN, goalId="goal-demo", status="RUNNING", totalActions=3,
                      processedActions=3, failedCount=1, progressPercent=100)
        failed_a2(view["failedActions"])
    elif fn == "start-workflow":
        started = fields(http(202), status="RUNNING", executionArn=execution_arn("goal-new", "9b2f6c1e-start-1"))
        assert started.get("startDate"), "no startDate"
    elif fn == "retry-failed":
        arn = execution_arn("goal-partial", "retry:goal-partial-run-1")
        fields(http(202), status="RUNNING", executionArn=arn)
        # Only the action the partial run failed is processed again.
        fields(json.loads(described(arn)["input"]), goalId="goal-partial", actionIds=["goal-partial-a02"])
    elif fn == "update-goal-status":
        fields(answer, **RUN_REF, outcome="PARTIAL", goalStatus="partial", succeededActions=2)
        assert answer.get("completedAt"), "no completedAt"
    elif fn == "handle-error":
        event = json.load(open("events/handle-error.json"))
        fields(answer, error=event["error"]["Error"], cause=event["error"]["Cause"])
    elif fn == "finalize-execution":
        # update-goal-status ended the run before its TIMED_OUT event arrived.
        assert answer == "ALREADY_ENDED", f"{answer!r}, not 'ALREADY_ENDED'"
    elif fn == "maintenance":
        fields(answer, sweep={"overdue": 0, "finalised": 0, "stillRunning": 0,
                              "failed": 0, "alertsDelivered": 0, "alertsUndelivered": 0},
               archive={"records": 0, "written": [], "alreadyArchived": 0})
    elif fn == "cancel":
        arn = execution_arn("goal-new", "9b2f6c1e-start-1")
        fields(http(200), executionArn=arn, goalId="goal-new", status="ABORTED")
        status = described(arn)["status"]
        assert status == "ABORTED", f"moto reports the execution {status}"
    elif fn == "list-executions":
        # retry-failed has started a run over goal-partial's failed action: it comes first.
        page = fields(http(200), goalId="goal-partial", nextCursor=None)
        retry, partial = page["executions"]
        fields(retry, executionArn=execution_arn("goal-partial", "retry:goal-partial-run-1"), status="RUNNING",
               retryOf=PARTIAL_RUN, canRetry=False)
        # Retried already, so no longer retryable; archived once its 90 days are over.
        expired = time.time() >= 1803289800
        fields(partial, executionArn=PARTIAL_RUN, status="SUCCEEDED", totalActions=3, processedActions=3,
               failedCount=1, canRetry=False, archived=expired)
        fields(page["olderRuns"], location="s3://history/execution-history/")
    elif fn == "get-goal":
        # goal-partial is processing the retry retry-failed started; no run has saved tasks for it.
        goal = fields(http(200), goalId="goal-partial", status="processing", taskCount=0)
        ids = [a["actionId"] for a in goal["actions"]]
        assert ids == [f"goal-partial-a0{i}" for i in range(3)], f"actions {ids!r}"
        fields(goal["latestRun"], executionArn=execution_arn("goal-partial", "retry:goal-partial-run-1"),
               status="RUNNING")
    else:
        raise AssertionError(f"no expectation for {fn}")


try:
    check()
except (AssertionError, KeyError, TypeError, ValueError) as e:
    print(f"{type(e).__name__}: {e}")
    sys.exit(1)
