//! How a goal's actions are split into batches for the outer Map.

use serde::{Deserialize, Serialize};

use crate::records::Action;

/// At most this many actions run in one batch (and so concurrently within it).
pub const MAX_BATCH_SIZE: usize = 8;

/// At most this many model calls run at once in a run (what generate-tasks reserves).
pub const MAX_CONCURRENT_AI_CALLS: usize = 24;

/// How many of each batch's actions run at once when all `batches` run at once: the 24 model
/// calls shared evenly (3 each for 8 batches, all 8 for up to 3 batches), so a slot a call frees
/// goes to its batch's next action and no batch waits for another.
pub fn actions_at_once(batches: usize) -> usize {
    (MAX_CONCURRENT_AI_CALLS / batches.max(1)).clamp(1, MAX_BATCH_SIZE)
}

/// The sizes of the batches [`plan_batches`] makes of `actions` actions, in plan order.
pub fn batch_sizes(actions: usize) -> impl Iterator<Item = usize> {
    (0..actions.div_ceil(MAX_BATCH_SIZE))
        .map(move |i| (actions - i * MAX_BATCH_SIZE).min(MAX_BATCH_SIZE))
}

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

    #[test]
    fn the_batches_share_the_model_calls() {
        let shares: Vec<usize> = (1..=8).map(actions_at_once).collect();
        assert_eq!(shares, [8, 8, 8, 6, 4, 4, 3, 3]);
        for (batches, share) in (1..=8).zip(shares) {
            assert!(batches * share <= MAX_CONCURRENT_AI_CALLS);
        }
    }

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
        assert_eq!(batch_sizes(9).collect::<Vec<_>>(), [8, 1]);
        assert_eq!(batch_sizes(64).collect::<Vec<_>>(), [8; 8]);
        assert_eq!(batch_sizes(0).count(), 0);
    }

    #[test]
    fn no_actions_no_batches() {
        assert!(plan_batches(Vec::new()).is_empty());
    }
}
