//! UpdateGoalStatus: ends the run and moves the goal to active, partial or failed.

use serde_json::Value;
use shared::metrics::MetricSink;
use shared::ports::{Clock, Notifier, Store};
use shared::steps::{parse, RunResult};
use shared::{workflow, DomainError};

pub async fn handle(
    store: &dyn Store,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    payload: Value,
) -> Result<RunResult, DomainError> {
    workflow::update_goal_status(store, notifier, clock, metrics, parse(payload)?).await
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

    async fn finish(outcome: &str, failed: usize) -> (InMemoryStore, RecordingNotifier, RunResult) {
        let metrics = RecordingMetrics::default();
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
            .await
            .unwrap();
        let failed: Vec<_> = (0..failed)
            .map(|i| json!({"actionId": format!("a{i}"), "error": "PermanentError", "cause": ""}))
            .collect();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "totalActions": 2,
            "succeededActions": 2 - failed.len(), "failedActions": failed, "tasksWritten": 6, "outcome": outcome});
        let result = handle(
            &store,
            &notifier,
            &ManualClock::new(Utc::now()),
            &metrics,
            payload,
        )
        .await
        .unwrap();
        let line: Value = serde_json::from_str(&metrics.lines()[0]).unwrap();
        let name = match outcome {
            "SUCCEEDED" => "ExecutionsSucceeded",
            "PARTIAL" => "ExecutionsPartial",
            _ => "ExecutionsFailed",
        };
        assert_eq!(line[name].as_f64(), Some(1.0));
        assert!(line["ExecutionDuration"].is_number());
        (store, notifier, result)
    }

    #[tokio::test]
    async fn success_makes_the_goal_active() {
        let (store, notifier, result) = finish("SUCCEEDED", 0).await;
        assert_eq!(result.goal_status, GoalStatus::Active);
        let goal = store.get_goal("g1").await.unwrap().unwrap();
        assert_eq!(
            (goal.status, goal.completed_at.is_some()),
            (GoalStatus::Active, true)
        );
        assert!(notifier.alerts().is_empty());
    }

    #[tokio::test]
    async fn partial_and_failed_runs() {
        let (_, notifier, result) = finish("PARTIAL", 1).await;
        assert_eq!(result.goal_status, GoalStatus::Partial);
        assert!(notifier.alerts().is_empty());

        let (store, notifier, result) = finish("FAILED", 2).await;
        assert_eq!(result.goal_status, GoalStatus::Failed);
        let record = store
            .get_execution(&result.summary.run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, ExecutionStatus::Failed);
        assert_eq!(notifier.alerts().len(), 1);
    }

    #[tokio::test]
    async fn a_payload_without_an_outcome_is_refused() {
        let e = handle(
            &InMemoryStore::new(),
            &RecordingNotifier::default(),
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
