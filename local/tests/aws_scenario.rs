//! The full 64-action workflow with the DynamoDB store against moto: the records it leaves.

#[path = "../../shared/tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;

use sfn_local::run::LocalStack;
use sfn_local::{ExecutionStatus, RealClock};
use shared::aws::DynamoStore;
use shared::examples::{example_goal, mark, seed};
use shared::metrics::NoMetrics;
use shared::offline::OfflineGenerator;
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
    let result = stack.run(&arn).await;
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
