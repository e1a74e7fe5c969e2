//! HandleError: records an uncaught failure (record FAILED, goal failed, one alert) and hands the
//! error on so the execution fails with it.

use serde_json::Value;
use shared::metrics::MetricSink;
use shared::ports::{Clock, Notifier, Store};
use shared::steps::parse;
use shared::workflow::{self, RunFailure};
use shared::DomainError;

pub async fn handle(
    store: &dyn Store,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    payload: Value,
) -> Result<RunFailure, DomainError> {
    workflow::handle_error(store, notifier, clock, metrics, parse(payload)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::examples::started_run;
    use shared::memory::{InMemoryStore, RecordingNotifier};
    use shared::metrics::{NoMetrics, RecordingMetrics};
    use shared::ports::ManualClock;
    use shared::records::{ExecutionStatus, GoalStatus};
    use shared::ErrorCode;

    #[tokio::test]
    async fn fails_the_run_and_the_goal_once() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let clock = ManualClock::new(Utc::now());
        let metrics = RecordingMetrics::default();
        let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
            .await
            .unwrap();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1",
            "error": {"Error": "States.TaskFailed", "Cause": "boom"}});
        let failure = handle(&store, &notifier, &clock, &metrics, payload.clone())
            .await
            .unwrap();
        handle(&store, &notifier, &clock, &metrics, payload)
            .await
            .unwrap();
        assert_eq!(metrics.lines().len(), 1, "one ExecutionsFailed");
        assert_eq!(
            failure,
            RunFailure {
                error: "States.TaskFailed".into(),
                cause: "boom".into()
            }
        );
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.status, record.error.as_deref()),
            (ExecutionStatus::Failed, Some("States.TaskFailed"))
        );
        assert_eq!(
            store.get_goal("g1").await.unwrap().unwrap().status,
            GoalStatus::Failed
        );
        assert_eq!(notifier.alerts().len(), 1);
    }

    /// The goal's data changed under the run: the user's to fix, not on-call's.
    #[tokio::test]
    async fn a_validation_error_fails_the_run_without_an_alert() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let clock = ManualClock::new(Utc::now());
        let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
            .await
            .unwrap();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1",
            "error": {"Error": "ValidationError", "Cause": "goal g1 has no actions"}});
        handle(&store, &notifier, &clock, &NoMetrics, payload)
            .await
            .unwrap();
        let record = store.get_execution(&run.execution_arn).await.unwrap();
        let record = record.unwrap();
        assert_eq!(
            (record.status, record.error.as_deref(), record.pending_alert),
            (ExecutionStatus::Failed, Some("ValidationError"), None)
        );
        assert_eq!(
            store.get_goal("g1").await.unwrap().unwrap().status,
            GoalStatus::Failed
        );
        assert!(notifier.alerts().is_empty());
    }

    #[tokio::test]
    async fn an_alert_it_could_not_publish_is_sent_by_the_status_change_finaliser() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::unavailable_for(1);
        let clock = ManualClock::new(Utc::now());
        let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
            .await
            .unwrap();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1",
            "error": {"Error": "States.TaskFailed", "Cause": "boom"}});
        let refused = handle(&store, &notifier, &clock, &NoMetrics, payload)
            .await
            .unwrap_err();
        assert!(refused.is_retryable());
        assert!(notifier.alerts().is_empty());

        // The execution then fails; its status change reaches the finaliser, which finds the run
        // already ended and sends HandleError's alert.
        let change = shared::operations::ExecutionStatusChange {
            execution_arn: run.execution_arn.clone(),
            state_machine_arn: shared::examples::EXAMPLE_STATE_MACHINE_ARN.into(),
            status: "FAILED".into(),
            start_date: None,
            stop_date: None,
            error: Some("ErrorHandlingFailed".into()),
            cause: None,
        };
        shared::operations::finalise_run(&store, &notifier, &clock, &NoMetrics, &change)
            .await
            .unwrap();
        let alerts = notifier.alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].message, "States.TaskFailed: boom");
    }

    #[tokio::test]
    async fn a_run_without_a_record_still_fails_with_its_error() {
        let payload = json!({"executionArn": "arn:x", "goalId": null, "error": {"Error": "ValidationError", "Cause": "bad"}});
        let failure = handle(
            &InMemoryStore::new(),
            &RecordingNotifier::default(),
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            payload,
        )
        .await
        .unwrap();
        assert_eq!(failure.error, "ValidationError");
    }

    #[tokio::test]
    async fn a_payload_without_the_error_is_refused() {
        let e = handle(
            &InMemoryStore::new(),
            &RecordingNotifier::default(),
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            json!({"executionArn": "a"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
