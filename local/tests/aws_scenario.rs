//! The workflow with the DynamoDB store against moto: the records a 64-action run leaves, the
//! fault cases of `faults` over DynamoDB, and `sfn-local run --aws-endpoint` through the binary.

#[path = "../../shared/tests/support/mod.rs"]
mod support;

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use asl_interpreter::{ExecutionStatus, RealClock, VirtualClock};
use aws_config::SdkConfig;
use common::{
    assert_model_outcome, assert_store_outcome, model, run_with, stack, Fault, FaultyStore,
    SaveFault,
};
use serde_json::{json, Value};
use sfn_local::offclock::OffClockStore;
use sfn_local::stack::LocalStack;
use shared::aws::{DynamoStore, TableNames};
use shared::examples::{example_goal, mark, seed};
use shared::metrics::NoMetrics;
use shared::offline::{offline_tasks, OfflineGenerator};
use shared::ports::Store;
use shared::records::{ExecutionStatus as RecordStatus, GoalStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixty_four_action_run_on_dynamodb() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, "run").await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        tables,
    ));
    let stack = LocalStack::with_store(
        store.clone(),
        Arc::new(OfflineGenerator::new()),
        Arc::new(RealClock),
        None,
        Arc::new(NoMetrics),
    )
    .expect("stack");

    let (goal, mut actions) = example_goal("g", "u", 64, chrono::Utc::now());
    mark(&mut actions, [5, 40], "[fail]");
    seed(store.as_ref(), &goal, &actions).await.expect("seed");
    let arn = stack.start("u", "g").await.expect("start");
    let result = stack.execute(&arn).await.expect("the started run executes");
    assert_eq!(
        result.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        result.error,
        result.cause
    );
    assert_eq!(
        result.transitions,
        94 + 2,
        "two caught failures add their Pass state"
    );

    let record = stack
        .store
        .get_execution(&arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (
            record.status,
            record.total_actions,
            record.processed_actions,
            record.failed_count
        ),
        (RecordStatus::Succeeded, 64, 64, 2)
    );
    assert_eq!(record.progress_percent, 100);
    let failed: HashSet<_> = record
        .failed_actions
        .iter()
        .map(|f| f.action_id.clone())
        .collect();
    assert_eq!(
        failed,
        HashSet::from([actions[5].action_id.clone(), actions[40].action_id.clone()])
    );
    let tasks = stack.store.list_execution_tasks(&arn).await.expect("tasks");
    let with_tasks: HashSet<_> = tasks.iter().map(|t| t.action_id.clone()).collect();
    assert_eq!(with_tasks.len(), 62);
    assert!(with_tasks.is_disjoint(&failed));
    let ids: HashSet<_> = tasks.iter().map(|t| t.task_id.clone()).collect();
    assert_eq!(ids.len(), tasks.len(), "no duplicated task");
    let goal = stack.store.get_goal("g").await.expect("get").expect("goal");
    assert_eq!(
        (goal.status, goal.completed_at.is_some()),
        (GoalStatus::Partial, true)
    );
}

/// A moto server and the runtime of real time its SDK calls run on.
struct Dynamo {
    // Fields drop in order: the runtime ends before moto stops.
    io: tokio::runtime::Runtime,
    config: SdkConfig,
    _moto: support::Moto,
}

impl Dynamo {
    fn start() -> Self {
        let moto = support::start();
        let io = tokio::runtime::Runtime::new().expect("runtime");
        let config = io.block_on(moto.sdk_config());
        Dynamo {
            io,
            config,
            _moto: moto,
        }
    }

    /// A store over tables of its own, created as the template defines them.
    fn store(&self, prefix: &str) -> OffClockStore {
        let tables = self
            .io
            .block_on(support::create_tables(&self.config, prefix));
        OffClockStore::new(
            Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&self.config),
                tables,
            )),
            self.io.handle().clone(),
        )
    }
}

/// Runs `n` actions over `store` on the virtual clock and checks the records DynamoDB holds.
fn run_on_dynamo(
    store: Arc<dyn Store>,
    generator: Arc<dyn shared::ports::TaskGenerator>,
    n: usize,
) -> common::Outcome {
    let runtime = asl_interpreter::clock::runtime(&VirtualClock::default()).expect("runtime");
    runtime.block_on(run_with(stack(store, generator), n))
}

