//! Figures for BENCHMARKS.md, measured on the executor: state transitions and billed cost of a
//! run, simulated makespan under lognormal AI latency, and the executor's own speed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::example::{ExampleGoal, EXAMPLE_USER_ID};
use crate::latency::lognormal_latency;
use crate::stack::{
    local_definition_from, LocalStack, RunReport, DEFINITION, PRICE_PER_TRANSITION,
};
use asl_interpreter::clock::{runtime, Clock, VirtualClock};
use asl_interpreter::definition::Definition;
use asl_interpreter::executor::ExecutionResult;
use asl_interpreter::invoker::HttpInvoker;
use asl_interpreter::{EventDetails, Executor};

/// Concurrent AI calls the definition allows: 8 batches of 3 actions at a time.
pub const CONCURRENT_CALLS: usize = 24;
/// The makespan target for a 64-action run.
pub const TARGET_SECONDS: f64 = 300.0;
/// The points of a run at which the bench compares the status view's ETA with the time left.
pub const ETA_CHECKPOINTS: [f64; 3] = [0.25, 0.5, 0.75];

/// How the workflow's two nested Maps share the 24 model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Layout {
    /// The shipped definition: every batch at once, the 24 model calls shared among them (3 of
    /// each batch's actions at a time for 8 batches).
    Shipped,
    /// The earlier layout: 3 batches at a time, all 8 of a batch's actions at once, so each
    /// batch waits for its slowest call before the next batch starts.
    BatchWaves,
}

impl Layout {
    pub fn describe(self) -> &'static str {
        match self {
            Layout::Shipped => "every batch at once, 3 actions of each at a time",
            Layout::BatchWaves => "3 batches at a time, 8 actions of each at once",
        }
    }

    fn definition(self) -> Result<Definition, String> {
        let text = match self {
            Layout::Shipped => DEFINITION.to_owned(),
            Layout::BatchWaves => {
                let mut machine: Value =
                    serde_json::from_str(DEFINITION).map_err(|e| e.to_string())?;
                let batches = &mut machine["States"]["ProcessBatches"];
                batches["MaxConcurrency"] = json!(3);
                let actions = &mut batches["ItemProcessor"]["States"]["ProcessActions"];
                if let Some(actions) = actions.as_object_mut() {
                    actions.remove("MaxConcurrencyPath");
                }
                actions["MaxConcurrency"] = json!(8);
                machine.to_string()
            }
        };
        local_definition_from(&text).map_err(|e| e.to_string())
    }
}

/// One run of the example goal on the virtual clock.
pub fn run_example(
    goal: ExampleGoal,
    latency: Option<(f64, f64, u64)>,
) -> Result<RunReport, String> {
    Ok(measure_run(Layout::Shipped, goal, latency)?.report)
}

/// A run, and what its status view showed along the way.
pub struct MeasuredRun {
    pub report: RunReport,
    /// |ETA − time actually left| / time left, at each of [`ETA_CHECKPOINTS`].
    pub eta_errors: Vec<f64>,
    /// The longest an action's end took to show in the status view's processed count.
    pub status_lag_seconds: f64,
}

/// How often the bench reads the status view, in simulated time.
const STATUS_POLL: Duration = Duration::from_millis(500);

/// One run of `layout` on the virtual clock, its status read through get-status (as the page
/// reads it) every [`STATUS_POLL`].
pub fn measure_run(
    layout: Layout,
    goal: ExampleGoal,
    latency: Option<(f64, f64, u64)>,
) -> Result<MeasuredRun, String> {
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
    let latency = latency.map(|(median, sigma, seed)| lognormal_latency(median, sigma, seed));
    let stack = LocalStack::with_definition(clock.clone(), latency, layout.definition()?)
        .map_err(|e| e.to_string())?;
    let rt = runtime(clock.as_ref()).map_err(|e| e.to_string())?;
    rt.block_on(async {
        let arn = stack.start_example(&goal, clock.now()).await?;
        let mut seen = Vec::new();
        let watch = async {
            loop {
                let status = stack
                    .api(
                        "get-status",
                        EXAMPLE_USER_ID,
                        &[("executionArn", &arn)],
                        None,
                    )
                    .await;
                let body = &status["body"];
                seen.push(StatusSample {
                    at: clock.now(),
                    processed: body["processedActions"].as_u64().unwrap_or(0),
                    eta_seconds: body["estimatedSecondsRemaining"].as_f64(),
                });
                clock.sleep(STATUS_POLL).await;
            }
        };
        let result = tokio::select! {
            result = stack.execute(&arn) => result?,
            () = watch => unreachable!("the status watch never ends"),
        };
        let report = stack.report(&arn, &result).await;
        let finished = action_ends(&result);
        Ok(MeasuredRun {
            eta_errors: eta_errors(&seen, finished.len(), result.stopped_at),
            status_lag_seconds: status_lag(&seen, &finished),
            report,
        })
    })
}

