"""Every AWS call the deployed functions made, checked against the roles the deployed stack gives them.

The end-to-end run on the deployed stack (local/tests/deployed_stack.rs) signs each function's calls
with an access key named for the function; moto's server (scripts/moto_serial.py --record) writes
each such request down, and the ports that do not reach moto in that run (Step Functions through
the in-process executions, the model through the offline generator) write theirs to a file of their
own. Each call becomes the IAM actions and resources AWS authorises it as (a transaction or a
batch item by item, as IAM does), with the permissions the service checks on the caller's behalf
(the key of an encrypted topic, S3's ListBucket for a missing object), and the permissions the
platform uses for the function (its log group, X-Ray). Each is evaluated against the caller's
role read back from moto's IAM (inline and managed policies) by moto's own policy statement
evaluator, completed here with IAM's wildcards, NotResource, conditions and principals.

The state machine's role is checked for lambda:InvokeFunction on every function its definition
calls, and its logging and tracing; the EventBridge rules, which have no role, through the
invoke permission (resource policy) of the function each targets.

A call the role does not allow is a failure naming function, action and resource; a permission of
the template no call used is listed.
"""
import dataclasses
import json
import re
import urllib.parse

from moto.iam.access_control import IAMPolicyStatement, PermissionResult

PERMITTED, DENIED, NEUTRAL = PermissionResult.PERMITTED, PermissionResult.DENIED, PermissionResult.NEUTRAL


class UnsupportedPolicy(Exception):
    """A policy element this evaluator cannot decide: the check fails rather than guess."""


# --- the evaluator ---------------------------------------------------------------------------

def _listed(value):
    return value if isinstance(value, list) else [value]


def wildcard_matches(pattern, value, ignore_case=False):
    """IAM's matching: `*` any run of characters, `?` any one, everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _condition_holds(operator, key, expected, context):
    """One condition key of one operator block, as IAM evaluates it (a key the request does not
    carry matches nothing, except under ...IfExists and the negated operators)."""
    if_exists = operator.endswith("IfExists")
    base = operator[:-len("IfExists")] if if_exists else operator
    if ":" in base:
        raise UnsupportedPolicy(f"set operator {operator}")
    actual = context.get(key.lower())
    negated = "Not" in base
    if actual is None:
        return if_exists or negated
    expected = [str(e) for e in _listed(expected)]
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        found = actual in expected if base.startswith("String") else any(wildcard_matches(e, actual) for e in expected)
    elif base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        found = actual.lower() in [e.lower() for e in expected]
    elif base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        found = any(wildcard_matches(e, actual) for e in expected)
    elif base == "Bool":
        found = actual.lower() in [e.lower() for e in expected]
    else:
        raise UnsupportedPolicy(f"condition operator {operator}")
    return not found if negated else found


def conditions_hold(conditions, context):
    return all(_condition_holds(operator, key, expected, context)
               for operator, block in conditions.items() for key, expected in block.items())


def principal_matches(element, principal):
    """Whether a resource policy's Principal names `principal` ({"AWS": arn} or {"Service": name});
    an account's root names every role of the account."""
    if element == "*":
        return True
    for kind, names in principal.items():
        for name in _listed(element.get(kind, [])):
            if name in ("*", names):
                return True
            if kind == "AWS" and re.fullmatch(r"arn:aws:iam::(\d+):root|\d{12}", name):
                account = re.search(r"\d{12}", name).group(0)
                if names.split(":")[4] == account:
                    return True
    return False


class Statement(IAMPolicyStatement):
    """moto's statement evaluation (Action/NotAction, Resource, Effect), with what moto leaves
    out: IAM's wildcards (`?`, literal dots; actions case-insensitive), NotResource, Condition
    (evaluated against the request's context keys) and a resource policy's Principal."""

    def _check_element_matches(self, statement_element, value):
        ignore_case = statement_element in ("Action", "NotAction")
        return any(wildcard_matches(p, value, ignore_case) for p in _listed(self._statement[statement_element]))

    def evaluate(self, action, resource, context=None, principal=None):
        statement = dict(self._statement)
        if "NotPrincipal" in statement:
            raise UnsupportedPolicy("NotPrincipal")
        if "Principal" in statement:
            if principal is None or not principal_matches(statement.pop("Principal"), principal):
                return NEUTRAL
        if "Condition" in statement and not conditions_hold(statement.pop("Condition"), context or {}):
            return NEUTRAL
        if "NotResource" in statement:
            if Statement({"Resource": statement.pop("NotResource"), "Action": "*"})._check_element_matches(
                    "Resource", resource):
                return NEUTRAL
            statement["Resource"] = "*"
        if not statement.get("Resource"):
            raise UnsupportedPolicy(f"a statement without Resource: {self._statement}")
        return Statement(statement).is_action_permitted(action, resource)


