//! The details of the Step Functions API's answers that clients check, over HTTP against the
//! API served in process on 127.0.0.1: encryption configurations, logging configurations,
//! the model's constraints on members, versions published by updates, and aliases' routings.

use std::sync::Arc;

use serde_json::{json, Value};
use sfn_local::sfn_api::{Api, Options};

const ROLE: &str = "arn:aws:iam::123456789012:role/sfn";
const LOG_GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/x:*";

struct Server {
    base: String,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let api = Arc::new(Api::new(Options::default()).expect("the API starts"));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let routes = api.attach(axum::Router::new());
        runtime.spawn(async move { axum::serve(listener, routes).await });
        Server {
            base,
            _runtime: runtime,
        }
    }

    /// The operation's answer: its body, or the error's code and message.
    fn call(&self, operation: &str, body: Value) -> Result<Value, (String, String)> {
        let answer = ureq::post(&self.base)
            .set("Content-Type", "application/x-amz-json-1.0")
            .set("X-Amz-Target", &format!("AWSStepFunctions.{operation}"))
            .send_string(&body.to_string());
        match answer {
            Ok(response) => Ok(response.into_json().expect("a JSON answer")),
            Err(ureq::Error::Status(400, response)) => {
                let error: Value = response.into_json().expect("a JSON error");
                Err((
                    error["__type"].as_str().unwrap_or_default().to_owned(),
                    error["message"].as_str().unwrap_or_default().to_owned(),
                ))
            }
            Err(e) => panic!("{operation}: {e}"),
        }
    }

    fn ok(&self, operation: &str, body: Value) -> Value {
        self.call(operation, body.clone())
            .unwrap_or_else(|e| panic!("{operation} {body}: {e:?}"))
    }

    fn code(&self, operation: &str, body: Value) -> String {
        match self.call(operation, body) {
            Ok(answer) => panic!("{operation} succeeded: {answer}"),
            Err((code, _)) => code,
        }
    }
}

fn pass() -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}).to_string()
}

fn machine(name: &str, more: Value) -> Value {
    let mut body = json!({"name": name, "definition": pass(), "roleArn": ROLE});
    if let (Some(body), Value::Object(more)) = (body.as_object_mut(), more) {
        body.extend(more);
    }
    body
}

#[test]
fn encryption_configurations_are_kept_and_checked() {
    let server = Server::start();
    let plain = server.ok("CreateStateMachine", machine("plain", json!({})));
    let described = server.ok(
        "DescribeStateMachine",
        json!({"stateMachineArn": plain["stateMachineArn"]}),
    );
    assert_eq!(
        described["encryptionConfiguration"],
        json!({"type": "AWS_OWNED_KEY"})
    );

    let key = json!({"type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": "alias/sfn", "kmsDataKeyReusePeriodSeconds": 120});
    let keyed = server.ok(
        "CreateStateMachine",
        machine("keyed", json!({"encryptionConfiguration": key})),
    );
    let arn = keyed["stateMachineArn"].clone();
    let described = server.ok("DescribeStateMachine", json!({"stateMachineArn": arn}));
    assert_eq!(described["encryptionConfiguration"], key);
    let execution = server.ok("StartExecution", json!({"stateMachineArn": arn}));
    let for_execution = server.ok(
        "DescribeStateMachineForExecution",
        json!({"executionArn": execution["executionArn"]}),
    );
    assert_eq!(for_execution["encryptionConfiguration"], key);

    // Back to an AWS owned key by an update, which is a new revision.
    let updated = server.ok(
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "encryptionConfiguration": {"type": "AWS_OWNED_KEY"}}),
    );
    assert!(updated["revisionId"].is_string(), "{updated}");
    let described = server.ok("DescribeStateMachine", json!({"stateMachineArn": arn}));
    assert_eq!(
        described["encryptionConfiguration"],
        json!({"type": "AWS_OWNED_KEY"})
    );

    let no_key = json!({"encryptionConfiguration": {"type": "CUSTOMER_MANAGED_KMS_KEY"}});
    assert_eq!(
        server.code("CreateStateMachine", machine("no-key", no_key.clone())),
        "InvalidEncryptionConfiguration"
    );
    assert_eq!(
        server.code(
            "UpdateStateMachine",
            json!({"stateMachineArn": arn, "encryptionConfiguration": no_key["encryptionConfiguration"]})
        ),
        "InvalidEncryptionConfiguration"
    );
    let (code, message) = server
        .call(
            "CreateStateMachine",
            machine(
                "odd",
                json!({"encryptionConfiguration": {"type": "PLAINTEXT"}}),
            ),
        )
        .expect_err("an unknown type");
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "1 validation error detected: Value 'PLAINTEXT' at 'encryptionConfiguration.type' failed to satisfy constraint: Member must satisfy enum value set: [AWS_OWNED_KEY, CUSTOMER_MANAGED_KMS_KEY]"
    );

    // Activities too.
    let activity = server.ok(
        "CreateActivity",
        json!({"name": "worker", "encryptionConfiguration": key}),
    );
    let described = server.ok(
        "DescribeActivity",
        json!({"activityArn": activity["activityArn"]}),
    );
    assert_eq!(described["encryptionConfiguration"], key);
    let default = server.ok("CreateActivity", json!({"name": "plain"}));
    let described = server.ok(
        "DescribeActivity",
        json!({"activityArn": default["activityArn"]}),
    );
    assert_eq!(
        described["encryptionConfiguration"],
        json!({"type": "AWS_OWNED_KEY"})
    );
    assert_eq!(
        server.code(
            "CreateActivity",
            json!({"name": "x", "encryptionConfiguration": no_key["encryptionConfiguration"]})
        ),
        "InvalidEncryptionConfiguration"
    );
}

