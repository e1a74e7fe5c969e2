//! `sfn-local exec`: runs a definition once and prints `{"status", "output", "error", "cause"}`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use asl_interpreter::{
    Clock, Definition, Executor, HttpInvoker, LambdaInvoker, RealClock, VirtualClock,
};
use clap::{Parser, Subcommand, ValueEnum};
use sfn_local::run;
use shared::store_traffic::RequestCounter;

#[derive(Parser)]
#[command(
    name = "sfn-local",
    about = "Runs Amazon States Language definitions locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one execution and print its result as JSON.
    Exec(ExecArgs),
    /// Run a whole goal through the product's state machine with its own handlers, in process.
    Run(RunArgs),
    /// Measure transitions and cost per run, simulated makespan and the executor's speed.
    Bench(BenchArgs),
    /// Serve the HTTP API (same handlers as the Lambdas), the executor and a status page on
    /// 127.0.0.1, over the embedded store seeded with example goals.
    Serve(ServeArgs),
    /// Print a development token for `serve`'s API.
    Token(TokenArgs),
    /// Start `serve` on a free port and load it: users start goals of 64 actions at once over
    /// HTTP and poll their status until every run ends; prints latencies, throughput and memory.
    Load(LoadArgs),
}

#[derive(clap::Args)]
struct LoadArgs {
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=500))]
    users: u16,
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=100))]
    goals_per_user: u16,
    /// Median simulated latency of one AI call, in seconds (real time).
    #[arg(long, default_value_t = 2.0, value_parser = latency_seconds)]
    ai_latency: f64,
    /// Seconds between one user's reads of a run's status.
    #[arg(long, default_value_t = 1.0, value_parser = latency_seconds)]
    poll: f64,
    /// Keep the records in DynamoDB at this local AWS-API endpoint (e.g. moto).
    #[arg(long)]
    aws_endpoint: Option<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Users to seed example goals for.
    #[arg(long = "user", default_value = "demo-user")]
    users: Vec<String>,
    /// Median simulated latency of one AI call, in seconds (real time), at most 900.
    #[arg(long, default_value_t = 1.0, value_parser = latency_seconds)]
    ai_latency: f64,
    /// Where the development signing key is kept (created on first use).
    #[arg(long, default_value = DEV_KEY_FILE)]
    key_file: PathBuf,
    /// Use DynamoDB at this local AWS-API endpoint (e.g. moto) instead of the in-memory store.
    #[arg(long)]
    aws_endpoint: Option<String>,
    /// Also seed this many goals of 64 actions per user (`USER-load-N`), for load runs.
    #[arg(long, default_value_t = 0)]
    load_goals: usize,
    /// Where the Step Functions API's executions invoke Lambda functions (a Lambda Invoke API
    /// endpoint); without one their Lambda tasks fail as an unreachable service does.
    #[arg(long)]
    lambda_endpoint: Option<String>,
    /// A MockConfigFile of mocked service integrations for the Step Functions API's executions
    /// started on `STATE_MACHINE_ARN#TestCase` (default: the file SFN_MOCK_CONFIG names).
    #[arg(long)]
    mock_config: Option<PathBuf>,
    /// The clock of the Step Functions API's executions: `virtual` runs each on a clock of its
    /// own, where waits and retry intervals take no time.
    #[arg(long, value_enum, default_value_t = ClockKind::Real)]
    api_clock: ClockKind,
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The user (`sub` claim) the token is for.
    #[arg(long)]
    user: String,
    /// Minutes the token is valid.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
    #[arg(long, default_value = DEV_KEY_FILE)]
    key_file: PathBuf,
}

const DEV_KEY_FILE: &str = ".sfn-local/dev-key";

