//! No request can crash or wedge the Step Functions API: random and mutated requests for every
//! operation (members of the wrong type, huge strings, deep JSON, unknown members, bad ARNs,
//! broken bodies and targets), sent in concurrent batches that create, use and delete the same
//! few state machines, versions, aliases, activities, executions and task tokens, against the API
//! served in process on 127.0.0.1. Every answer must be a success (200, a JSON object) or AWS's
//! error shape (400, `{"__type", "message"}`) within a bounded time, no thread may panic, and the
//! server must still run a state machine afterwards.
//!
//! `SFN_API_FUZZ_CASES=N` runs N batches instead of the default.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use sfn_local::sfn_api::{Api, Options};

use asl_interpreter::invoker::{FunctionError, LambdaInvoker};

const ROLE: &str = "arn:aws:iam::123456789012:role/sfn";
const PREFIX: &str = "arn:aws:states:us-east-1:123456789012";
/// Batches of requests in the test command's run.
const DEFAULT_CASES: u32 = 400;
/// The longest any request may take but GetActivityTask's long poll.
const BOUND: Duration = Duration::from_secs(15);

/// Every operation of the Step Functions API reference.
const OPERATIONS: [&str; 37] = [
    "CreateActivity",
    "CreateStateMachine",
    "CreateStateMachineAlias",
    "DeleteActivity",
    "DeleteStateMachine",
    "DeleteStateMachineAlias",
    "DeleteStateMachineVersion",
    "DescribeActivity",
    "DescribeExecution",
    "DescribeMapRun",
    "DescribeStateMachine",
    "DescribeStateMachineAlias",
    "DescribeStateMachineForExecution",
    "GetActivityTask",
    "GetExecutionHistory",
    "ListActivities",
    "ListExecutions",
    "ListMapRuns",
    "ListStateMachineAliases",
    "ListStateMachines",
    "ListStateMachineVersions",
    "ListTagsForResource",
    "PublishStateMachineVersion",
    "RedriveExecution",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "SendTaskSuccess",
    "StartExecution",
    "StartSyncExecution",
    "StopExecution",
    "TagResource",
    "TestState",
    "UntagResource",
    "UpdateMapRun",
    "UpdateStateMachine",
    "UpdateStateMachineAlias",
    "ValidateStateMachineDefinition",
];

/// The error codes of the Step Functions API reference, and the protocol's own.
const CODES: [&str; 31] = [
    "AccessDeniedException",
    "ActivityAlreadyExists",
    "ActivityDoesNotExist",
    "ActivityLimitExceeded",
    "ActivityWorkerLimitExceeded",
    "ConflictException",
    "ExecutionAlreadyExists",
    "ExecutionDoesNotExist",
    "ExecutionLimitExceeded",
    "ExecutionNotRedrivable",
    "InvalidArn",
    "InvalidDefinition",
    "InvalidEncryptionConfiguration",
    "InvalidExecutionInput",
    "InvalidLoggingConfiguration",
    "InvalidName",
    "InvalidOutput",
    "InvalidToken",
    "InvalidTracingConfiguration",
    "MissingRequiredParameter",
    "ResourceNotFound",
    "SerializationException",
    "ServiceQuotaExceededException",
    "StateMachineAlreadyExists",
    "StateMachineDeleting",
    "StateMachineDoesNotExist",
    "StateMachineLimitExceeded",
    "StateMachineTypeNotSupported",
    "TaskDoesNotExist",
    "TaskTimedOut",
    "TooManyTags",
];
/// Codes of the protocol rather than of an operation.
const PROTOCOL_CODES: [&str; 3] = [
    "UnknownOperationException",
    "ValidationException",
    "KmsAccessDeniedException",
];

