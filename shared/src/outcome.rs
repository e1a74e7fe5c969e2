//! The rule that turns a run's counts into its outcome and its goal's status (all / some / none).
//! The failure-rate alert is the template's WorkflowFailureRateAlarm over the runs' metrics.

use serde::{Deserialize, Serialize};

use crate::records::GoalStatus;

/// How a finished run went, by the all / some / none rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunOutcome {
    /// Every action's tasks were generated and saved.
    Succeeded,
    /// Some actions failed, some succeeded.
    Partial,
    /// Every action failed (or there was none to process).
    Failed,
}

impl RunOutcome {
    pub fn from_counts(total: u32, failed: u32) -> Self {
        if total == 0 || failed >= total {
            RunOutcome::Failed
        } else if failed == 0 {
            RunOutcome::Succeeded
        } else {
            RunOutcome::Partial
        }
    }

    /// How the goal as a whole stands after a run of this outcome that left
    /// `actions_done_earlier` of the goal's actions, turned into tasks by earlier runs, alone (a
    /// retry of failed actions; 0 for a run over the whole goal). The goal is active when every
    /// action has tasks, partial when some do, failed when none do: a retry that fails for all
    /// the actions it retried still leaves the goal partial when earlier runs did some.
    pub fn for_goal(self, actions_done_earlier: u32) -> Self {
        match self {
            RunOutcome::Failed if actions_done_earlier > 0 => RunOutcome::Partial,
            outcome => outcome,
        }
    }

    pub fn goal_status(self) -> GoalStatus {
        match self {
            RunOutcome::Succeeded => GoalStatus::Active,
            RunOutcome::Partial => GoalStatus::Partial,
            RunOutcome::Failed => GoalStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_some_none() {
        assert_eq!(
            RunOutcome::from_counts(64, 0).goal_status(),
            GoalStatus::Active
        );
        assert_eq!(
            RunOutcome::from_counts(64, 1).goal_status(),
            GoalStatus::Partial
        );
        assert_eq!(
            RunOutcome::from_counts(64, 64).goal_status(),
            GoalStatus::Failed
        );
        assert_eq!(RunOutcome::from_counts(0, 0), RunOutcome::Failed);
    }

    #[test]
    fn a_retry_is_judged_with_the_actions_done_before_it() {
        // A partial run of 64 left 3 failed; the retry covers those 3.
        for (failed, goal) in [
            (0, GoalStatus::Active),
            (1, GoalStatus::Partial),
            (3, GoalStatus::Partial),
        ] {
            assert_eq!(
                RunOutcome::from_counts(3, failed)
                    .for_goal(61)
                    .goal_status(),
                goal
            );
            // The same as judging the whole goal's 64 actions at once.
            assert_eq!(RunOutcome::from_counts(64, failed).goal_status(), goal);
        }
        // Nothing was done before (every action of the first run failed): the plain rule.
        assert_eq!(
            RunOutcome::from_counts(2, 2).for_goal(0).goal_status(),
            GoalStatus::Failed
        );
        assert_eq!(RunOutcome::Succeeded.for_goal(0), RunOutcome::Succeeded);
    }
}
