//! The status-change finaliser and the maintenance job over the AWS adapters, against moto; the
//! maintenance job twice, with moto's Step Functions and with sfn-local's (`step_functions`).

#[path = "../../shared/tests/support/mod.rs"]
mod support;

mod step_functions;

use step_functions::Backend;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use shared::aws::{DynamoStore, S3Archive, SnsNotifier, StepFunctionsControl};
use shared::examples::{sample_run, started_run, SAMPLE_RUN_ARN, SAMPLE_STATUS_CHANGES};
use shared::metrics::NoMetrics;
use shared::operations::{archive_key, Finalised};
use shared::ports::{Archive, ExecutionControl, ManualClock, Store, SystemClock};
use shared::records::ExecutionStatus;

struct Stack {
    moto: support::Moto,
    _sfn_server: step_functions::StepFunctions,
    store: DynamoStore,
    control: StepFunctionsControl,
    notifier: SnsNotifier,
    archive: S3Archive,
}

async fn stack(prefix: &str, backend: Backend) -> Stack {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, prefix).await;
    let step_functions = backend.step_functions(&config);
    let sfn = step_functions.client.clone();
    let machine = sfn
        .create_state_machine()
        .name("StartActivity")
        .definition(support::definition())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .expect("state machine");
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .expect("topic");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("history")
        .send()
        .await
        .expect("bucket");
    Stack {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables),
        control: StepFunctionsControl::new(sfn, machine.state_machine_arn()),
        notifier: SnsNotifier::new(sns, topic.topic_arn().unwrap_or_default()),
        archive: S3Archive::new(s3, "history"),
        _sfn_server: step_functions,
        moto,
    }
}

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json")
}

/// Tables of their own on the stack's server holding what the samples describe: goal-demo of
/// user-demo, processed by the sample run.
async fn sample_world(s: &Stack, prefix: &str) -> DynamoStore {
    let config = s.moto.sdk_config().await;
    let tables = support::create_tables(&config, prefix).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    sample_run(&store).await.expect("sample run");
    store
}

async fn finalise(store: &DynamoStore, notifier: &SnsNotifier, event: Value) -> Finalised {
    finalize_execution::handle(store, notifier, &SystemClock, &NoMetrics, event)
        .await
        .expect("finalised")
}

#[tokio::test]
async fn failed_timed_out_and_aborted_runs_are_finalised_once() {
    let s = stack("final", Backend::Moto).await;
    for (name, status, error, goal_status) in SAMPLE_STATUS_CHANGES {
        let store = sample_world(&s, name).await;
        let event = sample(name);
        assert_eq!(
            finalise(&store, &s.notifier, event.clone()).await,
            Finalised::Ended,
            "{name}"
        );
        assert_eq!(
            finalise(&store, &s.notifier, event.clone()).await,
            Finalised::AlreadyEnded,
            "{name}: a duplicate event changes nothing"
        );
        let record = store
            .get_execution(SAMPLE_RUN_ARN)
            .await
            .expect("get")
            .expect("record");
        let stop = event["detail"]["stopDate"]
            .as_i64()
            .and_then(DateTime::from_timestamp_millis);
        assert_eq!(
            (record.status, record.error.as_deref(), record.stopped_at),
            (status, Some(error), stop),
            "{name}"
        );
        assert_eq!(
            store
                .get_goal("goal-demo")
                .await
                .expect("get")
                .map(|g| g.status),
            Some(goal_status),
            "{name}"
        );
    }
}

crate::on_both_backends!(maintenance_finalises_stuck_runs_and_archives_old_history_idempotently);

async fn maintenance_finalises_stuck_runs_and_archives_old_history_idempotently(backend: Backend) {
    let s = stack("maint", backend).await;
    let now = Utc::now();
    // A run stuck in RUNNING whose execution has stopped, and one the service never knew.
    let (stuck, _) = started_run(&s.store, "g1", "u", 2, now - Duration::minutes(30))
        .await
        .expect("run");
    let name = shared::naming::execution_name_of(&stuck.execution_arn);
    let started = s.control.start_execution(name, "{}").await.expect("start");
    let shared::ports::StartOutcome::Started { execution_arn, .. } = started else {
        panic!("{started:?}")
    };
    assert_eq!(execution_arn, stuck.execution_arn);
    s.control
        .stop_execution(&execution_arn, "operator")
        .await
        .expect("stop");
    let (lost, _) = started_run(&s.store, "g2", "u", 2, now - Duration::minutes(30))
        .await
        .expect("run");
    let (fresh, _) = started_run(&s.store, "g3", "u", 2, now).await.expect("run");
    let (old, _) = started_run(&s.store, "g4", "u", 2, now - Duration::days(89))
        .await
        .expect("run");

    let clock = ManualClock::new(now);
    let ports = || maintenance::Maintenance {
        store: &s.store,
        control: &s.control,
        notifier: &s.notifier,
        archive: &s.archive,
        clock: &clock,
        metrics: &NoMetrics,
    };
    let first = maintenance::handle(ports(), json!({}))
        .await
        .expect("maintenance");
    // The old run is also still RUNNING, so the sweep ends it as well.
    assert_eq!((first.sweep.overdue, first.sweep.finalised), (3, 3));
    let lost_record = s
        .store
        .get_execution(&lost.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(lost_record.error.as_deref(), Some("ExecutionNotFound"));
    let fresh_record = s
        .store
        .get_execution(&fresh.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(fresh_record.status, ExecutionStatus::Running);

    let key = archive_key(old.started_at.date_naive());
    assert_eq!(first.archive.written, vec![key.clone()]);
    assert!(s.archive.exists(&key).await.expect("exists"));
    let second = maintenance::handle(ports(), json!({}))
        .await
        .expect("maintenance again");
    assert_eq!(
        (
            second.sweep.finalised,
            second.archive.records,
            second.archive.already_archived
        ),
        (0, 0, 1)
    );
    let stuck_record = s
        .store
        .get_execution(&stuck.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        stuck_record.status,
        ExecutionStatus::Aborted,
        "the status the service reports"
    );
}
