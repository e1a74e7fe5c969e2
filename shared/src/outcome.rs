//! The rules that turn counts into verdicts: a run's goal status and the failure-rate alert.

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

    pub fn goal_status(self) -> GoalStatus {
        match self {
            RunOutcome::Succeeded => GoalStatus::Active,
            RunOutcome::Partial => GoalStatus::Partial,
            RunOutcome::Failed => GoalStatus::Failed,
        }
    }
}

/// The failure rate above which the workflow alert fires.
pub const ALERT_FAILURE_RATE: f64 = 0.10;

/// Whether `failed` failures out of `total` runs in the window should raise the alert: strictly
/// more than 10 %, never at or below it.
pub fn failure_rate_alert(failed: u64, total: u64) -> bool {
    // failed / total > 1 / 10, in integers so 10 % exactly never fires.
    total > 0 && failed * 10 > total
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
    fn alert_fires_only_above_ten_percent() {
        assert!(!failure_rate_alert(0, 0));
        assert!(!failure_rate_alert(10, 100));
        assert!(failure_rate_alert(11, 100));
        assert!(failure_rate_alert(1, 9));
        assert!(!failure_rate_alert(1, 10));
    }
}