@dataclasses.dataclass
class Decision:
    allowed: bool
    denied_by: dict | None = None
    allowed_by: list = dataclasses.field(default_factory=list)


def decide(documents, action, resource, context=None, principal=None):
    """IAM's rule over a set of policy documents: an explicit Deny wins, else any Allow, else
    the implicit deny."""
    allowed_by = []
    for document in documents:
        for raw in _listed(document.get("Statement", [])):
            result = Statement(raw).evaluate(action, resource, context, principal)
            if result == DENIED:
                return Decision(False, denied_by=raw)
            if result == PERMITTED:
                allowed_by.append(raw)
    return Decision(bool(allowed_by), allowed_by=allowed_by)


# --- calls ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Call:
    """One IAM authorisation a caller needs: `action` on `resource`, for `api` (what was called)."""
    principal: str
    action: str
    resource: str
    api: str
    context: tuple = ()
    # Why the permission is needed when it is not the call's own action.
    because: str = ""

    def describe(self):
        why = f" ({self.because})" if self.because else ""
        return f"{self.principal}: {self.action} on {self.resource} for {self.api}{why}"


class Stack:
    """The deployed stack's names and ARNs, from the description deploy-local.py wrote."""

    def __init__(self, description):
        self.description = description
        self.region = description["region"]
        self.account = description["parameters"]["AWS::AccountId"]
        self.tables = {t["name"]: t["arn"] for t in description["tables"].values()}
        self.topic_keys = {t["arn"]: self.key_arn(t.get("kmsMasterKeyId")) for t in description["topics"].values()}
        self.functions = description["functions"]

    def key_arn(self, key):
        """A KMS key's ARN from its id, ARN or alias, as the stack knows its keys."""
        if not key:
            return None
        if key.startswith("alias/"):
            key = self.description["keyAliases"].get(key, key)
        for k in self.description["keys"].values():
            if key in (k["keyId"], k["arn"]):
                return k["arn"]
        return key if key.startswith("arn:") else f"arn:aws:kms:{self.region}:{self.account}:key/{key}"

    def table_arn(self, name):
        if name.startswith("arn:"):
            return name
        return self.tables.get(name, f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}")


TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def dynamodb_calls(principal, operation, body, stack):
    api = f"DynamoDB {operation}"
    out = []
    if operation in ("TransactWriteItems", "TransactGetItems"):
        # Each item is authorised as the operation of its kind on its table.
        for item in body.get("TransactItems", []):
            (kind, request), = item.items()
            action = "GetItem" if kind == "Get" else TRANSACT_WRITE[kind]
            out.append(Call(principal, f"dynamodb:{action}", stack.table_arn(request["TableName"]), api))
    elif operation in ("BatchWriteItem", "BatchGetItem"):
        # Authorised as the batch operation on each table it names.
        for table in body.get("RequestItems", {}):
            out.append(Call(principal, f"dynamodb:{operation}", stack.table_arn(table), api))
    else:
        arn = stack.table_arn(body["TableName"])
        if body.get("IndexName"):
            arn = f"{arn}/index/{body['IndexName']}"
        out.append(Call(principal, f"dynamodb:{operation}", arn, api))
    return out


def sns_calls(principal, operation, params, stack):
    api = f"SNS {operation}"
    if operation != "Publish":
        raise UnsupportedPolicy(f"no mapping for {api}")
    topic = params.get("TopicArn") or params.get("TargetArn")
    out = [Call(principal, "sns:Publish", topic, api)]
    key = stack.topic_keys.get(topic)
    if key:
        # SNS encrypts the message with the topic's key on the publisher's behalf.
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            out.append(Call(principal, action, key, api, because="the topic is encrypted with this key"))
    return out


def s3_calls(principal, method, path, query, status):
    bucket, _, key = urllib.parse.unquote(path).lstrip("/").partition("/")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method in ("GET", "HEAD"):
            return [Call(principal, "s3:ListBucket", bucket_arn, f"S3 {method} bucket")]
        raise UnsupportedPolicy(f"no mapping for S3 {method} {path}?{query}")
    actions = {"GET": ("s3:GetObject", "GetObject"), "HEAD": ("s3:GetObject", "HeadObject"),
               "PUT": ("s3:PutObject", "PutObject"), "DELETE": ("s3:DeleteObject", "DeleteObject")}
    if method not in actions:
        raise UnsupportedPolicy(f"no mapping for S3 {method} {path}")
    action, api = actions[method]
    out = [Call(principal, action, f"{bucket_arn}/{key}", f"S3 {api}")]
    if method in ("GET", "HEAD") and status == 404:
        # Without ListBucket S3 answers 403, not 404, for a missing key.
        out.append(Call(principal, "s3:ListBucket", bucket_arn, f"S3 {api}",
                        because="the object was missing: S3 answers 404 only with ListBucket"))
    return out


