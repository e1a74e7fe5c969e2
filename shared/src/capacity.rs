//! The model quota every run shares: generate-tasks' reserved concurrency. A run is admitted
//! with a share of it, the model calls it makes at once ([`RunShare`]), reserved when the run
//! begins and given back when it ends, in the same atomic writes as the run's record. A start the
//! quota has no room for is refused, saying when room is expected ([`retry_after_seconds`]), so
//! runs never compete for calls they were promised.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::batching::{actions_at_once, batch_sizes};
use crate::deadlines::{AI_CALL_LIMIT_SECONDS, BATCH_BUDGET_SECONDS, RUN_LIMIT_SECONDS};
use crate::records::{ExecutionStatus, WorkflowExecution};
use crate::workflow::MAX_ACTIONS_PER_RUN;

/// The model calls at once when the deployment says nothing (the template's `ModelConcurrency`
/// default): what one whole run makes at once, 8 batches × 3 actions.
pub const DEFAULT_MODEL_CONCURRENCY: u32 = 24;

/// The smallest quota a deployment may set: one call for each batch of a whole run.
pub const MIN_MODEL_CONCURRENCY: u32 = 8;

/// The environment variable that carries `ModelConcurrency` to the functions that admit runs.
pub const MODEL_CONCURRENCY_ENV: &str = "MODEL_CONCURRENCY";

/// What one model call is planned to take, on average, in seconds: the mean of the latency the
/// benchmarks use (lognormal, median 10 s, sigma 0.6: 10 × e^0.18 ≈ 12 s).
pub const PLANNED_AI_CALL_SECONDS: f64 = 12.0;

/// A batch's calls must all start this soon after the batch does (then the last one still ends
/// within the batch's budget): 300 - 120 = 180 s.
pub const CALL_START_WINDOW_SECONDS: i64 = BATCH_BUDGET_SECONDS - AI_CALL_LIMIT_SECONDS;

/// GenerateTasks' retrier for `Lambda.TooManyRequestsException`, for calls over the quota that
/// admission did not foresee (a deployment lowering `ModelConcurrency` under runs in flight):
/// every wait drawn at random below 4 s (full jitter), without growth, so throttled calls poll
/// the quota spread out and equally often.
pub const THROTTLE_RETRY_INTERVAL_SECONDS: u64 = 4;
pub const THROTTLE_RETRY_BACKOFF_RATE: f64 = 1.0;
pub const THROTTLE_RETRY_MAX_DELAY_SECONDS: u64 = 4;
pub const THROTTLE_RETRY_MAX_ATTEMPTS: u64 = 120;

/// The throttle retrier's total wait, in seconds, on average and at worst: with its backoff rate
/// of 1 every wait is drawn below the same cap, uniformly (full jitter).
pub fn throttle_retry_waits() -> (f64, f64) {
    let cap = THROTTLE_RETRY_INTERVAL_SECONDS.min(THROTTLE_RETRY_MAX_DELAY_SECONDS);
    let worst = (THROTTLE_RETRY_MAX_ATTEMPTS * cap) as f64;
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
    /// `MODEL_CONCURRENCY` when set to a count, at least [`MIN_MODEL_CONCURRENCY`]; else the
    /// default.
    pub fn from_env() -> Self {
        std::env::var(MODEL_CONCURRENCY_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map_or_else(ModelQuota::default, |n| ModelQuota {
                concurrent_calls: n.max(MIN_MODEL_CONCURRENCY),
            })
    }
}

/// The part of the quota a run is admitted with: each of its batches runs `actions_at_once` of
/// its actions at a time, every batch at once, so the run makes at most `calls` model calls at
/// once (fewer than batches × `actions_at_once` when a batch is smaller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunShare {
    pub actions_at_once: u32,
    pub calls: u32,
}

impl RunShare {
    /// The share of a run of `actions` actions whose batches each run `at_once` at a time (no
    /// more than its largest batch holds).
    pub fn of(actions: usize, at_once: usize) -> Self {
        let largest = batch_sizes(actions).max().unwrap_or_default();
        RunShare {
            actions_at_once: at_once.min(largest) as u32,
            calls: batch_sizes(actions)
                .map(|size| size.min(at_once))
                .sum::<usize>() as u32,
        }
    }

    /// What a run of `actions` actions makes at once when it has the quota to itself.
    pub fn whole(actions: usize) -> Self {
        Self::of(actions, actions_at_once(batch_sizes(actions).count()))
    }

    /// The largest share of a run of `actions` actions that `free` calls can hold, if any: each
    /// batch at least one action at a time.
    pub fn within(actions: usize, free: u32) -> Option<Self> {
        let most = Self::whole(actions).actions_at_once as usize;
        (1..=most)
            .rev()
            .map(|at_once| Self::of(actions, at_once))
            .find(|share| share.calls <= free)
    }

