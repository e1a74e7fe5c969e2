//! Progress and remaining-time estimates, used when progress is written and when it is read.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::batching::batch_sizes;
use crate::deadlines::AI_CALL_LIMIT_SECONDS;
use crate::records::CallTiming;

/// Percent of actions finished (successfully or not), 0..=100; 100 exactly when all are finished.
pub fn progress_percent(processed: u32, total: u32) -> u8 {
    if total == 0 || processed >= total {
        return if total == 0 { 0 } else { 100 };
    }
    // Floor, so a run shows 100 only when every action is done.
    (u64::from(processed) * 100 / u64::from(total)) as u8
}

/// Seconds left, extrapolating the mean time per finished action over the remaining ones;
/// `None` before the actions are counted or the first one finishes, `Some(0)` once all are, and
/// at least 1 while any remains (actions that finished within the first second do not make an
/// unfinished run look done).
pub fn eta_seconds(elapsed_seconds: u64, processed: u32, total: u32) -> Option<u64> {
    if total == 0 {
        return None;
    }
    if processed >= total {
        return Some(0);
    }
    if processed == 0 {
        return None;
    }
    let remaining = u64::from(total - processed);
    Some(
        (elapsed_seconds * remaining)
            .div_ceil(u64::from(processed))
            .max(1),
    )
}

/// Fewer finished calls than this say too little of the model's latency; the pace is used instead.
const MIN_FINISHED_CALLS: usize = 3;
/// Runs of the rest of the workflow drawn for one estimate.
const DRAWS: usize = 200;
/// The draws are seeded, so the same record always gives the same estimate.
const SEED: u64 = 0x5eed;

/// Seconds left, from the run's layout and the model calls that have finished: the batches of
/// [`batch_sizes`] each run `at_once` calls at a time, and the run ends with its last
/// call. The calls' latency is taken as lognormal, fitted to the finished calls and those still
/// running (which have lasted at least as long as they have run); the rest of the run is then
/// drawn [`DRAWS`] times, each running call ending after its age, each waiting one taking the
/// batch's first free slot. The estimate is the draws' median weighted by 1 / time left, which
/// minimises the expected error relative to the time actually left.
///
/// `None` when fewer than [`MIN_FINISHED_CALLS`] calls have finished. A call is placed in its
/// batch by `batch_index`; a batch's first calls start with the earliest recorded call, and each
/// later one as an earlier one of its batch finishes.
pub fn layout_eta_seconds(
    total_actions: u32,
    at_once: usize,
    calls: &[CallTiming],
    now: DateTime<Utc>,
) -> Option<u64> {
    let timed = || calls.iter().filter(|c| !c.untimed);
    if timed().count() < MIN_FINISHED_CALLS {
        return None;
    }
    let origin = timed().map(|c| c.started_at).min()?;
    let seconds = |t: DateTime<Utc>| (t - origin).num_milliseconds().max(0) as f64 / 1000.0;
    let now = seconds(now);
    let sizes: Vec<usize> = batch_sizes(total_actions as usize).collect();
    let batches: Vec<BatchLeft> = sizes
        .iter()
        .enumerate()
        .map(|(index, &size)| {
            let mine: Vec<(f64, f64)> = calls
                .iter()
                .filter(|c| c.batch_index as usize == index)
                .map(|c| (seconds(c.started_at), seconds(c.finished_at)))
                .collect();
            BatchLeft::at(size, at_once, &mine, now)
        })
        .collect();
    let durations: Vec<f64> = timed()
        .map(|c| seconds(c.finished_at) - seconds(c.started_at))
        .collect();
    let running: Vec<f64> = batches.iter().flat_map(|b| b.running_for.clone()).collect();
    let latency = Lognormal::fit(&durations, &running);
    let mut rng = StdRng::seed_from_u64(SEED);
    let draws: Vec<f64> = (0..DRAWS)
        .map(|_| {
            batches
                .iter()
                .map(|b| b.draw_end(&latency, &mut rng))
                .fold(0.0, f64::max)
        })
        .collect();
    let left = median_weighted_by_inverse(draws);
    Some((left.ceil() as u64).max(1))
}