def request_calls(request, principal, stack):
    """The IAM authorisations one recorded request needs."""
    service, target = request["service"], request.get("target") or ""
    if service == "dynamodb":
        return dynamodb_calls(principal, target.split(".")[-1], json.loads(request["body"] or "{}"), stack)
    if service == "sns":
        if target:
            params = json.loads(request["body"] or "{}")
            return sns_calls(principal, target.split(".")[-1], params, stack)
        params = dict(urllib.parse.parse_qsl(request["body"] or ""))
        return sns_calls(principal, params.get("Action", ""), params, stack)
    if service == "s3":
        return s3_calls(principal, request["method"], request["path"], request["query"], request["status"])
    if service == "states":
        operation = target.split(".")[-1]
        body = json.loads(request["body"] or "{}")
        arn = body.get("stateMachineArn") or body.get("executionArn")
        return [Call(principal, f"states:{operation}", arn, f"Step Functions {operation}")]
    raise UnsupportedPolicy(f"no mapping for a {service} request ({target or request['path']})")


def platform_calls(logical, function, stack):
    """What Lambda itself does with the function's role: its logs, its traces, its dead letters."""
    out = []
    # Lambda's default group when the stack's own cannot be read back (moto loses the physical
    # ids of some resources when it updates a stack).
    group = function.get("logGroup") or f"/aws/lambda/{function['name']}"
    if group:
        arn = f"arn:aws:logs:{stack.region}:{stack.account}:log-group:{group}:log-stream:*"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            out.append(Call(logical, action, arn, "Lambda logging", because="Lambda writes the function's logs"))
    if function.get("tracing") == "Active":
        for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
            out.append(Call(logical, action, "*", "Lambda tracing", because="active tracing"))
    if function.get("deadLetterTarget"):
        out.append(Call(logical, "sqs:SendMessage", function["deadLetterTarget"], "Lambda dead-letter queue",
                        because="an asynchronous invocation that failed its retries"))
    return out


def definition_functions(definition):
    """The Lambda functions a state machine definition's Task states invoke."""
    found = []

    def walk(states):
        for state in states.values():
            resource = state.get("Resource", "")
            if state.get("Type") == "Task" and resource.startswith("arn:aws:states:::lambda:invoke"):
                arguments = state.get("Parameters") or state.get("Arguments") or {}
                name = arguments.get("FunctionName")
                if not isinstance(name, str) or "{%" in name:
                    raise UnsupportedPolicy(f"a Task's FunctionName is not fixed: {arguments}")
                found.append(name)
            elif state.get("Type") == "Task" and ":lambda:" in resource and ":function:" in resource:
                found.append(resource)
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    walk(state[key]["States"])

    walk(definition["States"])
    return found


def machine_calls(logical, machine):
    text = machine["definition"]
    for key, value in machine.get("substitutions", {}).items():
        text = text.replace(f"${{{key}}}", value)
    definition = json.loads(text)
    out = []
    for function in definition_functions(definition):
        # Step Functions authorises the invoke on the unqualified or qualified ARN it was given.
        out.append(Call(logical, "lambda:InvokeFunction", function, "a Task state"))
    if machine.get("logging"):
        # Step Functions checks these when the state machine is created or updated with logging.
        for action in ("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                       "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                       "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"):
            out.append(Call(logical, action, "*", "execution logging", because="logging to CloudWatch Logs"))
    if machine.get("tracing"):
        for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                       "xray:GetSamplingTargets"):
            out.append(Call(logical, action, "*", "execution tracing", because="X-Ray tracing"))
    return out


def recorded_calls(requests, port_calls, stack):
    """Each recorded request and port call as the caller's authorisations; unknown callers are
    an error (the run signed a call no function of the stack makes)."""
    calls = []
    for request in requests:
        if request["key"] not in stack.functions:
            raise UnsupportedPolicy(f"a request signed by {request['key']}, which names no function of the stack")
        calls.extend(request_calls(request, request["key"], stack))
    for call in port_calls:
        if call["principal"] not in stack.functions:
            raise UnsupportedPolicy(f"a port call by {call['principal']}, which names no function of the stack")
        calls.extend(Call(call["principal"], call["action"], resource, call["api"]) for resource in call["resources"])
    return calls


# --- roles -----------------------------------------------------------------------------------

@dataclasses.dataclass
class Role:
    arn: str
    # (policy name, document, whether the stack's template wrote it)
    policies: list


def read_role(iam, role_arn):
    """A role's inline and attached managed policies, as IAM keeps them."""
    name = role_arn.rsplit("/", 1)[-1]
    policies = []
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
        policies.append((policy_name, _document(document), True))
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        policies.append((attached["PolicyName"], _document(version["PolicyVersion"]["Document"]),
                         not attached["PolicyArn"].startswith("arn:aws:iam::aws:")))
    return Role(role_arn, policies)