/// Panics anywhere in the process (the server's tasks included), by message.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Lambda for the executions: answers its payload, keeping any task token it carries, so
/// that requests can return the tokens of waiting tasks.
struct Echo {
    tokens: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl LambdaInvoker for Echo {
    async fn invoke(&self, _function: &str, payload: Value) -> Result<Value, FunctionError> {
        if let Some(token) = payload.get("token").and_then(Value::as_str) {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            tokens.push(token.to_owned());
            let excess = tokens.len().saturating_sub(64);
            tokens.drain(..excess);
        }
        Ok(payload)
    }
}

/// What the requests of a batch refer to, as the server has answered it so far.
#[derive(Default)]
struct Live {
    executions: Vec<String>,
    versions: Vec<String>,
}

struct Fixture {
    base: String,
    /// Answers by operation and outcome (`200` or the error code).
    tally: Mutex<std::collections::BTreeMap<(String, String), usize>>,
    tokens: Arc<Mutex<Vec<String>>>,
    live: Mutex<Live>,
    agent: ureq::Agent,
    _runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn start() -> Fixture {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let echo = Arc::new(Echo {
            tokens: tokens.clone(),
        });
        let api = Api::new(Options::default())
            .expect("the API starts")
            .with_lambda(|_| echo);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let routes = Arc::new(api).attach(axum::Router::new());
        runtime.spawn(async move { axum::serve(listener, routes).await });
        let agent = ureq::AgentBuilder::new()
            .timeout(BOUND + Duration::from_secs(60))
            .build();
        Fixture {
            base,
            tokens,
            live: Mutex::default(),
            tally: Mutex::default(),
            agent,
            _runtime: runtime,
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one request and checks its answer's shape; notes the ARNs a success gives.
    fn send(&self, request: &Sent) -> Result<(u16, Value), String> {
        let started = Instant::now();
        let mut call = self
            .agent
            .request(request.method, &self.base)
            .set("Content-Type", "application/x-amz-json-1.0");
        if let Some(target) = &request.target {
            call = call.set("X-Amz-Target", target);
        }
        let answer = call.send_bytes(&request.body);
        let elapsed = started.elapsed();
        let response = match answer {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(format!("no answer ({e}) after {elapsed:?}")),
        };
        let status = response.status();
        let content_type = response.content_type().to_owned();
        let text = response
            .into_string()
            .map_err(|e| format!("unreadable answer: {e}"))?;
        let bound = if request.operation() == Some("GetActivityTask") {
            sfn_local::sfn_api::activities::POLL + Duration::from_secs(5)
        } else {
            BOUND
        };
        if elapsed > bound {
            return Err(format!("answered after {elapsed:?}"));
        }
        if request.target.is_none() {
            // Not the Step Functions API: the routes beside it answer (here, none).
            return match status {
                404 | 405 => Ok((status, Value::Null)),
                _ => Err(format!("{status} without a target: {text}")),
            };
        }
        if content_type != "application/x-amz-json-1.0" {
            return Err(format!("{status} with content type {content_type:?}"));
        }
        let body: Value =
            serde_json::from_str(&text).map_err(|e| format!("{status} not JSON ({e}): {text}"))?;
        let outcome = match status {
            200 => "200".to_owned(),
            _ => body["__type"].as_str().unwrap_or_default().to_owned(),
        };
        let operation = request.operation().unwrap_or("?").to_owned();
        *self
            .tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((operation, outcome))
            .or_default() += 1;
        match status {
            200 if body.is_object() => {
                self.note(&body);
                Ok((status, body))
            }
            400 => {
                let code = body["__type"].as_str().unwrap_or_default();
                if !CODES.contains(&code) && !PROTOCOL_CODES.contains(&code) {
                    return Err(format!("unknown error code: {body}"));
                }
                if !body["message"].is_string() {
                    return Err(format!("an error without a message: {body}"));
                }
                Ok((status, body))
            }
            _ => Err(format!("{status}: {text}")),
        }
    }

    fn note(&self, body: &Value) {
        let mut live = self.live();
        if let Some(arn) = body["executionArn"].as_str() {
            live.executions.push(arn.to_owned());
            let excess = live.executions.len().saturating_sub(64);
            live.executions.drain(..excess);
        }
        if let Some(arn) = body["stateMachineVersionArn"].as_str() {
            live.versions.push(arn.to_owned());
            let excess = live.versions.len().saturating_sub(32);
            live.versions.drain(..excess);
        }
    }

    fn call(&self, operation: &str, body: Value) -> (u16, Value) {
        let sent = Sent {
            method: "POST",
            target: Some(format!("AWSStepFunctions.{operation}")),
            body: body.to_string().into_bytes(),
        };
        self.send(&sent)
            .unwrap_or_else(|e| panic!("{operation} {body}: {e}"))
    }
}

/// One request as sent.
#[derive(Debug, Clone)]
struct Sent {
    method: &'static str,
    target: Option<String>,
    body: Vec<u8>,
}

impl Sent {
    fn operation(&self) -> Option<&str> {
        self.target.as_deref()?.strip_prefix("AWSStepFunctions.")
    }

    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let shown: String = body.chars().take(600).collect();
        format!(
            "{} {:?} ({} bytes): {shown}",
            self.method,
            self.target,
            self.body.len()
        )
    }
}

/// A value of some type, for a member that expects another.
#[derive(Debug, Clone)]
enum Junk {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A number no 64-bit type holds, written as is.
    Huge(&'static str),
    Text(String),
    /// `n` copies of a character.
    Long(char, usize),
    Array(Vec<Junk>),
    Object(Vec<(String, Junk)>),
    /// Arrays nested this deep.
    Deep(usize),
    Arn(String),
}

/// Marks where raw text replaces a value once the body is written.
const RAW: &str = "\u{1}raw\u{1}";

impl Junk {
    /// The value, and any raw text its marker stands for.
    fn value(&self, raw: &mut Vec<String>) -> Value {
        match self {
            Junk::Null => Value::Null,
            Junk::Bool(b) => Value::Bool(*b),
            Junk::Int(n) => Value::from(*n),
            Junk::Float(x) => json!(x),
            Junk::Huge(text) => {
                raw.push((*text).to_owned());
                Value::from(format!("{RAW}{}", raw.len() - 1))
            }
            Junk::Text(text) | Junk::Arn(text) => Value::from(text.as_str()),
            Junk::Long(c, n) => Value::from(c.to_string().repeat(*n)),
            Junk::Array(items) => items.iter().map(|j| j.value(raw)).collect(),
            Junk::Object(members) => members
                .iter()
                .map(|(k, j)| (k.clone(), j.value(raw)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Junk::Deep(depth) => {
                raw.push(format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)));
                Value::from(format!("{RAW}{}", raw.len() - 1))
            }
        }
    }
}

fn bad_arn() -> impl Strategy<Value = String> {
    let machine = format!("{PREFIX}:stateMachine:m0");
    prop_oneof![
        Just(String::new()),
        Just("arn".to_owned()),
        Just(":::::::".to_owned()),
        Just("arn:aws:states".to_owned()),
        Just(format!("{PREFIX}:stateMachine:")),
        Just(format!("{machine}:")),
        Just(format!("{machine}:0")),
        Just(format!("{machine}:-1")),
        Just(format!("{machine}:99999999999999999999999")),
        Just(format!("{machine}:1:2")),
        Just(format!("{machine}#")),
        Just(format!("{machine}#case")),
        Just(format!("{PREFIX}:execution:m0")),
        Just(format!("{PREFIX}:execution:m0:e0:extra")),
        Just(format!("{PREFIX}:express:m0:e0")),
        Just(format!("{PREFIX}:activity:")),
        Just(format!("{PREFIX}:activity:a0:x")),
        Just(format!("{PREFIX}:mapRun:m0/map:run")),
        Just("arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m0".to_owned()),
        Just("arn:aws:states:eu-west-1:123456789012:stateMachine:m0".to_owned()),
        Just("arn:aws:states:us-east-1:999999999999:activity:a0".to_owned()),
        Just("arn:aws:lambda:us-east-1:123456789012:function:f".to_owned()),
        Just(format!("{PREFIX}:stateMachine:\u{e9}\u{0}\u{202e}")),
        "[a-z:#/0-9]{0,40}".prop_map(|s| format!("arn:aws:states:{s}")),
        "\\PC{0,30}",
        (1usize..20_000).prop_map(move |n| format!("{machine}{}", "x".repeat(n))),
    ]
}

fn junk() -> impl Strategy<Value = Junk> {
    let leaf = prop_oneof![
        1 => Just(Junk::Null),
        1 => any::<bool>().prop_map(Junk::Bool),
        4 => prop_oneof![
            // The bounds of AWS's constraints (page sizes, lengths, weights, counts), beside them,
            // and the ends of the 64-bit range.
            prop::sample::select(vec![
                0i64, -1, 1, 2, 50, 51, 80, 81, 99, 100, 101, 256, 257, 1000, 1001, 262_144,
                1_048_577, i64::from(u32::MAX), i64::MAX, i64::MIN,
            ]),
            -5i64..3000,
        ]
        .prop_map(Junk::Int),
        1 => prop_oneof![Just(0.5f64), Just(-0.0), Just(1e300), Just(-2.5)].prop_map(Junk::Float),
        1 => prop_oneof![
            Just("1e400"),
            Just("-1e400"),
            Just("18446744073709551616"),
            Just("-9223372036854775809"),
            Just("0.00000000000000000000000000000000000001"),
        ]
        .prop_map(Junk::Huge),
        2 => "\\PC{0,20}".prop_map(Junk::Text),
        2 => prop_oneof![
            Just(String::new()),
            Just("{}".to_owned()),
            Just("null".to_owned()),
            Just("[1,2".to_owned()),
            Just("\u{0}\u{7f}\u{ffff}".to_owned()),
            Just("STANDARD".to_owned()),
            Just("EXPRESS".to_owned()),
            Just("AWS_OWNED_KEY".to_owned()),
            Just("CUSTOMER_MANAGED_KMS_KEY".to_owned()),
            Just("ALL".to_owned()),
        ]
        .prop_map(Junk::Text),
        1 => (
            prop_oneof![Just('a'), Just('\u{1F600}'), Just('"'), Just(':')],
            prop_oneof![
                prop::sample::select(vec![81usize, 129, 257, 2049, 32_769]),
                100usize..2000,
                250_000usize..300_000,
                Just(1_100_000usize)
            ]
        )
            .prop_map(|(c, n)| Junk::Long(c, n)),
        1 => prop_oneof![1usize..120, 120usize..300, Just(100_000usize)].prop_map(Junk::Deep),
        3 => bad_arn().prop_map(Junk::Arn),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Junk::Array),
            prop::collection::vec(("[a-zA-Z]{1,12}", inner), 0..4).prop_map(Junk::Object),
        ]
    })
}

