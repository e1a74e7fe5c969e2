//! A moto server on a free loopback port for the adapter tests: started by the test, stopped when
//! the handle drops. moto comes from `scripts/setup.sh` (into `.venv`).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_yaml_ng::Value as Yaml;
use shared::aws::TableNames;

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts moto (with requests handled one at a time, as DynamoDB applies each write atomically);
/// fails the test with a clear message when moto is not installed.
pub fn start() -> Moto {
    let python = std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "moto's Python not found at {}: run `bash scripts/setup.sh` first",
        python.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port");
    let child = Command::new(&python)
        .arg(repo_root().join("scripts/moto_serial.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto starts");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

impl Moto {
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region("us-east-1")
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}

/// The real definition, with every function ARN substituted.
pub fn definition() -> String {
    let mut text =
        std::fs::read_to_string(repo_root().join("statemachine/start-activity.asl.json"))
            .expect("statemachine/start-activity.asl.json");
    while let Some(start) = text.find("${") {
        let Some(len) = text[start..].find('}') else {
            break;
        };
        let name = text[start + 2..start + len]
            .trim_end_matches("FunctionArn")
            .to_owned();
        text.replace_range(
            start..=start + len,
            &format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        );
    }
    text
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml is YAML")
}

fn text(v: &Yaml) -> String {
    v.as_str().map(str::to_owned).unwrap_or_default()
}

fn key_schema(v: &Yaml) -> Vec<KeySchemaElement> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(&k["AttributeName"]))
                .key_type(KeyType::from(text(&k["KeyType"]).as_str()))
                .build()
                .expect("key schema")
        })
        .collect()
}

/// Creates the four tables exactly as `template.yaml` defines them (keys, indexes, TTL), with a
/// prefix so tests never share a table.
pub async fn create_tables(config: &SdkConfig, prefix: &str) -> TableNames {
    let client = aws_sdk_dynamodb::Client::new(config);
    let resources = &template()["Resources"];
    let mut names = Vec::new();
    for logical in [
        "GoalsTable",
        "ActionsTable",
        "TasksTable",
        "WorkflowExecutionsTable",
    ] {
        let props = &resources[logical]["Properties"];
        let name = format!("{prefix}-{logical}");
        let mut create = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&props["KeySchema"])));
        for a in props["AttributeDefinitions"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(text(&a["AttributeName"]))
                    .attribute_type(ScalarAttributeType::from(
                        text(&a["AttributeType"]).as_str(),
                    ))
                    .build()
                    .expect("attribute"),
            );
        }
        for gsi in props["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(text(&gsi["IndexName"]))
                    .set_key_schema(Some(key_schema(&gsi["KeySchema"])))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("index"),
            );
        }
        create.send().await.expect("create table");
        let ttl = &props["TimeToLiveSpecification"];
        if !ttl.is_null() {
            client
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(text(&ttl["AttributeName"]))
                        .enabled(true)
                        .build()
                        .expect("ttl"),
                )
                .send()
                .await
                .expect("ttl");
        }
        names.push(name);
    }
    TableNames {
        goals: names[0].clone(),
        actions: names[1].clone(),
        tasks: names[2].clone(),
        executions: names[3].clone(),
    }
}
