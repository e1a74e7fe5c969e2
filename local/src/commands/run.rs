//! `sfn-local run`: one goal through the product's state machine with its handlers in process,
//! with a progress bar and a summary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asl_interpreter::{Clock, ExecutionResult, RealClock, VirtualClock};
use sfn_local::stack::RunReport;
use sfn_local::{example, latency, overlap, stack};
use shared::ports::Store;
use shared::store_traffic::{RequestCounter, RequestCounts};

use super::stores::aws_stores;
use super::{latency_seconds, latency_sigma, ClockKind};

#[derive(clap::Args)]
pub struct Args {
    /// Actions in the goal (the shipped example has 64: 8 sub-goals of 8).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=64))]
    actions: u32,
    /// Actions whose task generation fails for good (their tasks are never written).
    #[arg(long, default_value_t = 0)]
    fail: u32,
    /// Actions whose first task-generation attempt is throttled (then retried).
    #[arg(long, default_value_t = 0)]
    flaky: u32,
    /// Median simulated latency of one AI call, in seconds (lognormal), at most 900.
    #[arg(long, default_value_t = 5.0, value_parser = latency_seconds)]
    ai_latency: f64,
    /// Spread (sigma) of the lognormal AI latency, 0 to 3; 0 makes every call take the median.
    #[arg(long, default_value_t = 0.3, value_parser = latency_sigma)]
    ai_latency_sigma: f64,
    /// Seed of the simulated latencies.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = ClockKind::Virtual)]
    clock: ClockKind,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Start this many copies of the goal at the same moment, each for its own user, and run
    /// them together: they share the functions' reserved concurrency as in the template.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100), conflicts_with = "aws_endpoint")]
    concurrent_runs: Option<u32>,
    /// Keep the records in DynamoDB at this AWS-API endpoint (e.g. a moto server) instead of in
    /// memory; tables as `scripts/seed_moto.py` creates them (or named by GOALS_TABLE, ...). Runs
    /// on the real clock. Needs the binary built with `--features aws`.
    #[arg(long)]
    aws_endpoint: Option<String>,
}

pub fn main(args: Args) -> Result<(), String> {
    // Network I/O would let a virtual clock jump ahead, so a remote store runs on the real one.
    let clock: Arc<dyn Clock> = match (args.clock, &args.aws_endpoint) {
        (ClockKind::Virtual, None) => Arc::new(VirtualClock::default()),
        _ => Arc::new(RealClock),
    };
    let stores = match &args.aws_endpoint {
        Some(endpoint) => Some(aws_stores(endpoint)?),
        None => None,
    };
    let (store, watched): (Arc<dyn Store>, _) = match &stores {
        Some(s) => (s.counted.clone(), s.uncounted.clone()),
        None => {
            let store = Arc::new(shared::memory::InMemoryStore::new());
            (store.clone(), store)
        }
    };
    let latency = latency::lognormal_latency(args.ai_latency, args.ai_latency_sigma, args.seed);
    if let Some(n) = args.concurrent_runs {
        return run_overlapping(&args, n as usize, clock, latency);
    }
    let stack = stack::LocalStack::with_store(
        store,
        Arc::new(shared::offline::OfflineGenerator::new()),
        clock.clone(),
        Some(latency),
        Arc::new(shared::metrics::NoMetrics),
    )
    .map_err(|e| format!("unusable definition: {e}"))?;
    let runtime = asl_interpreter::clock::runtime(clock.as_ref())
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let goal = example_goal(&args);
    let wall = Instant::now();
    let requests = stores.as_ref().map(|s| &s.requests);
    let report = runtime.block_on(async {
        let arn = stack.start_example(&goal, clock.now()).await?;
        // The workflow's own requests: neither the seeding nor the start.
        requests.map(RequestCounter::take);
        let result =
            with_progress_bar(&stack, &arn, watched.as_ref(), clock.as_ref(), goal.actions).await?;
        let requests = requests.map(RequestCounter::take);
        Ok::<_, String>((stack.report(&arn, &result).await, requests))
    })?;
    let (report, requests) = report;
    if args.json {
        print_json(&report, requests.as_ref())
    } else {
        print_report(
            &report,
            requests.as_ref(),
            clock.is_virtual(),
            wall.elapsed(),
        );
        Ok(())
    }
}