/// What is done to a well-formed request before it is sent.
#[derive(Debug, Clone)]
enum Mutation {
    /// Removes the n-th member.
    Drop(usize),
    /// Gives the n-th member another value.
    Replace(usize, Junk),
    /// Adds a member the operation does not have.
    Add(String, Junk),
    /// Changes a member inside the n-th nested object or array of a definition or input text.
    InText(usize, usize, Junk),
    /// Gives the n-th member a value of its own type at or beside a limit: a number, a length,
    /// a count of items, an ARN.
    Near(usize, Junk, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..8).prop_map(Mutation::Drop),
        (0usize..8, junk()).prop_map(|(n, j)| Mutation::Replace(n, j)),
        ("[a-zA-Z]{1,20}", junk()).prop_map(|(k, j)| Mutation::Add(k, j)),
        (0usize..8, 0usize..8, junk()).prop_map(|(n, m, j)| Mutation::InText(n, m, j)),
        (0usize..8, bad_arn().prop_map(Junk::Arn), any::<usize>())
            .prop_map(|(n, arn, k)| Mutation::Near(n, arn, k)),
    ]
}

/// A request of the batch: an operation's well-formed request (picking among the few
/// resources the batches share), mutated; or a broken body, target or method.
#[derive(Debug, Clone)]
enum Planned {
    Request {
        operation: usize,
        pick: usize,
        mutations: Vec<Mutation>,
    },
    Body(usize, Vec<u8>),
    Target(String),
    Method(&'static str, usize),
}

fn planned() -> impl Strategy<Value = Planned> {
    let operation = 0..OPERATIONS.len();
    prop_oneof![
        12 => (operation.clone(), any::<usize>(), prop::collection::vec(mutation(), 0..4))
            .prop_map(|(operation, pick, mutations)| Planned::Request { operation, pick, mutations }),
        1 => (operation.clone(), prop_oneof![
            Just(b"".to_vec()),
            Just(b"null".to_vec()),
            Just(b"[]".to_vec()),
            Just(b"\"text\"".to_vec()),
            Just(b"{\"name\": \"a\", \"name\": 1}".to_vec()),
            Just(b"\xef\xbb\xbf{}".to_vec()),
            Just(b"{\"stateMachineArn\": \"\xff\xfe\"}".to_vec()),
            Just(b"{\"a\": 1".to_vec()),
            prop::collection::vec(any::<u8>(), 0..64),
        ]).prop_map(|(o, b)| Planned::Body(o, b)),
        1 => prop_oneof![
            Just(String::new()),
            Just("AWSStepFunctions.".to_owned()),
            Just("AWSStepFunctions".to_owned()),
            Just("awsstepfunctions.ListStateMachines".to_owned()),
            Just("AWSStepFunctions.ListStateMachines.Extra".to_owned()),
            Just("DynamoDB_20120810.ListTables".to_owned()),
            "[ -~]{0,40}",
        ].prop_map(Planned::Target),
        1 => (prop_oneof![Just("GET"), Just("PUT"), Just("DELETE")], operation)
            .prop_map(|(m, o)| Planned::Method(m, o)),
    ]
}

/// The well-formed definitions the requests use: every kind of state, a task waiting for its
/// token, an activity, Map and Parallel; each bounded by the machine's TimeoutSeconds.
fn definition(pick: usize) -> Value {
    let lambda = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let body = match pick % 7 {
        0 => {
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": 1}, "End": true}}})
        }
        1 => json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 1, "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "F"}], "Default": "S"},
            "F": {"Type": "Fail", "Error": "Big", "Cause": "n"},
            "S": {"Type": "Succeed"}}}),
        2 => json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 1, "TimeoutSeconds": 2, "End": true}}}),
        3 => json!({"StartAt": "A", "States": {"A": {
            "Type": "Task", "Resource": format!("{PREFIX}:activity:a0"),
            "TimeoutSeconds": 2, "End": true}}}),
        4 => json!({"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": 2,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Task", "Resource": lambda,
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}], "End": true}}},
            "End": true}}}),
        5 => json!({"StartAt": "Par", "States": {"Par": {
            "Type": "Parallel", "Branches": [
                {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
                {"StartAt": "Y", "States": {"Y": {"Type": "Fail", "Error": "E"}}}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Z"}],
            "End": false, "Next": "Z"},
            "Z": {"Type": "Pass", "End": true}}}),
        _ => json!({"QueryLanguage": "JSONata", "StartAt": "J", "States": {"J": {
            "Type": "Pass", "Output": "{% $states.input.xs ~> $map(function($v){$v * 2}) %}",
            "Assign": {"n": "{% $count($states.input.xs) %}"}, "End": true}}}),
    };
    let mut body = body;
    body["TimeoutSeconds"] = json!(5);
    body
}

