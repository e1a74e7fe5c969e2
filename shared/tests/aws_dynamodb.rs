//! The DynamoDB store against moto's DynamoDB, with the tables the template defines.

mod support;

use shared::capacity::ModelQuota;
use std::sync::Arc;

use chrono::{Duration, Utc};
use shared::aws::DynamoStore;
use shared::error::StoreError;
use shared::examples::{begin_retry_after, example_goal, example_tasks, seed, started_run};
use shared::ports::{Alert, Store};
use shared::records::{
    ActionOutcome, CallTiming, ExecutionStatus, FailedAction, GoalStatus, RunEnd, Task,
    WorkflowExecution,
};

async fn store(moto: &support::Moto, prefix: &str) -> DynamoStore {
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, prefix).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables)
}

fn tasks_for(run: &WorkflowExecution, action_id: &str, n: u32) -> Vec<Task> {
    example_tasks(run, action_id, n, Utc::now())
}

#[tokio::test]
async fn goals_actions_and_conditional_run_start() {
    let moto = support::start();
    let store = store(&moto, "start").await;
    let (run, actions) = started_run(&store, "g1", "u1", 10, Utc::now())
        .await
        .expect("run");
    assert_eq!(store.list_actions("g1").await.expect("actions"), actions);
    let goal = store.get_goal("g1").await.expect("get").expect("goal");
    assert_eq!(goal.status, GoalStatus::Processing);
    assert_eq!(
        goal.current_execution_arn.as_deref(),
        Some(run.execution_arn.as_str())
    );
    assert_eq!(
        store.get_execution(&run.execution_arn).await.expect("get"),
        Some(run.clone())
    );

    // The same record again, and another run while the goal is processing, are both refused.
    assert!(matches!(
        store.begin_run(&run, ModelQuota::default()).await,
        Err(StoreError::ConditionFailed(_))
    ));
    let mut other = run.clone();
    other.execution_arn.push_str("-2");
    assert!(matches!(
        store.begin_run(&other, ModelQuota::default()).await,
        Err(StoreError::ConditionFailed(_))
    ));
    assert_eq!(
        store
            .get_execution(&other.execution_arn)
            .await
            .expect("get"),
        None
    );
    // A missing goal is refused too.
    other.goal_id = "nope".into();
    assert!(matches!(
        store.begin_run(&other, ModelQuota::default()).await,
        Err(StoreError::ConditionFailed(_))
    ));
}

/// A retry begins only while the run it retries is still its goal's latest: a newer run that
/// started and ended after the retry read the goal makes the store refuse it.
#[tokio::test]
async fn a_retry_begins_only_while_its_run_is_the_goals_latest() {
    let moto = support::start();
    let store = store(&moto, "retry").await;
    let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
        .await
        .expect("run");
    assert!(matches!(
        begin_retry_after(&store, &run, "arn:newer-run").await,
        Err(StoreError::ConditionFailed(_))
    ));
    assert_eq!(
        begin_retry_after(&store, &run, &run.execution_arn).await,
        Ok(())
    );
}

#[tokio::test]
async fn an_actions_tasks_are_written_all_or_none_and_once() {
    let moto = support::start();
    let store = store(&moto, "tasks").await;
    let (run, actions) = started_run(&store, "g1", "u1", 2, Utc::now())
        .await
        .expect("run");
    let (a1, a2) = (&actions[0].action_id, &actions[1].action_id);
    let tasks = tasks_for(&run, a1, 5);
    assert_eq!(store.save_action_tasks(&tasks).await, Ok(5));
    assert_eq!(
        store.save_action_tasks(&tasks).await,
        Ok(5),
        "a repeated save writes nothing and answers as the first did"
    );

    // One task already stored makes the whole transaction fail: nothing of the rest is written.
    let mut mixed = tasks_for(&run, a2, 3);
    mixed.push(tasks[0].clone());
    assert!(matches!(
        store.save_action_tasks(&mixed).await,
        Err(StoreError::ConditionFailed(_))
    ));
    let stored = store
        .list_execution_tasks(&run.execution_arn)
        .await
        .expect("list");
    assert_eq!(stored.len(), 5);
    assert!(stored.iter().all(|t| &t.action_id == a1));

    // Tasks of an action the goal does not have are refused.
    assert!(matches!(
        store.save_action_tasks(&tasks_for(&run, "nope", 1)).await,
        Err(StoreError::ConditionFailed(_))
    ));

    assert_eq!(
        store.delete_execution_tasks(&run.execution_arn).await,
        Ok(5)
    );
    assert!(store
        .list_execution_tasks(&run.execution_arn)
        .await
        .expect("list")
        .is_empty());
    // The action holds nothing now: the same tasks can be saved again.
    assert_eq!(store.save_action_tasks(&tasks).await, Ok(5));
}

