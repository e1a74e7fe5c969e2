//! CreateBatches: splits the run's actions into batches of at most eight, in order.

use serde_json::Value;
use shared::steps::{parse, BatchedRun};
use shared::{workflow, DomainError};

pub fn handle(payload: Value) -> Result<BatchedRun, DomainError> {
    Ok(workflow::create_batches(parse(payload)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::examples::example_goal;
    use shared::ErrorCode;

    #[test]
    fn sixty_four_actions_make_eight_batches() {
        let (_, actions) = example_goal("g1", "u1", 64, Utc::now());
        let payload = json!({"executionArn": "arn", "goalId": "g1", "userId": "u1", "goalTitle": "Goal", "actions": actions});
        let batched = handle(payload).unwrap();
        assert_eq!(batched.total_actions, 64);
        assert_eq!(batched.batches.len(), 8);
        assert_eq!(batched.batches[0].actions[0], actions[0]);
    }

    #[test]
    fn a_payload_without_actions_is_refused() {
        let e = handle(
            json!({"executionArn": "arn", "goalId": "g1", "userId": "u1", "goalTitle": "Goal"}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