def _document(document):
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return document


# --- the check -------------------------------------------------------------------------------

@dataclasses.dataclass
class Report:
    denied: list
    allowed: list
    unused: list
    notes: list

    def lines(self, verbose=False):
        out = [f"{len(self.allowed)} authorisations allowed, {len(self.denied)} denied"]
        if verbose:
            out += [f"  allowed: {call.describe()}" for call in self.allowed]
        out += [f"DENIED {call.describe()}{reason}" for call, reason in self.denied]
        if self.unused:
            out.append(f"{len(self.unused)} permissions of the template no call used:")
            out += [f"  unused: {u}" for u in self.unused]
        out += self.notes
        return out


def evaluate(calls, roles, resource_policies=()):
    """Evaluates each call against its principal's role; lists the template's unused grants.

    `resource_policies`: (call, policy document, principal, what) for calls authorised by a
    resource's own policy (an EventBridge rule invoking a function)."""
    denied, allowed = [], []
    used = set()
    for call in sorted(set(calls), key=lambda c: (c.principal, c.action, c.resource)):
        role = roles[call.principal]
        decision = decide([doc for _, doc, _ in role.policies], call.action, call.resource, dict(call.context))
        if decision.allowed:
            allowed.append(call)
            for statement in decision.allowed_by:
                for action in _listed(statement.get("Action", [])):
                    for resource in _listed(statement.get("Resource", [])):
                        if wildcard_matches(action, call.action, True) and wildcard_matches(resource, call.resource):
                            used.add((call.principal, action, resource))
        else:
            reason = f" (explicitly denied by {json.dumps(decision.denied_by)})" if decision.denied_by else ""
            denied.append((call, reason))
    for call, document, principal, what in resource_policies:
        decision = decide([document], call.action, call.resource, dict(call.context), principal)
        (allowed.append(call) if decision.allowed else denied.append((call, f" ({what})")))
    unused = []
    for principal, role in sorted(roles.items()):
        for name, document, own in role.policies:
            if not own:
                continue
            for statement in _listed(document["Statement"]):
                if statement.get("Effect") != "Allow":
                    continue
                for action in _listed(statement.get("Action", [])):
                    for resource in _listed(statement.get("Resource", [])):
                        if (principal, action, resource) not in used:
                            unused.append(f"{principal}: {action} on {resource}")
    return Report(denied, allowed, unused, [])


def check(account_clients, description, requests, port_calls):
    """The whole check over a deployed stack: returns the Report."""
    stack = Stack(description)
    iam, lam, sfn = account_clients("iam"), account_clients("lambda"), account_clients("stepfunctions")
    calls = recorded_calls(requests, port_calls, stack)
    roles = {}
    for logical, function in stack.functions.items():
        roles[logical] = read_role(iam, lam.get_function(FunctionName=function["name"])["Configuration"]["Role"])
        calls.extend(platform_calls(logical, function, stack))
    for logical, machine in description["stateMachines"].items():
        role_arn = sfn.describe_state_machine(stateMachineArn=machine["arn"])["roleArn"]
        roles[logical] = read_role(iam, role_arn)
        calls.extend(machine_calls(logical, machine))
    invoked = []
    for logical, rule in description["rules"].items():
        for target in rule["targets"]:
            function = next((f for f in stack.functions.values() if f["arn"] == target), None)
            if function is None:
                raise UnsupportedPolicy(f"{logical} targets {target}, no function of the stack")
            policy = json.loads(lam.get_policy(FunctionName=function["name"])["Policy"])
            context = (("aws:sourcearn", rule["arn"]), ("aws:sourceaccount", stack.account))
            call = Call(logical, "lambda:InvokeFunction", target, "an EventBridge rule's target", context=context)
            invoked.append((call, policy, {"Service": "events.amazonaws.com"},
                            f"the function's resource policy does not let {logical} invoke it"))
    report = evaluate(calls, roles, invoked)
    # A key's policy must let the role use the key too (an account root principal hands the
    # decision to the role's IAM policies).
    key_policies = {k["arn"]: k["policy"] for k in description["keys"].values()}
    for call in list(report.allowed):
        if call.action.startswith("kms:") and call.resource in key_policies:
            principal = {"AWS": roles[call.principal].arn}
            if not decide([key_policies[call.resource]], call.action, call.resource, principal=principal).allowed:
                report.allowed.remove(call)
                report.denied.append((call, " (the key's policy does not let the role use the key)"))
    by_principal = {}
    for call in report.allowed:
        by_principal[call.principal] = by_principal.get(call.principal, 0) + 1
    report.notes.append("allowed per caller: " + ", ".join(f"{p} {n}" for p, n in sorted(by_principal.items())))
    return report
