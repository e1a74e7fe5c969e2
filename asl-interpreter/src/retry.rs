//! Retriers: which errors they match and the schedule of delays between attempts.

use std::time::Duration;

use serde_json::Value;

use crate::error::error_matches;

/// The largest IntervalSeconds and MaxAttempts AWS accepts.
pub const MAX_RETRY_FIELD: u64 = 99_999_999;
/// MaxDelaySeconds must stay below this.
pub const MAX_DELAY_LIMIT: u64 = 31_622_401;

#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

/// A retrier field AWS refuses when the state machine is created.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRetrier {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidRetrier {
    InvalidRetrier {
        field,
        message: message.into(),
    }
}

/// An integer field within `min..=max`, or `default` when absent.
fn integer(
    v: &Value,
    field: &'static str,
    default: u64,
    (min, max): (u64, u64),
    what: &str,
) -> Result<u64, InvalidRetrier> {
    match v.get(field) {
        None => Ok(default),
        Some(n) => n
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| invalid(field, what)),
    }
}

impl Retrier {
    /// Reads and checks a retrier as AWS does at creation.
    pub fn parse(v: &Value) -> Result<Retrier, InvalidRetrier> {
        let error_equals = v
            .get("ErrorEquals")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let interval_seconds = integer(
            v,
            "IntervalSeconds",
            1,
            (1, MAX_RETRY_FIELD),
            "must be a positive integer no greater than 99999999",
        )?;
        let max_attempts = integer(
            v,
            "MaxAttempts",
            3,
            (0, MAX_RETRY_FIELD),
            "must be a non-negative integer no greater than 99999999",
        )?;
        let max_delay_seconds = match v.get("MaxDelaySeconds") {
            None => None,
            Some(_) => Some(integer(
                v,
                "MaxDelaySeconds",
                0,
                (1, MAX_DELAY_LIMIT - 1),
                "must be a positive integer less than 31622401",
            )?),
        };
        let backoff_rate = match v.get("BackoffRate") {
            None => 2.0,
            Some(n) => n
                .as_f64()
                .filter(|r| r.is_finite() && *r >= 1.0)
                .ok_or_else(|| {
                    invalid(
                        "BackoffRate",
                        "must be a number greater than or equal to 1.0",
                    )
                })?,
        };
        let full_jitter = match v.get("JitterStrategy") {
            None => false,
            Some(j) if j == "FULL" => true,
            Some(j) if j == "NONE" => false,
            Some(_) => return Err(invalid("JitterStrategy", "must be FULL or NONE")),
        };
        Ok(Retrier {
            error_equals,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            full_jitter,
        })
    }

    pub fn matches(&self, error: &str) -> bool {
        !error.is_empty() && self.error_equals.iter().any(|p| error_matches(p, error))
    }

    /// The delay before retry number `n` (1-based): Interval * Backoff^(n-1), capped by MaxDelaySeconds
    /// and by [`MAX_DELAY`]. Full jitter scales it by `jitter` in [0, 1].
    pub fn delay(&self, n: u64, jitter: f64) -> Duration {
        let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let mut secs = self.interval_seconds as f64 * self.backoff_rate.powi(exp);
        if let Some(cap) = self.max_delay_seconds {
            secs = secs.min(cap as f64);
        }
        if self.full_jitter {
            secs *= if jitter.is_finite() {
                jitter.clamp(0.0, 1.0)
            } else {
                1.0
            };
        }
        Duration::try_from_secs_f64(secs)
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY)
    }
}

/// No retry waits longer than an execution may last (one year; see the executor).
pub const MAX_DELAY: Duration = Duration::from_secs(366 * 24 * 3600);

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
                .filter_map(|r| Retrier::parse(r).ok())
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
        let r = Retrier::parse(&json!({"ErrorEquals": ["States.ALL"]}));
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(r.delay(3, 0.5), Duration::from_secs(4));
    }

    #[test]
    fn fields_out_of_range_are_refused() {
        let refused = |fields: Value| {
            let mut v = json!({"ErrorEquals": ["E"]});
            if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
                m.extend(f);
            }
            Retrier::parse(&v).err().map(|e| e.field)
        };
        assert_eq!(
            refused(json!({"IntervalSeconds": 0})),
            Some("IntervalSeconds")
        );
        assert_eq!(
            refused(json!({"IntervalSeconds": 1.5})),
            Some("IntervalSeconds")
        );
        assert_eq!(refused(json!({"BackoffRate": 0.5})), Some("BackoffRate"));
        assert_eq!(refused(json!({"MaxAttempts": -1})), Some("MaxAttempts"));
        assert_eq!(
            refused(json!({"MaxAttempts": 100_000_000})),
            Some("MaxAttempts")
        );
        assert_eq!(
            refused(json!({"MaxDelaySeconds": 0})),
            Some("MaxDelaySeconds")
        );
        assert_eq!(
            refused(json!({"MaxDelaySeconds": 31_622_401})),
            Some("MaxDelaySeconds")
        );
        assert_eq!(
            refused(json!({"JitterStrategy": "HALF"})),
            Some("JitterStrategy")
        );
        assert_eq!(
            refused(json!({"BackoffRate": 1e308, "MaxAttempts": 99_999_999})),
            None
        );
    }

    #[test]
    fn huge_backoffs_are_bounded() {
        let r = Retrier::parse(&json!({"ErrorEquals": ["E"], "BackoffRate": 1e308}));
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.delay(99_999_999, 0.5), MAX_DELAY);
        assert_eq!(r.delay(3, f64::NAN), MAX_DELAY);
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
