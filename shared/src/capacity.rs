//! The model quota every run shares: generate-tasks' reserved concurrency. Lambda throttles a
//! call over it and the state machine retries the call (the throttle retrier below); start admits
//! a run only while the runs in flight leave the quota room to start all its calls in time.

use chrono::{DateTime, Duration, Utc};

use crate::deadlines::{AI_CALL_LIMIT_SECONDS, BATCH_BUDGET_SECONDS, RUN_LIMIT_SECONDS};
use crate::records::{ExecutionStatus, WorkflowExecution};
use crate::workflow::MAX_ACTIONS_PER_RUN;

/// The model calls at once when the deployment says nothing (the template's `ModelConcurrency`
/// default): what one run makes at once, 8 batches × 3 actions.
pub const DEFAULT_MODEL_CONCURRENCY: u32 = 24;

/// The environment variable that carries `ModelConcurrency` to the functions that admit runs.
pub const MODEL_CONCURRENCY_ENV: &str = "MODEL_CONCURRENCY";

/// What one model call is planned to take, on average, in seconds: the mean of the latency the
/// benchmarks use (lognormal, median 10 s, sigma 0.6: 10 × e^0.18 ≈ 12 s).
pub const PLANNED_AI_CALL_SECONDS: f64 = 12.0;

/// A batch's calls must all start this soon after the batch does (then the last one still ends
/// within the batch's budget): 300 - 120 = 180 s.
pub const CALL_START_WINDOW_SECONDS: i64 = BATCH_BUDGET_SECONDS - AI_CALL_LIMIT_SECONDS;

/// The share of the quota's work over the call-start window that admitted runs may plan to use.
/// Throttled calls take freed slots in no particular order, so some batches fall behind; with
/// three fifths planned, every batch of the admitted runs still starts its last call in time
/// (measured: `bench`'s overlapping runs, BENCHMARKS.md).
pub const PLANNED_UTILISATION: f64 = 0.6;

/// GenerateTasks' retrier for `Lambda.TooManyRequestsException`: every wait drawn at random below
/// 4 s (full jitter), without growth, so the throttled calls of every run poll the quota spread
/// out and equally often (a growing wait would favour the calls that were throttled last).
pub const THROTTLE_RETRY_INTERVAL_SECONDS: u64 = 4;
pub const THROTTLE_RETRY_BACKOFF_RATE: f64 = 1.0;
pub const THROTTLE_RETRY_MAX_DELAY_SECONDS: u64 = 4;
pub const THROTTLE_RETRY_MAX_ATTEMPTS: u64 = 120;

/// The longest wait before throttle retry `n` (from 1).
pub fn throttle_retry_cap(n: u64) -> f64 {
    let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
    (THROTTLE_RETRY_INTERVAL_SECONDS as f64 * THROTTLE_RETRY_BACKOFF_RATE.powi(exponent))
        .min(THROTTLE_RETRY_MAX_DELAY_SECONDS as f64)
}

/// The throttle retrier's total wait, in seconds, on average (full jitter draws each wait
/// uniformly below its cap) and at worst.
pub fn throttle_retry_waits() -> (f64, f64) {
    let worst: f64 = (1..=THROTTLE_RETRY_MAX_ATTEMPTS)
        .map(throttle_retry_cap)
        .sum();
    (worst / 2.0, worst)
}

/// How many model calls may run at once across every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelQuota {
    pub concurrent_calls: u32,
}

impl Default for ModelQuota {
    fn default() -> Self {
        ModelQuota {
            concurrent_calls: DEFAULT_MODEL_CONCURRENCY,
        }
    }
}

impl ModelQuota {
    /// `MODEL_CONCURRENCY` when set to a positive count, else the default.
    pub fn from_env() -> Self {
        std::env::var(MODEL_CONCURRENCY_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n| n > 0)
            .map_or_else(ModelQuota::default, |concurrent_calls| ModelQuota {
                concurrent_calls,
            })
    }

    /// The actions whose calls admitted runs may have left to make at once.
    pub fn planned_actions(self) -> f64 {
        f64::from(self.concurrent_calls) * CALL_START_WINDOW_SECONDS as f64 * PLANNED_UTILISATION
            / PLANNED_AI_CALL_SECONDS
    }

    /// Actions the quota works off per second.
    fn actions_per_second(self) -> f64 {
        f64::from(self.concurrent_calls) / PLANNED_AI_CALL_SECONDS
    }
}

/// Whether start may begin a run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// The quota is spoken for; this many seconds from now it will have worked off enough.
    RetryAfter(u32),
}

/// The actions the runs in `runs` still have to process at `now`: each RUNNING run younger than
/// the run limit (an older one is over, whatever its record says), counted as a whole goal until
/// GetActions has recorded its number.
pub fn pending_actions(runs: &[WorkflowExecution], now: DateTime<Utc>) -> u32 {
    let oldest = now - Duration::seconds(RUN_LIMIT_SECONDS);
    runs.iter()
        .filter(|r| r.status == ExecutionStatus::Running && r.started_at > oldest)
        .map(|r| {
            if r.total_actions == 0 {
                MAX_ACTIONS_PER_RUN as u32
            } else {
                r.total_actions.saturating_sub(r.processed_actions)
            }
        })
        .sum()
}

