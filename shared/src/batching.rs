//! How a goal's actions are split into batches for the outer Map.

use serde::{Deserialize, Serialize};

use crate::records::Action;

/// At most this many actions run in one batch (and so concurrently within it).
pub const MAX_BATCH_SIZE: usize = 8;

/// One batch: its index in the plan and its actions, in goal order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub batch_index: u32,
    pub actions: Vec<Action>,
}

/// Splits actions into consecutive batches of at most [`MAX_BATCH_SIZE`], keeping their order and
/// never producing an empty batch.
pub fn plan_batches(actions: Vec<Action>) -> Vec<Batch> {
    let mut batches = Vec::with_capacity(actions.len().div_ceil(MAX_BATCH_SIZE));
    let mut rest = actions.into_iter().peekable();
    while rest.peek().is_some() {
        batches.push(Batch {
            batch_index: batches.len() as u32,
            actions: rest.by_ref().take(MAX_BATCH_SIZE).collect(),
        });
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(i: u32) -> Action {
        Action {
            goal_id: "g".into(),
            action_id: format!("a{i}"),
            sub_goal_id: format!("s{}", i / 8),
            position: i,
            title: format!("action {i}"),
            description: String::new(),
        }
    }

    #[test]
    fn sixty_four_actions_make_eight_full_batches() {
        let batches = plan_batches((0..64).map(action).collect());
        assert_eq!(batches.len(), 8);
        assert!(batches.iter().all(|b| b.actions.len() == 8));
        assert_eq!(batches[7].batch_index, 7);
    }

    #[test]
    fn a_remainder_makes_a_short_last_batch() {
        let batches = plan_batches((0..9).map(action).collect());
        assert_eq!(
            batches.iter().map(|b| b.actions.len()).collect::<Vec<_>>(),
            [8, 1]
        );
    }

    #[test]
    fn no_actions_no_batches() {
        assert!(plan_batches(Vec::new()).is_empty());
    }
}