#[tokio::test]
async fn a_later_runs_tasks_replace_an_actions_earlier_ones() {
    let moto = support::start();
    let store = store(&moto, "replace").await;
    let (first, actions) = started_run(&store, "g1", "u1", 2, Utc::now())
        .await
        .expect("run");
    let a1 = &actions[0].action_id;
    assert_eq!(
        store.save_action_tasks(&tasks_for(&first, a1, 5)).await,
        Ok(5)
    );
    let end = RunEnd {
        status: ExecutionStatus::Succeeded,
        goal_status: GoalStatus::Active,
        at: Utc::now(),
        error: None,
        cause: None,
        alert: None,
    };
    assert_eq!(store.finish_run(&first.execution_arn, &end).await, Ok(true));
    let goal = store.get_goal("g1").await.expect("get").expect("goal");
    let second = WorkflowExecution::started(
        format!("{}-again", first.execution_arn),
        "again".into(),
        &goal,
        "again".into(),
        Utc::now(),
    );
    store
        .begin_run(&second, ModelQuota::default())
        .await
        .expect("second run");
    let again = tasks_for(&second, a1, 3);
    assert_eq!(store.save_action_tasks(&again).await, Ok(3));
    assert!(store
        .list_execution_tasks(&first.execution_arn)
        .await
        .expect("list")
        .is_empty());
    let mut held = store
        .list_execution_tasks(&second.execution_arn)
        .await
        .expect("list");
    held.sort_by_key(|t| t.position);
    assert_eq!(held, again);
    assert_eq!(store.save_action_tasks(&again).await, Ok(3));
}

#[tokio::test]
async fn concurrent_writers_count_every_action_exactly_once() {
    let moto = support::start();
    let store = Arc::new(store(&moto, "counts").await);
    let (run, actions) = started_run(store.as_ref(), "g1", "u1", 24, Utc::now())
        .await
        .expect("run");
    // Three writers over overlapping thirds: every action is reported by two of them.
    let mut writers = Vec::new();
    for w in 0..3usize {
        let store = store.clone();
        let arn = run.execution_arn.clone();
        let mine: Vec<_> = actions
            .iter()
            .enumerate()
            .filter(|(i, _)| (i % 3) != w)
            .map(|(i, a)| (i, a.action_id.clone()))
            .collect();
        writers.push(tokio::spawn(async move {
            let (mut counted, mut failures) = (0, 0);
            for (i, id) in mine {
                let outcome = if i % 4 == 0 {
                    ActionOutcome::failed(FailedAction {
                        action_id: id,
                        error: "PermanentError".into(),
                        cause: "x".into(),
                    })
                } else {
                    ActionOutcome::succeeded(id).with_call(Some(CallTiming {
                        batch_index: i as u32 / 8,
                        started_at: Utc::now(),
                        finished_at: Utc::now(),
                        untimed: false,
                    }))
                };
                let c = store
                    .record_action_outcome(&arn, &outcome, Utc::now())
                    .await
                    .expect("record");
                counted += usize::from(c.processed);
                failures += usize::from(c.failed);
            }
            (counted, failures)
        }));
    }
    let (mut counted, mut failures) = (0, 0);
    for w in writers {
        let (c, f) = w.await.expect("writer");
        counted += c;
        failures += f;
    }
    assert_eq!(
        (counted, failures),
        (24, 6),
        "each action is counted by exactly one writer"
    );
    let record = store
        .get_execution(&run.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(record.processed_actions, 24);
    assert_eq!(record.failed_count, 6);
    assert_eq!(record.failed_actions.len(), 6);
    assert_eq!(record.processed_action_ids.len(), 24);
    let mut batches: Vec<u32> = record
        .finished_calls
        .iter()
        .map(|c| c.batch_index)
        .collect();
    batches.sort_unstable();
    assert_eq!(
        batches,
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2],
        "each successful call's timing is kept once, with its count"
    );
}

