//! A goal's runs a page at a time, in memory and on DynamoDB (moto, the byGoal index): every page
//! size walks the same history newest first, each run once, and says there is no next page
//! exactly on the last. The tasks each action holds are counted the same way by both.

mod support;

use shared::capacity::ModelQuota;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use shared::aws::DynamoStore;
use shared::examples::{example_goal, example_tasks};
use shared::memory::InMemoryStore;
use shared::ports::{RunsAfter, Store};
use shared::records::{ExecutionStatus, GoalStatus, RunEnd, Task, WorkflowExecution};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Goal "g": nine runs a minute apart, then three started in the same millisecond; goal "h", a
/// run between each of them. Returns g's runs, newest first by start.
async fn history(store: &dyn Store) -> Vec<WorkflowExecution> {
    let mut starts: Vec<DateTime<Utc>> = (0..9).map(|i| t0() + Duration::minutes(i)).collect();
    starts.extend([t0() + Duration::hours(1); 3]);
    let mut runs = Vec::new();
    for (i, at) in starts.into_iter().enumerate() {
        for goal_id in ["g", "h"] {
            let (goal, actions) = example_goal(goal_id, "u", 1, t0());
            store.put_goal(&goal).await.expect("goal");
            store.put_actions(&actions).await.expect("actions");
            let arn = format!("arn:aws:states:us-east-1:1:execution:M:goal-{goal_id}-{i:02}");
            let run = WorkflowExecution::started(arn.clone(), arn.clone(), &goal, arn.clone(), at);
            store
                .begin_run(&run, ModelQuota::default())
                .await
                .expect("begin");
            let end = RunEnd {
                status: ExecutionStatus::Succeeded,
                goal_status: GoalStatus::Active,
                at: at + Duration::seconds(5),
                error: None,
                cause: None,
                alert: None,
            };
            store.finish_run(&arn, &end).await.expect("finish");
            if goal_id == "g" {
                runs.push(store.get_execution(&arn).await.expect("get").expect("run"));
            }
        }
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    runs
}

/// Every page of g's runs at this page size.
async fn pages(store: &dyn Store, size: usize) -> Vec<Vec<WorkflowExecution>> {
    let mut pages = Vec::new();
    let mut after: Option<RunsAfter> = None;
    loop {
        let page = store
            .list_goal_executions("g", size, after.as_ref())
            .await
            .expect("page");
        assert!(
            page.runs.len() <= size,
            "{size}: a page of {}",
            page.runs.len()
        );
        assert!(!page.runs.is_empty(), "{size}: an empty page");
        if let Some(next) = &page.next {
            assert_eq!(page.runs.last().map(RunsAfter::of).as_ref(), Some(next));
        }
        let next = page.next.clone();
        pages.push(page.runs);
        match next {
            Some(next) => after = Some(next),
            None => return pages,
        }
    }
}

async fn walks_the_history(store: &dyn Store) {
    let runs = history(store).await;
    let all: BTreeSet<String> = runs.iter().map(|r| r.execution_arn.clone()).collect();
    for size in 1..=runs.len() + 1 {
        let pages = pages(store, size).await;
        assert_eq!(pages.len(), runs.len().div_ceil(size), "size {size}");
        let walked: Vec<&WorkflowExecution> = pages.iter().flatten().collect();
        let seen: BTreeSet<String> = walked.iter().map(|r| r.execution_arn.clone()).collect();
        assert_eq!(
            (walked.len(), &seen),
            (runs.len(), &all),
            "size {size}: each run once"
        );
        for pair in walked.windows(2) {
            assert!(pair[0].started_at >= pair[1].started_at, "size {size}");
        }
        // Runs that started at different times come in the same order everywhere.
        let distinct: Vec<&str> = walked[3..]
            .iter()
            .map(|r| r.execution_arn.as_str())
            .collect();
        let expected: Vec<&str> = runs[3..].iter().map(|r| r.execution_arn.as_str()).collect();
        assert_eq!(distinct, expected, "size {size}");
    }
    // After the oldest run nothing is left; a goal without runs has an empty last page.
    let oldest = runs.last().map(RunsAfter::of);
    let rest = store
        .list_goal_executions("g", 5, oldest.as_ref())
        .await
        .expect("page");
    assert_eq!((rest.runs.len(), rest.next), (0, None));
    let none = store
        .list_goal_executions("nothing", 5, None)
        .await
        .expect("page");
    assert_eq!((none.runs.len(), none.next), (0, None));
}

#[tokio::test]
async fn pages_in_memory() {
    walks_the_history(&InMemoryStore::new()).await;
}

#[tokio::test]
async fn pages_on_dynamodb() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, "history").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    walks_the_history(&store).await;
}

fn tasks(run: &WorkflowExecution, action_id: &str, n: u32) -> Vec<Task> {
    example_tasks(run, action_id, n, t0())
}

/// Two runs of a three-action goal: the second replaces one action's tasks; cancelling it leaves
/// that action holding none.
async fn counts_the_tasks_actions_hold(store: &dyn Store) {
    let (goal, actions) = example_goal("g", "u", 3, t0());
    store.put_goal(&goal).await.expect("goal");
    store.put_actions(&actions).await.expect("actions");
    let count = |pairs: &[(usize, u32)]| -> BTreeMap<String, u32> {
        pairs
            .iter()
            .map(|(i, n)| (actions[*i].action_id.clone(), *n))
            .collect()
    };
    assert_eq!(
        store.count_action_tasks("g").await.expect("count"),
        count(&[])
    );

    let first = WorkflowExecution::started("arn:1".into(), "1".into(), &goal, "k1".into(), t0());
    store
        .begin_run(&first, ModelQuota::default())
        .await
        .expect("begin");
    store
        .save_action_tasks(&tasks(&first, &actions[0].action_id, 4))
        .await
        .expect("save");
    store
        .save_action_tasks(&tasks(&first, &actions[1].action_id, 2))
        .await
        .expect("save");
    let end = RunEnd {
        status: ExecutionStatus::Succeeded,
        goal_status: GoalStatus::Partial,
        at: t0() + Duration::seconds(5),
        error: None,
        cause: None,
        alert: None,
    };
    store.finish_run("arn:1", &end).await.expect("finish");
    assert_eq!(
        store.count_action_tasks("g").await.expect("count"),
        count(&[(0, 4), (1, 2)])
    );

    let later = t0() + Duration::minutes(1);
    let second = WorkflowExecution::started("arn:2".into(), "2".into(), &goal, "k2".into(), later);
    store
        .begin_run(&second, ModelQuota::default())
        .await
        .expect("begin");
    store
        .save_action_tasks(&tasks(&second, &actions[1].action_id, 5))
        .await
        .expect("save");
    assert_eq!(
        store.count_action_tasks("g").await.expect("count"),
        count(&[(0, 4), (1, 5)])
    );
    store.delete_execution_tasks("arn:2").await.expect("delete");
    assert_eq!(
        store.count_action_tasks("g").await.expect("count"),
        count(&[(0, 4)])
    );
    assert_eq!(
        store.count_action_tasks("other").await.expect("count"),
        count(&[])
    );
}

#[tokio::test]
async fn task_counts_in_memory() {
    counts_the_tasks_actions_hold(&InMemoryStore::new()).await;
}

#[tokio::test]
async fn task_counts_on_dynamodb() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, "counts").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    counts_the_tasks_actions_hold(&store).await;
}
