"""Deploys the application with the SAM CLI into a moto server on 127.0.0.1, once per environment
samconfig.toml defines, and reads the deployed stacks back.

    python3 scripts/deploy-local.py [ENV ...]      deploy (default: every environment), print the stacks
    python3 scripts/deploy-local.py --serve        ... and keep the server running until Ctrl-C
    python3 scripts/deploy-local.py --verify       the deployment test the test command runs
    python3 scripts/deploy-local.py --check-iam    the IAM check alone (scripts/check-iam.sh)
    ... --template PATH                            deploy PATH instead of template.yaml

Each deploy is what `sam deploy` does in an account, with what moto's CloudFormation does not do
done here: the SAM transform (samtranslator, the SAM CLI's own library, run on the template
`sam package` wrote), reading a state machine's DefinitionS3Location, parsing a key policy given as
an object, and enabling a table's TimeToLiveSpecification. The SSM parameters
an environment names are seeded first. The functions' code is the host build of each binary
(`cargo build --bins`; moto stores the code and never runs it), or `sam build`'s when
.aws-sam/build/template.yaml exists.

--verify also shows that a second deploy of an unchanged stack changes nothing, that a changed
parameter updates the stack in place and keeps the data tables and their items, that bad input
(an unknown environment, a missing SSM parameter, a template that does not deploy) fails with
CloudFormation's reason, and runs the deployed system end to end (local/tests/deployed_stack.rs).
Every AWS call the functions make in that run is then checked against the role the deployed dev
stack gives the function (scripts/iam_check.py), as --check-iam does on its own.
"""
import argparse
import ast
import copy
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib

import boto3
import botocore.config
import iam_check
from samcli.yamlhelper import yaml_dump, yaml_parse
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

# The transform records metrics for AWS's own service and warns that nothing published them.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

ROOT = pathlib.Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
ARTIFACTS_BUCKET = "sam-artifacts-local"
# What an operator puts in SSM before the first deploy (docs/deployment.md), with local values.
SETTINGS = {
    "jwt-issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_local",
    "jwt-audience": "start-activity-local",
    "bedrock-model-id": "anthropic.claude-3-5-haiku-20241022-v1:0",
}
# Prod refuses to deploy without an alert address (the template's rule ProdHasAlertEmail).
ALERT_EMAIL = "on-call@example.com"
SAM_TIMEOUT = 600
BOTO = botocore.config.Config(connect_timeout=5, read_timeout=120, retries={"max_attempts": 2})


class DeployError(Exception):
    """A deploy that did not complete, with CloudFormation's reason."""


def log(message):
    print(f"deploy-local: {message}", flush=True)


