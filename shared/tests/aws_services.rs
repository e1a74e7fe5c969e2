//! The SNS and S3 adapters against moto (the Step Functions adapter's test is
//! `local/tests/step_functions_adapter.rs`, on moto's Step Functions and on sfn-local's).

mod support;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use shared::aws::{S3Archive, SnsNotifier};
use shared::ports::{Alert, Archive, Notifier};
use shared::records::ExecutionStatus;

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
