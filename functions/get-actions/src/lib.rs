//! GetActions: loads the actions the run processes and records how many there are.

use serde_json::Value;
use shared::ports::Store;
use shared::steps::{parse, RunActions};
use shared::{workflow, DomainError};

pub async fn handle(store: &dyn Store, payload: Value) -> Result<RunActions, DomainError> {
    workflow::get_actions(store, parse(payload)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::examples::started_run;
    use shared::memory::InMemoryStore;
    use shared::ErrorCode;

    #[tokio::test]
    async fn loads_all_actions_in_order_and_records_the_total() {
        let store = InMemoryStore::new();
        let (run, actions) = started_run(&store, "g1", "u1", 12, Utc::now())
            .await
            .unwrap();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "goalTitle": "Goal"});
        let loaded = handle(&store, payload).await.unwrap();
        assert_eq!(loaded.actions, actions);
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.total_actions, 12);
    }

    #[tokio::test]
    async fn loads_only_the_listed_actions() {
        let store = InMemoryStore::new();
        let (run, actions) = started_run(&store, "g1", "u1", 12, Utc::now())
            .await
            .unwrap();
        let ids = [&actions[3].action_id, &actions[7].action_id];
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "goalTitle": "Goal", "actionIds": ids});
        let loaded = handle(&store, payload).await.unwrap();
        assert_eq!(loaded.actions, vec![actions[3].clone(), actions[7].clone()]);
    }

    #[tokio::test]
    async fn refuses_an_action_too_long_to_travel_through_the_workflow() {
        let store = InMemoryStore::new();
        let (run, mut actions) = started_run(&store, "g1", "u1", 3, Utc::now())
            .await
            .unwrap();
        actions[1].description = "x".repeat(shared::records::Action::MAX_DESCRIPTION_CHARS + 1);
        store.put_actions(&actions).await.unwrap();
        let payload = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "goalTitle": "Goal"});
        let refused = handle(&store, payload).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::BadRequest);
        assert!(refused.message.contains(&actions[1].action_id), "{refused}");
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.total_actions, 0);
    }

    #[tokio::test]
    async fn refuses_unknown_actions_and_empty_goals() {
        let store = InMemoryStore::new();
        let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
            .await
            .unwrap();
        let unknown = json!({"executionArn": run.execution_arn, "goalId": "g1", "userId": "u1", "goalTitle": "Goal", "actionIds": ["zzz"]});
        assert_eq!(
            handle(&store, unknown).await.unwrap_err().code,
            ErrorCode::BadRequest
        );
        let (empty, _) = started_run(&store, "g2", "u1", 0, Utc::now())
            .await
            .unwrap();
        let payload = json!({"executionArn": empty.execution_arn, "goalId": "g2", "userId": "u1", "goalTitle": "Goal"});
        assert_eq!(
            handle(&store, payload).await.unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            handle(&store, json!("x")).await.unwrap_err().code,
            ErrorCode::BadRequest
        );
    }
}