/// What one read of the status view showed.
struct StatusSample {
    at: DateTime<Utc>,
    processed: u64,
    eta_seconds: Option<f64>,
}

/// When each action's model call ended (GenerateTasks or its caught failure), in order.
fn action_ends(result: &ExecutionResult) -> Vec<DateTime<Utc>> {
    let mut ends: Vec<_> = result
        .history
        .iter()
        .filter(|e| match &e.details {
            EventDetails::StateExited(_, d) => {
                matches!(d.name.as_str(), "GenerateTasks" | "RecordActionFailure")
            }
            _ => false,
        })
        .map(|e| e.timestamp)
        .collect();
    ends.sort();
    ends
}

/// At each checkpoint, the first reading that shows that share of the actions done: its ETA
/// against the time the run actually went on for.
fn eta_errors(seen: &[StatusSample], total: usize, end: DateTime<Utc>) -> Vec<f64> {
    ETA_CHECKPOINTS
        .iter()
        .filter_map(|share| {
            let done = (share * total as f64).ceil() as u64;
            let sample = seen.iter().find(|s| s.processed >= done)?;
            let left = seconds_between(sample.at, end);
            let eta = sample.eta_seconds?;
            (left > 0.0).then(|| (eta - left).abs() / left)
        })
        .collect()
}

