//! `sfn-local serve`: the product's HTTP API, the executor and the status page on 127.0.0.1.

use std::path::PathBuf;
use std::sync::Arc;

use asl_interpreter::{RealClock, ScaledClock};
use sfn_local::in_process::ProductFunctions;
use sfn_local::{latency, serve, sfn_api, stack};

use super::stores::{aws_store, step_functions};
use super::{latency_seconds, scaled_waits, wait_time_scale, ClockKind, DEV_KEY_FILE};

/// The role the product's state machine is created with (the API does not assume it).
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/StartActivityStateMachineRole";

#[derive(clap::Args)]
pub struct Args {
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
    /// Scales the waits (Wait states, retry intervals) of the Step Functions API's executions on
    /// the real clock: 0 does not wait, 0.5 waits half as long (default: WAIT_TIME_SCALE, else 1).
    #[arg(long, value_parser = wait_time_scale)]
    wait_time_scale: Option<ScaledClock>,
}

pub fn main(args: Args) -> Result<(), String> {
    use std::io::Write;
    if args.aws_endpoint.is_some() && matches!(args.api_clock, ClockKind::Virtual) {
        use clap::CommandFactory;
        crate::Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--api-clock virtual cannot run with --aws-endpoint: the product's executions \
                 then run on this server's API, and its handlers and store keep real time",
            )
            .exit();
    }
    let wait_time_scale = scaled_waits(args.wait_time_scale)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let key = serve::DevKey::load_or_create(&args.key_file)
        .map_err(|e| format!("{}: {e}", args.key_file.display()))?;
    let store: Arc<dyn shared::ports::Store> = match &args.aws_endpoint {
        Some(endpoint) => aws_store(endpoint)?,
        None => Arc::new(shared::memory::InMemoryStore::new()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let api = sfn_api::Api::new(sfn_api::Options {
            lambda_endpoint: args.lambda_endpoint.clone(),
            mock_config: args.mock_config.clone(),
            virtual_clock: matches!(args.api_clock, ClockKind::Virtual),
            wait_time_scale,
            account: None,
        })?;
        let (stack, api) = match &args.aws_endpoint {
            Some(_) => over_own_api(store, api, address, args.ai_latency).await?,
            None => {
                let stack = stack::LocalStack::with_store(
                    store,
                    Arc::new(shared::offline::OfflineGenerator::new()),
                    Arc::new(RealClock),
                    Some(latency::lognormal_latency(args.ai_latency, 0.3, 1)),
                    Arc::new(shared::metrics::NoMetrics),
                )
                .map_err(|e| format!("unusable definition: {e}"))?;
                (Arc::new(stack), api)
            }
        };
        let mut goals = Vec::new();
        for user in &args.users {
            goals.extend(serve::seed_goals(stack.store.as_ref(), user, args.load_goals).await?);
        }
        println!("sfn-local serve: listening on http://{address}");
        for goal in &goals {
            println!("  goal {} ({})", goal.goal_id, goal.label);
        }
        println!(
            "  token: sfn-local token --user {}",
            args.users.join(" | --user ")
        );
        let _ = std::io::stdout().flush();
        let routes = Arc::new(api).attach(serve::router(stack, key, goals, address));
        axum::serve(listener, routes)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| e.to_string())
    })
}

/// The product as in AWS, on this server's own Step Functions API: the product's state machine
/// created there (CreateStateMachine), the handlers' Step Functions adapter calling it over HTTP
/// at `address`, its executions' Lambda tasks calling the handlers in process, and their status
/// changes going to the finaliser as the EventBridge rule sends them.
async fn over_own_api(
    store: Arc<dyn shared::ports::Store>,
    api: sfn_api::Api,
    address: std::net::SocketAddr,
    ai_latency: f64,
) -> Result<(Arc<stack::LocalStack>, sfn_api::Api), String> {
    let created = api
        .operate(
            "CreateStateMachine",
            serde_json::json!({
                "name": stack::STATE_MACHINE_NAME,
                "definition": stack::local_definition_text(),
                "roleArn": ROLE_ARN,
            }),
        )
        .await
        .map_err(|e| format!("cannot create the state machine: {e}"))?;
    let arn = created["stateMachineArn"]
        .as_str()
        .ok_or("CreateStateMachine answered no stateMachineArn")?;
    let control = step_functions(&format!("http://{address}"), arn)?;
    let stack = stack::LocalStack::with_control(
        store,
        Arc::new(shared::offline::OfflineGenerator::new()),
        Arc::new(RealClock),
        Some(latency::lognormal_latency(ai_latency, 0.3, 1)),
        Arc::new(shared::metrics::NoMetrics),
        control,
        arn,
    )
    .map_err(|e| format!("unusable definition: {e}"))?;
    let stack = Arc::new(stack);
    let product = stack.lambda();
    let api = api
        .with_lambda(|others| Arc::new(ProductFunctions { product, others }))
        .with_status_listener(stack.clone());
    Ok((stack, api))
}
