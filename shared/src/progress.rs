//! Progress and remaining-time estimates, used when progress is written and when it is read.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::batching::{actions_at_once, batch_sizes};
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
/// [`batch_sizes`] each run [`actions_at_once`] calls at a time, and the run ends with its last
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
    let at_once = actions_at_once(sizes.len());
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
        let censored: Vec<f64> = running_for
            .iter()
            .filter(|&&a| a > 1e-3)
            .map(|a| a.ln())
            .collect();
        let centre = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
        let likelihood = |mu: f64, sigma: f64| {
            let z = Normal::standard();
            let done: f64 = logs
                .iter()
                .map(|x| -sigma.ln() - ((x - mu) / sigma).powi(2) / 2.0)
                .sum();
            let running: f64 = censored
                .iter()
                .map(|a| z.sf((a - mu) / sigma).max(f64::MIN_POSITIVE).ln())
                .sum();
            done + running
        };
        let best = |mus: Vec<f64>, sigmas: Vec<f64>| {
            let mut best = (
                f64::NEG_INFINITY,
                Self {
                    mu: centre,
                    sigma: 0.5,
                },
            );
            for &sigma in &sigmas {
                for &mu in &mus {
                    let l = likelihood(mu, sigma);
                    if l > best.0 {
                        best = (l, Self { mu, sigma });
                    }
                }
            }
            best.1
        };
        let steps = |from: f64, step: f64, n: usize| (0..=n).map(move |i| from + step * i as f64);
        let coarse = best(
            steps(centre - 1.0, 0.1, 35).collect(),
            steps(0.1, 0.1, 14).collect(),
        );
        best(
            steps(coarse.mu - 0.1, 0.02, 10).collect(),
            steps(coarse.sigma - 0.1, 0.02, 10)
                .filter(|s| *s > 0.0)
                .collect(),
        )
    }

    /// Seconds left of a call that has run for `age` seconds (0 for one not started), at most
    /// until its state's timeout.
    fn draw_left(&self, age: f64, rng: &mut StdRng) -> f64 {
        let z = Normal::standard();
        let past = if age > 0.0 {
            z.sf((age.ln() - self.mu) / self.sigma)
        } else {
            1.0
        };
        // Uniform over the latencies longer than `age`: a quantile above its own.
        let tail = (past * (1.0 - rng.random::<f64>())).clamp(f64::MIN_POSITIVE, 1.0);
        let latency = (self.mu - self.sigma * z.inverse_cdf(tail)).exp();
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
    use super::*;

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
        assert_eq!(layout_eta_seconds(64, &calls, at(12.0)), None);
    }

    #[test]
    fn actions_counted_with_their_batch_end_it_without_timing_the_model() {
        let untimed = |batch, t| CallTiming::untimed(batch, at(t));
        let few = [call(0, 0.0, 10.0), call(1, 0.0, 11.0), untimed(0, 12.0)];
        assert_eq!(layout_eta_seconds(16, &few, at(12.0)), None);
        // Batch 0 ended with 3 failures; batch 1 has 1 call left, started at 0.
        let mut calls: Vec<CallTiming> = (0..5).map(|i| call(0, 0.0, 4.0 + f64::from(i))).collect();
        calls.extend((0..7).map(|i| call(1, 0.0, 5.0 + f64::from(i))));
        let without_failures = layout_eta_seconds(16, &calls, at(14.0));
        calls.extend((0..3).map(|_| untimed(0, 13.0)));
        let with_failures = layout_eta_seconds(16, &calls, at(14.0));
        assert!(
            with_failures < without_failures,
            "{with_failures:?} {without_failures:?}"
        );
    }

    #[test]
    fn the_layout_estimate_is_the_same_for_the_same_record() {
        let calls: Vec<CallTiming> = (0..8).map(|b| call(b, 0.0, 8.0 + f64::from(b))).collect();
        let first = layout_eta_seconds(64, &calls, at(16.0));
        assert!(first.is_some_and(|s| s >= 1));
        assert_eq!(layout_eta_seconds(64, &calls, at(16.0)), first);
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
                let layout = layout_eta_seconds(64, &calls[..done], now).unwrap_or_default() as f64;
                pace_error += (pace - left).abs() / left;
                layout_error += (layout - left).abs() / left;
            }
        }
        assert!(
            layout_error < pace_error * 0.8,
            "layout {layout_error:.1}, pace {pace_error:.1} (sums over 120 readings)"
        );
    }
}