/// The longest time from an action's end to the first reading whose count includes it.
fn status_lag(seen: &[StatusSample], ends: &[DateTime<Utc>]) -> f64 {
    ends.iter()
        .enumerate()
        .filter_map(|(i, end)| {
            let shown = seen.iter().find(|s| s.processed > i as u64)?;
            Some(seconds_between(*end, shown.at).max(0.0))
        })
        .fold(0.0, f64::max)
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionFigures {
    pub scenario: &'static str,
    pub status: String,
    pub actions_failed: u32,
    pub state_transitions: u64,
    pub cost_per_run_usd: f64,
    pub cost_per_1000_runs_usd: f64,
}

/// State transitions of a 64-action run: all succeed, 10 % retried once, 10 % failing for good.
pub fn transitions() -> Result<Vec<TransitionFigures>, String> {
    let tenth = 64 / 10;
    let flaky = |flaky_failures| ExampleGoal {
        flaky: tenth,
        flaky_failures,
        ..ExampleGoal::all_succeed(64)
    };
    [
        ("all 64 succeed", ExampleGoal::all_succeed(64)),
        ("10 % (6) retried once", flaky(1)),
        ("10 % (6) fail after all 3 retries", flaky(4)),
    ]
    .into_iter()
    .map(|(scenario, goal)| {
        let report = run_example(goal, None)?;
        let cost = report.state_transitions as f64 * PRICE_PER_TRANSITION;
        Ok(TransitionFigures {
            scenario,
            status: report.status,
            actions_failed: report.actions_failed,
            state_transitions: report.state_transitions,
            cost_per_run_usd: cost,
            cost_per_1000_runs_usd: cost * 1000.0,
        })
    })
    .collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MakespanFigures {
    pub layout: Layout,
    pub median_latency_seconds: f64,
    pub sigma: f64,
    pub runs: usize,
    pub mean_seconds: f64,
    pub p95_seconds: f64,
    /// The same draws on 24 free slots with no batch barrier (greedy list scheduling).
    pub no_barrier_mean_seconds: f64,
    /// Expected total AI time spread evenly over 24 slots: no schedule does better on average.
    pub lower_bound_seconds: f64,
    /// 5 × L50 + 5 s: what the batch design should stay within.
    pub goal_seconds: f64,
    /// Mean over the runs of the ETA's relative error at each of [`ETA_CHECKPOINTS`].
    pub eta_mean_abs_error: Vec<f64>,
    /// The longest an action's end took to show in the status view, over all runs.
    pub status_lag_max_seconds: f64,
}

/// Simulated makespan of `runs` 64-action runs of `layout` with AI latency lognormal(median,
/// sigma), and the status view's accuracy along the way.
pub fn makespan(
    layout: Layout,
    median: f64,
    sigma: f64,
    runs: usize,
) -> Result<MakespanFigures, String> {
    let mut spans = Vec::with_capacity(runs);
    let mut no_barrier = Vec::with_capacity(runs);
    let mut errors = vec![Vec::with_capacity(runs); ETA_CHECKPOINTS.len()];
    let mut lag: f64 = 0.0;
    for seed in 1..=runs as u64 {
        let goal = ExampleGoal::all_succeed(64);
        let run = measure_run(layout, goal, Some((median, sigma, seed)))?;
        spans.push(run.report.simulated_makespan_seconds);
        for (at, error) in errors.iter_mut().zip(run.eta_errors) {
            at.push(error);
        }
        lag = lag.max(run.status_lag_seconds);
        let draw = lognormal_latency(median, sigma, seed);
        let calls: Vec<f64> = (0..64)
            .map(|_| draw("generate-tasks").as_secs_f64())
            .collect();
        no_barrier.push(greedy_makespan(&calls, CONCURRENT_CALLS));
    }
    let expected_call = median * (sigma * sigma / 2.0).exp();
    Ok(MakespanFigures {
        layout,
        median_latency_seconds: median,
        sigma,
        runs,
        mean_seconds: mean(&spans),
        p95_seconds: percentile(&mut spans, 0.95),
        no_barrier_mean_seconds: mean(&no_barrier),
        lower_bound_seconds: 64.0 * expected_call / CONCURRENT_CALLS as f64,
        goal_seconds: 5.0 * median + 5.0,
        eta_mean_abs_error: errors.iter().map(|e| mean(e)).collect(),
        status_lag_max_seconds: lag,
    })
}

/// When the last of `calls` ends if each starts on the first free of `slots` slots, in order.
pub fn greedy_makespan(calls: &[f64], slots: usize) -> f64 {
    let mut free_at = vec![0.0_f64; slots.max(1)];
    for call in calls {
        if let Some(slot) = free_at.iter_mut().min_by(|a, b| a.total_cmp(b)) {
            *slot += call;
        }
    }
    free_at.into_iter().fold(0.0, f64::max)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The nearest-rank percentile `p` (0 to 1) of `values`.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len().max(1));
    values.get(rank - 1).copied().unwrap_or(0.0)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeedFigures {
    pub run_wall_median_seconds: f64,
    pub run_wall_min_seconds: f64,
    pub map_heavy_transitions: u64,
    pub map_heavy_wall_seconds: f64,
    pub transitions_per_second: f64,
}

/// Overlapping runs under the shared model quota: `n` users start a 64-action goal at the same
/// moment ([`crate::overlap::run_overlapping`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlapFigures {
    pub runs: usize,
    pub seed: u64,
    pub makespan_seconds: f64,
    pub throttled_invocations: u64,
    pub state_transitions: u64,
    pub actions_succeeded: u32,
    pub actions: u32,
    pub starts_refused: u32,
    /// The longest a user waited for their run to start.
    pub longest_wait_seconds: f64,
}

/// `n` overlapping 64-action runs at lognormal latency (`median`, `sigma`), on the virtual clock.
pub fn overlapping(n: usize, median: f64, sigma: f64, seed: u64) -> Result<OverlapFigures, String> {
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
    let stack = Arc::new(
        LocalStack::new(clock.clone(), Some(lognormal_latency(median, sigma, seed)))
            .map_err(|e| format!("unusable definition: {e}"))?,
    );
    let rt = runtime(clock.as_ref()).map_err(|e| format!("cannot start the runtime: {e}"))?;
    let goal = ExampleGoal::all_succeed(64);
    let runs = rt.block_on(crate::overlap::run_overlapping(
        stack,
        clock.clone(),
        &goal,
        n,
    ))?;
    Ok(OverlapFigures {
        runs: n,
        seed,
        makespan_seconds: runs.makespan_seconds,
        throttled_invocations: runs.throttled_invocations,
        state_transitions: runs.state_transitions,
        actions_succeeded: runs.runs.iter().map(|r| r.actions_succeeded).sum(),
        actions: (n * goal.actions) as u32,
        starts_refused: runs.runs.iter().map(|r| r.starts_refused).sum(),
        longest_wait_seconds: runs
            .runs
            .iter()
            .map(|r| r.waited_seconds)
            .fold(0.0, f64::max),
    })
}

/// Wall time of the 64-action run on the virtual clock, and throughput on a Map-heavy definition.
pub fn speed(repeats: usize) -> Result<SpeedFigures, String> {
    let mut walls = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        run_example(ExampleGoal::all_succeed(64), None)?;
        walls.push(started.elapsed().as_secs_f64());
    }
    let (transitions, wall, _) = execute(&map_heavy_definition(1_000), json!({}))?;
    Ok(SpeedFigures {
        run_wall_median_seconds: percentile(&mut walls, 0.5),
        run_wall_min_seconds: walls.first().copied().unwrap_or(0.0),
        map_heavy_transitions: transitions,
        map_heavy_wall_seconds: wall.as_secs_f64(),
        transitions_per_second: transitions as f64 / wall.as_secs_f64().max(f64::EPSILON),
    })
}

