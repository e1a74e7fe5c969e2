//! Names derived from their inputs, so that repeating a request finds what the first one made.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Step Functions allows 80 characters of `[A-Za-z0-9_-]` in an execution name.
pub const MAX_EXECUTION_NAME_LEN: usize = 80;

const TASK_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_93d7_4b0e_8a55_0c7d_b2e1_f3a9);

/// The execution name for a start request: the same goal and idempotency key always give the same
/// name, so Step Functions itself refuses a second execution for them.
pub fn execution_name(goal_id: &str, idempotency_key: &str) -> String {
    let digest = Sha256::digest(format!("{goal_id}\n{idempotency_key}").as_bytes());
    let hash: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let readable: String = goal_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_EXECUTION_NAME_LEN - hash.len() - 6)
        .collect();
    format!("goal-{readable}-{hash}")
}

/// The ARN Step Functions gives an execution of `state_machine_arn` named `name`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    let base = state_machine_arn.replacen(":stateMachine:", ":execution:", 1);
    format!("{base}:{name}")
}

/// The execution name at the end of an execution ARN.
pub fn execution_name_of(execution_arn: &str) -> &str {
    execution_arn.rsplit(':').next().unwrap_or(execution_arn)
}

/// A task's id: the same run, action and position always give the same id, so saving an action's
/// tasks twice writes nothing new.
pub fn task_id(execution_arn: &str, action_id: &str, position: u32) -> String {
    Uuid::new_v5(
        &TASK_NAMESPACE,
        format!("{execution_arn}\n{action_id}\n{position}").as_bytes(),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_stable() {
        let name = execution_name("goal/with spaces", "key-1");
        assert_eq!(name, execution_name("goal/with spaces", "key-1"));
        assert_ne!(name, execution_name("goal/with spaces", "key-2"));
        assert!(name.len() <= MAX_EXECUTION_NAME_LEN);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn long_goal_ids_still_fit() {
        let name = execution_name(&"x".repeat(300), "k");
        assert!(name.len() <= MAX_EXECUTION_NAME_LEN);
    }

    #[test]
    fn arns_follow_the_state_machine() {
        let arn = execution_arn(
            "arn:aws:states:us-east-1:123456789012:stateMachine:StartActivity",
            "goal-g-1",
        );
        assert_eq!(
            arn,
            "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-g-1"
        );
        assert_eq!(execution_name_of(&arn), "goal-g-1");
    }

    #[test]
    fn task_ids_are_deterministic() {
        assert_eq!(task_id("e", "a", 0), task_id("e", "a", 0));
        assert_ne!(task_id("e", "a", 0), task_id("e", "a", 1));
        assert_ne!(task_id("e", "a", 0), task_id("e2", "a", 0));
    }
}