const INPUTS: [&str; 4] = [
    "{}",
    "{\"n\": 3, \"xs\": [1, 2, 3]}",
    "{\"xs\": []}",
    "[1, {\"a\": null}]",
];

/// The well-formed request of `operation`, over resources chosen by `pick`.
fn request(fixture: &Fixture, operation: &str, pick: usize) -> Value {
    let n = pick % 3;
    let machine_name = format!("m{n}");
    let machine = format!("{PREFIX}:stateMachine:{machine_name}");
    let activity = format!("{PREFIX}:activity:a{}", pick % 2);
    let (execution, version) = {
        let live = fixture.live();
        let execution = live
            .executions
            .get(pick % live.executions.len().max(1))
            .cloned()
            .unwrap_or_else(|| format!("{PREFIX}:execution:{machine_name}:e0"));
        let version = live
            .versions
            .get(pick % live.versions.len().max(1))
            .cloned()
            .unwrap_or_else(|| format!("{machine}:1"));
        (execution, version)
    };
    let token = {
        let tokens = fixture.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(pick % tokens.len().max(1))
            .cloned()
            .unwrap_or_else(|| "no-such-token".to_owned())
    };
    let alias = format!("{machine}:live");
    let kind = if pick % 5 == 0 { "EXPRESS" } else { "STANDARD" };
    let input = INPUTS[pick % INPUTS.len()];
    let definition = definition(pick / 3).to_string();
    let page = json!({"maxResults": pick % 4});
    let mut body = match operation {
        "CreateActivity" => {
            json!({"name": format!("a{}", pick % 2), "tags": [{"key": "k", "value": "v"}],
            "encryptionConfiguration": {"type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": "alias/k",
                "kmsDataKeyReusePeriodSeconds": 300}})
        }
        "CreateStateMachine" => json!({
            "name": machine_name, "definition": definition, "roleArn": ROLE, "type": kind,
            "publish": pick % 2 == 0, "tags": [{"key": "team", "value": "a"}],
            "loggingConfiguration": {"level": "ERROR", "includeExecutionData": true, "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:g:*"}}]},
            "encryptionConfiguration": {"type": "AWS_OWNED_KEY"}}),
        "CreateStateMachineAlias" => json!({"name": "live", "routingConfiguration": [
            {"stateMachineVersionArn": version, "weight": 100}]}),
        "DeleteActivity" | "DescribeActivity" => json!({"activityArn": activity}),
        "GetActivityTask" => json!({"activityArn": activity, "workerName": "w"}),
        "DeleteStateMachine"
        | "DescribeStateMachine"
        | "PublishStateMachineVersion"
        | "ListStateMachineVersions"
        | "ListStateMachineAliases" => json!({"stateMachineArn": machine}),
        "DeleteStateMachineAlias" | "DescribeStateMachineAlias" => {
            json!({"stateMachineAliasArn": alias})
        }
        "UpdateStateMachineAlias" => json!({"stateMachineAliasArn": alias, "description": "d",
            "routingConfiguration": [{"stateMachineVersionArn": version, "weight": 100}]}),
        "DeleteStateMachineVersion" => json!({"stateMachineVersionArn": version}),
        "DescribeExecution"
        | "DescribeStateMachineForExecution"
        | "RedriveExecution"
        | "StopExecution" => json!({"executionArn": execution}),
        "GetExecutionHistory" => json!({"executionArn": execution, "reverseOrder": pick % 2 == 0,
            "includeExecutionData": true, "maxResults": pick % 5}),
        "ListActivities" | "ListStateMachines" => page,
        "ListExecutions" => json!({"stateMachineArn": machine, "statusFilter": "RUNNING"}),
        "ListTagsForResource" => json!({"resourceArn": machine}),
        "TagResource" => json!({"resourceArn": activity, "tags": [{"key": "k2", "value": "v"}]}),
        "UntagResource" => json!({"resourceArn": machine, "tagKeys": ["team"]}),
        "SendTaskFailure" => json!({"taskToken": token, "error": "E", "cause": "c"}),
        "SendTaskHeartbeat" => json!({"taskToken": token}),
        "SendTaskSuccess" => json!({"taskToken": token, "output": "{\"ok\": true}"}),
        "StartExecution" | "StartSyncExecution" => json!({
            "stateMachineArn": if pick % 4 == 0 { version } else { machine },
            "name": format!("e{}", pick % 4), "input": input}),
        "TestState" => json!({"definition": definition, "roleArn": ROLE, "input": input,
            "inspectionLevel": "DEBUG", "stateName": "P"}),
        "UpdateStateMachine" => json!({"stateMachineArn": machine, "definition": definition,
            "publish": true, "versionDescription": "v"}),
        "ValidateStateMachineDefinition" => json!({"definition": definition, "type": kind}),
        "DescribeMapRun" | "UpdateMapRun" => {
            json!({"mapRunArn": format!("{PREFIX}:mapRun:{machine_name}/M:run"), "maxConcurrency": 1})
        }
        "ListMapRuns" => json!({"executionArn": execution}),
        _ => json!({}),
    };
    if operation == "TestState" && pick % 2 == 0 {
        // A state's own definition rather than a machine's.
        body["definition"] =
            Value::from(json!({"Type": "Pass", "Result": 1, "End": true}).to_string());
        if let Some(members) = body.as_object_mut() {
            members.remove("stateName");
        }
    }
    body
}

