//! Retriers: which errors they match and the schedule of delays between attempts.

use std::time::Duration;

use serde_json::Value;

use crate::error::error_matches;

#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

impl Retrier {
    pub fn from_json(v: &Value) -> Retrier {
        Retrier {
            error_equals: v
                .get("ErrorEquals")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            interval_seconds: v
                .get("IntervalSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(1.0),
            max_attempts: v.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3),
            backoff_rate: v.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
            max_delay_seconds: v.get("MaxDelaySeconds").and_then(Value::as_f64),
            full_jitter: v.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
        }
    }

    pub fn matches(&self, error: &str) -> bool {
        !error.is_empty() && self.error_equals.iter().any(|p| error_matches(p, error))
    }

    /// The delay before retry number `n` (1-based): Interval * Backoff^(n-1), capped by MaxDelaySeconds.
    /// Full jitter scales it by `jitter` in [0, 1].
    pub fn delay(&self, n: u64, jitter: f64) -> Duration {
        let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let mut secs = self.interval_seconds * self.backoff_rate.powi(exp);
        if let Some(cap) = self.max_delay_seconds {
            secs = secs.min(cap);
        }
        if self.full_jitter {
            secs *= jitter.clamp(0.0, 1.0);
        }
        Duration::from_secs_f64(secs.clamp(0.0, 1.0e9))
    }
}

/// Tracks the attempts of each retrier of one state: retriers count separately.
#[derive(Debug, Clone)]
pub struct RetryState {
    retriers: Vec<Retrier>,
    attempts: Vec<u64>,
}

impl RetryState {
    pub fn new(retriers: Vec<Retrier>) -> Self {
        let attempts = vec![0; retriers.len()];
        RetryState { retriers, attempts }
    }

    pub fn from_field(field: Option<&Value>) -> Self {
        RetryState::new(
            field
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(Retrier::from_json)
                .collect(),
        )
    }

    /// The delay before the next attempt, or `None` when the error is not retried (any more).
    /// Only the first retrier that matches is considered, as the spec requires.
    pub fn next_delay(&mut self, error: &str, jitter: f64) -> Option<Duration> {
        let idx = self.retriers.iter().position(|r| r.matches(error))?;
        let retrier = &self.retriers[idx];
        if self.attempts[idx] >= retrier.max_attempts {
            return None;
        }
        self.attempts[idx] += 1;
        Some(retrier.delay(self.attempts[idx], jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let r = Retrier::from_json(&json!({"ErrorEquals": ["States.ALL"]}));
        assert_eq!(r.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(r.delay(3, 0.5), Duration::from_secs(4));
    }

    #[test]
    fn max_attempts_zero_never_retries() {
        let mut s =
            RetryState::from_field(Some(&json!([{"ErrorEquals": ["E"], "MaxAttempts": 0}])));
        assert_eq!(s.next_delay("E", 0.0), None);
    }

    #[test]
    fn first_matching_retrier_wins_and_counts_alone() {
        let mut s = RetryState::from_field(Some(&json!([
            {"ErrorEquals": ["A"], "MaxAttempts": 1, "IntervalSeconds": 5},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}
        ])));
        assert_eq!(s.next_delay("A", 0.0), Some(Duration::from_secs(5)));
        assert_eq!(s.next_delay("A", 0.0), None);
        assert_eq!(s.next_delay("B", 0.0), Some(Duration::from_secs(1)));
    }

    proptest! {
        #[test]
        fn schedule_follows_backoff(interval in 1u32..10, backoff in 1.0f64..3.0, max in 0u64..6, cap in proptest::option::of(1u32..50)) {
            let mut v = json!({"ErrorEquals": ["E"], "IntervalSeconds": interval, "BackoffRate": backoff, "MaxAttempts": max});
            if let Some(c) = cap { v["MaxDelaySeconds"] = json!(c); }
            let mut s = RetryState::from_field(Some(&json!([v])));
            let mut n = 0u64;
            while let Some(d) = s.next_delay("E", 1.0) {
                n += 1;
                let mut want = f64::from(interval) * backoff.powi((n - 1) as i32);
                if let Some(c) = cap { want = want.min(f64::from(c)); }
                prop_assert!((d.as_secs_f64() - want).abs() < 1e-6);
            }
            prop_assert_eq!(n, max);
        }
    }
}