#[test]
fn logging_above_off_needs_a_log_group() {
    let server = Server::start();
    for level in ["ALL", "ERROR", "FATAL"] {
        let logging =
            json!({"loggingConfiguration": {"level": level, "includeExecutionData": true}});
        assert_eq!(
            server.code("CreateStateMachine", machine("logged", logging)),
            "InvalidLoggingConfiguration"
        );
    }
    let to_group = json!({"level": "ALL", "includeExecutionData": false,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP}}]});
    let created = server.ok(
        "CreateStateMachine",
        machine("logged", json!({"loggingConfiguration": to_group})),
    );
    let arn = created["stateMachineArn"].clone();
    let described = server.ok("DescribeStateMachine", json!({"stateMachineArn": arn}));
    assert_eq!(described["loggingConfiguration"], to_group);
    assert_eq!(
        server.code(
            "UpdateStateMachine",
            json!({"stateMachineArn": arn, "loggingConfiguration": {"level": "ERROR", "destinations": []}})
        ),
        "InvalidLoggingConfiguration"
    );
    server.ok(
        "UpdateStateMachine",
        json!({"stateMachineArn": arn, "loggingConfiguration": {"level": "OFF"}}),
    );
}

#[test]
fn members_outside_the_models_constraints_are_validation_errors() {
    let server = Server::start();
    let long = "n".repeat(81);
    let (code, message) = server
        .call("CreateStateMachine", machine(&long, json!({})))
        .expect_err("a name of 81 characters");
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        format!("1 validation error detected: Value '{long}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80")
    );
    assert!(server
        .call("CreateStateMachine", machine(&"n".repeat(80), json!({})))
        .is_ok());
    for operation in ["ListStateMachines", "ListActivities"] {
        let (code, message) = server
            .call(operation, json!({"maxResults": 1001}))
            .expect_err("a page of 1001");
        assert_eq!(code, "ValidationException");
        assert_eq!(message, "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000");
        let (_, message) = server
            .call(operation, json!({"maxResults": -1}))
            .expect_err("a page of -1");
        assert!(message.ends_with("Member must have value greater than or equal to 0"));
        server.ok(operation, json!({"maxResults": 1000}));
    }
    let (_, message) = server
        .call(
            "StartExecution",
            json!({"stateMachineArn": "a".repeat(257), "name": "", "input": "x".repeat(262_145)}),
        )
        .expect_err("three members outside their constraints");
    assert!(
        message.starts_with("3 validation errors detected: Value '")
            && message.contains("at 'stateMachineArn' failed to satisfy constraint: Member must have length less than or equal to 256; ")
            && message.contains("Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1; ")
            && message.ends_with("Value at 'input' failed to satisfy constraint: Member must have length less than or equal to 262144"),
        "{message}"
    );
    assert_eq!(
        server.code(
            "CreateActivity",
            json!({"name": "a", "tags": [{"key": "k".repeat(129)}]})
        ),
        "ValidationException"
    );
}

#[test]
fn an_update_publishing_a_new_version_description_publishes_a_new_version() {
    let server = Server::start();
    let created = server.ok(
        "CreateStateMachine",
        machine(
            "versioned",
            json!({"publish": true, "versionDescription": "first"}),
        ),
    );
    let arn = created["stateMachineArn"].clone();
    let first = created["stateMachineVersionArn"].clone();
    let update = |description: &str| {
        server.ok(
            "UpdateStateMachine",
            json!({"stateMachineArn": arn, "definition": pass(), "publish": true, "versionDescription": description}),
        )["stateMachineVersionArn"]
            .clone()
    };
    let second = update("second");
    assert_ne!(second, first, "only the description changed: a new version");
    assert_eq!(
        update("second"),
        second,
        "nothing changed: the same version"
    );
    let described = server.ok("DescribeStateMachine", json!({"stateMachineArn": second}));
    assert_eq!(described["description"], "second");
    // PublishStateMachineVersion stays idempotent on the revision.
    let published = server.ok(
        "PublishStateMachineVersion",
        json!({"stateMachineArn": arn, "description": "third"}),
    );
    assert_eq!(published["stateMachineVersionArn"], second);
}

#[test]
fn an_alias_routes_to_versions_of_one_state_machine() {
    let server = Server::start();
    let mut versions = Vec::new();
    for name in ["left", "right"] {
        let created = server.ok(
            "CreateStateMachine",
            machine(name, json!({"publish": true})),
        );
        versions.push(created["stateMachineVersionArn"].clone());
    }
    let (code, message) = server
        .call(
            "CreateStateMachineAlias",
            json!({"name": "split", "routingConfiguration": [
                {"stateMachineVersionArn": versions[0], "weight": 50},
                {"stateMachineVersionArn": versions[1], "weight": 50}]}),
        )
        .expect_err("versions of two state machines");
    assert_eq!(code, "ValidationException", "{message}");
    let alias = server.ok(
        "CreateStateMachineAlias",
        json!({"name": "whole", "routingConfiguration": [{"stateMachineVersionArn": versions[0], "weight": 100}]}),
    );
    assert_eq!(
        server.code(
            "UpdateStateMachineAlias",
            json!({"stateMachineAliasArn": alias["stateMachineAliasArn"], "routingConfiguration": [
                {"stateMachineVersionArn": versions[0], "weight": 10},
                {"stateMachineVersionArn": versions[1], "weight": 90}]})
        ),
        "ValidationException"
    );
}
