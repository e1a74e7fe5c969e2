//! SaveTasks: stores one batch's generated tasks, each action's all or none, and hands on only
//! counts and failed ids so no task travels further through the state machine.

use serde_json::Value;
use shared::ports::Store;
use shared::steps::{parse, BatchSummary};
use shared::{workflow, DomainError};

pub async fn handle(store: &dyn Store, payload: Value) -> Result<BatchSummary, DomainError> {
    workflow::save_tasks(store, parse(payload)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::examples::started_run;
    use shared::memory::InMemoryStore;
    use shared::metrics::NoMetrics;
    use shared::offline::OfflineGenerator;
    use shared::ports::ManualClock;
    use shared::steps::{ActionResult, CaughtError, GenerateTasksRequest, RunRef};
    use shared::ErrorCode;

    async fn batch_payload(store: &InMemoryStore) -> (Value, usize) {
        let now = Utc::now();
        let (run, actions) = started_run(store, "g1", "u1", 3, now).await.unwrap();
        let run_ref = RunRef {
            execution_arn: run.execution_arn.clone(),
            goal_id: "g1".into(),
            user_id: "u1".into(),
        };
        let mut results = Vec::new();
        for action in &actions[..2] {
            let req = GenerateTasksRequest {
                run: run_ref.clone(),
                goal_title: String::new(),
                batch_started_at: now,
                action: action.clone(),
                retry_count: 0,
                batch_index: None,
                action_started_at: None,
            };
            results.push(
                workflow::generate_tasks(
                    store,
                    &OfflineGenerator::new(),
                    &ManualClock::new(now),
                    &NoMetrics,
                    req,
                )
                .await
                .unwrap(),
            );
        }
        let expected_tasks = results.iter().map(|r| r.tasks.len()).sum();
        results.push(ActionResult {
            action_id: actions[2].action_id.clone(),
            tasks: Vec::new(),
            failure: Some(CaughtError {
                error: "PermanentError".into(),
                cause: "bad output".into(),
            }),
        });
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1",
            "batchIndex": 0, "actionResults": results});
        (payload, expected_tasks)
    }

    #[tokio::test]
    async fn saves_successes_reports_failures_and_never_duplicates() {
        let store = InMemoryStore::new();
        let (payload, expected) = batch_payload(&store).await;
        let first = handle(&store, payload.clone()).await.unwrap();
        assert_eq!(first.tasks_written as usize, expected);
        assert_eq!(first.succeeded_action_ids.len(), 2);
        assert_eq!(first.failed_actions.len(), 1);
        assert_eq!(first.failed_actions[0].cause, "bad output");

        // A retry of the same save writes nothing and reports what the batch saved.
        let again = handle(&store, payload).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(store.all_tasks().len(), expected);
    }

    #[tokio::test]
    async fn refuses_tasks_of_another_run() {
        let store = InMemoryStore::new();
        let (mut payload, _) = batch_payload(&store).await;
        payload["executionArn"] = json!("arn:aws:states:us-east-1:1:execution:x:other");
        assert_eq!(
            handle(&store, payload).await.unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert!(store.all_tasks().is_empty());
    }

    #[tokio::test]
    async fn a_payload_of_the_wrong_shape_is_refused() {
        let e = handle(&InMemoryStore::new(), json!({"batchIndex": "x"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