    /// Seconds the run is planned to take: its largest batch in rounds of `actions_at_once`
    /// calls of [`PLANNED_AI_CALL_SECONDS`].
    fn planned_seconds(self, actions: usize) -> f64 {
        let largest = batch_sizes(actions).max().unwrap_or_default();
        largest.div_ceil(self.actions_at_once.max(1) as usize) as f64 * PLANNED_AI_CALL_SECONDS
    }
}

/// The seconds after which the calls the runs in `runs` hold will, as expected, have come back
/// enough for `free + returned >= wanted`: each RUNNING run gives its calls back at the end its
/// progress estimates (or its plan, before the first estimate). At least 1; at most the run limit,
/// by when every run has ended.
pub fn retry_after_seconds(
    runs: &[WorkflowExecution],
    now: DateTime<Utc>,
    free: u32,
    wanted: u32,
) -> u32 {
    if free >= wanted {
        return 1;
    }
    let mut ends: Vec<(f64, u32)> = runs
        .iter()
        .filter(|r| r.status == ExecutionStatus::Running)
        .map(|r| (seconds_left(r, now), r.model_calls))
        .collect();
    ends.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut room = free;
    let seconds = ends
        .into_iter()
        .find(|&(_, calls)| {
            room = room.saturating_add(calls);
            room >= wanted
        })
        .map_or(RUN_LIMIT_SECONDS as f64, |(left, _)| left);
    (seconds.ceil() as u32).clamp(1, RUN_LIMIT_SECONDS as u32)
}