/// A value of `value`'s type at or beside one of AWS's limits (`k` picks which).
fn near(key: &str, value: &Value, arn: &Junk, k: usize) -> Value {
    const NUMBERS: [i64; 14] = [
        -1,
        0,
        1,
        2,
        99,
        100,
        101,
        1000,
        1001,
        10_000,
        262_145,
        2_147_483_648,
        i64::MAX,
        i64::MIN,
    ];
    const LENGTHS: [usize; 12] = [0, 1, 79, 80, 81, 128, 129, 256, 257, 2048, 2049, 262_145];
    match value {
        Value::Number(_) => Value::from(NUMBERS[k % NUMBERS.len()]),
        Value::String(_) if key.ends_with("Arn") && k % 2 == 0 => arn.value(&mut Vec::new()),
        Value::String(text) => {
            let length = LENGTHS[k % LENGTHS.len()];
            let unit = text.chars().next().unwrap_or('x').to_string();
            Value::from(unit.repeat(length))
        }
        Value::Array(items) => {
            let item = items.first().cloned().unwrap_or(Value::Null);
            // Many copies of a small item; a body past the 64 MiB the server reads is not sent.
            let count =
                [0usize, 2, 3, 51, 1001][k % 5].min(1 + 1_000_000 / (item.to_string().len() + 1));
            Value::Array(vec![item; count])
        }
        Value::Bool(b) => Value::from(b.to_string()),
        other => other.clone(),
    }
}