/// A Map over `items` items (at most 1,000: States.ArrayRange's limit), each through Pass, Choice, an intrinsic-heavy Pass and Succeed.
pub fn map_heavy_definition(items: usize) -> Value {
    json!({
        "StartAt": "Items",
        "States": {
            "Items": {"Type": "Pass", "Parameters": {"items.$": format!("States.ArrayRange(1, {items}, 1)")}, "Next": "Each"},
            "Each": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0, "End": true,
                "ItemSelector": {"n.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "Start",
                    "States": {
                        "Start": {"Type": "Pass", "Next": "Even?"},
                        "Even?": {"Type": "Choice", "Choices": [
                            {"Variable": "$.n", "NumericGreaterThan": 1000, "Next": "Label"}
                        ], "Default": "Label"},
                        "Label": {"Type": "Pass", "Parameters": {
                            "id.$": "States.Format('item-{}', $.n)",
                            "hash.$": "States.Hash(States.Format('{}', $.n), 'SHA-256')",
                            "next.$": "States.MathAdd($.n, 1)"
                        }, "Next": "Done"},
                        "Done": {"Type": "Succeed"}
                    }
                }
            }
        }
    })
}

/// Executes a Lambda-free definition once on the virtual clock: its transitions, wall time and
/// output.
pub fn execute(definition: &Value, input: Value) -> Result<(u64, Duration, Value), String> {
    let definition = Definition::parse(&definition.to_string()).map_err(|e| e.to_string())?;
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
    // Lambda-free: the invoker is never called.
    let executor = Executor::new(
        definition,
        Arc::new(HttpInvoker::new("http://127.0.0.1:9")),
        clock,
    );
    let started = Instant::now();
    let result = executor
        .execute_blocking(input)
        .map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    if result.status.as_str() != "SUCCEEDED" {
        return Err(format!(
            "{}: {:?} {:?}",
            result.status.as_str(),
            result.error,
            result.cause
        ));
    }
    Ok((
        result.transitions,
        wall,
        result.output.unwrap_or(Value::Null),
    ))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionFigures {
    pub name: String,
    pub transitions: u64,
    pub mean_wall_seconds: f64,
    pub output: Value,
}

/// What another interpreter measured for the same definition (`scripts/bench_moto_sfn.py`).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerFigures {
    pub name: String,
    pub status: String,
    pub mean_wall_seconds: f64,
    pub output: Option<Value>,
}

/// Mean wall time of each `*.json` definition in `dir` (input `{}`) over `repeats` executions.
pub fn definitions(dir: &Path, repeats: usize) -> Result<Vec<DefinitionFigures>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let definition: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut total = Duration::ZERO;
            let mut last = (0, Value::Null);
            for _ in 0..repeats.max(1) {
                let (t, wall, output) = execute(&definition, json!({}))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                last = (t, output);
                total += wall;
            }
            let (transitions, output) = last;
            Ok(DefinitionFigures {
                name: path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                transitions,
                mean_wall_seconds: total.as_secs_f64() / repeats.max(1) as f64,
                output,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_schedule_fills_the_first_free_slot() {
        assert_eq!(greedy_makespan(&[3.0, 1.0, 1.0, 1.0], 2), 3.0);
        assert_eq!(greedy_makespan(&[1.0; 48], 24), 2.0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut values, 0.95), 95.0);
        assert_eq!(percentile(&mut values, 0.5), 50.0);
    }

    #[test]
    fn the_map_heavy_definition_runs_every_item() {
        let (transitions, _, _) = execute(&map_heavy_definition(10), json!({})).expect("runs");
        // Items + Map + 10 × (Start, Even?, Label, Done).
        assert_eq!(transitions, 2 + 10 * 4);
    }

    #[test]
    fn a_run_that_all_succeeds_stays_within_96_transitions() {
        let figures = transitions().expect("runs");
        assert!(figures[0].state_transitions <= 96, "{figures:?}");
        assert!(figures[1].state_transitions > figures[0].state_transitions);
        assert_eq!(figures[2].actions_failed, 6);
    }
}
