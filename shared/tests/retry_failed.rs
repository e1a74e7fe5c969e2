//! Retrying a run's failed actions through every step of the workflow, over the in-memory
//! adapters: the retry processes only the failed actions, the tasks earlier runs saved are never
//! touched or duplicated, and the goal's final status judges the goal as a whole.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use shared::api::{retry_failed, start_activity};
use shared::capacity::ModelQuota;
use shared::error::StoreError;
use shared::examples::{
    begin_retry_after, example_goal, mark, seed, started_run, EXAMPLE_STATE_MACHINE_ARN,
};
use shared::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
use shared::metrics::NoMetrics;
use shared::offline::OfflineGenerator;
use shared::ports::{Clock, ManualClock, Store};
use shared::records::{Action, ExecutionStatus, GoalStatus, Task};
use shared::steps::{
    ActionResult, AggregateRequest, CaughtError, ExecutionInput, GenerateTasksRequest, RunResult,
    SaveTasksRequest, ValidateInputRequest,
};
use shared::workflow;

const ACTIONS: usize = 20;

struct World {
    store: InMemoryStore,
    control: InMemoryExecutions,
    clock: ManualClock,
    actions: Vec<Action>,
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

/// A goal of 20 actions (three batches) whose actions at `failing` fail for good.
async fn world(failing: &[usize]) -> World {
    let store = InMemoryStore::new();
    let (goal, clean) = example_goal("g1", "u1", ACTIONS, t0());
    let mut actions = clean.clone();
    mark(&mut actions, failing.iter().copied(), "[fail]");
    seed(&store, &goal, &actions).await.expect("seed");
    World {
        store,
        control: InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, t0),
        clock: ManualClock::new(t0()),
        actions: clean,
    }
}

impl World {
    /// The goal's actions as the user has fixed them: only those at `failing` still fail.
    async fn fix_actions(&self, failing: &[usize]) {
        let mut actions = self.actions.clone();
        mark(&mut actions, failing.iter().copied(), "[fail]");
        self.store.put_actions(&actions).await.expect("actions");
    }

    /// Runs an execution the API started through every step, as the state machine does (the
    /// Catch on GenerateTasks records a failure in place of the action's tasks).
    async fn run(&self, execution_arn: &str) -> RunResult {
        let recorded = self.control.recorded();
        let input = recorded
            .iter()
            .find(|e| e.description.execution_arn == execution_arn)
            .map(|e| e.input.clone())
            .expect("started execution");
        let validated = workflow::validate_input(
            &self.store,
            ValidateInputRequest {
                execution_arn: execution_arn.to_owned(),
                started_at: self.clock.now(),
                input: serde_json::from_str(&input).expect("input"),
            },
        )
        .await
        .expect("validate");
        let actions = workflow::get_actions(&self.store, validated)
            .await
            .expect("actions");
        let batched = workflow::create_batches(actions);
        let generator = OfflineGenerator::new();
        let mut summaries = Vec::new();
        for batch in batched.batches {
            let mut results = Vec::new();
            for action in batch.actions {
                let req = GenerateTasksRequest {
                    run: batched.run.clone(),
                    goal_title: batched.goal_title.clone(),
                    batch_started_at: self.clock.now(),
                    action: action.clone(),
                    retry_count: 0,
                    batch_index: None,
                    action_started_at: None,
                };
                let result =
                    workflow::generate_tasks(&self.store, &generator, &self.clock, &NoMetrics, req)
                        .await;
                results.push(result.unwrap_or_else(|e| ActionResult {
                    action_id: action.action_id.clone(),
                    tasks: Vec::new(),
                    failure: Some(CaughtError {
                        error: e.kind.error_type().to_owned(),
                        cause: e.message,
                    }),
                }));
            }
            let saved = workflow::save_tasks(
                &self.store,
                SaveTasksRequest {
                    run: batched.run.clone(),
                    batch_index: batch.batch_index,
                    action_results: results,
                },
            )
            .await
            .expect("save");
            let summary = workflow::update_progress(&self.store, &self.clock, &NoMetrics, saved)
                .await
                .expect("progress");
            summaries.push(summary);
        }
        let summary = workflow::aggregate_results(AggregateRequest {
            run: batched.run.clone(),
            total_actions: batched.total_actions,
            batch_results: summaries,
        });
        let result = workflow::update_goal_status(
            &self.store,
            &RecordingNotifier::default(),
            &self.clock,
            &NoMetrics,
            summary,
        )
        .await
        .expect("goal status");
        self.control
            .close(execution_arn, ExecutionStatus::Succeeded);
        result
    }

    async fn start(&self, key: &str) -> String {
        start_activity(
            &self.store,
            &self.control,
            &self.clock,
            &NoMetrics,
            "u1",
            "g1",
            Some(key),
            ModelQuota::default(),
        )
        .await
        .expect("start")
        .execution_arn
    }