/// Applies `mutation` to the request `body`; raw text the junk stands for goes to `raw`.
fn mutate(body: &mut Value, mutation: &Mutation, raw: &mut Vec<String>) {
    let Some(members) = body.as_object_mut() else {
        return;
    };
    let keys: Vec<String> = members.keys().cloned().collect();
    let nth = |n: usize| keys.get(n % keys.len().max(1)).cloned();
    match mutation {
        Mutation::Drop(n) => {
            if let Some(key) = nth(*n) {
                members.remove(&key);
            }
        }
        Mutation::Replace(n, junk) => {
            if let Some(key) = nth(*n) {
                members.insert(key, junk.value(raw));
            }
        }
        Mutation::Add(key, junk) => {
            members.insert(key.clone(), junk.value(raw));
        }
        Mutation::Near(n, arn, k) => {
            if let Some(key) = nth(*n) {
                let near = near(&key, &members[&key], arn, *k);
                members.insert(key, near);
            }
        }
        Mutation::InText(n, m, junk) => {
            // Definitions and inputs are JSON texts inside the request: change a member in
            // them.
            for key in ["definition", "input", "output"] {
                let Some(text) = members.get(key).and_then(Value::as_str) else {
                    continue;
                };
                let Ok(mut inner) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                let mut found = Vec::new();
                containers(&inner, String::new(), &mut found);
                let pointer = found.get(n % found.len().max(1)).cloned();
                let top = pointer.as_deref() == Some("");
                if let Some(target) = pointer.and_then(|p| inner.pointer_mut(&p)) {
                    mutate_inner(target, *m, junk, top);
                }
                members.insert(key.into(), Value::from(inner.to_string()));
            }
        }
    }
}