/// What is left of one batch at a moment: how long each running call has run, and how many calls
/// have not started.
#[derive(Debug, PartialEq)]
struct BatchLeft {
    running_for: Vec<f64>,
    waiting: usize,
}

impl BatchLeft {
    /// `finished` holds the batch's finished calls as (start, end) seconds.
    fn at(size: usize, at_once: usize, finished: &[(f64, f64)], now: f64) -> Self {
        let done = finished.len().min(size);
        let started = size.min(at_once + done);
        let mut ends: Vec<f64> = finished.iter().map(|&(_, end)| end).collect();
        ends.sort_by(f64::total_cmp);
        let mut starts: Vec<f64> = std::iter::repeat_n(0.0, at_once.min(size))
            .chain(ends)
            .take(started)
            .collect();
        for &(start, _) in finished.iter().take(done) {
            let closest = (0..starts.len()).min_by(|&a, &b| {
                (starts[a] - start)
                    .abs()
                    .total_cmp(&(starts[b] - start).abs())
            });
            if let Some(i) = closest {
                starts.swap_remove(i);
            }
        }
        Self {
            running_for: starts.iter().map(|s| (now - s).max(0.0)).collect(),
            waiting: size - started,
        }
    }

    /// Seconds from now until the batch's last call ends, in one draw.
    fn draw_end(&self, latency: &Lognormal, rng: &mut StdRng) -> f64 {
        let mut slots: Vec<f64> = self
            .running_for
            .iter()
            .map(|&age| latency.draw_left(age, rng))
            .collect();
        // A batch with calls waiting has all its slots busy.
        for _ in 0..self.waiting {
            let Some(first_free) = slots.iter_mut().min_by(|a, b| a.total_cmp(b)) else {
                break;
            };
            *first_free += latency.draw_left(0.0, rng);
        }
        slots.into_iter().fold(0.0, f64::max)
    }
}

/// A call's latency: ln(seconds) is normal with these parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Lognormal {
    mu: f64,
    sigma: f64,
}

impl Lognormal {
    /// The most likely parameters for calls that took `durations` and calls still running after
    /// `running_for` (right-censored): a coarse grid search, then a fine one around its best.
    fn fit(durations: &[f64], running_for: &[f64]) -> Self {
        let logs: Vec<f64> = durations.iter().map(|d| d.max(1e-3).ln()).collect();
        let centre = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
        let likelihood = |candidate: &Self| {
            let Self { mu, sigma } = *candidate;
            let done: f64 = logs
                .iter()
                .map(|x| -sigma.ln() - ((x - mu) / sigma).powi(2) / 2.0)
                .sum();
            let running: f64 = running_for
                .iter()
                .map(|&age| candidate.survival(age).max(f64::MIN_POSITIVE).ln())
                .sum();
            done + running
        };
        let best = |mus: Vec<f64>, sigmas: Vec<f64>| {
            sigmas
                .iter()
                .flat_map(|&sigma| mus.iter().map(move |&mu| Self { mu, sigma }))
                .map(|candidate| (likelihood(&candidate), candidate))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map_or(
                    Self {
                        mu: centre,
                        sigma: 0.5,
                    },
                    |(_, best)| best,
                )
        };
        let steps = |from: f64, step: f64, n: usize| (0..=n).map(move |i| from + step * i as f64);
        // Finished calls alone are likeliest at `centre` whatever the spread, and running calls
        // are likelier the longer calls last: no mu below `centre` can be the likeliest.
        let coarse = best(
            steps(centre, 0.1, 25).collect(),
            steps(0.1, 0.1, 14).collect(),
        );
        best(
            steps(coarse.mu - 0.1, 0.02, 10).collect(),
            // Around the coarse best, the spread kept above 0.
            steps((coarse.sigma - 0.1).max(0.02), 0.02, 10).collect(),
        )
    }

