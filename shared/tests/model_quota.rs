//! The model quota's reservations, in memory and on DynamoDB (moto): a run begins only with room
//! for its calls, and gives them back exactly once when it ends, whichever way it ends.

mod support;

use chrono::{DateTime, Utc};
use shared::aws::dynamodb::MODEL_QUOTA_KEY;
use shared::aws::DynamoStore;
use shared::capacity::ModelQuota;
use shared::error::StoreError;
use shared::examples::{example_goal, seed};
use shared::memory::InMemoryStore;
use shared::ports::Store;
use shared::records::{ExecutionStatus, GoalStatus, RunEnd, WorkflowExecution};

const QUOTA: ModelQuota = ModelQuota {
    concurrent_calls: 24,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A new goal `goal_id` and the record of a run of it holding `calls` model calls.
async fn run_of(store: &dyn Store, goal_id: &str, calls: u32) -> WorkflowExecution {
    let (goal, actions) = example_goal(goal_id, "u", 64, t0());
    seed(store, &goal, &actions).await.expect("seed");
    let mut run = WorkflowExecution::started(
        format!("arn:aws:states:us-east-1:123456789012:execution:sm:{goal_id}"),
        goal_id.to_owned(),
        &goal,
        "k".to_owned(),
        t0(),
    );
    run.model_calls = calls;
    run
}

fn end(status: ExecutionStatus) -> RunEnd {
    RunEnd {
        status,
        goal_status: GoalStatus::Active,
        at: t0(),
        error: None,
        cause: None,
        alert: None,
    }
}

async fn reserved(store: &dyn Store) -> u32 {
    // Whatever holds the count, no run is read from it.
    assert_eq!(
        store.get_execution(MODEL_QUOTA_KEY).await.expect("get"),
        None
    );
    store.reserved_model_calls().await.expect("reserved")
}

async fn calls_are_reserved_and_given_back_once(store: &dyn Store) {
    assert_eq!(reserved(store).await, 0);
    let first = run_of(store, "q-first", 16).await;
    store.begin_run(&first, QUOTA).await.expect("first");
    assert_eq!(reserved(store).await, 16);

    // No room for 16 more: nothing of the run is written.
    let refused = run_of(store, "q-refused", 16).await;
    let err = store.begin_run(&refused, QUOTA).await.expect_err("full");
    assert!(matches!(err, StoreError::QuotaFull(_)), "{err:?}");
    assert_eq!(
        store.get_execution(&refused.execution_arn).await.unwrap(),
        None
    );
    let goal = store.get_goal("q-refused").await.unwrap().unwrap();
    assert_eq!(goal.status, GoalStatus::Draft);
    assert_eq!(reserved(store).await, 16);

    // Exactly the room left is taken.
    let second = run_of(store, "q-second", 8).await;
    store.begin_run(&second, QUOTA).await.expect("second");
    assert_eq!(reserved(store).await, 24);

    // A goal already processing is a conflict, whatever room is left.
    let again = WorkflowExecution {
        execution_arn: format!("{}-again", second.execution_arn),
        ..second.clone()
    };
    let err = store
        .begin_run(&again, QUOTA)
        .await
        .expect_err("processing");
    assert!(matches!(err, StoreError::ConditionFailed(_)), "{err:?}");

    // Its end gives the run's calls back, once.
    assert!(store
        .finish_run(&first.execution_arn, &end(ExecutionStatus::Succeeded))
        .await
        .unwrap());
    assert_eq!(reserved(store).await, 8);
    assert!(!store
        .finish_run(&first.execution_arn, &end(ExecutionStatus::Aborted))
        .await
        .unwrap());
    assert_eq!(reserved(store).await, 8);

    // A run whose goal has moved on to another run ends alone, and gives its calls back too.
    let mut goal = store.get_goal("q-second").await.unwrap().unwrap();
    goal.current_execution_arn = Some("arn:another".to_owned());
    store.put_goal(&goal).await.unwrap();
    assert!(store
        .finish_run(&second.execution_arn, &end(ExecutionStatus::Failed))
        .await
        .unwrap());
    assert_eq!(reserved(store).await, 0);
    let ended = store
        .get_execution(&second.execution_arn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, ExecutionStatus::Failed);

    // A run that reserves nothing begins whatever the others hold.
    store.begin_run(&refused, QUOTA).await.expect("room again");
    let unshared = run_of(store, "q-unshared", 0).await;
    store.begin_run(&unshared, QUOTA).await.expect("unshared");
    assert_eq!(reserved(store).await, 16);
}

#[tokio::test]
async fn in_memory() {
    calls_are_reserved_and_given_back_once(&InMemoryStore::new()).await;
}

#[tokio::test]
async fn on_dynamodb() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, "quota").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    calls_are_reserved_and_given_back_once(&store).await;
}
