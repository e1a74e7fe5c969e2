//! The Step Functions, SNS and S3 adapters against moto.

mod support;

use aws_sdk_sfn::Client as SfnClient;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use shared::aws::{S3Archive, SnsNotifier, StepFunctionsControl};
use shared::naming::execution_name;
use shared::ports::{Alert, Archive, ExecutionControl, Notifier, StartOutcome};
use shared::records::ExecutionStatus;

#[tokio::test]
async fn executions_start_once_per_name_and_stop() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let client = SfnClient::new(&config);
    let machine = client
        .create_state_machine()
        .name("StartActivity")
        .definition(support::definition())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .expect("state machine");
    let control = StepFunctionsControl::new(client.clone(), machine.state_machine_arn());
    let name = execution_name("goal-1", "key-1");
    let input = r#"{"goalId":"goal-1","userId":"u1","idempotencyKey":"key-1"}"#;

    let first = control.start_execution(&name, input).await.expect("start");
    let StartOutcome::Started { execution_arn, .. } = first.clone() else {
        panic!("a new execution expected, got {first:?}");
    };
    assert_eq!(execution_arn, control.execution_arn(&name));
    let again = control
        .start_execution(&name, input)
        .await
        .expect("start again");
    assert!(
        matches!(&again, StartOutcome::Started { execution_arn: arn, .. } | StartOutcome::AlreadyExists { execution_arn: arn } if *arn == execution_arn),
        "{again:?}"
    );
    let listed = client
        .list_executions()
        .state_machine_arn(machine.state_machine_arn())
        .send()
        .await
        .expect("list");
    assert_eq!(listed.executions().len(), 1, "one execution for one name");

    let described = control
        .describe_execution(&execution_arn)
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(described.status, ExecutionStatus::Running);
    control
        .stop_execution(&execution_arn, "test")
        .await
        .expect("stop");
    control
        .stop_execution(&execution_arn, "test")
        .await
        .expect("stopping again is harmless");
    let stopped = control
        .describe_execution(&execution_arn)
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(stopped.status, ExecutionStatus::Aborted);

    // The name stays taken after the execution closed.
    let after = control
        .start_execution(&name, input)
        .await
        .expect("start after close");
    assert_eq!(
        after,
        StartOutcome::AlreadyExists {
            execution_arn: execution_arn.clone()
        }
    );

    let unknown = control.execution_arn("never-started");
    assert_eq!(
        control
            .describe_execution(&unknown)
            .await
            .expect("describe"),
        None
    );
    control
        .stop_execution(&unknown, "test")
        .await
        .expect("stopping an unknown execution is harmless");
}

#[tokio::test]
async fn an_alert_reaches_a_subscriber_once_with_its_subject_and_body() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let client = aws_sdk_sns::Client::new(&config);
    let topic = client
        .create_topic()
        .name("alerts")
        .send()
        .await
        .expect("topic");
    let topic_arn = topic.topic_arn().unwrap_or_default().to_owned();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = sqs
        .create_queue()
        .queue_name("alerts-inbox")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    client
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");

    let notifier = SnsNotifier::new(client, &topic_arn);
    // SNS refuses subjects over 100 characters or with control characters.
    let alert = Alert {
        subject: format!("Run failed\n{}", "x".repeat(300)),
        execution_arn: "arn:x".into(),
        goal_id: Some("g".into()),
        status: ExecutionStatus::Failed,
        message: "boom".into(),
    };
    notifier.publish(&alert).await.expect("published");

    let receive = || async {
        sqs.receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive")
    };
    let received = receive().await;
    let [message] = received.messages() else {
        panic!("one message expected, got {:?}", received.messages());
    };
    let envelope: Value =
        serde_json::from_str(message.body().unwrap_or_default()).expect("an SNS envelope");
    assert_eq!(envelope["TopicArn"].as_str(), Some(topic_arn.as_str()));
    let subject = format!("Run failed{}", "x".repeat(90));
    assert_eq!(envelope["Subject"].as_str(), Some(subject.as_str()));
    let body: Alert =
        serde_json::from_str(envelope["Message"].as_str().unwrap_or_default()).expect("an alert");
    assert_eq!(body, alert);
    let later = receive().await;
    assert!(later.messages().is_empty(), "{:?}", later.messages());
}

#[tokio::test]
async fn the_archive_writes_and_finds_objects() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    client
        .create_bucket()
        .bucket("history")
        .send()
        .await
        .expect("bucket");
    let archive = S3Archive::new(client, "history");
    assert!(!archive.exists("a/b.jsonl").await.expect("exists"));
    archive
        .put("a/b.jsonl", b"{}\n".to_vec(), "application/x-ndjson")
        .await
        .expect("put");
    assert!(archive.exists("a/b.jsonl").await.expect("exists"));
}
