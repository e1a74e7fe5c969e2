//! Every sample event in `events/` is accepted by its function's handler: the files stay in step
//! with the payloads the code reads. A function's sample is `<function>.json`; further cases of
//! the same function are `<function>-<case>.json`.

use shared::capacity::ModelQuota;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use function_dispatch::{Ports, FUNCTION_NAMES};
use serde_json::Value;
use shared::examples::{example_goal, sample_run, seed, EXAMPLE_STATE_MACHINE_ARN};
use shared::memory::{InMemoryArchive, InMemoryExecutions, InMemoryStore, RecordingNotifier};
use shared::metrics::NoMetrics;
use shared::offline::OfflineGenerator;
use shared::ports::{ManualClock, Store};
use shared::records::{
    ActionOutcome, ExecutionStatus, FailedAction, GoalStatus, RunEnd, WorkflowExecution,
};

const PARTIAL_RUN_ARN: &str =
    "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-partial-run-1";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The world the sample events describe: goal-demo being processed by the sample run, goal-new
/// waiting to be started, and goal-partial whose run ended with one of its actions failed, all
/// owned by user-demo.
async fn world() -> Ports {
    let start = at("2026-11-24T10:00:00Z");
    let store = Arc::new(InMemoryStore::new());
    sample_run(store.as_ref()).await.expect("sample run");
    let (new_goal, new_actions) = example_goal("goal-new", "user-demo", 3, start);
    seed(store.as_ref(), &new_goal, &new_actions)
        .await
        .expect("seed");
    let (partial_goal, partial_actions) = example_goal("goal-partial", "user-demo", 3, start);
    seed(store.as_ref(), &partial_goal, &partial_actions)
        .await
        .expect("seed");
    let partial = WorkflowExecution::started(
        PARTIAL_RUN_ARN.into(),
        "goal-partial-run-1".into(),
        &partial_goal,
        "k".into(),
        start,
    );
    store
        .begin_run(&partial, ModelQuota::default())
        .await
        .expect("run");
    store
        .set_total_actions(PARTIAL_RUN_ARN, 3)
        .await
        .expect("total");
    for (i, action) in partial_actions.iter().enumerate() {
        let outcome = if i == 2 {
            ActionOutcome::failed(FailedAction::new(
                action.action_id.clone(),
                "PermanentError".into(),
                "the model's answer is not valid task JSON".into(),
            ))
        } else {
            ActionOutcome::succeeded(&action.action_id)
        };
        store
            .record_action_outcome(PARTIAL_RUN_ARN, &outcome, start)
            .await
            .expect("outcome");
    }
    let end = RunEnd {
        status: ExecutionStatus::Succeeded,
        goal_status: GoalStatus::Partial,
        at: at("2026-11-24T10:00:20Z"),
        error: None,
        cause: None,
        alert: None,
    };
    store.finish_run(PARTIAL_RUN_ARN, &end).await.expect("end");
    Ports {
        store,
        generator: Arc::new(OfflineGenerator::new()),
        notifier: Arc::new(RecordingNotifier::default()),
        control: Arc::new(InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now)),
        metrics: Arc::new(NoMetrics),
        archive: Arc::new(InMemoryArchive::default()),
        clock: Arc::new(ManualClock::new(at("2026-11-24T10:00:30Z"))),
        quota: shared::capacity::ModelQuota::default(),
    }
}

/// The function a sample file (without `.json`) is for. The longest matching name wins, so that
/// one function's name followed by a case is never taken for another function's sample.
fn function_of(stem: &str) -> Option<&'static str> {
    FUNCTION_NAMES
        .iter()
        .copied()
        .filter(|function| {
            stem.strip_prefix(function)
                .is_some_and(|case| case.is_empty() || case.starts_with('-'))
        })
        .max_by_key(|function| function.len())
}

#[test]
fn cases_belong_to_their_function() {
    assert_eq!(
        function_of("finalize-execution-aborted"),
        Some("finalize-execution")
    );
    assert_eq!(function_of("get-status"), Some("get-status"));
    assert_eq!(function_of("get-statuses"), None);
    assert_eq!(function_of("unknown"), None);
}

#[tokio::test]
async fn every_sample_event_is_handled() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut samples: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()).expect("directory entry"))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    samples.sort();
    for function in FUNCTION_NAMES {
        assert!(
            dir.join(format!("{function}.json")).exists(),
            "{function} has no sample event"
        );
    }
    for path in samples {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let function = function_of(stem)
            .unwrap_or_else(|| panic!("{} is no function's sample", path.display()));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let event: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let result = world().await.invoke(function, event).await;
        let answer = result.unwrap_or_else(|e| panic!("{stem}: {e}"));
        if let Some(status) = answer.get("statusCode") {
            let status = status.as_i64().unwrap_or_default();
            assert!(
                (200..300).contains(&status),
                "{stem} answered {status}: {answer}"
            );
        }
    }
}