#[tokio::test]
async fn progress_never_goes_back_and_runs_end_once() {
    let moto = support::start();
    let store = store(&moto, "progress").await;
    let (run, _) = started_run(&store, "g1", "u1", 4, Utc::now())
        .await
        .expect("run");
    store
        .set_progress(&run.execution_arn, 50, Some(30), Utc::now())
        .await
        .expect("50");
    store
        .set_progress(&run.execution_arn, 25, Some(90), Utc::now())
        .await
        .expect("25 is ignored");
    let record = store
        .get_execution(&run.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (record.progress_percent, record.eta_seconds),
        (50, Some(30))
    );

    let end = RunEnd {
        status: ExecutionStatus::Succeeded,
        goal_status: GoalStatus::Active,
        at: Utc::now(),
        error: None,
        cause: None,
        alert: None,
    };
    assert_eq!(store.finish_run(&run.execution_arn, &end).await, Ok(true));
    let late = RunEnd {
        status: ExecutionStatus::Failed,
        goal_status: GoalStatus::Failed,
        ..end
    };
    assert_eq!(store.finish_run(&run.execution_arn, &late).await, Ok(false));
    let record = store
        .get_execution(&run.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert!(record.stopped_at.is_some());
    let goal = store.get_goal("g1").await.expect("get").expect("goal");
    assert_eq!(
        (goal.status, goal.completed_at.is_some()),
        (GoalStatus::Active, true)
    );
}

#[tokio::test]
async fn an_end_keeps_its_alert_until_it_is_cleared() {
    let moto = support::start();
    let store = store(&moto, "alert").await;
    let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
        .await
        .expect("run");
    let alert = Alert {
        subject: "Start activity run failed".into(),
        execution_arn: run.execution_arn.clone(),
        goal_id: Some("g1".into()),
        status: ExecutionStatus::Failed,
        message: "States.TaskFailed: boom".into(),
    };
    let end = RunEnd {
        status: ExecutionStatus::Failed,
        goal_status: GoalStatus::Failed,
        at: Utc::now(),
        error: Some("States.TaskFailed".into()),
        cause: Some("boom".into()),
        alert: Some(alert.clone()),
    };
    assert_eq!(store.finish_run(&run.execution_arn, &end).await, Ok(true));
    let record = store.get_execution(&run.execution_arn).await.expect("get");
    assert_eq!(record.expect("record").pending_alert, Some(alert.clone()));
    let pending = store.list_pending_alerts().await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|r| (r.execution_arn.as_str(), r.pending_alert.as_ref()))
            .collect::<Vec<_>>(),
        [(run.execution_arn.as_str(), Some(&alert))]
    );
    store
        .clear_pending_alert(&run.execution_arn)
        .await
        .expect("clear");
    let record = store.get_execution(&run.execution_arn).await.expect("get");
    assert_eq!(record.expect("record").pending_alert, None);
    assert_eq!(store.list_pending_alerts().await, Ok(Vec::new()));
    // Clearing a run that does not exist creates nothing.
    assert!(matches!(
        store.clear_pending_alert("arn:unknown").await,
        Err(StoreError::ConditionFailed(_))
    ));
    assert_eq!(store.get_execution("arn:unknown").await, Ok(None));
}

#[tokio::test]
async fn runs_are_found_by_goal_newest_first_and_by_status() {
    let moto = support::start();
    let store = store(&moto, "index").await;
    let (goal, actions) = example_goal("g1", "u1", 2, Utc::now());
    seed(&store, &goal, &actions).await.expect("seed");
    let old = Utc::now() - Duration::hours(2);
    let mut arns = Vec::new();
    for i in 0..3 {
        let started = old + Duration::minutes(i * 20);
        let run = WorkflowExecution::started(
            format!("arn:run-{i}"),
            format!("run-{i}"),
            &goal,
            format!("k{i}"),
            started,
        );
        store
            .begin_run(&run, ModelQuota::default())
            .await
            .expect("begin");
        if i < 2 {
            let end = RunEnd {
                status: ExecutionStatus::Succeeded,
                goal_status: GoalStatus::Active,
                at: started,
                error: None,
                cause: None,
                alert: None,
            };
            store
                .finish_run(&run.execution_arn, &end)
                .await
                .expect("finish");
        }
        arns.push(run.execution_arn);
    }
    let history = store
        .list_goal_executions("g1", 10, None)
        .await
        .expect("history")
        .runs;
    let order: Vec<_> = history.iter().map(|r| r.execution_arn.clone()).collect();
    assert_eq!(order, ["arn:run-2", "arn:run-1", "arn:run-0"]);

    let running = store
        .list_running_started_before(Utc::now())
        .await
        .expect("running");
    assert_eq!(
        running
            .iter()
            .map(|r| r.execution_arn.as_str())
            .collect::<Vec<_>>(),
        ["arn:run-2"]
    );
    let before = store
        .list_started_before(old + Duration::minutes(30))
        .await
        .expect("old");
    assert_eq!(
        before
            .iter()
            .map(|r| r.execution_arn.as_str())
            .collect::<Vec<_>>(),
        ["arn:run-0", "arn:run-1"]
    );
}