#[derive(clap::Args)]
struct BenchArgs {
    /// Runs per latency setting in the makespan study.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Repetitions of each timed execution.
    #[arg(long, default_value_t = 20)]
    repeats: usize,
    /// Also time every `*.json` Lambda-free definition in this folder.
    #[arg(long)]
    definitions: Option<PathBuf>,
    /// Another interpreter's figures for the same definitions (JSON from
    /// scripts/bench_moto_sfn.py), to compare wall times and outputs.
    #[arg(long, requires = "definitions")]
    peer: Option<PathBuf>,
    /// Also load `serve` over HTTP as `sfn-local load` does with its defaults (about 20 s).
    #[arg(long)]
    load: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct RunArgs {
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
    /// Keep the records in DynamoDB at this AWS-API endpoint (e.g. a moto server) instead of in
    /// memory; tables as `scripts/seed_moto.py` creates them (or named by GOALS_TABLE, ...). Runs
    /// on the real clock. Needs the binary built with `--features aws`.
    #[arg(long)]
    aws_endpoint: Option<String>,
}

/// How long `--aws-endpoint`'s table check waits for the endpoint before calling it unreachable.
#[cfg(feature = "aws")]
const TABLE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn aws_store(endpoint: &str) -> Result<Arc<dyn shared::ports::Store>, String> {
    Ok(aws_stores(endpoint)?.counted)
}

/// Two stores over the same tables: one whose requests are counted, one for whoever watches.
struct AwsStores {
    counted: Arc<dyn shared::ports::Store>,
    uncounted: Arc<dyn shared::ports::Store>,
    requests: RequestCounter,
}

#[cfg(feature = "aws")]
fn aws_stores(endpoint: &str) -> Result<AwsStores, String> {
    use shared::aws::{DynamoStore, TableNames};
    let named = TableNames::from_env().ok();
    let from_env = named.is_some();
    let tables = named.unwrap_or_else(|| TableNames {
        goals: "GoalsTable".into(),
        actions: "ActionsTable".into(),
        tasks: "TasksTable".into(),
        executions: "WorkflowExecutionsTable".into(),
    });
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ))
        .endpoint_url(endpoint);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        // A local AWS-API server accepts any credentials.
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "sfn-local",
        ));
    }
    let config = runtime.block_on(loader.load());
    let uncounted = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables.clone());
    runtime
        .block_on(uncounted.check_tables(TABLE_CHECK_TIMEOUT))
        .map_err(|e| tables_message(&e, endpoint, from_env))?;
    let requests = RequestCounter::default();
    let counted_config = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(requests.clone())
        .build();
    Ok(AwsStores {
        counted: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(counted_config),
            tables,
        )),
        uncounted: Arc::new(uncounted),
        requests,
    })
}

/// What `--aws-endpoint` says when its tables cannot be used: which table, where, and how to
/// create it.
#[cfg(feature = "aws")]
fn tables_message(e: &shared::aws::TablesError, endpoint: &str, from_env: bool) -> String {
    use shared::aws::TablesError;
    match e {
        TablesError::Unreachable(cause) => {
            format!("cannot reach the AWS endpoint {endpoint}: {cause}")
        }
        TablesError::Missing { table, variable } => {
            let (missing, seed) = if from_env {
                (
                    format!("table {table}, named by {variable}, does not exist at {endpoint}."),
                    "unset GOALS_TABLE, ACTIONS_TABLE, TASKS_TABLE and EXECUTIONS_TABLE and \
                     create the tables under their template names",
                )
            } else {
                (
                    format!(
                        "table {table} does not exist at {endpoint} (the default name; {variable} \
                         names it instead once GOALS_TABLE, ACTIONS_TABLE, TASKS_TABLE and \
                         EXECUTIONS_TABLE are all set)."
                    ),
                    "create the tables",
                )
            };
            format!(
                "{missing} Either deploy the stack to a local moto server with `python3 \
                 scripts/deploy-local.py --serve dev`, which keeps the server running and prints \
                 its endpoint and the table names, then pass that endpoint to --aws-endpoint and \
                 set GOALS_TABLE, ACTIONS_TABLE, TASKS_TABLE and EXECUTIONS_TABLE to those names; \
                 or {seed} from template.yaml at this endpoint with `python3 scripts/seed_moto.py \
                 {endpoint}`."
            )
        }
        TablesError::Other { .. } => format!("AWS endpoint {endpoint}: {e}"),
    }
}

#[cfg(not(feature = "aws"))]
fn aws_stores(_endpoint: &str) -> Result<AwsStores, String> {
    Err("this sfn-local was built without AWS support: build it with `--features aws`".into())
}

#[derive(clap::Args)]
struct ExecArgs {
    #[arg(long)]
    definition: PathBuf,
    #[arg(long)]
    input: Option<PathBuf>,
    /// Base URL of a Lambda Invoke API endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9001")]
    lambda_endpoint: String,
    #[arg(long, value_enum, default_value_t = ClockKind::Virtual)]
    clock: ClockKind,
    /// `${KEY}` definition substitutions, as KEY=VALUE.
    #[arg(long = "substitution", value_parser = parse_substitution)]
    substitutions: Vec<(String, String)>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClockKind {
    Virtual,
    Real,
}

/// A finite number within `range`, for the command line's numeric options.
fn bounded(s: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64, String> {
    let n: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if n.is_finite() && range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{s} is out of range: expected {} to {}",
            range.start(),
            range.end()
        ))
    }
}