/// When a running run is expected to end, in seconds from `now`: what its status reports
/// ([`WorkflowExecution::seconds_remaining`]) once its calls say enough, else its plan.
fn seconds_left(run: &WorkflowExecution, now: DateTime<Utc>) -> f64 {
    if let Some(left) = run.seconds_remaining(now) {
        return left as f64;
    }
    let share = RunShare {
        actions_at_once: run.actions_at_once,
        calls: run.model_calls,
    };
    // Before GetActions records the number, plan for a whole goal.
    let actions = match run.total_actions {
        0 => MAX_ACTIONS_PER_RUN,
        n => n as usize,
    };
    let since_start = (now - run.started_at).num_milliseconds() as f64 / 1000.0;
    (share.planned_seconds(actions) - since_start).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Goal, GoalStatus};
    use proptest::prelude::*;

    const RUN: usize = MAX_ACTIONS_PER_RUN;

    fn share(actions_at_once: u32, calls: u32) -> RunShare {
        RunShare {
            actions_at_once,
            calls,
        }
    }

    #[test]
    fn a_run_alone_makes_the_calls_its_batches_allow() {
        assert_eq!(RunShare::whole(RUN), share(3, 24));
        // A batch of 8 and one of 1: 8 at a time in each, 9 calls at once.
        assert_eq!(RunShare::whole(9), share(8, 9));
        assert_eq!(RunShare::whole(1), share(1, 1));
        assert_eq!(RunShare::whole(20), share(8, 20));
    }

    #[test]
    fn a_run_gets_the_largest_share_the_free_calls_hold() {
        assert_eq!(RunShare::within(RUN, 100), Some(share(3, 24)));
        assert_eq!(RunShare::within(RUN, 24), Some(share(3, 24)));
        assert_eq!(RunShare::within(RUN, 23), Some(share(2, 16)));
        assert_eq!(RunShare::within(RUN, 8), Some(share(1, 8)));
        assert_eq!(RunShare::within(RUN, 7), None);
        assert_eq!(RunShare::within(9, 5), Some(share(4, 5)));
        assert_eq!(RunShare::within(3, 2), Some(share(2, 2)));
        assert_eq!(RunShare::within(3, 3), Some(share(3, 3)));
        assert_eq!(RunShare::within(RUN, 0), None);
    }

    #[test]
    fn the_smallest_quota_admits_a_whole_run() {
        assert!(RunShare::within(RUN, MIN_MODEL_CONCURRENCY).is_some());
        assert!(RunShare::within(RUN, MIN_MODEL_CONCURRENCY - 1).is_none());
    }

    proptest! {
        #[test]
        fn a_share_fits_and_no_larger_one_would(actions in 1..=RUN, free in 0u32..64) {
            let whole = RunShare::whole(actions);
            match RunShare::within(actions, free) {
                Some(s) => {
                    prop_assert!(s.calls <= free && s.calls <= whole.calls);
                    prop_assert!(s.actions_at_once >= 1);
                    prop_assert_eq!(s, RunShare::of(actions, s.actions_at_once as usize));
                    if s.actions_at_once < whole.actions_at_once {
                        let larger = RunShare::of(actions, s.actions_at_once as usize + 1);
                        prop_assert!(larger.calls > free);
                    }
                }
                None => prop_assert!(RunShare::of(actions, 1).calls > free),
            }
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    /// A RUNNING run begun at `started` holding `held`, with `total` actions (0: not yet known)
    /// of which `processed` have finished.
    fn running(started: i64, held: RunShare, total: u32, processed: u32) -> WorkflowExecution {
        let goal = Goal {
            goal_id: "g".into(),
            user_id: "u".into(),
            title: "t".into(),
            status: GoalStatus::Processing,
            current_execution_arn: None,
            updated_at: at(started),
            completed_at: None,
        };
        let mut run = WorkflowExecution::started(
            format!("arn:{started}"),
            "n".into(),
            &goal,
            "k".into(),
            at(started),
        );
        run.model_calls = held.calls;
        run.actions_at_once = held.actions_at_once;
        run.total_actions = total;
        run.processed_actions = processed;
        run
    }

    #[test]
    fn room_is_expected_when_enough_runs_have_ended() {
        let now = at(100);
        let runs = [
            // Half done in 20 s and in 60 s: 20 s and 60 s left at their pace.
            running(80, share(1, 8), 64, 32),
            running(40, share(2, 16), 64, 32),
        ];
        assert_eq!(retry_after_seconds(&runs, now, 0, 8), 20);
        assert_eq!(retry_after_seconds(&runs, now, 0, 24), 60);
        assert_eq!(retry_after_seconds(&runs, now, 16, 24), 20);
        assert_eq!(retry_after_seconds(&runs, now, 24, 24), 1);
        // More than every run gives back: by the run limit they have all ended.
        assert_eq!(
            retry_after_seconds(&runs, now, 0, 25),
            RUN_LIMIT_SECONDS as u32
        );
    }

    #[test]
    fn before_its_first_estimate_a_run_is_expected_to_end_as_planned() {
        let now = at(100);
        // 64 actions at 3 at a time: three rounds of 12 s from 90, so 26 s left; before GetActions
        // has counted them, a whole goal is planned for.
        assert_eq!(
            retry_after_seconds(&[running(90, share(3, 24), 64, 0)], now, 0, 24),
            26
        );
        assert_eq!(
            retry_after_seconds(&[running(90, share(3, 24), 0, 0)], now, 0, 24),
            26
        );
        // 8 actions at 1 at a time: eight rounds, 96 s.
        assert_eq!(
            retry_after_seconds(&[running(100, share(1, 1), 8, 0)], now, 0, 1),
            96
        );
        // Past its plan, it is expected any moment.
        assert_eq!(
            retry_after_seconds(&[running(0, share(3, 24), 64, 0)], now, 0, 24),
            1
        );
    }

    #[test]
    fn only_running_runs_holding_calls_give_calls_back() {
        let now = at(100);
        let mut ended = running(90, share(3, 24), 64, 63);
        ended.status = ExecutionStatus::Succeeded;
        let unshared = running(90, share(0, 0), 64, 63);
        let holding = running(50, share(3, 24), 64, 32);
        assert_eq!(
            retry_after_seconds(&[ended, unshared, holding], now, 0, 24),
            50
        );
    }

    #[test]
    fn a_throttled_call_keeps_trying_through_its_batchs_window_and_gives_up_within_the_run() {
        // Every wait drawn below 4 s: 120 of them take 240 s on average, 480 s at most.
        assert_eq!(THROTTLE_RETRY_BACKOFF_RATE, 1.0);
        assert_eq!(throttle_retry_waits(), (240.0, 480.0));
        // On average it waits past the window in which its batch may still start it (180 s, after
        // which generate-tasks refuses the call), so a throttled call does not give up while it
        // could still run; at worst it stops well before the run's limit.
        assert_eq!(CALL_START_WINDOW_SECONDS, 180);
        let (mean, worst) = throttle_retry_waits();
        assert!(mean > CALL_START_WINDOW_SECONDS as f64, "{mean}");
        assert!(
            worst < (RUN_LIMIT_SECONDS - BATCH_BUDGET_SECONDS) as f64,
            "{worst}"
        );
    }

    #[test]
    fn the_quota_comes_from_the_deployment_and_is_never_below_one_call_per_batch() {
        // The only test of this crate that sets or reads the variable.
        std::env::set_var(MODEL_CONCURRENCY_ENV, "40");
        assert_eq!(ModelQuota::from_env().concurrent_calls, 40);
        std::env::set_var(MODEL_CONCURRENCY_ENV, " 3 ");
        assert_eq!(
            ModelQuota::from_env().concurrent_calls,
            MIN_MODEL_CONCURRENCY
        );
        std::env::set_var(MODEL_CONCURRENCY_ENV, "many");
        assert_eq!(ModelQuota::from_env(), ModelQuota::default());
        std::env::remove_var(MODEL_CONCURRENCY_ENV);
        assert_eq!(
            ModelQuota::from_env().concurrent_calls,
            DEFAULT_MODEL_CONCURRENCY
        );
    }
}
