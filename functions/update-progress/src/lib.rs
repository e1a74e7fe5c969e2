//! UpdateProgress: counts one batch's finished actions (once each, whatever else counted them)
//! and writes the run's percent and ETA.

use serde_json::Value;
use shared::metrics::MetricSink;
use shared::ports::{Clock, Store};
use shared::steps::{parse, BatchSummary};
use shared::{workflow, DomainError};

pub async fn handle(
    store: &dyn Store,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    payload: Value,
) -> Result<BatchSummary, DomainError> {
    workflow::update_progress(store, clock, metrics, parse(payload)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use serde_json::json;
    use shared::examples::started_run;
    use shared::memory::InMemoryStore;
    use shared::metrics::{NoMetrics, RecordingMetrics};
    use shared::ports::ManualClock;
    use shared::{ErrorCode, ErrorKind};

    #[tokio::test]
    async fn counts_each_action_once_and_estimates_the_rest() {
        let store = InMemoryStore::new();
        let now = Utc::now();
        let (run, actions) = started_run(&store, "g1", "u1", 16, now).await.unwrap();
        store
            .set_total_actions(&run.execution_arn, 16)
            .await
            .unwrap();
        let clock = ManualClock::new(now + Duration::seconds(40));
        let metrics = RecordingMetrics::default();
        let ids: Vec<_> = actions[..7].iter().map(|a| a.action_id.clone()).collect();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "batchIndex": 0,
            "succeededActionIds": ids, "tasksWritten": 21,
            "failedActions": [{"actionId": actions[7].action_id, "error": "PermanentError", "cause": "x"}]});
        let summary = handle(&store, &clock, &metrics, payload.clone())
            .await
            .unwrap();
        handle(&store, &clock, &metrics, payload).await.unwrap();
        assert_eq!(summary.tasks_written, 21);
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((record.processed_actions, record.failed_count), (8, 1));
        assert_eq!(record.progress_percent, 50);
        assert_eq!(record.eta_seconds, Some(40));
        let counted: Vec<Value> = metrics
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            (
                counted[0]["ActionsProcessed"].as_f64(),
                counted[0]["ActionsFailed"].as_f64()
            ),
            (Some(8.0), Some(1.0))
        );
        assert_eq!(
            counted[1]["ActionsProcessed"].as_f64(),
            Some(0.0),
            "a repeated update counts nothing"
        );
    }

    #[tokio::test]
    async fn an_unknown_run_is_an_error() {
        let store = InMemoryStore::new();
        let payload = json!({"executionArn": "arn:nope", "goalId": "g1", "userId": "u1", "batchIndex": 0,
            "succeededActionIds": ["a"], "tasksWritten": 1, "failedActions": []});
        let e = handle(&store, &ManualClock::new(Utc::now()), &NoMetrics, payload)
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::Permanent, ErrorCode::NotFound)
        );
        let e = handle(
            &store,
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            json!(null),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
