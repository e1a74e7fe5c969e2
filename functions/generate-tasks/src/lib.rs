//! GenerateTasks: turns one action into tasks with the task generator (Bedrock in AWS), within
//! the batch's time budget.

use serde_json::Value;
use shared::metrics::MetricSink;
use shared::ports::{Clock, Store, TaskGenerator};
use shared::steps::{parse, ActionResult};
use shared::{workflow, DomainError};

pub async fn handle(
    store: &dyn Store,
    generator: &dyn TaskGenerator,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    payload: Value,
) -> Result<ActionResult, DomainError> {
    workflow::generate_tasks(store, generator, clock, metrics, parse(payload)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use serde_json::json;
    use shared::examples::{mark, started_run};
    use shared::memory::InMemoryStore;
    use shared::metrics::{NoMetrics, RecordingMetrics};
    use shared::offline::OfflineGenerator;
    use shared::ports::ManualClock;
    use shared::{ErrorCode, ErrorKind};

    #[tokio::test]
    async fn generates_tasks_with_stable_ids_and_counts_the_action() {
        let store = InMemoryStore::new();
        let now = Utc::now();
        let clock = ManualClock::new(now);
        let (run, actions) = started_run(&store, "g1", "u1", 1, now).await.unwrap();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "goalTitle": "Goal",
            "batchStartedAt": now, "action": actions[0]});
        let generator = OfflineGenerator::new();
        let metrics = RecordingMetrics::default();
        let first = handle(&store, &generator, &clock, &metrics, payload.clone())
            .await
            .unwrap();
        let latency: serde_json::Value = serde_json::from_str(&metrics.lines()[0]).unwrap();
        assert_eq!(latency["AiLatency"], 0.0, "the manual clock stood still");
        assert_eq!(latency["actionId"], actions[0].action_id);
        let again = handle(&store, &generator, &clock, &NoMetrics, payload)
            .await
            .unwrap();
        assert!(!first.tasks.is_empty());
        assert_eq!(first, again);
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.processed_actions, 1);
    }

    #[tokio::test]
    async fn refuses_to_start_past_the_batch_budget() {
        let store = InMemoryStore::new();
        let now = Utc::now();
        let (run, actions) = started_run(&store, "g1", "u1", 1, now).await.unwrap();
        let clock = ManualClock::new(now + Duration::seconds(181));
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "goalTitle": "Goal",
            "batchStartedAt": now, "action": actions[0]});
        let e = handle(
            &store,
            &OfflineGenerator::new(),
            &clock,
            &NoMetrics,
            payload,
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::Permanent, ErrorCode::DeadlineExceeded)
        );
    }

    #[tokio::test]
    async fn generator_failures_keep_their_kind() {
        let store = InMemoryStore::new();
        let now = Utc::now();
        let (run, mut actions) = started_run(&store, "g1", "u1", 2, now).await.unwrap();
        mark(&mut actions, [0], "[fail]");
        mark(&mut actions, [1], "[flaky:1]");
        let generator = OfflineGenerator::new();
        for (action, kind) in [
            (&actions[0], "PermanentError"),
            (&actions[1], "TransientError"),
        ] {
            let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "goalTitle": "Goal",
                "batchStartedAt": now, "action": action});
            let e = handle(
                &store,
                &generator,
                &ManualClock::new(now),
                &NoMetrics,
                payload,
            )
            .await
            .unwrap_err();
            assert_eq!(e.error_type(), kind);
        }
    }

    #[tokio::test]
    async fn a_payload_without_an_action_is_refused() {
        let e = handle(
            &InMemoryStore::new(),
            &OfflineGenerator::new(),
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