    async fn retry(&self, execution_arn: &str) -> String {
        retry_failed(
            &self.store,
            &self.control,
            &self.clock,
            &NoMetrics,
            ModelQuota::default(),
            "u1",
            execution_arn,
        )
        .await
        .expect("retry")
        .execution_arn
    }

    fn input(&self, execution_arn: &str) -> ExecutionInput {
        let recorded = self.control.recorded();
        let input = recorded
            .iter()
            .find(|e| e.description.execution_arn == execution_arn)
            .map(|e| e.input.clone())
            .unwrap_or_default();
        serde_json::from_str(&input).expect("input")
    }

    async fn goal_status(&self) -> GoalStatus {
        self.store
            .get_goal("g1")
            .await
            .expect("goal")
            .map(|g| g.status)
            .expect("goal exists")
    }

    async fn tasks_of(&self, execution_arn: &str) -> Vec<Task> {
        self.store
            .list_execution_tasks(execution_arn)
            .await
            .expect("tasks")
    }

    /// For each action that has tasks, the runs that wrote them.
    fn writers(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut writers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for task in self.store.all_tasks() {
            writers
                .entry(task.action_id)
                .or_default()
                .insert(task.execution_arn);
        }
        writers
    }
}

fn ids(w: &World, positions: &[usize]) -> Vec<String> {
    positions
        .iter()
        .map(|&p| w.actions[p].action_id.clone())
        .collect()
}

#[tokio::test]
async fn a_partial_run_retried_until_every_action_has_tasks() {
    let w = world(&[3, 9, 17]).await;
    let first = w.start("k").await;
    let result = w.run(&first).await;
    assert_eq!(result.goal_status, GoalStatus::Partial);
    let first_tasks = w.tasks_of(&first).await;
    assert_eq!(w.writers().len(), ACTIONS - 3);

    // The user fixes two of the three; the retry covers exactly the three failed ones.
    w.fix_actions(&[9]).await;
    let second = w.retry(&first).await;
    assert_eq!(w.input(&second).action_ids, Some(ids(&w, &[3, 9, 17])));
    let result = w.run(&second).await;
    assert_eq!(
        (
            result.summary.total_actions,
            result.summary.succeeded_actions
        ),
        (3, 2)
    );
    assert_eq!(result.goal_status, GoalStatus::Partial);
    let record = w.store.get_execution(&second).await.expect("get");
    let record = record.expect("record");
    assert_eq!(
        (record.status, record.progress_percent),
        (ExecutionStatus::Succeeded, 100)
    );
    let second_actions: BTreeSet<String> = w
        .tasks_of(&second)
        .await
        .into_iter()
        .map(|t| t.action_id)
        .collect();
    assert_eq!(second_actions, ids(&w, &[3, 17]).into_iter().collect());

    // The last one, fixed: every action of the goal now has tasks, and the goal is active.
    w.fix_actions(&[]).await;
    let third = w.retry(&second).await;
    assert_eq!(w.input(&third).action_ids, Some(ids(&w, &[9])));
    let result = w.run(&third).await;
    assert_eq!(result.goal_status, GoalStatus::Active);
    assert_eq!(w.goal_status().await, GoalStatus::Active);

    // Nothing of the earlier runs was deleted or rewritten, and each action's tasks were written
    // by exactly one run.
    assert_eq!(w.tasks_of(&first).await, first_tasks);
    let writers = w.writers();
    assert_eq!(writers.len(), ACTIONS);
    assert!(writers.values().all(|runs| runs.len() == 1), "{writers:?}");

    // Retrying a run again starts nothing new.
    assert_eq!(w.retry(&first).await, second);
    assert_eq!(w.control.recorded().len(), 3);
}

#[tokio::test]
async fn a_retry_that_fails_again_leaves_the_goal_partial() {
    let w = world(&[0, 19]).await;
    let first = w.start("k").await;
    w.run(&first).await;
    let before = w.store.all_tasks().len();

    let second = w.retry(&first).await;
    let result = w.run(&second).await;
    // The retry itself failed for every action it processed...
    let record = w.store.get_execution(&second).await.expect("get");
    assert_eq!(record.map(|r| r.status), Some(ExecutionStatus::Failed));
    // ...but 18 of the goal's 20 actions have tasks from the first run.
    assert_eq!(result.goal_status, GoalStatus::Partial);
    assert_eq!(w.goal_status().await, GoalStatus::Partial);
    assert_eq!(w.store.all_tasks().len(), before);
}

/// In memory as on DynamoDB: a retry begins only while its run is still the goal's latest.
#[tokio::test]
async fn a_retry_begins_only_while_its_run_is_the_goals_latest() {
    let store = InMemoryStore::new();
    let (run, _) = started_run(&store, "g1", "u1", 2, t0()).await.expect("run");
    assert!(matches!(
        begin_retry_after(&store, &run, "arn:newer-run").await,
        Err(StoreError::ConditionFailed(_))
    ));
    assert_eq!(
        begin_retry_after(&store, &run, &run.execution_arn).await,
        Ok(())
    );
}