/// The goal `--actions`, `--fail` and `--flaky` describe.
fn example_goal(args: &Args) -> example::ExampleGoal {
    example::ExampleGoal {
        actions: args.actions as usize,
        failing: args.fail as usize,
        flaky: args.flaky as usize,
        flaky_failures: 1,
    }
}

/// `--concurrent-runs`: `n` copies of the goal started at once, in memory.
fn run_overlapping(
    args: &Args,
    n: usize,
    clock: Arc<dyn Clock>,
    latency: latency::Latency,
) -> Result<(), String> {
    let stack = Arc::new(
        stack::LocalStack::new(clock.clone(), Some(latency))
            .map_err(|e| format!("unusable definition: {e}"))?,
    );
    let runtime = asl_interpreter::clock::runtime(clock.as_ref())
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let goal = example_goal(args);
    let wall = Instant::now();
    let runs = runtime.block_on(overlap::run_overlapping(stack, clock.clone(), &goal, n))?;
    if args.json {
        let text = serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())?;
        println!("{text}");
        return Ok(());
    }
    for run in &runs.runs {
        let detail = match &run.run {
            Some(report) => format!(
                "{} ok, {} failed of {} in {:.1} s, started after {:.1} s ({} starts refused)",
                run.actions_succeeded,
                run.actions_failed,
                run.total_actions,
                report.simulated_makespan_seconds,
                run.waited_seconds,
                run.starts_refused
            ),
            None => format!("start answered {}", run.start_status_code),
        };
        println!("{:<16} {:<10} {detail}", run.goal_id, run.status);
    }
    println!(
        "{} of {n} runs started; makespan {:.1} s ({} clock), {} throttled invocations, {} state transitions, wall time {:.3} s",
        runs.started(),
        runs.makespan_seconds,
        if clock.is_virtual() { "virtual" } else { "real" },
        runs.throttled_invocations,
        runs.state_transitions,
        wall.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Executes the run while a progress bar follows its record in `watched`.
async fn with_progress_bar(
    stack: &stack::LocalStack,
    arn: &str,
    watched: &dyn Store,
    clock: &dyn Clock,
    actions: usize,
) -> Result<ExecutionResult, String> {
    let bar = indicatif::ProgressBar::new(actions as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} actions {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let watch = async {
        loop {
            if let Ok(Some(r)) = watched.get_execution(arn).await {
                bar.set_position(u64::from(r.processed_actions));
                bar.set_message(format!("{}%", r.progress_percent));
            }
            clock.sleep(Duration::from_secs(1)).await;
        }
    };
    let result = tokio::select! {
        result = stack.execute(arn) => result,
        () = watch => unreachable!("the progress watch never ends"),
    };
    bar.finish_and_clear();
    result
}

fn print_json(report: &RunReport, requests: Option<&RequestCounts>) -> Result<(), String> {
    let mut figures = serde_json::to_value(report).map_err(|e| e.to_string())?;
    if let Some(requests) = requests {
        figures["dynamodbRequests"] = serde_json::json!({
            "reads": requests.reads(),
            "writes": requests.writes(),
            "byOperation": requests.0,
        });
    }
    let text = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

fn print_report(
    report: &RunReport,
    requests: Option<&RequestCounts>,
    virtual_clock: bool,
    wall: Duration,
) {
    let goal = report
        .goal_status
        .map(|g| format!("{g:?}").to_lowercase())
        .unwrap_or_else(|| "unknown".into());
    println!("Run {}", report.execution_arn);
    println!("  status              {} (goal {goal})", report.status);
    println!(
        "  actions             {} ok, {} failed of {}",
        report.actions_succeeded, report.actions_failed, report.total_actions
    );
    println!("  tasks written       {}", report.tasks_written);
    println!("  state transitions   {}", report.state_transitions);
    println!("  lambda invocations  {}", report.lambda_invocations);
    println!(
        "  simulated makespan  {:.1} s ({} clock)",
        report.simulated_makespan_seconds,
        if virtual_clock { "virtual" } else { "real" }
    );
    println!("  estimated AWS cost  ${:.5} (state transitions and Lambda requests; model tokens not included)", report.estimated_cost_usd);
    println!("  alerts published    {}", report.alerts);
    if let Some(requests) = requests {
        println!("  dynamodb requests   {requests}");
    }
    println!("  wall time           {:.3} s", wall.as_secs_f64());
}
