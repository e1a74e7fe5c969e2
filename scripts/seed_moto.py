"""Creates the application's resources in a moto server as template.yaml defines them, and the
world the sample events in events/ describe; prints the functions' environment as KEY=VALUE lines.

Usage: python3 scripts/seed_moto.py ENDPOINT  (boto3 comes with moto in .venv)
"""
import json
import pathlib
import sys

import boto3
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUN_ARN = "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-demo-run-1"
PARTIAL_RUN_ARN = "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-partial-run-1"


class TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !GetAtt, ...) as plain values."""


TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main(endpoint):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=TemplateLoader)
    env = {}
    for logical, variable in [("GoalsTable", "GOALS_TABLE"), ("ActionsTable", "ACTIONS_TABLE"),
                              ("TasksTable", "TASKS_TABLE"), ("WorkflowExecutionsTable", "EXECUTIONS_TABLE")]:
        props = template["Resources"][logical]["Properties"]
        args = {"TableName": logical, "BillingMode": "PAY_PER_REQUEST", "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"]}
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb.create_table(**args)
        env[variable] = logical

    actions = [("Run 5 km three times a week", 0), ("Sleep seven hours a night", 1), ("Cook at home five days a week", 2)]
    for goal_id, status, current in [("goal-demo", "processing", RUN_ARN), ("goal-new", "draft", None),
                                     ("goal-partial", "partial", PARTIAL_RUN_ARN)]:
        goal = {"goalId": {"S": goal_id}, "userId": {"S": "user-demo"}, "title": {"S": "A healthier year"},
                "status": {"S": status}, "updatedAt": {"S": "2026-11-24T10:00:00Z"}}
        if current:
            goal["currentExecutionArn"] = {"S": current}
        ddb.put_item(TableName="GoalsTable", Item=goal)
        for title, i in actions:
            ddb.put_item(TableName="ActionsTable", Item={
                "goalId": {"S": goal_id}, "actionId": {"S": f"{goal_id}-a0{i}"}, "subGoalId": {"S": f"{goal_id}-s0"},
                "position": {"N": str(i)}, "title": {"S": title}, "description": {"S": "Sub-goal: Health."}})
    ddb.put_item(TableName="WorkflowExecutionsTable", Item={
        "executionArn": {"S": RUN_ARN}, "executionName": {"S": "goal-demo-run-1"}, "goalId": {"S": "goal-demo"},
        "userId": {"S": "user-demo"}, "idempotencyKey": {"S": "9b2f6c1e-start-1"}, "status": {"S": "RUNNING"},
        "totalActions": {"N": "3"}, "processedActions": {"N": "0"}, "failedCount": {"N": "0"},
        "processedActionIds": {"L": []}, "failedActions": {"L": []}, "progressPercent": {"N": "0"},
        "startedAt": {"S": "2026-11-24T10:00:00.000Z"}, "updatedAt": {"S": "2026-11-24T10:00:00Z"},
        "expiresAt": {"N": "1803290400"}})

    # goal-partial's run ended with its third action failed: what events/retry-failed.json retries.
    failed = "goal-partial-a02"
    ddb.put_item(TableName="WorkflowExecutionsTable", Item={
        "executionArn": {"S": PARTIAL_RUN_ARN}, "executionName": {"S": "goal-partial-run-1"},
        "goalId": {"S": "goal-partial"}, "userId": {"S": "user-demo"}, "idempotencyKey": {"S": "4c8d0e2a-start-1"},
        "status": {"S": "SUCCEEDED"}, "totalActions": {"N": "3"}, "processedActions": {"N": "3"},
        "failedCount": {"N": "1"},
        "processedActionIds": {"L": [{"S": f"goal-partial-a0{i}"} for i in range(3)]},
        "failedActions": {"L": [{"M": {"actionId": {"S": failed}, "error": {"S": "PermanentError"},
                                       "cause": {"S": "the model's answer is not valid task JSON"}}}]},
        "failedActionIds": {"L": [{"S": failed}]}, "progressPercent": {"N": "100"}, "etaSeconds": {"N": "0"},
        "startedAt": {"S": "2026-11-24T09:50:00.000Z"}, "updatedAt": {"S": "2026-11-24T09:50:20Z"},
        "stoppedAt": {"S": "2026-11-24T09:50:20Z"}, "expiresAt": {"N": "1803289800"}})

    sfn = session.client("stepfunctions", endpoint_url=endpoint)
    definition = (ROOT / "statemachine/start-activity.asl.json").read_text()
    for name in ["ValidateInput", "GetActions", "CreateBatches", "GenerateTasks", "SaveTasks", "UpdateProgress",
                 "AggregateResults", "UpdateGoalStatus", "HandleError"]:
        definition = definition.replace("${%sFunctionArn}" % name, f"arn:aws:lambda:us-east-1:123456789012:function:{name}")
    machine = sfn.create_state_machine(name="StartActivity", definition=definition,
                                       roleArn="arn:aws:iam::123456789012:role/states")
    env["STATE_MACHINE_ARN"] = machine["stateMachineArn"]
    env["ALERTS_TOPIC_ARN"] = session.client("sns", endpoint_url=endpoint).create_topic(Name="alerts")["TopicArn"]
    session.client("s3", endpoint_url=endpoint).create_bucket(Bucket="history")
    env.update({"ARCHIVE_BUCKET": "history", "TASK_GENERATOR": "offline", "BEDROCK_MODEL_ID": "offline",
                "ENVIRONMENT": "dev", "METRICS_NAMESPACE": "StartActivity", "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    for key, value in env.items():
        print(f"{key}={value}")


if __name__ == "__main__":
    main(sys.argv[1])