/// Whether a run of `actions` actions may start beside runs with `pending` actions left: yes while
/// together they stay within what the quota plans to carry ([`ModelQuota::planned_actions`]), and
/// always when nothing else is in flight (waiting would not make room); else the seconds until
/// the quota has worked off the excess.
pub fn admit_run(quota: ModelQuota, pending: u32, actions: u32) -> Admission {
    let demand = f64::from(pending) + f64::from(actions);
    let excess = demand - quota.planned_actions();
    if pending == 0 || excess <= 0.0 {
        return Admission::Admit;
    }
    // Rounding error must not cost a whole second more than the excess needs.
    let seconds = (excess / quota.actions_per_second() - 1e-9).ceil();
    Admission::RetryAfter(seconds.clamp(1.0, RUN_LIMIT_SECONDS as f64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Goal;
    use proptest::prelude::*;

    const RUN: u32 = MAX_ACTIONS_PER_RUN as u32;

    #[test]
    fn the_default_quota_carries_three_whole_runs_at_once() {
        let quota = ModelQuota::default();
        assert_eq!(admit_run(quota, 0, RUN), Admission::Admit);
        assert_eq!(admit_run(quota, RUN, RUN), Admission::Admit);
        assert_eq!(admit_run(quota, 2 * RUN, RUN), Admission::Admit);
        // 256 actions against 216 planned: 40 actions at 2 a second.
        assert_eq!(admit_run(quota, 3 * RUN, RUN), Admission::RetryAfter(20));
        // A smaller goal fits where a whole one does not.
        assert_eq!(admit_run(quota, 3 * RUN, 8), Admission::Admit);
    }

    #[test]
    fn a_run_alone_is_always_admitted() {
        let tiny = ModelQuota {
            concurrent_calls: 1,
        };
        assert_eq!(admit_run(tiny, 0, RUN), Admission::Admit);
        assert!(matches!(admit_run(tiny, 1, RUN), Admission::RetryAfter(_)));
    }

    proptest! {
        #[test]
        fn waiting_as_told_makes_room_and_no_sooner(calls in 1u32..500, pending in 1u32..2000, actions in 1u32..=RUN) {
            let quota = ModelQuota { concurrent_calls: calls };
            let fits = |left: f64| left + f64::from(actions) <= quota.planned_actions() + 1e-9;
            match admit_run(quota, pending, actions) {
                Admission::Admit => prop_assert!(fits(f64::from(pending))),
                Admission::RetryAfter(seconds) => {
                    prop_assert!(!fits(f64::from(pending)));
                    let left_after = |s: f64| f64::from(pending) - s * quota.actions_per_second();
                    prop_assert!(seconds == RUN_LIMIT_SECONDS as u32 || fits(left_after(f64::from(seconds))));
                    prop_assert!(seconds == 1 || !fits(left_after(f64::from(seconds - 1))));
                }
            }
        }

        #[test]
        fn more_in_flight_never_admits_what_less_refused(calls in 1u32..500, pending in 0u32..2000, more in 0u32..500, actions in 1u32..=RUN) {
            let quota = ModelQuota { concurrent_calls: calls };
            if admit_run(quota, pending, actions) != Admission::Admit {
                prop_assert_ne!(admit_run(quota, pending + more, actions), Admission::Admit);
            }
        }
    }

    #[test]
    fn pending_actions_count_what_running_runs_have_left() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let goal = Goal {
            goal_id: "g".into(),
            user_id: "u".into(),
            title: "t".into(),
            status: crate::records::GoalStatus::Processing,
            current_execution_arn: None,
            updated_at: now,
            completed_at: None,
        };
        let run = |started: i64, total: u32, processed: u32, status: ExecutionStatus| {
            let mut r = WorkflowExecution::started(
                format!("arn:{started}"),
                "n".into(),
                &goal,
                "k".into(),
                now - Duration::seconds(started),
            );
            r.total_actions = total;
            r.processed_actions = processed;
            r.status = status;
            r
        };
        let runs = [
            run(10, 64, 40, ExecutionStatus::Running),
            run(5, 0, 0, ExecutionStatus::Running),
            run(10, 64, 10, ExecutionStatus::Succeeded),
            run(RUN_LIMIT_SECONDS + 1, 64, 0, ExecutionStatus::Running),
        ];
        assert_eq!(pending_actions(&runs, now), 24 + RUN);
    }

    #[test]
    fn a_throttled_call_keeps_trying_through_its_batchs_window_and_gives_up_within_the_run() {
        let caps: Vec<f64> = (1..=5).map(throttle_retry_cap).collect();
        assert_eq!(caps, [4.0; 5]);
        let (mean, worst) = throttle_retry_waits();
        // On average it waits past the window in which its batch may still start it (after which
        // generate-tasks refuses the call), so a throttled call does not give up while it could
        // still run; at worst it stops well before the run's limit.
        assert!(mean > CALL_START_WINDOW_SECONDS as f64, "{mean}");
        assert!(
            worst < (RUN_LIMIT_SECONDS - BATCH_BUDGET_SECONDS) as f64,
            "{worst}"
        );
    }
}