    /// The chance that a call lasts longer than `age` seconds: 1 for a call not started (the
    /// logarithm of 0 is -infinity).
    fn survival(&self, age: f64) -> f64 {
        Normal::standard().sf((age.max(0.0).ln() - self.mu) / self.sigma)
    }

    /// Seconds left of a call that has run for `age` seconds (0 for one not started), at most
    /// until its state's timeout.
    fn draw_left(&self, age: f64, rng: &mut StdRng) -> f64 {
        // Uniform over the latencies longer than `age`: a quantile above its own.
        let tail = (self.survival(age) * (1.0 - rng.random::<f64>())).clamp(f64::MIN_POSITIVE, 1.0);
        let latency = (self.mu - self.sigma * Normal::standard().inverse_cdf(tail)).exp();
        (latency.min(AI_CALL_LIMIT_SECONDS as f64) - age).max(0.0)
    }
}

/// The value `m` of `draws` minimising the sum of |m - d| / d: the median with each draw weighted
/// by 1 / d.
fn median_weighted_by_inverse(mut draws: Vec<f64>) -> f64 {
    draws.sort_by(f64::total_cmp);
    let weight = |d: f64| 1.0 / d.max(1e-3);
    let half = draws.iter().map(|&d| weight(d)).sum::<f64>() / 2.0;
    let mut seen = 0.0;
    for &d in &draws {
        seen += weight(d);
        if seen >= half {
            return d;
        }
    }
    draws.last().copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::batching::actions_at_once;

    /// Each batch's actions at once when a run of `total` actions has the quota to itself.
    fn whole(total: u32) -> usize {
        actions_at_once(batch_sizes(total as usize).count())
    }

    #[test]
    fn percent_is_floored_and_bounded() {
        assert_eq!(progress_percent(0, 64), 0);
        assert_eq!(progress_percent(63, 64), 98);
        assert_eq!(progress_percent(64, 64), 100);
        assert_eq!(progress_percent(70, 64), 100);
        assert_eq!(progress_percent(0, 0), 0);
    }

    #[test]
    fn eta_extrapolates_the_mean_pace() {
        assert_eq!(eta_seconds(30, 0, 64), None);
        assert_eq!(
            eta_seconds(30, 0, 0),
            None,
            "the actions are not counted yet"
        );
        assert_eq!(eta_seconds(30, 16, 64), Some(90));
        assert_eq!(eta_seconds(100, 64, 64), Some(0));
        assert_eq!(eta_seconds(0, 1, 64), Some(1), "not done, so not zero");
    }

    fn at(seconds: f64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + (seconds * 1000.0) as i64)
            .unwrap_or_default()
    }

    fn call(batch_index: u32, start: f64, end: f64) -> CallTiming {
        CallTiming {
            batch_index,
            started_at: at(start),
            finished_at: at(end),
            untimed: false,
        }
    }

    #[test]
    fn a_batch_starts_its_next_call_as_one_finishes() {
        let mut left = BatchLeft::at(8, 3, &[(0.0, 10.0), (0.0, 12.0)], 15.0);
        left.running_for.sort_by(f64::total_cmp);
        assert_eq!(
            left,
            BatchLeft {
                running_for: vec![3.0, 5.0, 15.0],
                waiting: 3
            }
        );
        let done = BatchLeft::at(2, 3, &[(0.0, 4.0), (0.0, 5.0)], 9.0);
        assert_eq!(
            done,
            BatchLeft {
                running_for: vec![],
                waiting: 0
            }
        );
    }

    #[test]
    fn the_layout_estimate_needs_a_few_finished_calls() {
        let calls = [call(0, 0.0, 10.0), call(1, 0.0, 11.0)];
        assert_eq!(layout_eta_seconds(64, whole(64), &calls, at(12.0)), None);
    }

    #[test]
    fn actions_counted_with_their_batch_end_it_without_timing_the_model() {
        let untimed = |batch, t| CallTiming::untimed(batch, at(t));
        let few = [call(0, 0.0, 10.0), call(1, 0.0, 11.0), untimed(0, 12.0)];
        assert_eq!(layout_eta_seconds(16, whole(16), &few, at(12.0)), None);
        // Batch 0 ended with 3 failures; batch 1 has 1 call left, started at 0.
        let mut calls: Vec<CallTiming> = (0..5).map(|i| call(0, 0.0, 4.0 + f64::from(i))).collect();
        calls.extend((0..7).map(|i| call(1, 0.0, 5.0 + f64::from(i))));
        let without_failures = layout_eta_seconds(16, whole(16), &calls, at(14.0));
        calls.extend((0..3).map(|_| untimed(0, 13.0)));
        let with_failures = layout_eta_seconds(16, whole(16), &calls, at(14.0));
        assert!(
            with_failures < without_failures,
            "{with_failures:?} {without_failures:?}"
        );
    }

    #[test]
    fn the_layout_estimate_is_the_same_for_the_same_record() {
        let calls: Vec<CallTiming> = (0..8).map(|b| call(b, 0.0, 8.0 + f64::from(b))).collect();
        let first = layout_eta_seconds(64, whole(64), &calls, at(16.0));
        assert!(first.is_some_and(|s| s >= 1));
        assert_eq!(layout_eta_seconds(64, whole(64), &calls, at(16.0)), first);
    }

    #[test]
    fn the_latency_fit_finds_the_parameters_of_finished_calls() {
        let mut rng = StdRng::seed_from_u64(7);
        let truth = Lognormal {
            mu: 10f64.ln(),
            sigma: 0.4,
        };
        let durations: Vec<f64> = (0..400).map(|_| truth.draw_left(0.0, &mut rng)).collect();
        let fitted = Lognormal::fit(&durations, &[]);
        assert!((fitted.mu - truth.mu).abs() < 0.06, "{fitted:?}");
        assert!((fitted.sigma - truth.sigma).abs() < 0.05, "{fitted:?}");
    }

    /// One run of the layout at lognormal latencies: every call as (batch, start, end).
    fn simulated_run(
        sizes: &[usize],
        at_once: usize,
        latency: &Lognormal,
        rng: &mut StdRng,
    ) -> Vec<CallTiming> {
        let mut calls = Vec::new();
        for (batch, &size) in sizes.iter().enumerate() {
            let mut slots = vec![0.0_f64; at_once.min(size)];
            for _ in 0..size {
                let Some(slot) = slots.iter_mut().min_by(|a, b| a.total_cmp(b)) else {
                    break;
                };
                let start = *slot;
                *slot += latency.draw_left(0.0, rng);
                calls.push(call(batch as u32, start, *slot));
            }
        }
        calls.sort_by_key(|c| c.finished_at);
        calls
    }

    #[test]
    fn on_simulated_runs_the_layout_estimate_is_closer_than_the_pace() {
        let mut rng = StdRng::seed_from_u64(11);
        let latency = Lognormal {
            mu: 10f64.ln(),
            sigma: 0.6,
        };
        let (mut layout_error, mut pace_error) = (0.0, 0.0);
        for _ in 0..40 {
            let calls = simulated_run(&[8; 8], 3, &latency, &mut rng);
            let end = calls[63].finished_at;
            for done in [16, 32, 48] {
                let now = calls[done - 1].finished_at;
                let left = (end - now).num_milliseconds() as f64 / 1000.0;
                let elapsed = (now - at(0.0)).num_seconds() as u64;
                let pace = eta_seconds(elapsed, done as u32, 64).unwrap_or_default() as f64;
                let layout = layout_eta_seconds(64, whole(64), &calls[..done], now)
                    .unwrap_or_default() as f64;
                pace_error += (pace - left).abs() / left;
                layout_error += (layout - left).abs() / left;
            }
        }
        assert!(
            layout_error < pace_error * 0.8,
            "layout {layout_error:.1}, pace {pace_error:.1} (sums over 120 readings)"
        );
    }

    /// A latency with next to no spread: every call takes `seconds`.
    fn fixed(seconds: f64) -> Lognormal {
        Lognormal {
            mu: seconds.ln(),
            sigma: 1e-9,
        }
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-6, "{actual} != {expected}");
    }

    #[test]
    fn a_batch_ends_with_its_last_call_each_waiting_one_taking_the_first_free_slot() {
        let latency = fixed(10.0);
        let mut rng = StdRng::seed_from_u64(1);
        let mut end = |running_for: &[f64], waiting| {
            let left = BatchLeft {
                running_for: running_for.to_vec(),
                waiting,
            };
            left.draw_end(&latency, &mut rng)
        };
        // Slots free in 5 s and 2 s: the first waiting call runs 2..12, the second 5..15.
        assert_close(end(&[5.0, 8.0], 2), 15.0);
        // One slot: 5, then 5..15, then 15..25.
        assert_close(end(&[5.0], 2), 25.0);
        assert_close(end(&[5.0, 8.0, 1.0], 0), 9.0);
        // A call past its latency ends now; one past the state's timeout too.
        assert_close(end(&[30.0, 130.0], 0), 0.0);
        assert_eq!(end(&[], 0), 0.0);
    }

    #[test]
    fn a_batch_s_later_calls_start_as_its_earlier_ones_finish() {
        // 8 calls, 3 at once, all 10 s but the second (12 s): calls 1-3 start at 0, call 4 at
        // 10 (as call 1 ends), call 5 at 12 (call 2), call 6 at 20 (call 4).
        let finished = [(10.0, 20.0), (0.0, 10.0), (0.0, 12.0)];
        let mut left = BatchLeft::at(8, 3, &finished, 22.0);
        left.running_for.sort_by(f64::total_cmp);
        // Running: call 6 (since 20), call 5 (since 12), call 3 (since 0); calls 7 and 8 wait.
        assert_eq!(
            left,
            BatchLeft {
                running_for: vec![2.0, 10.0, 22.0],
                waiting: 2
            }
        );
        // A batch of 2 runs both at once; more counted than it holds leaves nothing.
        let over = BatchLeft::at(2, 3, &[(0.0, 4.0), (0.0, 5.0), (0.0, 6.0)], 9.0);
        assert_eq!(
            over,
            BatchLeft {
                running_for: vec![],
                waiting: 0
            }
        );
        let none = BatchLeft::at(5, 3, &[], 4.0);
        assert_eq!(
            none,
            BatchLeft {
                running_for: vec![4.0; 3],
                waiting: 2
            }
        );
    }

    #[test]
    fn the_weighted_median_weighs_each_draw_by_its_inverse() {
        // Weights 1, 1/2, 1/4 (sum 7/4): 1 alone carries half.
        assert_eq!(median_weighted_by_inverse(vec![4.0, 1.0, 2.0]), 1.0);
        // Weights 1, 1/2, 1/2, 4 x 1/5 (sum 2.8): 1 + 1/2 passes 1.4 at 2, where the plain
        // median is 5.
        let draws = vec![5.0, 2.0, 5.0, 1.0, 5.0, 2.0, 5.0];
        assert_eq!(median_weighted_by_inverse(draws), 2.0);
        // Weights 1/2, 1/2, 1/4, 1/4 (sum 1.5): half is reached exactly at the second 2.
        assert_eq!(median_weighted_by_inverse(vec![4.0, 2.0, 4.0, 2.0]), 2.0);
        assert_eq!(median_weighted_by_inverse(vec![7.0]), 7.0);
        assert_eq!(median_weighted_by_inverse(vec![]), 0.0);
    }

    /// The relative error of guessing `m` when the time left is one of `draws`, summed.
    fn relative_error(m: f64, draws: &[f64]) -> f64 {
        draws.iter().map(|d| (m - d).abs() / d).sum()
    }

    proptest! {
        #[test]
        fn the_weighted_median_minimises_the_relative_error(
            draws in proptest::collection::vec(0.01..1000.0f64, 1..40),
            other in 0.01..1000.0f64,
        ) {
            let m = median_weighted_by_inverse(draws.clone());
            prop_assert!(draws.contains(&m));
            let best = relative_error(m, &draws);
            for x in draws.iter().copied().chain([other]) {
                prop_assert!(best <= relative_error(x, &draws) * (1.0 + 1e-12), "{m} vs {x}");
            }
        }
    }

    /// A latency of `mu` and `sigma` drawn by its quantile function.
    fn sample(mu: f64, sigma: f64, rng: &mut StdRng) -> f64 {
        let u: f64 = rng.random();
        (mu + sigma * Normal::standard().inverse_cdf(u.max(f64::MIN_POSITIVE))).exp()
    }

    /// The median of `draws`, an odd number of them.
    fn median(mut draws: Vec<f64>) -> f64 {
        draws.sort_by(f64::total_cmp);
        draws[draws.len() / 2]
    }

    #[test]
    fn a_running_call_s_time_left_is_drawn_from_the_latencies_longer_than_its_age() {
        let latency = Lognormal {
            mu: 10f64.ln(),
            sigma: 0.5,
        };
        let mut rng = StdRng::seed_from_u64(5);
        let mut draws = |age: f64| -> Vec<f64> {
            (0..4001)
                .map(|_| age + latency.draw_left(age, &mut rng))
                .collect()
        };
        // Not started: the median latency, e^mu.
        let fresh = median(draws(0.0));
        assert!((fresh / 10.0 - 1.0).abs() < 0.03, "{fresh}");
        // Running for 12 s: the median of the latencies over 12 s, where half of P(> 12) is left.
        let z = Normal::standard();
        let over = z.sf((12f64.ln() - latency.mu) / latency.sigma);
        let expected = (latency.mu + latency.sigma * z.inverse_cdf(1.0 - over / 2.0)).exp();
        let old = median(draws(12.0));
        assert!((old / expected - 1.0).abs() < 0.03, "{old} vs {expected}");
        // No call outlasts its state's timeout.
        let late = draws(100.0);
        assert!(
            late.iter().all(|&d| d <= AI_CALL_LIMIT_SECONDS as f64),
            "{late:?}"
        );
    }

    #[test]
    fn the_latency_fit_of_finished_calls_is_their_log_mean_and_deviation() {
        // ln: 1.5 and 2.5, mean 2, deviation 0.5.
        let fitted = Lognormal::fit(&[1.5f64.exp(), 2.5f64.exp()], &[]);
        assert!((fitted.mu - 2.0).abs() < 1e-9, "{fitted:?}");
        assert!((fitted.sigma - 0.5).abs() < 1e-9, "{fitted:?}");
        // Equal latencies: the narrowest spread the grid holds.
        let fitted = Lognormal::fit(&[10.0; 5], &[]);
        assert!((fitted.mu - 10f64.ln()).abs() < 1e-9, "{fitted:?}");
        assert!((fitted.sigma - 0.02).abs() < 1e-9, "{fitted:?}");
    }

    proptest! {
        /// For finished calls alone the most likely parameters are the mean and the (population)
        /// deviation of their logarithms; the grid finds the mean exactly and the deviation to
        /// within one fine step.
        #[test]
        fn the_latency_fit_of_finished_calls_is_their_maximum_likelihood(
            logs in proptest::collection::vec(0.0..4.5f64, 3..40),
        ) {
            let n = logs.len() as f64;
            let mean = logs.iter().sum::<f64>() / n;
            let deviation = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            prop_assume!((0.15..1.45).contains(&deviation));
            let durations: Vec<f64> = logs.iter().map(|x| x.exp()).collect();
            let fitted = Lognormal::fit(&durations, &[]);
            prop_assert!((fitted.mu - mean).abs() < 1e-6, "{fitted:?} {mean}");
            prop_assert!((fitted.sigma - deviation).abs() <= 0.02, "{fitted:?} {deviation}");
        }
    }

    #[test]
    fn the_latency_fit_counts_running_calls_as_lasting_at_least_their_age() {
        // Calls of a known latency, observed 12 s in: those that would take longer are running.
        let (mu, sigma) = (10f64.ln(), 0.5);
        let mut rng = StdRng::seed_from_u64(3);
        let latencies: Vec<f64> = (0..2000).map(|_| sample(mu, sigma, &mut rng)).collect();
        let (finished, running): (Vec<f64>, Vec<f64>) = latencies.iter().partition(|&&l| l <= 12.0);
        let running_for = vec![12.0; running.len()];
        assert!(running.len() > 500, "{}", running.len());
        let fitted = Lognormal::fit(&finished, &running_for);
        assert!((fitted.mu - mu).abs() < 0.05, "{fitted:?}");
        assert!((fitted.sigma - sigma).abs() < 0.05, "{fitted:?}");
        // Left out, the running calls would make the model far too quick.
        let biased = Lognormal::fit(&finished, &[]);
        assert!(biased.mu < mu - 0.2, "{biased:?}");
        // A call that has only just started says nothing.
        assert_eq!(Lognormal::fit(&finished, &[0.0]), biased);
    }

    #[test]
    fn with_equal_latencies_the_layout_estimate_is_the_time_the_layout_leaves() {
        // 64 actions: 8 batches of 8, 3 calls at once each, every call 10 s. At 15 s each batch
        // has 3 calls done, 3 running since 10 s and 2 waiting: 5 + 10 s left.
        let calls: Vec<CallTiming> = (0..8)
            .flat_map(|b| (0..3).map(move |_| call(b, 0.0, 10.0)))
            .collect();
        let left = layout_eta_seconds(64, whole(64), &calls, at(15.0));
        assert!(left.is_some_and(|s| (15..=16).contains(&s)), "{left:?}");
        // At 25 s, 3 more have run 10..20 in each batch and the last 2 run since 20: 5 s left.
        let more: Vec<CallTiming> = (0..8)
            .flat_map(|b| (0..3).map(move |_| call(b, 10.0, 20.0)))
            .chain(calls)
            .collect();
        let left = layout_eta_seconds(64, whole(64), &more, at(25.0));
        assert!(left.is_some_and(|s| (5..=6).contains(&s)), "{left:?}");
        // Three calls suffice; with nothing left to run the estimate is its floor of 1 s.
        let three = [call(0, 0.0, 4.0), call(0, 0.0, 5.0), call(0, 0.0, 6.0)];
        assert_eq!(layout_eta_seconds(3, whole(3), &three, at(7.0)), Some(1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// When every call takes the same time, the estimate is the time left of the run the
        /// layout makes, whatever share of the quota the run has, to within the spread the fit
        /// cannot rule out (2 % a call) and a second.
        #[test]
        fn with_equal_latencies_the_layout_estimate_follows_the_layout(
            actions in 1u32..=64,
            at_once in 1usize..=8,
            latency in 2.0..60.0f64,
            moment in 0.0..1.0f64,
        ) {
            let sizes: Vec<usize> = batch_sizes(actions as usize).collect();
            let mut rng = StdRng::seed_from_u64(0);
            let calls = simulated_run(&sizes, at_once, &fixed(latency), &mut rng);
            let end = (calls[calls.len() - 1].finished_at - at(0.0)).num_milliseconds() as f64;
            let now = at(moment * end / 1000.0);
            let finished: Vec<CallTiming> =
                calls.iter().filter(|c| c.finished_at <= now).cloned().collect();
            prop_assume!(finished.len() >= MIN_FINISHED_CALLS);
            let left = (calls[calls.len() - 1].finished_at - now).num_milliseconds() as f64 / 1000.0;
            let estimate = layout_eta_seconds(actions, at_once, &finished, now);
            let bound = 0.1 * (left + latency) + 1.0;
            prop_assert!(
                estimate.is_some_and(|s| (s as f64 - left.max(1.0)).abs() <= bound),
                "{estimate:?} for {left} s left"
            );
        }
    }
}