/// A Lambda function runs for at most 900 seconds.
fn latency_seconds(s: &str) -> Result<f64, String> {
    bounded(s, 0.0..=900.0)
}

fn latency_sigma(s: &str) -> Result<f64, String> {
    bounded(s, 0.0..=3.0)
}

fn parse_substitution(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{s}'"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Exec(args) => match exec(args) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("sfn-local: {message}");
                ExitCode::from(2)
            }
        },
        Command::Serve(args) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("sfn-local: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Token(args) => {
            let token = sfn_local::serve::DevKey::load_or_create(&args.key_file)
                .map_err(|e| format!("{}: {e}", args.key_file.display()))
                .and_then(|key| {
                    key.mint(&args.user, args.minutes)
                        .map_err(|e| e.to_string())
                });
            match token {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("sfn-local: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Load(args) => match load(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("sfn-local: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(args) => match bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("sfn-local: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => match run_goal(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("sfn-local: {message}");
                ExitCode::from(2)
            }
        },
    }
}

fn exec(args: ExecArgs) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(&args.definition)
        .map_err(|e| format!("cannot read definition {}: {e}", args.definition.display()))?;
    let substitutions: HashMap<String, String> = args.substitutions.into_iter().collect();
    let definition = Definition::parse_with(&text, &substitutions)
        .map_err(|e| format!("unusable definition: {e}"))?;
    let input = match &args.input {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read input {}: {e}", path.display()))?;
            if text.trim().is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_str(&text)
                    .map_err(|e| format!("input {} is not JSON: {e}", path.display()))?
            }
        }
        None => serde_json::json!({}),
    };
    let clock: Arc<dyn Clock> = match args.clock {
        ClockKind::Virtual => Arc::new(VirtualClock::default()),
        ClockKind::Real => Arc::new(RealClock),
    };
    let invoker: Arc<dyn LambdaInvoker> = Arc::new(HttpInvoker::new(args.lambda_endpoint));
    let executor = Executor::new(definition, invoker, clock);
    let result = executor
        .execute_blocking(input)
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    Ok(result.summary())
}

