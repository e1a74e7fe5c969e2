"""Tests of the IAM check (scripts/iam_check.py): the evaluator and the mapping of requests to IAM
actions, and, end to end, that deleting one permission the code needs from a copy of the
template makes scripts/check-iam.sh fail naming the function, the action and the resource.

    python3 scripts/test_iam_check.py            all of it (the last deploys and runs the stack)
    python3 scripts/test_iam_check.py Evaluator  one class
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import iam_check  # noqa: E402
from samcli.yamlhelper import yaml_dump, yaml_parse  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/Tasks"


def allows(statements, action, resource, context=None, principal=None):
    return iam_check.decide([{"Version": "2012-10-17", "Statement": statements}], action, resource,
                            context, principal).allowed


class Evaluator(unittest.TestCase):
    def test_wildcards_match_as_iam_matches(self):
        grant = [{"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": f"{TABLE}/index/*"}]
        self.assertTrue(allows(grant, "dynamodb:GetItem", f"{TABLE}/index/byExecution"))
        self.assertTrue(allows(grant, "DynamoDB:getitem", f"{TABLE}/index/byExecution"), "actions ignore case")
        self.assertFalse(allows(grant, "dynamodb:GetItem", TABLE))
        self.assertFalse(allows(grant, "dynamodb:PutItem", f"{TABLE}/index/byExecution"))
        self.assertFalse(allows(grant, "dynamodb:GetItem", f"{TABLE.upper()}/index/x"), "resources keep case")
        one = [{"Effect": "Allow", "Action": "s3:?etObject", "Resource": "arn:aws:s3:::b.c/*"}]
        self.assertTrue(allows(one, "s3:GetObject", "arn:aws:s3:::b.c/k"))
        self.assertFalse(allows(one, "s3:GetObject", "arn:aws:s3:::bxc/k"), "a dot is a dot")
        self.assertFalse(allows(one, "s3:GetsObject", "arn:aws:s3:::b.c/k"), "? is one character")

    def test_not_action_and_not_resource(self):
        grant = [{"Effect": "Allow", "NotAction": "dynamodb:Delete*", "NotResource": f"{TABLE}/index/*"}]
        self.assertTrue(allows(grant, "dynamodb:PutItem", TABLE))
        self.assertFalse(allows(grant, "dynamodb:DeleteItem", TABLE))
        self.assertFalse(allows(grant, "dynamodb:Query", f"{TABLE}/index/byExecution"))

    def test_an_explicit_deny_wins_and_nothing_is_allowed_by_default(self):
        statements = [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
                      {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "NotResource": TABLE}]
        self.assertTrue(allows(statements, "dynamodb:DeleteItem", TABLE))
        decision = iam_check.decide([{"Statement": statements}], "dynamodb:DeleteItem", f"{TABLE}2")
        self.assertFalse(decision.allowed)
        self.assertEqual(decision.denied_by["Effect"], "Deny")
        self.assertFalse(allows([], "dynamodb:GetItem", TABLE))

    def test_conditions_are_evaluated_against_the_request(self):
        grant = [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:f",
                  "Principal": {"Service": "events.amazonaws.com"},
                  "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:1:rule/r-*"}}}]
        events = {"Service": "events.amazonaws.com"}
        rule = {"aws:sourcearn": "arn:aws:events:us-east-1:1:rule/r-1"}
        self.assertTrue(allows(grant, "lambda:InvokeFunction", "arn:f", rule, events))
        self.assertFalse(allows(grant, "lambda:InvokeFunction", "arn:f", {"aws:sourcearn": "arn:x"}, events))
        self.assertFalse(allows(grant, "lambda:InvokeFunction", "arn:f", {}, events), "a missing key matches nothing")
        self.assertFalse(allows(grant, "lambda:InvokeFunction", "arn:f", rule, {"Service": "sns.amazonaws.com"}))
        unknown = [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:x": "1"}}}]
        with self.assertRaises(iam_check.UnsupportedPolicy):
            allows(unknown, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:x": "0"})

    def test_an_account_root_principal_delegates_to_the_accounts_roles(self):
        key_policy = [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                       "Action": "kms:*", "Resource": "*"}]
        self.assertTrue(allows(key_policy, "kms:Decrypt", "arn:k", None, {"AWS": "arn:aws:iam::123456789012:role/r"}))
        self.assertFalse(allows(key_policy, "kms:Decrypt", "arn:k", None, {"AWS": "arn:aws:iam::210987654321:role/r"}))


STACK = iam_check.Stack({
    "region": "us-east-1", "parameters": {"AWS::AccountId": "123456789012"},
    "tables": {"TasksTable": {"name": "Tasks", "arn": TABLE},
               "ActionsTable": {"name": "Actions", "arn": TABLE.replace("Tasks", "Actions")}},
    "topics": {"AlertsTopic": {"arn": "arn:aws:sns:us-east-1:123456789012:alerts", "kmsMasterKeyId": "alias/a"}},
    "keys": {"AlertsKey": {"arn": "arn:aws:kms:us-east-1:123456789012:key/k1", "keyId": "k1"}},
    "keyAliases": {"alias/a": "k1"},
    "functions": {"SaveTasksFunction": {}},
})


def request(service, target=None, body=None, method="POST", path="/", status=200):
    return {"key": "SaveTasksFunction", "service": service, "target": target, "method": method, "path": path,
            "query": "", "body": body, "status": status}


class Mapping(unittest.TestCase):
    def calls(self, *requests):
        return [(c.action, c.resource) for c in iam_check.recorded_calls(list(requests), [], STACK)]

    def test_a_transaction_is_authorised_item_by_item(self):
        body = {"TransactItems": [{"Delete": {"TableName": "Tasks"}}, {"Update": {"TableName": "Actions"}},
                                  {"ConditionCheck": {"TableName": "Tasks"}}, {"Put": {"TableName": "Tasks"}}]}
        self.assertEqual(self.calls(request("dynamodb", "DynamoDB_20120810.TransactWriteItems", json.dumps(body))), [
            ("dynamodb:DeleteItem", TABLE), ("dynamodb:UpdateItem", STACK.table_arn("Actions")),
            ("dynamodb:ConditionCheckItem", TABLE), ("dynamodb:PutItem", TABLE)])

    def test_a_batch_per_table_and_a_query_on_its_index(self):
        batch = {"RequestItems": {"Tasks": [{"DeleteRequest": {}}], "Actions": [{"PutRequest": {}}]}}
        query = {"TableName": "Tasks", "IndexName": "byExecution"}
        self.assertEqual(self.calls(request("dynamodb", "DynamoDB_20120810.BatchWriteItem", json.dumps(batch)),
                                    request("dynamodb", "DynamoDB_20120810.Query", json.dumps(query))), [
            ("dynamodb:BatchWriteItem", TABLE), ("dynamodb:BatchWriteItem", STACK.table_arn("Actions")),
            ("dynamodb:Query", f"{TABLE}/index/byExecution")])

    def test_publishing_to_an_encrypted_topic_uses_its_key(self):
        body = "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aalerts&Message=m"
        key = "arn:aws:kms:us-east-1:123456789012:key/k1"
        self.assertEqual(self.calls(request("sns", body=body)), [
            ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:alerts"),
            ("kms:GenerateDataKey", key), ("kms:Decrypt", key)])

    def test_a_missing_object_needs_list_bucket(self):
        self.assertEqual(self.calls(request("s3", method="HEAD", path="/archive/day/2026-01-01.json", status=404)), [
            ("s3:GetObject", "arn:aws:s3:::archive/day/2026-01-01.json"), ("s3:ListBucket", "arn:aws:s3:::archive")])
        self.assertEqual(self.calls(request("s3", method="PUT", path="/archive/k")), [("s3:PutObject", "arn:aws:s3:::archive/k")])

    def test_a_call_signed_by_no_function_is_refused(self):
        with self.assertRaises(iam_check.UnsupportedPolicy):
            iam_check.recorded_calls([{**request("dynamodb"), "key": "someone"}], [], STACK)


def without(template, function, action, resource_text):
    """`template` with `action` taken out of `function`'s statement that grants it on a resource
    whose text contains `resource_text`."""
    for statement in template["Resources"][function]["Properties"]["Policies"][0]["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if action in statement["Action"] and any(resource_text in json.dumps(r) for r in resources):
            statement["Action"].remove(action)
            return template
    raise AssertionError(f"{function} has no statement granting {action} on {resource_text}")


class CheckOnTheDeployedStack(unittest.TestCase):
    def test_a_deleted_permission_fails_the_check(self):
        template = without(yaml_parse((ROOT / "template.yaml").read_text()),
                           "SaveTasksFunction", "dynamodb:UpdateItem", "ActionsTable")
        with tempfile.TemporaryDirectory() as workdir:
            path = pathlib.Path(workdir) / "template.yaml"
            path.write_text(yaml_dump(template))
            done = subprocess.run(["bash", str(ROOT / "scripts/check-iam.sh"), "--template", str(path)],
                                  cwd=ROOT, capture_output=True, text=True, timeout=1800)
        output = done.stdout + done.stderr
        self.assertNotEqual(done.returncode, 0, output[-3000:])
        denied = [line.strip()[len("DENIED "):] for line in output.splitlines() if line.strip().startswith("DENIED ")]
        self.assertTrue(denied, output[-3000:])
        for call in denied:
            self.assertRegex(call, r"^SaveTasksFunction: dynamodb:UpdateItem on "
                                   r"arn:aws:dynamodb:[^:]+:\d+:table/[^/]*ActionsTable[^/]* "
                                   r"for DynamoDB TransactWriteItems$")


if __name__ == "__main__":
    unittest.main(verbosity=2)
