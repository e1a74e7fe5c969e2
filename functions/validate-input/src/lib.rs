//! ValidateInput: the first step checks that the execution input names a goal of that user which
//! this very execution is processing.

use serde_json::Value;
use shared::ports::Store;
use shared::steps::{parse, ValidatedRun};
use shared::{workflow, DomainError};

pub async fn handle(store: &dyn Store, payload: Value) -> Result<ValidatedRun, DomainError> {
    workflow::validate_input(store, parse(payload)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::examples::started_run;
    use shared::memory::InMemoryStore;
    use shared::ErrorCode;

    fn payload(arn: &str, input: Value) -> Value {
        json!({"executionArn": arn, "startedAt": "2026-11-24T10:00:00Z", "input": input})
    }

    #[tokio::test]
    async fn accepts_the_run_that_owns_the_goal() {
        let store = InMemoryStore::new();
        let (run, _) = started_run(&store, "g1", "u1", 3, Utc::now())
            .await
            .unwrap();
        let input = json!({"goalId": "g1", "userId": "u1", "idempotencyKey": "k"});
        let validated = handle(&store, payload(&run.execution_arn, input))
            .await
            .unwrap();
        assert_eq!(validated.run.execution_arn, run.execution_arn);
        assert_eq!(validated.action_ids, None);
    }

    #[tokio::test]
    async fn refuses_other_users_unknown_goals_and_other_runs() {
        let store = InMemoryStore::new();
        let (run, _) = started_run(&store, "g1", "u1", 3, Utc::now())
            .await
            .unwrap();
        let cases = [
            (
                json!({"goalId": "g1", "userId": "u2", "idempotencyKey": "k"}),
                &run.execution_arn[..],
                ErrorCode::Forbidden,
            ),
            (
                json!({"goalId": "nope", "userId": "u1", "idempotencyKey": "k"}),
                &run.execution_arn[..],
                ErrorCode::NotFound,
            ),
            (
                json!({"goalId": "g1", "userId": "u1", "idempotencyKey": "k"}),
                "arn:other",
                ErrorCode::Conflict,
            ),
            (
                json!({"goalId": "g1", "userId": "u1", "idempotencyKey": "k", "actionIds": []}),
                &run.execution_arn[..],
                ErrorCode::BadRequest,
            ),
            (
                json!({"goalId": "g1", "userId": "u1", "idempotencyKey": "k", "extra": 1}),
                &run.execution_arn[..],
                ErrorCode::BadRequest,
            ),
            (
                json!({"goalId": "", "userId": "u1", "idempotencyKey": "k"}),
                &run.execution_arn[..],
                ErrorCode::BadRequest,
            ),
        ];
        for (input, arn, code) in cases {
            let e = handle(&store, payload(arn, input.clone()))
                .await
                .unwrap_err();
            assert_eq!(e.code, code, "{input}");
            assert_eq!(e.error_type(), "ValidationError");
        }
    }

    #[tokio::test]
    async fn a_payload_of_the_wrong_shape_is_a_validation_error() {
        let e = handle(&InMemoryStore::new(), json!([1, 2]))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