class Moto:
    """A moto server on a free 127.0.0.1 port (requests serialised, as DynamoDB applies them)."""

    def __init__(self, workdir):
        # Every request signed with a key other than the deployer's, as iam_check.py reads them.
        self.requests = pathlib.Path(workdir) / "requests.jsonl"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # SAM reads an uploaded template's bucket from a path-style URL only when the host is
        # spelled `localhost`; the server listens on 127.0.0.1 alone.
        self.endpoint = f"http://localhost:{self.port}"
        self.log = open(pathlib.Path(workdir) / "moto.log", "w")
        # AWS's managed policies, which the deployed roles attach.
        environment = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/moto_serial.py"), "-H", "127.0.0.1", "-p", str(self.port),
             "--record", str(self.requests), "--own-key", "testing"],
            stdout=self.log, stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DeployError(f"moto server exited with {self.process.returncode}; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise DeployError("moto server did not start within 60 s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Environment:
    """One samconfig.toml environment: its stack, region, artifacts prefix and parameters (sam
    deploy reads the rest, capabilities and tags, from the file itself)."""

    def __init__(self, name):
        config = tomllib.loads((ROOT / "samconfig.toml").read_text())
        if name not in Environment.names(config):
            raise DeployError(f"unknown environment '{name}': samconfig.toml deploys "
                              f"{', '.join(Environment.names(config))}")
        deploy = config[name]["deploy"]["parameters"]
        self.name = name
        self.stack = deploy["stack_name"]
        self.region = deploy["region"]
        self.prefix = deploy.get("s3_prefix", self.stack)
        self.parameters = dict(p.split("=", 1) for p in deploy["parameter_overrides"])
        if self.parameters.get("Environment") == "prod":
            self.parameters.setdefault("AlertEmail", ALERT_EMAIL)

    @staticmethod
    def names(config=None):
        config = config or tomllib.loads((ROOT / "samconfig.toml").read_text())
        return [env for env, sections in config.items() if isinstance(sections, dict) and "deploy" in sections]


class Account:
    """The clients of one region of the moto account."""

    def __init__(self, endpoint, region):
        self.endpoint = endpoint
        self.region = region
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)

    def client(self, service):
        return self.session.client(service, endpoint_url=self.endpoint, config=BOTO)

    def sam_env(self):
        return {**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region, "SAM_CLI_TELEMETRY": "0",
                "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(command, account, what):
    """Runs a SAM CLI command; a failure or a timeout is a DeployError with its last lines."""
    try:
        done = subprocess.run(command, env=account.sam_env(), cwd=ROOT, capture_output=True, text=True,
                              timeout=SAM_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DeployError(f"{what} did not finish within {SAM_TIMEOUT} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise DeployError(f"{what} failed:\n{tail}")
    return done.stdout + done.stderr


def built_template(workdir, source=None):
    """The template (`source`, else template.yaml) with every function's code built: sam build's
    when it exists (for template.yaml only), else each function's host binary as its `bootstrap`."""
    sam_built = ROOT / ".aws-sam/build/template.yaml"
    if source is None and sam_built.exists():
        log(f"using {sam_built.relative_to(ROOT)}")
        return sam_built
    log("cargo build --bins (the functions' code)")
    subprocess.run(["cargo", "build", "--quiet", "--workspace", "--all-features", "--bins"], cwd=ROOT, check=True, timeout=1800)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
    template = yaml_parse(pathlib.Path(source or ROOT / "template.yaml").read_text())
    build = pathlib.Path(workdir) / "build"
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            binary = resource["Metadata"]["BuildProperties"]["Binary"]
            code = build / logical
            code.mkdir(parents=True)
            # The code's identity, not its size, is what the deploy needs: moto never runs it.
            subprocess.run(["strip", "-o", str(code / "bootstrap"), str(target / binary)], check=True)
            resource["Properties"]["CodeUri"] = str(code)
        if resource["Type"] == "AWS::Serverless::StateMachine":
            resource["Properties"]["DefinitionUri"] = str(ROOT / resource["Properties"]["DefinitionUri"])
    path = build / "template.yaml"
    path.write_text(yaml_dump(template))
    return path


def template_parameters(template, env, account):
    """The values CloudFormation gives the template's parameters (defaults, then overrides); an
    SSM-typed parameter keeps the name of the SSM parameter, which must exist."""
    values = {name: str(p["Default"]) for name, p in template.get("Parameters", {}).items() if "Default" in p}
    values.update(env.parameters)
    missing = [name for name in template.get("Parameters", {}) if name not in values]
    if missing:
        raise DeployError(f"Parameters: [{', '.join(missing)}] must have values")
    ssm = account.client("ssm")
    for name, p in template.get("Parameters", {}).items():
        if p["Type"].startswith("AWS::SSM::Parameter::Value"):
            try:
                ssm.get_parameter(Name=values[name])
            except ssm.exceptions.ParameterNotFound:
                raise DeployError(f"Unable to fetch parameters [{values[name]}] from parameter store "
                                  "for this account.") from None
    return values


def transformed_template(packaged, env, account, workdir):
    """What CloudFormation deploys for the packaged SAM template: the SAM transform's output, with
    each state machine's DefinitionS3Location read into its DefinitionString."""
    template = yaml_parse(pathlib.Path(packaged).read_text())
    values = template_parameters(template, env, account)
    pseudo = {"AWS::Region": env.region, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
              "AWS::StackName": env.stack, "AWS::URLSuffix": "amazonaws.com"}
    # The transform reads the region from the environment, as the SAM CLI sets it.
    os.environ["AWS_DEFAULT_REGION"] = env.region
    output = transform(template, {**values, **pseudo}, ManagedPolicyLoader(account.client("iam")),
                       passthrough_metadata=True)
    s3 = account.client("s3")
    for resource in output["Resources"].values():
        properties = resource.get("Properties", {})
        location = properties.pop("DefinitionS3Location", None)
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and location:
            body = s3.get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"].read()
            properties["DefinitionString"] = body.decode()
        # moto keeps a key policy given as an object unparsed, and every call on the key fails.
        if resource["Type"] == "AWS::KMS::Key" and isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = {"Fn::Sub": json.dumps(as_sub_template(properties["KeyPolicy"]))}
    path = pathlib.Path(workdir) / f"{env.name}.transformed.json"
    path.write_text(json.dumps(output, indent=2, sort_keys=True))
    return path


def as_sub_template(node):
    """A JSON document's intrinsic functions (Ref, Fn::GetAtt, Fn::Sub of a string) as Fn::Sub
    placeholders, so that the document can be given as one Fn::Sub string."""
    if isinstance(node, list):
        return [as_sub_template(n) for n in node]
    if not isinstance(node, dict):
        return node
    if list(node) == ["Ref"]:
        return f"${{{node['Ref']}}}"
    if list(node) == ["Fn::GetAtt"]:
        return f"${{{'.'.join(node['Fn::GetAtt'])}}}"
    if list(node) == ["Fn::Sub"] and isinstance(node["Fn::Sub"], str):
        return node["Fn::Sub"]
    if any(k == "Ref" or k.startswith("Fn::") for k in node):
        raise DeployError(f"cannot give {node} to Fn::Sub")
    return {k: as_sub_template(v) for k, v in node.items()}


def deploy(env, account, built, workdir, template_override=None):
    """`sam package`, the transform, `sam deploy`: returns sam deploy's output. A deploy that does
    not complete raises DeployError with the stack's failure reasons."""
    packaged = pathlib.Path(workdir) / f"{env.name}.packaged.yaml"
    run(["sam", "package", "--template-file", str(template_override or built), "--s3-bucket", ARTIFACTS_BUCKET,
         "--s3-prefix", env.prefix, "--output-template-file", str(packaged), "--region", env.region],
        account, "sam package")
    transformed = transformed_template(packaged, env, account, workdir)
    overrides = [f"{k}={v}" for k, v in env.parameters.items()]
    command = ["sam", "deploy", "--config-file", str(ROOT / "samconfig.toml"), "--config-env", env.name,
               "--template-file", str(transformed), "--stack-name", env.stack, "--s3-bucket", ARTIFACTS_BUCKET,
               "--no-resolve-s3", "--region", env.region, "--no-confirm-changeset",
               "--no-fail-on-empty-changeset", "--parameter-overrides", *overrides]
    try:
        output = run(command, account, f"sam deploy of {env.stack}")
    except DeployError as e:
        reasons = stack_failures(account, env.stack) or template_errors(transformed, account)
        raise DeployError(f"{e}\n{reasons}" if reasons else str(e)) from None
    enable_time_to_live(account, json.loads(transformed.read_text()), env.stack)
    complete_roles(account, json.loads(transformed.read_text()), env.stack)
    repoint_rule_permissions(account, json.loads(transformed.read_text()), env.stack)
    return output


def repoint_rule_permissions(account, template, stack):
    """Points each rule's invoke permission at the rule as it now is: moto gives a rule a new name
    when it executes an unchanged deploy, and leaves the permission naming the old one (AWS would
    not rename the rule, and would replace the permission of a replaced rule)."""
    _, resources = stack_summary(account, stack)
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
    events, lam = account.client("events"), account.client("lambda")
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        source = properties.get("SourceArn")
        if resource["Type"] != "AWS::Lambda::Permission" or not isinstance(source, dict) \
                or list(source) != ["Fn::GetAtt"]:
            continue
        rule = physical.get(source["Fn::GetAtt"][0])
        function = physical.get(properties["FunctionName"].get("Ref", "")) if isinstance(
            properties["FunctionName"], dict) else properties["FunctionName"]
        if not rule or not function:
            continue
        current = events.describe_rule(Name=rule.split("/")[-1].split("|")[-1])["Arn"]
        policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
        for statement in policy["Statement"]:
            named = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            if statement.get("Principal", {}).get("Service") == properties["Principal"] and named \
                    and named != current and named.split("/")[-1].rsplit("-", 1)[0] == current.split("/")[-1].rsplit("-", 1)[0]:
                lam.remove_permission(FunctionName=function, StatementId=statement["Sid"])
                lam.add_permission(FunctionName=function, StatementId=statement["Sid"], Action=properties["Action"],
                                   Principal=properties["Principal"], SourceArn=current)


def complete_roles(account, template, stack):
    """Gives each role what moto's CloudFormation leaves out: its ManagedPolicyArns (AWS's own
    documents, which the server loads), and its inline policies as JSON (moto keeps a document
    given as an object as Python text, and never updates it)."""
    _, resources = stack_summary(account, stack)
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
    iam = account.client("iam")
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        role = physical[logical]
        attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}
        for arn in resource["Properties"].get("ManagedPolicyArns", []):
            if not isinstance(arn, str):
                raise DeployError(f"{logical}: cannot resolve the managed policy {arn}")
            if arn not in attached:
                iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            if isinstance(document, str):
                iam.put_role_policy(RoleName=role, PolicyName=name,
                                    PolicyDocument=json.dumps(ast.literal_eval(document)))


def enable_time_to_live(account, template, stack):
    """Turns on each table's TimeToLiveSpecification, which moto's CloudFormation ignores."""
    _, resources = stack_summary(account, stack)
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
    ddb = account.client("dynamodb")
    for logical, resource in template["Resources"].items():
        ttl = resource.get("Properties", {}).get("TimeToLiveSpecification")
        if resource["Type"] == "AWS::DynamoDB::Table" and ttl and ttl.get("Enabled"):
            name = physical[logical]
            if ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"] != "ENABLED":
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def template_errors(template, account):
    """What CloudFormation's validation finds wrong with a template, by cfn-lint: moto fails a
    change set it cannot execute with an internal error and no stack event saying why."""
    try:
        done = subprocess.run(["cfn-lint", "--format", "parseable", str(template)], env=account.sam_env(),
                              capture_output=True, text=True, timeout=SAM_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ""
    errors = [line for line in done.stdout.splitlines() if ":E" in line]
    return "\n".join(["the template's errors (cfn-lint):", *errors]) if errors else ""


def stack_failures(account, stack):
    cfn = account.client("cloudformation")
    try:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except cfn.exceptions.ClientError:
        return ""
    return "\n".join(f"{e['LogicalResourceId']}: {e['ResourceStatus']}: {e.get('ResourceStatusReason', '')}"
                     for e in events if e["ResourceStatus"].endswith("FAILED"))


def seed_settings(env, account, skip=()):
    """Puts the SSM parameters the environment names, as an operator does before the first deploy."""
    ssm = account.client("ssm")
    for parameter, path in env.parameters.items():
        setting = path.rsplit("/", 1)[-1]
        if path.startswith("/") and setting in SETTINGS and parameter not in skip:
            ssm.put_parameter(Name=path, Value=SETTINGS[setting], Type="String", Overwrite=True)


def stack_summary(account, stack):
    """The stack's status and the resources moto models; DeployError unless every resource
    completed. moto accepts the types it does not model (alarms, the HTTP API, policies) and lists
    them without a logical or physical id."""
    cfn = account.client("cloudformation")
    status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    incomplete = [f"{r.get('LogicalResourceId', '?')} {r['ResourceStatus']}" for r in resources
                  if r["ResourceStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE")]
    if not status.endswith("_COMPLETE") or incomplete:
        raise DeployError(f"{stack} is {status}; not complete: {', '.join(incomplete)}")
    modelled = [r for r in resources if "LogicalResourceId" in r]
    return f"{status}, {len(resources)} resources ({len(resources) - len(modelled)} not modelled by moto)", modelled


class Resolver:
    """Resolves the intrinsic functions a deployed template's properties use, from the stack."""

    def __init__(self, template, parameters, physical, function_arns):
        self.template = template
        self.parameters = parameters
        self.physical = physical
        self.function_arns = function_arns

    def condition(self, name):
        return self.value(self.template["Conditions"][name])

    def value(self, node):
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        (key, arg), = node.items()
        if key == "Ref":
            return self.parameters.get(arg, self.physical.get(arg))
        if key == "Fn::GetAtt" and arg[1] == "Arn" and arg[0] in self.function_arns:
            return self.function_arns[arg[0]]
        if key == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if key == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Condition":
            return self.condition(arg)
        if key.startswith("Fn::"):
            raise DeployError(f"cannot resolve {key} {arg}")
        return {key: self.value(arg)}


def describe(account, env):
    """The deployed stack read back through the services' APIs, for the end-to-end test."""
    cfn = account.client("cloudformation")
    stack = cfn.describe_stacks(StackName=env.stack)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
    parameters.update({"AWS::Region": env.region, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                       "AWS::StackName": env.stack})
    template = cfn.get_template(StackName=env.stack)["TemplateBody"]
    if isinstance(template, str):
        template = yaml_parse(template)
    _, resources = stack_summary(account, env.stack)
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
    by_type = {}
    for r in resources:
        by_type.setdefault(r["ResourceType"], []).append(r["LogicalResourceId"])

    lam = account.client("lambda")
    functions = {}
    for logical in by_type.get("AWS::Lambda::Function", []):
        config = lam.get_function(FunctionName=physical[logical])
        functions[logical] = {
            "name": config["Configuration"]["FunctionName"],
            "arn": config["Configuration"]["FunctionArn"],
            "binary": template["Resources"][logical].get("Metadata", {}).get("BuildProperties", {}).get("Binary"),
            "environment": config["Configuration"].get("Environment", {}).get("Variables", {}),
            "reservedConcurrency": config.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
        }
    resolver = Resolver(template, parameters, physical, {k: f["arn"] for k, f in functions.items()})
    queue_arns = {logical: account.client("sqs").get_queue_attributes(
        QueueUrl=physical[logical], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for logical in by_type.get("AWS::SQS::Queue", [])}
    for logical, f in functions.items():
        # What Lambda does with the function's role besides its code's calls, as the template says.
        properties = template["Resources"][logical]["Properties"]
        f["logGroup"] = resolver.value(properties.get("LoggingConfig", {}).get("LogGroup"))
        f["tracing"] = properties.get("TracingConfig", {}).get("Mode")
        target = properties.get("DeadLetterConfig", {}).get("TargetArn")
        f["deadLetterTarget"] = (queue_arns[target["Fn::GetAtt"][0]] if isinstance(target, dict)
                                 and "Fn::GetAtt" in target else target)

    sfn = account.client("stepfunctions")
    machines = {}
    for logical in by_type.get("AWS::StepFunctions::StateMachine", []):
        machine = sfn.describe_state_machine(stateMachineArn=physical[logical])
        substitutions = resolver.value(template["Resources"][logical]["Properties"].get("DefinitionSubstitutions", {}))
        properties = template["Resources"][logical]["Properties"]
        machines[logical] = {"arn": machine["stateMachineArn"], "name": machine["name"],
                             "definition": machine["definition"], "substitutions": substitutions,
                             "logging": properties.get("LoggingConfiguration", {}).get("Level", "OFF") != "OFF",
                             "tracing": properties.get("TracingConfiguration", {}).get("Enabled", False)}

    ddb = account.client("dynamodb")
    tables = {}
    for logical in by_type.get("AWS::DynamoDB::Table", []):
        table = ddb.describe_table(TableName=physical[logical])["Table"]
        ttl = ddb.describe_time_to_live(TableName=physical[logical])["TimeToLiveDescription"]
        tables[logical] = {
            "name": table["TableName"],
            "arn": table["TableArn"],
            "keySchema": table["KeySchema"],
            "attributeDefinitions": table["AttributeDefinitions"],
            "globalSecondaryIndexes": [{"indexName": g["IndexName"], "keySchema": g["KeySchema"],
                                        "projection": g["Projection"]["ProjectionType"]}
                                       for g in table.get("GlobalSecondaryIndexes", [])],
            "ttl": {"attributeName": ttl.get("AttributeName"), "status": ttl.get("TimeToLiveStatus")},
            "deletionPolicy": template["Resources"][logical].get("DeletionPolicy"),
            "updateReplacePolicy": template["Resources"][logical].get("UpdateReplacePolicy"),
        }

    sns = account.client("sns")
    topics = {}
    for logical in by_type.get("AWS::SNS::Topic", []):
        attributes = sns.get_topic_attributes(TopicArn=physical[logical])["Attributes"]
        topics[logical] = {"arn": physical[logical], "kmsMasterKeyId": attributes.get("KmsMasterKeyId")}

    kms = account.client("kms")
    keys = {}
    for logical in by_type.get("AWS::KMS::Key", []):
        key = kms.describe_key(KeyId=physical[logical])["KeyMetadata"]
        keys[logical] = {"arn": key["Arn"], "keyId": key["KeyId"],
                         "rotation": kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"],
                         "policy": json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])}
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}

    events = account.client("events")
    rules = {}
    for logical in by_type.get("AWS::Events::Rule", []):
        name = physical[logical].split("/")[-1].split("|")[-1]
        rule = events.describe_rule(Name=name)
        rules[logical] = {
            "name": rule["Name"],
            "arn": rule["Arn"],
            "state": rule["State"],
            "eventPattern": json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None,
            "scheduleExpression": rule.get("ScheduleExpression"),
            "targets": [t["Arn"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]],
        }

    sqs = account.client("sqs")
    queues = {logical: sqs.get_queue_attributes(QueueUrl=physical[logical], AttributeNames=["QueueArn"])
              ["Attributes"]["QueueArn"] for logical in by_type.get("AWS::SQS::Queue", [])}
    s3 = account.client("s3")
    buckets = [physical[logical] for logical in by_type.get("AWS::S3::Bucket", [])]
    existing_buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    return {
        "endpoint": account.endpoint, "region": env.region, "environment": env.name, "stackName": env.stack,
        "parameters": parameters, "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        "stateMachines": machines, "functions": functions, "tables": tables, "topics": topics, "keys": keys,
        "keyAliases": aliases, "rules": rules, "queues": queues,
        "buckets": {name: name in existing_buckets for name in buckets},
        "ssmParameters": [p["Name"] for p in account.client("ssm").describe_parameters()["Parameters"]],
    }


def print_stack(description):
    log(f"{description['stackName']} ({description['environment']}) at {description['endpoint']}")
    for logical, table in description["tables"].items():
        print(f"  {logical}: {table['name']}")
    for logical, machine in description["stateMachines"].items():
        print(f"  {logical}: {machine['arn']}")
    for logical, topic in description["topics"].items():
        print(f"  {logical}: {topic['arn']}")


class Deployer:
    def __init__(self, workdir, moto, template=None):
        self.workdir = workdir
        self.endpoint = moto.endpoint
        self.requests = moto.requests
        self.built = built_template(workdir, template)
        self.prepared = set()

    def account(self, env):
        account = Account(self.endpoint, env.region)
        if env.region not in self.prepared:
            s3 = account.client("s3")
            args = {} if env.region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": env.region}}
            s3.create_bucket(Bucket=ARTIFACTS_BUCKET, **args)
            self.prepared.add(env.region)
        return account

    def deploy(self, env, template=None):
        account = self.account(env)
        started = time.monotonic()
        output = deploy(env, account, self.built, self.workdir, template)
        summary, _ = stack_summary(account, env.stack)
        log(f"{env.stack}: {summary}, {time.monotonic() - started:.1f} s")
        return output


def stack_state(account, stack):
    """What CloudFormation compares to find a change set empty (the template and the parameters),
    and each resource's physical id."""
    cfn = account.client("cloudformation")
    _, resources = stack_summary(account, stack)
    return (yaml_parse(cfn.get_template(StackName=stack)["TemplateBody"]),
            cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Parameters"),
            {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources})


def changes(before, after):
    """What differs: the template or the parameters (from which CloudFormation finds a change set
    empty), or a retained (data) resource's physical id. moto executes an empty change set and
    gives some resources new names doing it (an EventBridge rule, say); only data must not move."""
    retained = [k for k, r in before[0]["Resources"].items() if r.get("DeletionPolicy") == "Retain"]
    return ([what for what, b, a in zip(("the template", "the parameters"), before, after) if a != b]
            + [f"{k} replaced" for k in retained if before[2].get(k) != after[2].get(k)])


def expect_failure(what, action, *needles):
    """Runs a deploy that must fail; its message must carry every needle."""
    try:
        action()
    except DeployError as e:
        message = str(e)
        missing = [n for n in needles if n not in message]
        if missing:
            raise AssertionError(f"{what}: the failure does not say {missing}:\n{message}") from None
        log(f"{what}: refused: {message.splitlines()[-1]}")
        return
    raise AssertionError(f"{what}: the deploy succeeded")


def items_in(ddb, table):
    return ddb.scan(TableName=table)["Items"]


def verify(deployer, workdir):
    """Deploys every environment, redeploys, updates, refuses bad input, reads back, runs."""
    names = Environment.names()
    descriptions = {}
    for name in names:
        env = Environment(name)
        account = deployer.account(env)
        seed_settings(env, account)
        deployer.deploy(env)
        before = stack_state(account, env.stack)
        output = deployer.deploy(env)
        # CloudFormation finds the change set empty ("No changes to deploy"); moto executes it.
        changed = [] if "No changes to deploy" in output else changes(before, stack_state(account, env.stack))
        if changed:
            raise AssertionError(f"{env.stack}: a second deploy of the unchanged stack changed {changed}")
        log(f"{env.stack}: a second deploy changed nothing")
        descriptions[name] = describe(account, env)

    # A changed parameter updates in place; the data tables and their items stay.
    env = Environment(names[0])
    account = deployer.account(env)
    ddb = account.client("dynamodb")
    tables = descriptions[env.name]["tables"]
    for logical, table in tables.items():
        key = {k["AttributeName"]: {"S": f"kept-{logical}"} for k in table["keySchema"]}
        ddb.put_item(TableName=table["name"], Item=key)
    changed = copy.copy(env)
    changed.parameters = {**env.parameters, "MaintenanceScheduleEnabled":
                          "false" if env.parameters.get("MaintenanceScheduleEnabled") == "true" else "true",
                          "DailyModelInvocationLimit": "20000"}
    deployer.deploy(changed)
    updated = describe(account, changed)
    for logical, table in tables.items():
        now = updated["tables"][logical]
        if now["arn"] != table["arn"] or len(items_in(ddb, now["name"])) != 1:
            raise AssertionError(f"{logical} was replaced or lost its item in the update")
    # moto keeps an updated rule's State as it was, so the stack's parameters show the change.
    changed_values = {k: updated["parameters"].get(k) for k in ("MaintenanceScheduleEnabled", "DailyModelInvocationLimit")}
    if changed_values != {k: changed.parameters[k] for k in changed_values}:
        raise AssertionError(f"the update did not take the changed parameters: {changed_values}")
    log(f"{env.stack}: the changed parameter updated the stack in place; tables and items kept")
    deployer.deploy(env)
    for table in tables.values():
        for item in items_in(ddb, table["name"]):
            key = {k["AttributeName"]: item[k["AttributeName"]] for k in table["keySchema"]}
            ddb.delete_item(TableName=table["name"], Key=key)
    descriptions[env.name] = describe(account, env)

    # Bad input fails with CloudFormation's reason.
    expect_failure("an unknown environment", lambda: Environment("staging"), "unknown environment 'staging'")
    missing = copy.copy(env)
    missing.stack = f"{env.stack}-unset"
    missing.parameters = {**env.parameters, "JwtAudience": "/start-activity/unset/jwt-audience"}
    expect_failure("a missing SSM parameter", lambda: deployer.deploy(missing),
                   "/start-activity/unset/jwt-audience")
    broken = yaml_parse(deployer.built.read_text())
    broken["Resources"]["GoalsTable"]["Properties"]["KeySchema"][0]["AttributeName"] = "undefined"
    broken_path = pathlib.Path(workdir) / "broken.yaml"
    broken_path.write_text(yaml_dump(broken))
    doomed = copy.copy(env)
    doomed.stack = f"{env.stack}-broken"
    expect_failure("a template that does not deploy", lambda: deployer.deploy(doomed, broken_path),
                   f"sam deploy of {doomed.stack} failed", "GoalsTable", "AttributeDefinitions")

    end_to_end(workdir, descriptions)
    check_iam(deployer, workdir, descriptions[DEV])


DEV = "dev"


def end_to_end(workdir, descriptions, only=None):
    """Runs local/tests/deployed_stack.rs (the test `only`, else all) on the described stacks;
    the functions' calls to the ports that do not reach moto there go to port-calls.jsonl."""
    path = pathlib.Path(workdir) / "stacks.json"
    path.write_text(json.dumps(descriptions, indent=2))
    log("the deployed system, end to end (local/tests/deployed_stack.rs)")
    subprocess.run(["cargo", "test", "--quiet", "-p", "sfn-local", "--all-features", "--test", "deployed_stack",
                    "--", "--ignored", "--nocapture", *([only, "--exact"] if only else [])],
                   cwd=ROOT, check=True, timeout=1800,
                   env={**os.environ, "DEPLOYED_STACKS": str(path),
                        "RECORDED_PORT_CALLS": str(pathlib.Path(workdir) / "port-calls.jsonl")})


def read_lines(path):
    path = pathlib.Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


def check_iam(deployer, workdir, description):
    """Every call the end-to-end run's functions made, against their deployed roles
    (scripts/iam_check.py): an AssertionError naming each call a role does not allow."""
    started = time.monotonic()
    account = deployer.account(Environment(description["environment"]))
    requests = read_lines(deployer.requests)
    port_calls = read_lines(pathlib.Path(workdir) / "port-calls.jsonl")
    if not requests or not port_calls:
        raise AssertionError("the end-to-end run recorded no calls to check")
    try:
        report = iam_check.check(account.client, description, requests, port_calls)
    except iam_check.UnsupportedPolicy as e:
        raise AssertionError(f"the IAM check cannot decide: {e}") from None
    for line in report.lines(verbose=os.environ.get("IAM_CHECK_VERBOSE") == "1"):
        print(f"  {line}")
    log(f"IAM check of {len(requests)} requests and {len(port_calls)} port calls: "
        f"{time.monotonic() - started:.1f} s")
    if report.denied:
        raise AssertionError(f"{len(report.denied)} calls the deployed roles do not allow:\n"
                             + "\n".join(call.describe() + reason for call, reason in report.denied))


def check_iam_alone(deployer, workdir):
    """`scripts/check-iam.sh`: deploys the dev environment, runs the end-to-end test, checks."""
    env = Environment(DEV)
    account = deployer.account(env)
    seed_settings(env, account)
    deployer.deploy(env)
    description = describe(account, env)
    end_to_end(workdir, {DEV: description}, only="the_deployed_dev_stack_runs_end_to_end")
    check_iam(deployer, workdir, description)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("environments", nargs="*", help="samconfig.toml environments (default: all)")
    parser.add_argument("--serve", action="store_true", help="keep the moto server running after deploying")
    parser.add_argument("--verify", action="store_true", help="the deployment test")
    parser.add_argument("--describe", type=pathlib.Path, help="write the deployed stacks, read back, as JSON")
    parser.add_argument("--check-iam", action="store_true",
                        help="deploy dev, run it end to end, check every call against its role (scripts/check-iam.sh)")
    parser.add_argument("--template", type=pathlib.Path, help="deploy this template instead of template.yaml")
    args = parser.parse_args()
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="deploy-local-")
    moto = None
    try:
        envs = [Environment(name) for name in args.environments or Environment.names()]
        moto = Moto(workdir)
        log(f"moto server at {moto.endpoint}")
        deployer = Deployer(workdir, moto, args.template)
        if args.check_iam:
            check_iam_alone(deployer, workdir)
        elif args.verify:
            verify(deployer, workdir)
        else:
            descriptions = {}
            for env in envs:
                seed_settings(env, deployer.account(env))
                deployer.deploy(env)
                descriptions[env.name] = describe(deployer.account(env), env)
                print_stack(descriptions[env.name])
            if args.describe:
                args.describe.write_text(json.dumps(descriptions, indent=2))
            if args.serve:
                log(f"serving {moto.endpoint}; Ctrl-C stops it")
                signal.sigwait({signal.SIGINT, signal.SIGTERM})
        log(f"done in {time.monotonic() - started:.0f} s")
        return 0
    except (DeployError, AssertionError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print(f"deploy-local: {e}", file=sys.stderr)
        return 1
    finally:
        if moto:
            moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
