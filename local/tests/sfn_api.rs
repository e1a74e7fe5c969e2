//! The Step Functions API of `sfn-local serve` through the AWS SDK for Rust (aws-sdk-sfn), and
//! the API's answers to bad requests, over real HTTP on a free port of 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sfn::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_sfn::types::{
    ExecutionStatus, HistoryEventType, RoutingConfigurationListItem, StateMachineType,
};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_sfn-local");
const ROLE: &str = "arn:aws:iam::123456789012:role/sfn";

struct Server {
    child: Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::start_with(args, &[])
    }

    fn start_with(args: &[&str], env: &[(&str, &std::path::Path)]) -> Server {
        let dir = std::env::temp_dir().join(format!("sfn-local-api-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut child = Command::new(BIN)
            .args(["serve", "--port", "0", "--key-file"])
            .arg(dir.join("dev-key"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sfn-local serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        std::thread::spawn(move || lines.for_each(drop));
        let base = line
            .split_once("listening on ")
            .map(|(_, url)| url.trim().to_owned())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, base, dir }
    }

    fn client(&self) -> aws_sdk_sfn::Client {
        let config = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .endpoint_url(&self.base)
            .interceptor(NoHostPrefix)
            .build();
        aws_sdk_sfn::Client::from_conf(config)
    }

    /// One raw request: the operation's target and body as given.
    fn raw(&self, target: &str, body: &str) -> (u16, Value) {
        let answer = ureq::post(&self.base)
            .set("Content-Type", "application/x-amz-json-1.0")
            .set("X-Amz-Target", target)
            .send_string(body);
        let response = match answer {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("no answer: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// StartSyncExecution and TestState go to a `sync-` host prefix; a local endpoint has none.
#[derive(Debug)]
struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request_mut();
        let uri = request.uri().replacen("://sync-", "://", 1);
        request.set_uri(uri)?;
        Ok(())
    }
}

fn definition(states: Value, start: &str) -> String {
    json!({"StartAt": start, "States": states}).to_string()
}

async fn until_closed(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let described = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .expect("DescribeExecution answers");
        if described.status != ExecutionStatus::Running || Instant::now() > deadline {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_rust_sdk_runs_state_machines_and_reads_their_histories() {
    let server = Server::start(&[]);
    let sfn = server.client();
    let states = json!({
        "Each": {"Type": "Map", "ItemsPath": "$.xs", "ItemProcessor": {"StartAt": "Double", "States": {
            "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, $)"}, "End": true}}}, "Next": "Done"},
        "Done": {"Type": "Succeed"}
    });
    let created = sfn
        .create_state_machine()
        .name("doubles")
        .definition(definition(states, "Each"))
        .role_arn(ROLE)
        .send()
        .await
        .expect("CreateStateMachine answers");
    let machine = created.state_machine_arn;
    let started = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("first")
        .input(r#"{"xs": [1, 2, 3]}"#)
        .send()
        .await
        .expect("StartExecution answers");
    let described = until_closed(&sfn, &started.execution_arn).await;
    assert_eq!(described.status, ExecutionStatus::Succeeded);
    let output: Value =
        serde_json::from_str(described.output.as_deref().unwrap_or("null")).unwrap_or_default();
    assert_eq!(output, json!([{"v": 2}, {"v": 4}, {"v": 6}]));

    let history = sfn
        .get_execution_history()
        .execution_arn(&started.execution_arn)
        .send()
        .await
        .expect("GetExecutionHistory answers");
    let types: Vec<HistoryEventType> = history.events.iter().map(|e| e.r#type.clone()).collect();
    assert_eq!(types.first(), Some(&HistoryEventType::ExecutionStarted));
    assert_eq!(types.last(), Some(&HistoryEventType::ExecutionSucceeded));
    let iterations = types
        .iter()
        .filter(|t| **t == HistoryEventType::MapIterationSucceeded)
        .count();
    assert_eq!(iterations, 3);
    let length = history
        .events
        .iter()
        .find_map(|e| e.map_state_started_event_details.as_ref())
        .map(|d| d.length);
    assert_eq!(length, Some(3));

    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Succeeded)
        .send()
        .await
        .expect("ListExecutions answers");
    assert_eq!(listed.executions.len(), 1);
    let missing = sfn
        .describe_execution()
        .execution_arn(format!("{}-not", started.execution_arn))
        .send()
        .await
        .expect_err("no such execution");
    assert!(missing.into_service_error().is_execution_does_not_exist());
}

#[tokio::test]
async fn the_rust_sdk_stops_executions_and_runs_express_ones_synchronously() {
    let server = Server::start(&[]);
    let sfn = server.client();
    let waits = definition(
        json!({"W": {"Type": "Wait", "Seconds": 60, "End": true}}),
        "W",
    );
    let machine = sfn
        .create_state_machine()
        .name("waits")
        .definition(waits)
        .role_arn(ROLE)
        .send()
        .await
        .expect("CreateStateMachine answers")
        .state_machine_arn;
    let started = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("StartExecution answers");
    sfn.stop_execution()
        .execution_arn(&started.execution_arn)
        .error("Halt")
        .send()
        .await
        .expect("StopExecution answers");
    let described = until_closed(&sfn, &started.execution_arn).await;
    assert_eq!(described.status, ExecutionStatus::Aborted);
    assert_eq!(described.error.as_deref(), Some("Halt"));

    let fails = definition(
        json!({"F": {"Type": "Fail", "Error": "Nope", "Cause": "always"}}),
        "F",
    );
    let express = sfn
        .create_state_machine()
        .name("express")
        .r#type(StateMachineType::Express)
        .definition(fails)
        .role_arn(ROLE)
        .send()
        .await
        .expect("CreateStateMachine answers")
        .state_machine_arn;
    let answer = sfn
        .start_sync_execution()
        .state_machine_arn(&express)
        .send()
        .await
        .expect("StartSyncExecution answers");
    assert_eq!(answer.status.as_str(), "FAILED");
    assert_eq!(answer.error.as_deref(), Some("Nope"));
    assert_eq!(answer.cause.as_deref(), Some("always"));
}

#[tokio::test]
async fn the_rust_sdk_publishes_versions_and_runs_them() {
    let server = Server::start(&[]);
    let sfn = server.client();
    let says = |word: &str| {
        definition(
            json!({"P": {"Type": "Pass", "Result": word, "End": true}}),
            "P",
        )
    };
    let created = sfn
        .create_state_machine()
        .name("versioned")
        .definition(says("one"))
        .role_arn(ROLE)
        .publish(true)
        .version_description("first")
        .send()
        .await
        .expect("CreateStateMachine answers");
    let machine = created.state_machine_arn;
    assert_eq!(
        created.state_machine_version_arn,
        Some(format!("{machine}:1"))
    );
    let updated = sfn
        .update_state_machine()
        .state_machine_arn(&machine)
        .definition(says("two"))
        .publish(true)
        .send()
        .await
        .expect("UpdateStateMachine answers");
    assert_eq!(
        updated.state_machine_version_arn,
        Some(format!("{machine}:2"))
    );
    let again = sfn
        .publish_state_machine_version()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("PublishStateMachineVersion answers");
    assert_eq!(
        again.state_machine_version_arn,
        format!("{machine}:2"),
        "the same revision"
    );
    for stale in ["not-the-current-one", "INITIAL"] {
        let refused = sfn
            .publish_state_machine_version()
            .state_machine_arn(&machine)
            .revision_id(stale)
            .send()
            .await
            .expect_err("a stale revision");
        assert!(
            refused.into_service_error().is_conflict_exception(),
            "{stale}"
        );
    }
    let described = sfn
        .update_state_machine()
        .state_machine_arn(&machine)
        .version_description("not published")
        .role_arn(ROLE)
        .send()
        .await
        .expect_err("a description without publish");
    assert!(described.into_service_error().is_validation_exception());

    let first = sfn
        .describe_state_machine()
        .state_machine_arn(format!("{machine}:1"))
        .send()
        .await
        .expect("DescribeStateMachine answers for a version");
    assert_eq!(first.definition, says("one"));
    assert_eq!(first.description.as_deref(), Some("first"));
    let execution = sfn
        .start_execution()
        .state_machine_arn(format!("{machine}:1"))
        .send()
        .await
        .expect("StartExecution answers for a version")
        .execution_arn;
    let described = until_closed(&sfn, &execution).await;
    assert_eq!(described.output.as_deref(), Some("\"one\""));
    assert_eq!(
        described.state_machine_version_arn,
        Some(format!("{machine}:1"))
    );
    assert_eq!(described.state_machine_arn, machine);

    sfn.delete_state_machine_version()
        .state_machine_version_arn(format!("{machine}:2"))
        .send()
        .await
        .expect("DeleteStateMachineVersion answers");
    let versions = sfn
        .list_state_machine_versions()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("ListStateMachineVersions answers");
    let arns: Vec<&str> = versions
        .state_machine_versions()
        .iter()
        .map(|v| v.state_machine_version_arn())
        .collect();
    assert_eq!(arns, [format!("{machine}:1")]);
    let gone = sfn
        .describe_state_machine()
        .state_machine_arn(format!("{machine}:2"))
        .send()
        .await
        .expect_err("a deleted version");
    assert!(gone.into_service_error().is_state_machine_does_not_exist());
    sfn.update_state_machine()
        .state_machine_arn(&machine)
        .definition(says("three"))
        .send()
        .await
        .expect("UpdateStateMachine answers");
    let third = sfn
        .publish_state_machine_version()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("PublishStateMachineVersion answers");
    assert_eq!(
        third.state_machine_version_arn,
        format!("{machine}:3"),
        "numbers are not reused"
    );

    // An alias routes its executions to a version.
    let route = |version: &str, weight| {
        RoutingConfigurationListItem::builder()
            .state_machine_version_arn(format!("{machine}:{version}"))
            .weight(weight)
            .build()
            .expect("a route")
    };
    let alias = sfn
        .create_state_machine_alias()
        .name("prod")
        .routing_configuration(route("1", 100))
        .send()
        .await
        .expect("CreateStateMachineAlias answers")
        .state_machine_alias_arn;
    assert_eq!(alias, format!("{machine}:prod"));
    let execution = sfn
        .start_execution()
        .state_machine_arn(&alias)
        .send()
        .await
        .expect("StartExecution answers for an alias")
        .execution_arn;
    let described = sfn
        .describe_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect("DescribeExecution answers");
    assert_eq!(
        described.state_machine_alias_arn.as_deref(),
        Some(alias.as_str())
    );
    assert_eq!(
        described.state_machine_version_arn,
        Some(format!("{machine}:1"))
    );
    let listed = sfn
        .list_executions()
        .state_machine_arn(&alias)
        .send()
        .await
        .expect("ListExecutions answers for an alias");
    assert_eq!(listed.executions().len(), 1);
    assert_eq!(
        listed.executions()[0].state_machine_alias_arn(),
        Some(alias.as_str())
    );
    sfn.update_state_machine_alias()
        .state_machine_alias_arn(&alias)
        .routing_configuration(route("1", 30))
        .routing_configuration(route("3", 70))
        .send()
        .await
        .expect("UpdateStateMachineAlias answers");
    let shown = sfn
        .describe_state_machine_alias()
        .state_machine_alias_arn(&alias)
        .send()
        .await
        .expect("DescribeStateMachineAlias answers");
    assert_eq!(shown.routing_configuration().len(), 2);
    let bad = sfn
        .update_state_machine_alias()
        .state_machine_alias_arn(&alias)
        .routing_configuration(route("1", 50))
        .send()
        .await
        .expect_err("weights must add up to 100");
    assert!(bad.into_service_error().is_validation_exception());
    let in_use = sfn
        .delete_state_machine_version()
        .state_machine_version_arn(format!("{machine}:3"))
        .send()
        .await
        .expect_err("an alias routes to it");
    assert!(in_use.into_service_error().is_conflict_exception());
    let aliases = sfn
        .list_state_machine_aliases()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("ListStateMachineAliases answers");
    assert_eq!(aliases.state_machine_aliases().len(), 1);
    sfn.delete_state_machine_alias()
        .state_machine_alias_arn(&alias)
        .send()
        .await
        .expect("DeleteStateMachineAlias answers");
    sfn.delete_state_machine_version()
        .state_machine_version_arn(format!("{machine}:3"))
        .send()
        .await
        .expect("DeleteStateMachineVersion answers once no alias routes to it");
}

#[tokio::test]
async fn activity_workers_take_tasks_and_answer_them() {
    let server = Server::start(&[]);
    let sfn = server.client();
    let activity = sfn
        .create_activity()
        .name("review")
        .send()
        .await
        .expect("CreateActivity answers")
        .activity_arn;
    let states = json!({
        "Review": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 2, "Next": "Again"},
        "Again": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 1, "End": true}
    });
    let machine = sfn
        .create_state_machine()
        .name("reviewed")
        .definition(definition(states, "Review"))
        .role_arn(ROLE)
        .send()
        .await
        .expect("CreateStateMachine answers")
        .state_machine_arn;
    let execution = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .input(r#"{"doc": 7}"#)
        .send()
        .await
        .expect("StartExecution answers")
        .execution_arn;
    let task = sfn
        .get_activity_task()
        .activity_arn(&activity)
        .worker_name("reviewer-1")
        .send()
        .await
        .expect("GetActivityTask answers");
    assert_eq!(task.input.as_deref(), Some(r#"{"doc":7}"#));
    sfn.send_task_success()
        .task_token(task.task_token.expect("a task"))
        .output(r#"{"approved": true}"#)
        .send()
        .await
        .expect("SendTaskSuccess answers");
    // The second task is taken and never answered: its heartbeat runs out.
    let second = sfn
        .get_activity_task()
        .activity_arn(&activity)
        .worker_name("reviewer-2")
        .send()
        .await
        .expect("GetActivityTask answers");
    assert_eq!(second.input.as_deref(), Some(r#"{"approved":true}"#));
    let described = until_closed(&sfn, &execution).await;
    assert_eq!(described.status, ExecutionStatus::Failed);
    assert_eq!(described.error.as_deref(), Some("States.HeartbeatTimeout"));
    let history = sfn
        .get_execution_history()
        .execution_arn(&execution)
        .send()
        .await
        .expect("GetExecutionHistory answers");
    let kinds: Vec<&str> = history
        .events()
        .iter()
        .map(|e| e.r#type().as_str())
        .filter(|k| k.starts_with("Activity"))
        .collect();
    assert_eq!(
        kinds,
        [
            "ActivityScheduled",
            "ActivityStarted",
            "ActivitySucceeded",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivityTimedOut"
        ]
    );
    let started = history
        .events()
        .iter()
        .find_map(|e| e.activity_started_event_details())
        .and_then(|d| d.worker_name());
    assert_eq!(started, Some("reviewer-1"));
    let missing = sfn
        .describe_activity()
        .activity_arn(format!("{activity}-gone"))
        .send()
        .await
        .expect_err("no such activity");
    assert!(missing.into_service_error().is_activity_does_not_exist());

    // A task on an activity that does not exist fails to be scheduled.
    let states =
        json!({"T": {"Type": "Task", "Resource": format!("{activity}-gone"), "End": true}});
    let machine = sfn
        .create_state_machine()
        .name("unscheduled")
        .definition(definition(states, "T"))
        .role_arn(ROLE)
        .send()
        .await
        .expect("CreateStateMachine answers")
        .state_machine_arn;
    let execution = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("StartExecution answers")
        .execution_arn;
    let described = until_closed(&sfn, &execution).await;
    assert_eq!(described.status, ExecutionStatus::Failed);
    let history = sfn
        .get_execution_history()
        .execution_arn(&execution)
        .send()
        .await
        .expect("GetExecutionHistory answers");
    let failed = history
        .events()
        .iter()
        .find(|e| e.r#type() == &HistoryEventType::ActivityScheduleFailed)
        .and_then(|e| e.activity_schedule_failed_event_details())
        .and_then(|d| d.error());
    assert_eq!(failed, Some("ActivityDoesNotExist"));
}

#[tokio::test]
async fn the_rust_sdk_tags_state_machines() {
    use aws_sdk_sfn::types::Tag;
    let server = Server::start(&[]);
    let sfn = server.client();
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let machine = sfn
        .create_state_machine()
        .name("tagged")
        .definition(definition(json!({"P": {"Type": "Pass", "End": true}}), "P"))
        .role_arn(ROLE)
        .tags(tag("team", "a"))
        .send()
        .await
        .expect("CreateStateMachine answers")
        .state_machine_arn;
    sfn.tag_resource()
        .resource_arn(&machine)
        .tags(tag("team", "b"))
        .tags(tag("env", "dev"))
        .send()
        .await
        .expect("TagResource answers");
    sfn.untag_resource()
        .resource_arn(&machine)
        .tag_keys("env")
        .tag_keys("absent")
        .send()
        .await
        .expect("UntagResource answers");
    let listed = sfn
        .list_tags_for_resource()
        .resource_arn(&machine)
        .send()
        .await
        .expect("ListTagsForResource answers");
    assert_eq!(listed.tags(), [tag("team", "b")]);

    let missing = format!("{}-gone", machine);
    let err = sfn
        .list_tags_for_resource()
        .resource_arn(&missing)
        .send()
        .await
        .expect_err("no such state machine");
    let err = err.into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");
    let many = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
    let err = sfn
        .tag_resource()
        .resource_arn(&machine)
        .set_tags(Some(many))
        .send()
        .await
        .expect_err("51 tags");
    assert!(err.into_service_error().is_too_many_tags());

    let activity = sfn
        .create_activity()
        .name("tagged-activity")
        .tags(tag("team", "c"))
        .send()
        .await
        .expect("CreateActivity answers")
        .activity_arn;
    let listed = sfn
        .list_tags_for_resource()
        .resource_arn(&activity)
        .send()
        .await
        .expect("ListTagsForResource answers for an activity");
    assert_eq!(listed.tags(), [tag("team", "c")]);
    let gone = sfn
        .tag_resource()
        .resource_arn(format!("{activity}-gone"))
        .tags(tag("a", "b"))
        .send()
        .await
        .expect_err("no such activity");
    assert!(gone.into_service_error().is_resource_not_found());
}

#[test]
fn bad_requests_get_aws_errors_and_the_server_keeps_answering() {
    let server = Server::start(&[]);
    let code = |answer: (u16, Value)| {
        assert_eq!(answer.0, 400, "{answer:?}");
        answer.1["__type"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(
        code(server.raw("AWSStepFunctions.Teleport", "{}")),
        "UnknownOperationException"
    );
    assert_eq!(
        code(server.raw("Other.ListStateMachines", "{}")),
        "UnknownOperationException"
    );
    assert_eq!(
        code(server.raw("AWSStepFunctions.ListStateMachines", "{\"")),
        "SerializationException"
    );
    assert_eq!(
        code(server.raw("AWSStepFunctions.ListStateMachines", "[1]")),
        "SerializationException"
    );
    let wrong_type = r#"{"stateMachineArn": 5}"#;
    assert_eq!(
        code(server.raw("AWSStepFunctions.DescribeStateMachine", wrong_type)),
        "SerializationException"
    );
    assert_eq!(
        code(server.raw("AWSStepFunctions.DescribeStateMachine", "{}")),
        "ValidationException"
    );

    // A definition over AWS's 1 MiB, valid JSON otherwise.
    let padding = "x".repeat(1024 * 1024);
    let huge = definition(
        json!({"P": {"Type": "Pass", "Result": padding, "End": true}}),
        "P",
    );
    let create = json!({"name": "huge", "definition": huge, "roleArn": ROLE}).to_string();
    let (status, body) = server.raw("AWSStepFunctions.CreateStateMachine", &create);
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationException")),
        "{body}"
    );
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("1048576"));

    let pass = definition(json!({"P": {"Type": "Pass", "End": true}}), "P");
    let create = json!({"name": "p", "definition": pass, "roleArn": ROLE}).to_string();
    let (_, created) = server.raw("AWSStepFunctions.CreateStateMachine", &create);
    let machine = created["stateMachineArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let big_input = json!({"stateMachineArn": machine, "input": json!({"s": "x".repeat(256 * 1024)}).to_string()});
    let (status, body) = server.raw("AWSStepFunctions.StartExecution", &big_input.to_string());
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationException")),
        "{body}"
    );
    let bad_arn =
        json!({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:activity:a"}).to_string();
    assert_eq!(
        code(server.raw("AWSStepFunctions.StartExecution", &bad_arn)),
        "InvalidArn"
    );
    let bad_def = json!({"name": "bad", "definition": "{\"StartAt\":\"Nowhere\",\"States\":{}}", "roleArn": ROLE}).to_string();
    let (status, body) = server.raw("AWSStepFunctions.CreateStateMachine", &bad_def);
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidDefinition")),
        "{body}"
    );
    let bad_token = json!({"nextToken": "not-a-token"}).to_string();
    assert_eq!(
        code(server.raw("AWSStepFunctions.ListStateMachines", &bad_token)),
        "InvalidToken"
    );

    // A body past what the API reads at all.
    let flood = json!({"definition": "x".repeat(9 * 1024 * 1024)}).to_string();
    let (status, body) = server.raw("AWSStepFunctions.ValidateStateMachineDefinition", &flood);
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationException")),
        "{body}"
    );

    // Still answering, with what it had before the bad requests.
    let (status, listed) = server.raw("AWSStepFunctions.ListStateMachines", "{}");
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["stateMachines"]
        .as_array()
        .map(|ms| ms.iter().filter_map(|m| m["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["p"]);
}

/// AWS's documented mock configuration for its LambdaSQSIntegration example.
const MOCK_CONFIG: &str = r#"{
  "StateMachines": {"LambdaSQSIntegration": {"TestCases": {
    "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQSSuccess"},
    "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQSSuccess"},
    "HybridPath": {"LambdaState": "MockedLambdaSuccess"}}}},
  "MockedResponses": {
    "MockedLambdaSuccess": {"0": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}},
    "LambdaMockedResourceNotReady": {"0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."}}},
    "MockedSQSSuccess": {"0": {"Return": {"MD5OfMessageBody": "3bcb6e8e-7h85-4375-b0bc-1a59812c6e51", "MessageId": "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51"}}},
    "MockedLambdaRetry": {
      "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."}},
      "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}},
      "3": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}}}
}"#;

/// The example's state machine, its retrier's interval shortened to one second.
fn lambda_sqs_integration() -> String {
    definition(
        json!({
            "LambdaState": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"Payload.$": "$", "FunctionName": "HelloWorldFunction"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.0}],
                "Next": "SQSState"
            },
            "SQSState": {
                "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/myQueue", "MessageBody.$": "$"},
                "End": true
            }
        }),
        "LambdaState",
    )
}

async fn run_case(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    case: &str,
) -> (
    aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    Vec<aws_sdk_sfn::types::HistoryEvent>,
) {
    let started = sfn
        .start_execution()
        .state_machine_arn(format!("{machine}#{case}"))
        .input("{}")
        .send()
        .await
        .expect("StartExecution on a test case answers");
    let described = until_closed(sfn, &started.execution_arn).await;
    let history = sfn
        .get_execution_history()
        .execution_arn(&started.execution_arn)
        .send()
        .await
        .expect("GetExecutionHistory answers");
    (described, history.events)
}

#[tokio::test]
async fn test_cases_answer_tasks_with_their_mocked_responses() {
    let dir = std::env::temp_dir().join(format!("sfn-local-mocks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = dir.join("MockConfigFile.json");
    std::fs::write(&config, MOCK_CONFIG).expect("the mock configuration is written");
    // The flag and the variable both name the file.
    let by_flag = Server::start(&["--mock-config", config.to_str().unwrap_or_default()]);
    let by_env = Server::start_with(&[], &[("SFN_MOCK_CONFIG", config.as_path())]);
    for server in [&by_flag, &by_env] {
        let sfn = server.client();
        let machine = sfn
            .create_state_machine()
            .name("LambdaSQSIntegration")
            .definition(lambda_sqs_integration())
            .role_arn(ROLE)
            .send()
            .await
            .expect("a definition with an SQS task is accepted")
            .state_machine_arn;

        let (happy, events) = run_case(&sfn, &machine, "HappyPath").await;
        assert_eq!(happy.status, ExecutionStatus::Succeeded, "{happy:?}");
        let output: Value =
            serde_json::from_str(happy.output.as_deref().unwrap_or("null")).unwrap_or_default();
        assert_eq!(output["MessageId"], "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51");
        let lambda = events
            .iter()
            .find_map(|e| e.task_succeeded_event_details.as_ref())
            .and_then(|d| d.output.clone())
            .unwrap_or_default();
        assert!(lambda.contains("Hello from Lambda!"), "{lambda}");
        if server.base == by_flag.base {
            // The same test case without the file: refused.
            let (_, unknown) = server.raw(
                "AWSStepFunctions.StartExecution",
                &json!({"stateMachineArn": format!("{machine}#NoSuchCase")}).to_string(),
            );
            assert_eq!(unknown["__type"], "ValidationException", "{unknown}");
        }
    }
    let sfn = by_flag.client();
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:LambdaSQSIntegration";

    // Three failures (invocations 0, 1 and 2), each retried, then the mocked success.
    let (retried, events) = run_case(&sfn, machine, "RetryPath").await;
    assert_eq!(retried.status, ExecutionStatus::Succeeded, "{retried:?}");
    let failures: Vec<String> = events
        .iter()
        .filter_map(|e| e.task_failed_event_details.as_ref())
        .filter_map(|d| d.error.clone())
        .collect();
    assert_eq!(
        failures,
        [
            "Lambda.ResourceNotReadyException",
            "Lambda.TimeoutException",
            "Lambda.TimeoutException"
        ]
    );

    // The SQS state is not mocked: it fails as an unreachable service would.
    let (hybrid, events) = run_case(&sfn, machine, "HybridPath").await;
    assert_eq!(hybrid.status, ExecutionStatus::Failed, "{hybrid:?}");
    assert_eq!(hybrid.error.as_deref(), Some("Sqs.SdkClientException"));
    let scheduled = events
        .iter()
        .filter_map(|e| e.task_scheduled_event_details.as_ref())
        .map(|d| (d.resource_type.as_str(), d.resource.as_str()))
        .collect::<Vec<_>>();
    assert_eq!(scheduled, [("lambda", "invoke"), ("sqs", "sendMessage")]);
    let _ = std::fs::remove_dir_all(&dir);
}