/// The JSON pointers of every object and array in `value`, the whole document first.
fn containers(value: &Value, at: String, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            found.push(at.clone());
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                containers(child, format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            found.push(at.clone());
            for (n, child) in items.iter().enumerate() {
                containers(child, format!("{at}/{n}"), found);
            }
        }
        _ => {}
    }
}

/// Replaces, removes or adds the m-th member of `target`; the document's own TimeoutSeconds
/// (`top`) stays, as it bounds how long an execution of the definition runs.
fn mutate_inner(target: &mut Value, m: usize, junk: &Junk, top: bool) {
    let value = junk.value(&mut Vec::new());
    match target {
        Value::Object(members) => {
            let keys: Vec<String> = members.keys().cloned().collect();
            match keys.get(m % (keys.len() + 1)) {
                Some(key) if top && key == "TimeoutSeconds" => {}
                Some(key) if m % 3 == 0 => {
                    members.remove(key);
                }
                Some(key) => {
                    members.insert(key.clone(), value);
                }
                None => {
                    members.insert(format!("X{m}"), value);
                }
            }
        }
        Value::Array(items) => {
            let at = m % (items.len() + 1);
            match items.get_mut(at) {
                Some(item) => *item = value,
                None => items.push(value),
            }
        }
        _ => {}
    }
}

/// The bytes of the body, each raw marker replaced by its text.
fn write(body: &Value, raw: &[String]) -> Vec<u8> {
    let mut text = body.to_string();
    for (n, replacement) in raw.iter().enumerate().rev() {
        text = text.replace(&format!("\"{RAW}{n}\""), replacement);
    }
    text.into_bytes()
}

fn prepare(fixture: &Fixture, planned: &Planned) -> Sent {
    let target = |o: usize| Some(format!("AWSStepFunctions.{}", OPERATIONS[o]));
    match planned {
        Planned::Request {
            operation,
            pick,
            mutations,
        } => {
            let mut body = request(fixture, OPERATIONS[*operation], *pick);
            let mut raw = Vec::new();
            for m in mutations {
                mutate(&mut body, m, &mut raw);
            }
            Sent {
                method: "POST",
                target: target(*operation),
                body: write(&body, &raw),
            }
        }
        Planned::Body(operation, bytes) => Sent {
            method: "POST",
            target: target(*operation),
            body: bytes.clone(),
        },
        Planned::Target(t) => Sent {
            method: "POST",
            target: Some(t.clone()),
            body: b"{}".to_vec(),
        },
        Planned::Method(method, operation) => Sent {
            method,
            target: target(*operation),
            body: b"{}".to_vec(),
        },
    }
}