#[test]
fn model_faults_on_dynamodb() {
    let dynamo = Dynamo::start();
    let wall = Instant::now();
    for fault in [Fault::Throttle, Fault::Timeout] {
        for percent in [10, 50, 100] {
            let store = Arc::new(dynamo.store(&format!("model-{fault:?}-{percent}")));
            let outcome = run_on_dynamo(store, model(percent, fault), 32);
            assert_model_outcome(percent, &outcome);
        }
    }
    eprintln!(
        "model faults on DynamoDB: {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}

#[test]
fn conditional_check_failures_and_lost_answers_on_dynamodb() {
    let dynamo = Dynamo::start();
    let wall = Instant::now();
    for fault in [SaveFault::Conflict, SaveFault::Lost] {
        for percent in [10, 50, 100] {
            let tables = dynamo.store(&format!("store-{fault:?}-{percent}"));
            let store = Arc::new(FaultyStore::new(tables, fault, percent));
            let outcome = run_on_dynamo(store, Arc::new(OfflineGenerator::new()), 24);
            assert_store_outcome(fault, percent, &outcome);
        }
    }
    eprintln!(
        "store faults on DynamoDB: {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `scripts/seed_moto.py` against `endpoint`: the tables the CLI expects, and their names.
fn seed_moto(endpoint: &str) -> TableNames {
    let python = std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let out = Command::new(python)
        .arg(repo_root().join("scripts/seed_moto.py"))
        .arg(endpoint)
        .output()
        .expect("seed_moto.py runs");
    assert!(
        out.status.success(),
        "seed_moto.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let name = |key: &str| env.get(key).cloned().unwrap_or_default();
    TableNames {
        goals: name("GOALS_TABLE"),
        actions: name("ACTIONS_TABLE"),
        tasks: name("TASKS_TABLE"),
        executions: name("EXECUTIONS_TABLE"),
    }
}

#[test]
fn sfn_local_run_with_an_aws_endpoint_keeps_its_records_in_dynamodb() {
    let moto = support::start();
    let tables = seed_moto(&moto.endpoint);
    let wall = Instant::now();
    // No table variables: the binary must find the tables under the names seed_moto.py gives.
    let out = Command::new(env!("CARGO_BIN_EXE_sfn-local"))
        .args(["run", "--aws-endpoint", &moto.endpoint, "--json"])
        .args(["--actions", "16", "--ai-latency", "0.05"])
        .env_remove("GOALS_TABLE")
        .env_remove("ACTIONS_TABLE")
        .env_remove("TASKS_TABLE")
        .env_remove("EXECUTIONS_TABLE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("sfn-local runs");
    eprintln!(
        "sfn-local run on moto: {:.1} s",
        wall.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "sfn-local run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let fields = [
        "status",
        "goalStatus",
        "totalActions",
        "actionsSucceeded",
        "actionsFailed",
    ];
    assert_eq!(
        fields.map(|f| report[f].clone()),
        [
            json!("SUCCEEDED"),
            json!("active"),
            json!(16),
            json!(16),
            json!(0)
        ],
        "{report}"
    );
    // Per action: its counter update, the read of the tasks it holds and the save; per batch of 8:
    // the record read and the progress update; per run: the goal read by ValidateInput, the actions'
    // query and count, and the end (two reads and a transaction).
    assert_eq!(
        report["dynamodbRequests"]["byOperation"],
        json!({"GetItem": 16 + 2 + 4, "Query": 1, "UpdateItem": 16 + 2 + 1, "TransactWriteItems": 16 + 1}),
        "{report}"
    );
    let arn = report["executionArn"].as_str().expect("executionArn");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = runtime.block_on(moto.sdk_config());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    let record = runtime
        .block_on(store.get_execution(arn))
        .expect("get")
        .expect("the run's record is in DynamoDB");
    assert_eq!(
        (
            record.status,
            record.total_actions,
            record.processed_actions,
            record.failed_count,
            record.progress_percent,
        ),
        (RecordStatus::Succeeded, 16, 16, 0, 100)
    );
    assert!(record.failed_actions.is_empty() && record.stopped_at.is_some());
    let goal = runtime
        .block_on(store.get_goal(sfn_local::example::EXAMPLE_GOAL_ID))
        .expect("get")
        .expect("the example goal is in DynamoDB");
    assert_eq!(
        (goal.status, goal.current_execution_arn.as_deref()),
        (GoalStatus::Active, Some(arn))
    );
    let actions = runtime
        .block_on(store.list_actions(&goal.goal_id))
        .expect("actions");
    assert_eq!(actions.len(), 16);
    let tasks = runtime
        .block_on(store.list_execution_tasks(arn))
        .expect("tasks");
    assert_eq!(Some(tasks.len() as u64), report["tasksWritten"].as_u64());
    for action in &actions {
        let mut titles: Vec<(u32, &str)> = tasks
            .iter()
            .filter(|t| t.action_id == action.action_id)
            .map(|t| (t.position, t.title.as_str()))
            .collect();
        titles.sort_unstable();
        let expected = offline_tasks(action);
        assert_eq!(
            titles,
            expected
                .iter()
                .enumerate()
                .map(|(i, t)| (i as u32, t.title.as_str()))
                .collect::<Vec<_>>(),
            "{}: its tasks",
            action.action_id
        );
    }
}
