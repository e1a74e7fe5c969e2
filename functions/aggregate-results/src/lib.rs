//! AggregateResults: folds the batches' summaries into the run's outcome (all / some / none).

use serde_json::Value;
use shared::steps::{parse, RunSummary};
use shared::{workflow, DomainError};

pub fn handle(payload: Value) -> Result<RunSummary, DomainError> {
    Ok(workflow::aggregate_results(parse(payload)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::outcome::RunOutcome;
    use shared::ErrorCode;

    fn batch(index: u32, ok: &[&str], failed: &[&str]) -> Value {
        let failed: Vec<_> = failed
            .iter()
            .map(|id| json!({"actionId": id, "error": "PermanentError", "cause": ""}))
            .collect();
        json!({"executionArn": "arn", "goalId": "g", "userId": "u", "batchIndex": index,
            "succeededActionIds": ok, "failedActions": failed, "tasksWritten": ok.len() * 3})
    }

    fn payload(total: u32, batches: Vec<Value>) -> Value {
        json!({"executionArn": "arn", "goalId": "g", "userId": "u", "totalActions": total, "batchResults": batches})
    }

    #[test]
    fn all_some_none() {
        let all = handle(payload(
            3,
            vec![batch(0, &["a", "b"], &[]), batch(1, &["c"], &[])],
        ))
        .unwrap();
        assert_eq!(
            (all.outcome, all.succeeded_actions, all.tasks_written),
            (RunOutcome::Succeeded, 3, 9)
        );
        let some = handle(payload(
            3,
            vec![batch(0, &["a"], &["b"]), batch(1, &[], &["c"])],
        ))
        .unwrap();
        assert_eq!(some.outcome, RunOutcome::Partial);
        let ids: Vec<_> = some
            .failed_actions
            .iter()
            .map(|f| f.action_id.as_str())
            .collect();
        assert_eq!(ids, ["b", "c"]);
        let none = handle(payload(2, vec![batch(0, &[], &["a", "b"])])).unwrap();
        assert_eq!(none.outcome, RunOutcome::Failed);
    }

    #[test]
    fn a_payload_without_batch_results_is_refused() {
        let e =
            handle(json!({"executionArn": "arn", "goalId": "g", "userId": "u", "totalActions": 1}))
                .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