/// Sends the batch at once; GetActivityTask's long polls are ended by deleting the activities
/// once every other request has answered.
fn run_batch(fixture: &Fixture, batch: &[Planned]) -> Result<(), TestCaseError> {
    let sent: Vec<Sent> = batch.iter().map(|p| prepare(fixture, p)).collect();
    let failures: Mutex<Vec<String>> = Mutex::default();
    std::thread::scope(|scope| {
        let (polls, others): (Vec<&Sent>, Vec<&Sent>) = sent
            .iter()
            .partition(|s| s.operation() == Some("GetActivityTask"));
        let check = |s: &Sent| {
            if let Err(e) = fixture.send(s) {
                failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{e}\n  request: {}", s.describe()));
            }
        };
        let polls: Vec<_> = polls
            .into_iter()
            .map(|s| scope.spawn(move || check(s)))
            .collect();
        let others: Vec<_> = others
            .into_iter()
            .map(|s| scope.spawn(move || check(s)))
            .collect();
        for handle in others {
            let _ = handle.join();
        }
        let deadline = Instant::now() + BOUND;
        while polls.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            for n in 0..2 {
                fixture.call(
                    "DeleteActivity",
                    json!({"activityArn": format!("{PREFIX}:activity:a{n}")}),
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for handle in polls {
            let _ = handle.join();
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    let panics = PANICS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if !panics.is_empty() {
        return Err(TestCaseError::fail(format!(
            "panicked: {panics:?}\n  batch: {}",
            sent.iter()
                .map(Sent::describe)
                .collect::<Vec<_>>()
                .join("\n  ")
        )));
    }
    match failures.first() {
        Some(first) => Err(TestCaseError::fail(format!(
            "{} of {} requests answered wrongly; the first: {first}",
            failures.len(),
            sent.len()
        ))),
        None => Ok(()),
    }
}

fn record_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(info.to_string());
        default(info);
    }));
}

#[test]
fn no_request_crashes_or_wedges_the_step_functions_api() {
    record_panics();
    let fixture = Fixture::start();
    let cases = std::env::var("SFN_API_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 0,
        ..Config::default()
    });
    let started = Instant::now();
    let result = runner.run(&prop::collection::vec(planned(), 1..14), |batch| {
        run_batch(&fixture, &batch)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Still serving: it lists, and creates and runs a state machine to its end.
    let (status, _) = fixture.call("ListStateMachines", json!({}));
    assert_eq!(status, 200);
    let (status, created) = fixture.call(
        "CreateStateMachine",
        json!({"name": "after", "roleArn": ROLE, "definition": definition(0).to_string()}),
    );
    assert_eq!(status, 200, "{created}");
    let (_, started_execution) = fixture.call(
        "StartExecution",
        json!({"stateMachineArn": created["stateMachineArn"]}),
    );
    let arn = started_execution["executionArn"].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let described = loop {
        let (_, described) = fixture.call("DescribeExecution", json!({"executionArn": arn}));
        if described["status"] != "RUNNING" || Instant::now() > deadline {
            break described;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert!(PANICS.lock().unwrap_or_else(|p| p.into_inner()).is_empty());
    let tally = fixture.tally.lock().unwrap_or_else(|p| p.into_inner());
    eprintln!(
        "{cases} batches, {} requests in {:.1} s",
        tally.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    for ((operation, outcome), count) in tally.iter() {
        eprintln!("  {operation:<36} {outcome:<32} {count}");
    }
}

/// A refused request's body is read all the same, so that the connection carries the client's
/// next request (two requests written at once on one connection both get their answers).
#[test]
fn a_refused_request_leaves_its_connection_usable() {
    use std::io::{Read, Write};
    let fixture = Fixture::start();
    let address = fixture.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("a connection");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let body = format!("{{\"definition\": \"{}\"}}", "x".repeat(100_000));
    let request = |target: &str, body: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: {target}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let both =
        request("Nobody.Operation", &body) + &request("AWSStepFunctions.ListActivities", "{}");
    stream.write_all(both.as_bytes()).expect("sent");
    let mut answers = String::new();
    let mut buffer = [0u8; 4096];
    while answers.matches("HTTP/1.1 ").count() < 2 || !answers.contains("\"activities\"") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answers.push_str(&String::from_utf8_lossy(&buffer[..n])),
        }
    }
    assert!(answers.contains("UnknownOperationException"), "{answers}");
    assert!(
        answers.contains("HTTP/1.1 200") && answers.contains("\"activities\":[]"),
        "{answers}"
    );
}
