//! The retry schedule the state machine applies to transient AI-step failures
//! (IntervalSeconds 2, BackoffRate 2, MaxAttempts 3).

use std::time::Duration;

use crate::error::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySchedule {
    pub interval_seconds: u64,
    pub backoff_rate: f64,
    pub max_attempts: u32,
}

/// The schedule written in the state machine's GenerateTasks Retry clause.
pub const AI_STEP_RETRY: RetrySchedule = RetrySchedule {
    interval_seconds: 2,
    backoff_rate: 2.0,
    max_attempts: 3,
};

impl RetrySchedule {
    /// The wait before retry `n` (1-based), or `None` past the last retry.
    pub fn delay_before(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry > self.max_attempts {
            return None;
        }
        let seconds = self.interval_seconds as f64 * self.backoff_rate.powi(retry as i32 - 1);
        Some(Duration::from_secs_f64(seconds))
    }

    /// Whether a failure of this kind, after `retries_so_far` retries, is retried.
    pub fn retries(&self, kind: ErrorKind, retries_so_far: u32) -> bool {
        kind.is_retryable() && retries_so_far < self.max_attempts
    }

    /// Every wait in order: 2, 4, 8 s for the AI step.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + '_ {
        (1..=self.max_attempts).filter_map(|n| self.delay_before(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ai_step_waits_two_four_eight_seconds() {
        let waits: Vec<u64> = AI_STEP_RETRY.delays().map(|d| d.as_secs()).collect();
        assert_eq!(waits, [2, 4, 8]);
        assert_eq!(AI_STEP_RETRY.delay_before(4), None);
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        assert!(AI_STEP_RETRY.retries(ErrorKind::Transient, 0));
        assert!(!AI_STEP_RETRY.retries(ErrorKind::Transient, 3));
        assert!(!AI_STEP_RETRY.retries(ErrorKind::Permanent, 0));
        assert!(!AI_STEP_RETRY.retries(ErrorKind::Validation, 0));
    }
}
