//! The target of the EventBridge rule on "Step Functions Execution Status Change" (FAILED,
//! TIMED_OUT, ABORTED): ends the run's record and goal, once, and alerts.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;
use shared::metrics::MetricSink;
use shared::operations::{finalise_run, ExecutionStatusChange, Finalised};
use shared::ports::{Clock, Notifier, Store};
use shared::DomainError;

pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";

pub async fn handle(
    store: &dyn Store,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    event: Value,
) -> Result<Finalised, DomainError> {
    let event: EventBridgeEvent<ExecutionStatusChange> =
        serde_json::from_value(event).map_err(|e| {
            DomainError::bad_request(format!("not an execution status change event: {e}"))
        })?;
    if event.source != "aws.states" || event.detail_type != DETAIL_TYPE {
        return Err(DomainError::bad_request(format!(
            "unexpected event {} from {}",
            event.detail_type, event.source
        )));
    }
    finalise_run(store, notifier, clock, metrics, &event.detail).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::examples::started_run;
    use shared::memory::{InMemoryStore, RecordingNotifier};
    use shared::metrics::NoMetrics;
    use shared::ports::ManualClock;
    use shared::records::{ExecutionStatus, GoalStatus};
    use shared::ErrorCode;

    fn event(arn: &str, status: &str) -> Value {
        json!({
            "version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175",
            "detail-type": DETAIL_TYPE, "source": "aws.states", "account": "123456789012",
            "time": "2026-11-24T10:15:00Z", "region": "us-east-1", "resources": [arn],
            "detail": {"executionArn": arn, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:StartActivity",
                "name": "x", "status": status, "startDate": 1795514400000i64, "stopDate": 1795515300000i64,
                "input": "{}", "output": null, "error": "States.Runtime", "cause": "An error occurred while executing the state 'SaveTasks'"}
        })
    }

    #[tokio::test]
    async fn a_runtime_failure_is_recorded_with_its_error_once() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let clock = ManualClock::new(Utc::now());
        let (run, _) = started_run(&store, "g", "u", 2, Utc::now()).await.unwrap();
        let first = handle(
            &store,
            &notifier,
            &clock,
            &NoMetrics,
            event(&run.execution_arn, "FAILED"),
        )
        .await;
        let again = handle(
            &store,
            &notifier,
            &clock,
            &NoMetrics,
            event(&run.execution_arn, "FAILED"),
        )
        .await;
        assert_eq!(
            (first, again),
            (Ok(Finalised::Ended), Ok(Finalised::AlreadyEnded))
        );
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.status, record.error.as_deref()),
            (ExecutionStatus::Failed, Some("States.Runtime"))
        );
        assert_eq!(
            store.get_goal("g").await.unwrap().unwrap().status,
            GoalStatus::Failed
        );
        assert_eq!(notifier.alerts().len(), 1);
    }

    #[tokio::test]
    async fn other_events_are_refused() {
        let store = InMemoryStore::new();
        let mut other = event("arn", "FAILED");
        other["source"] = json!("aws.s3");
        let e = handle(
            &store,
            &RecordingNotifier::default(),
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            other,
        )
        .await;
        assert_eq!(e.map_err(|e| e.code), Err(ErrorCode::BadRequest));
    }
}
