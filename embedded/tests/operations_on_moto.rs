//! The status-change finaliser and the maintenance job over the AWS adapters, against moto.

#[path = "../../shared/tests/support/mod.rs"]
mod support;

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use shared::aws::{DynamoStore, S3Archive, SnsNotifier, StepFunctionsControl};
use shared::examples::started_run;
use shared::metrics::NoMetrics;
use shared::operations::{archive_key, Finalised};
use shared::ports::{Archive, ExecutionControl, ManualClock, Store, SystemClock};
use shared::records::{ExecutionStatus, GoalStatus};

struct Stack {
    _moto: support::Moto,
    store: DynamoStore,
    control: StepFunctionsControl,
    notifier: SnsNotifier,
    archive: S3Archive,
}

async fn stack(prefix: &str) -> Stack {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, prefix).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
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
        _moto: moto,
    }
}

/// The sample event of `events/`, about another execution and status.
fn status_change(arn: &str, status: &str, error: Option<&str>) -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/finalize-execution.json");
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
    event["detail"]["executionArn"] = json!(arn);
    event["detail"]["status"] = json!(status);
    event["detail"]["error"] = json!(error);
    event["detail"]["cause"] = json!(error.map(|e| format!("{e} in state SaveTasks")));
    event
}

async fn finalise(s: &Stack, event: Value) -> Finalised {
    finalize_execution::handle(&s.store, &s.notifier, &SystemClock, &NoMetrics, event)
        .await
        .expect("finalised")
}

#[tokio::test]
async fn failed_timed_out_and_aborted_runs_are_finalised_once() {
    let s = stack("final").await;
    let now = Utc::now();
    let (runtime, _) = started_run(&s.store, "g1", "u", 2, now).await.expect("run");
    let (timed_out, _) = started_run(&s.store, "g2", "u", 2, now).await.expect("run");
    let (aborted, _) = started_run(&s.store, "g3", "u", 2, now).await.expect("run");

    let event = status_change(&runtime.execution_arn, "FAILED", Some("States.Runtime"));
    assert_eq!(finalise(&s, event.clone()).await, Finalised::Ended);
    assert_eq!(
        finalise(&s, event).await,
        Finalised::AlreadyEnded,
        "a duplicate event changes nothing"
    );
    let record = s
        .store
        .get_execution(&runtime.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (record.status, record.error.as_deref()),
        (ExecutionStatus::Failed, Some("States.Runtime"))
    );
    assert!(record.stopped_at.is_some());

    assert_eq!(
        finalise(
            &s,
            status_change(&timed_out.execution_arn, "TIMED_OUT", None)
        )
        .await,
        Finalised::Ended
    );
    let record = s
        .store
        .get_execution(&timed_out.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (record.status, record.error.as_deref()),
        (ExecutionStatus::TimedOut, Some("States.Timeout"))
    );
    assert_eq!(
        s.store.get_goal("g2").await.expect("get").map(|g| g.status),
        Some(GoalStatus::Failed)
    );

    assert_eq!(
        finalise(&s, status_change(&aborted.execution_arn, "ABORTED", None)).await,
        Finalised::Ended
    );
    assert_eq!(
        s.store.get_goal("g3").await.expect("get").map(|g| g.status),
        Some(GoalStatus::Draft)
    );
    // A late SUCCEEDED event for an aborted run is ignored.
    assert_eq!(
        finalise(&s, status_change(&aborted.execution_arn, "SUCCEEDED", None)).await,
        Finalised::Ignored
    );
}

#[tokio::test]
async fn maintenance_finalises_stuck_runs_and_archives_old_history_idempotently() {
    let s = stack("maint").await;
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