fn run_goal(args: RunArgs) -> Result<(), String> {
    // Network I/O would let a virtual clock jump ahead, so a remote store runs on the real one.
    let clock: Arc<dyn Clock> = match (args.clock, &args.aws_endpoint) {
        (ClockKind::Virtual, None) => Arc::new(VirtualClock::default()),
        _ => Arc::new(RealClock),
    };
    let stores = match &args.aws_endpoint {
        Some(endpoint) => Some(aws_stores(endpoint)?),
        None => None,
    };
    let (store, watched): (Arc<dyn shared::ports::Store>, _) = match &stores {
        Some(s) => (s.counted.clone(), s.uncounted.clone()),
        None => {
            let store = Arc::new(shared::memory::InMemoryStore::new());
            (store.clone(), store)
        }
    };
    let latency = run::lognormal_latency(args.ai_latency, args.ai_latency_sigma, args.seed);
    let stack = run::LocalStack::with_store(
        store,
        Arc::new(shared::offline::OfflineGenerator::new()),
        clock.clone(),
        Some(latency),
        Arc::new(shared::metrics::NoMetrics),
    )
    .map_err(|e| format!("unusable definition: {e}"))?;
    let runtime = asl_interpreter::clock::runtime(clock.as_ref())
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let wall = std::time::Instant::now();
    let report = runtime.block_on(async {
        let goal = run::ExampleGoal {
            actions: args.actions as usize,
            failing: args.fail as usize,
            flaky: args.flaky as usize,
            flaky_failures: 1,
        };
        let arn = stack.start_example(&goal, clock.now()).await?;
        // The workflow's own requests: neither the seeding nor the start.
        let requests = stores.as_ref().map(|s| &s.requests);
        requests.map(RequestCounter::take);
        let bar = indicatif::ProgressBar::new(goal.actions as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:40}] {pos}/{len} actions {msg}",
            )
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
        );
        let watch = async {
            loop {
                if let Ok(Some(r)) = watched.get_execution(&arn).await {
                    bar.set_position(u64::from(r.processed_actions));
                    bar.set_message(format!("{}%", r.progress_percent));
                }
                clock.sleep(std::time::Duration::from_secs(1)).await;
            }
        };
        let result = tokio::select! {
            result = stack.run(&arn) => result?,
            () = watch => unreachable!("the progress watch never ends"),
        };
        let requests = requests.map(RequestCounter::take);
        bar.finish_and_clear();
        Ok::<_, String>((stack.report(&arn, &result).await, requests))
    })?;
    let (report, requests) = report;
    if args.json {
        let mut figures = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        if let Some(requests) = &requests {
            figures["dynamodbRequests"] = serde_json::json!({
                "reads": requests.reads(),
                "writes": requests.writes(),
                "byOperation": requests.0,
            });
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
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
        if clock.is_virtual() {
            "virtual"
        } else {
            "real"
        }
    );
    println!("  estimated AWS cost  ${:.5} (state transitions and Lambda requests; model tokens not included)", report.estimated_cost_usd);
    println!("  alerts published    {}", report.alerts);
    if let Some(requests) = requests {
        println!("  dynamodb requests   {requests}");
    }
    println!(
        "  wall time           {:.3} s",
        wall.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The makespan table (each setting's shipped and earlier layouts side by side) and the status
/// view's accuracy, as BENCHMARKS.md shows them.
fn print_makespans(makespans: &[sfn_local::bench::MakespanFigures], runs: usize) {
    use sfn_local::bench::{Layout, TARGET_SECONDS};
    println!("\n## Simulated makespan, 64 actions, {runs} runs each\n");
    println!(
        "| L50 | σ | {} (mean / p95) | {} (mean / p95) | 24 free slots (mean) | shipped over the bound | lower bound | 5-minute target (p95) |",
        Layout::Shipped.describe(),
        Layout::BatchWaves.describe()
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|");
    let pairs = makespans.chunks(2).filter_map(|pair| match pair {
        [shipped, earlier] => Some((shipped, earlier)),
        _ => None,
    });
    for (m, earlier) in pairs.clone() {
        println!(
            "| {:.0} s | {} | {:.1} / {:.1} s | {:.1} / {:.1} s | {:.1} s | {:+.1} % | {:.1} s | {} |",
            m.median_latency_seconds,
            m.sigma,
            m.mean_seconds,
            m.p95_seconds,
            earlier.mean_seconds,
            earlier.p95_seconds,
            m.no_barrier_mean_seconds,
            100.0 * (m.mean_seconds / m.no_barrier_mean_seconds - 1.0),
            m.lower_bound_seconds,
            if m.p95_seconds <= TARGET_SECONDS { "met" } else { "missed" }
        );
    }
    println!("\n## The status view's ETA, mean absolute error against the time actually left\n");
    println!(
        "| L50 | σ | at 25 % | at 50 % | at 75 % | mean | longest lag of the processed count |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (m, _) in pairs {
        let errors = &m.eta_mean_abs_error;
        let cells: Vec<String> = errors
            .iter()
            .map(|e| format!("{:.1} %", 100.0 * e))
            .collect();
        println!(
            "| {:.0} s | {} | {} | {:.1} % | {:.1} s |",
            m.median_latency_seconds,
            m.sigma,
            cells.join(" | "),
            100.0 * errors.iter().sum::<f64>() / errors.len().max(1) as f64,
            m.status_lag_max_seconds
        );
    }
}

fn bench(args: BenchArgs) -> Result<(), String> {
    use sfn_local::bench;
    let transitions = bench::transitions()?;
    let mut makespans = Vec::new();
    for median in [5.0, 10.0, 20.0] {
        for sigma in [0.3, 0.6] {
            for layout in [bench::Layout::Shipped, bench::Layout::BatchWaves] {
                makespans.push(bench::makespan(layout, median, sigma, args.runs)?);
            }
        }
    }
    let speed = bench::speed(args.repeats)?;
    let load = match args.load {
        true => Some(sfn_local::load::load(&sfn_local::load::LoadPlan::default())?),
        false => None,
    };
    let definitions = match &args.definitions {
        Some(dir) => bench::definitions(dir, args.repeats)?,
        None => Vec::new(),
    };
    if args.json {
        let figures = serde_json::json!({
            "transitions": transitions,
            "makespan": makespans,
            "speed": speed,
            "load": load,
            "definitions": definitions,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!("## State transitions of a 64-action run\n");
    println!("| Run | Status | Failed actions | Transitions | Cost per run | Per 1,000 runs |");
    println!("|---|---|---:|---:|---:|---:|");
    for t in &transitions {
        println!(
            "| {} | {} | {} | {} | ${:.5} | ${:.3} |",
            t.scenario,
            t.status,
            t.actions_failed,
            t.state_transitions,
            t.cost_per_run_usd,
            t.cost_per_1000_runs_usd
        );
    }
    print_makespans(&makespans, args.runs);
    if let Some(load) = &load {
        println!("\n## Load: sfn-local serve on the real clock\n");
        print_load(load);
    }
    println!("\n## Executor speed\n");
    println!(
        "- 64-action run on the virtual clock: median {:.4} s, best {:.4} s of {} runs",
        speed.run_wall_median_seconds, speed.run_wall_min_seconds, args.repeats
    );
    println!(
        "- Map-heavy definition: {} transitions in {:.3} s, {:.0} transitions/s",
        speed.map_heavy_transitions, speed.map_heavy_wall_seconds, speed.transitions_per_second
    );
    if definitions.is_empty() {
        return Ok(());
    }
    let peers: Vec<bench::PeerFigures> = match &args.peer {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    println!(
        "\n## Lambda-free definitions, mean of {} executions\n",
        args.repeats
    );
    println!("| Definition | Transitions | sfn-local | Peer | Peer / sfn-local | Same output |");
    println!("|---|---:|---:|---:|---:|---|");
    for d in &definitions {
        let peer = peers.iter().find(|p| p.name == d.name);
        let (peer_wall, ratio, same) = match peer {
            Some(p) => (
                format!("{:.2} ms ({})", p.mean_wall_seconds * 1e3, p.status),
                format!(
                    "{:.0}×",
                    p.mean_wall_seconds / d.mean_wall_seconds.max(f64::EPSILON)
                ),
                if p.output.as_ref() == Some(&d.output) {
                    "yes"
                } else {
                    "no"
                },
            ),
            None => ("-".into(), "-".into(), "-"),
        };
        println!(
            "| {} | {} | {:.3} ms | {peer_wall} | {ratio} | {same} |",
            d.name,
            d.transitions,
            d.mean_wall_seconds * 1e3
        );
    }
    Ok(())
}

/// The load figures as BENCHMARKS.md's table shows them.
fn print_load(f: &sfn_local::load::LoadFigures) {
    println!("| runs | exact counts | 5xx | start p50 / p99 | status p50 / p99 | status reads | reads a second | wall | serve peak memory |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} × {} actions, {} users | {} | {} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {} | {:.0} | {:.1} s | {:.0} MiB |",
        f.runs,
        f.actions_per_run,
        f.users,
        f.runs_exact,
        f.server_errors,
        f.start_p50_ms,
        f.start_p99_ms,
        f.status_p50_ms,
        f.status_p99_ms,
        f.status_reads,
        f.status_reads_per_second,
        f.wall_seconds,
        f.serve_peak_mib
    );
}

fn load(args: LoadArgs) -> Result<(), String> {
    let plan = sfn_local::load::LoadPlan {
        users: usize::from(args.users),
        goals_per_user: usize::from(args.goals_per_user),
        ai_latency: args.ai_latency,
        aws_endpoint: args.aws_endpoint,
        poll: std::time::Duration::from_secs_f64(args.poll),
    };
    let f = sfn_local::load::load(&plan)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&f).map_err(|e| e.to_string())?
        );
    } else {
        print_load(&f);
    }
    if f.runs_exact == f.runs && f.server_errors == 0 {
        Ok(())
    } else {
        Err("some runs ended with wrong counts or the server failed requests".into())
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    use sfn_local::serve;
    use std::io::Write;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let key = serve::DevKey::load_or_create(&args.key_file)
        .map_err(|e| format!("{}: {e}", args.key_file.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    let store: Arc<dyn shared::ports::Store> = match &args.aws_endpoint {
        Some(endpoint) => aws_store(endpoint)?,
        None => Arc::new(shared::memory::InMemoryStore::new()),
    };
    let latency = run::lognormal_latency(args.ai_latency, 0.3, 1);
    let stack = run::LocalStack::with_store(
        store,
        Arc::new(shared::offline::OfflineGenerator::new()),
        clock,
        Some(latency),
        Arc::new(shared::metrics::NoMetrics),
    )
    .map_err(|e| format!("unusable definition: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let mut goals = Vec::new();
        for user in &args.users {
            goals.extend(serve::seed_goals(stack.store.as_ref(), user, args.load_goals).await?);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        println!("sfn-local serve: listening on http://{address}");
        for goal in &goals {
            println!("  goal {} ({})", goal.goal_id, goal.label);
        }
        println!(
            "  token: sfn-local token --user {}",
            args.users.join(" | --user ")
        );
        let _ = std::io::stdout().flush();
        let api = Arc::new(sfn_local::sfn_api::Api::new(sfn_local::sfn_api::Options {
            lambda_endpoint: args.lambda_endpoint.clone(),
            mock_config: args.mock_config.clone(),
            virtual_clock: matches!(args.api_clock, ClockKind::Virtual),
            account: None,
        })?);
        let routes = api.attach(serve::router(Arc::new(stack), key, goals, address));
        axum::serve(listener, routes)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| e.to_string())
    })
}
