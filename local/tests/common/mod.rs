//! Fault injection shared by the in-memory and the DynamoDB runs: a model that throttles or times
//! out on a chosen fraction of calls, a store whose task saves fail, and the checks every faulty
//! run must pass whatever the store underneath.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use shared::capacity::ModelQuota;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl_interpreter::definition::StateType;
use asl_interpreter::{EventDetails, ExecutionResult, ExecutionStatus, VirtualClock};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sfn_local::stack::LocalStack;
use sha2::{Digest, Sha256};
use shared::batching::plan_batches;
use shared::examples::{example_goal, seed};
use shared::metrics::NoMetrics;
use shared::offline::{offline_tasks, OfflineGenerator};
use shared::ports::{Counted, GeneratedTask, RunsAfter, RunsPage, Store, TaskGenerator};
use shared::records::{
    Action, ActionOutcome, ExecutionStatus as RecordStatus, Goal, GoalStatus, RunEnd, Task,
    WorkflowExecution,
};
use shared::steps::BatchSummary;
use shared::StoreError;
use shared::{DomainError, ErrorCode};

/// Whether call `attempt` of `key` is hit, for a fraction of calls, reproducibly.
pub fn hit(key: &str, attempt: u32, percent: u32) -> bool {
    let digest = Sha256::digest(format!("{key}/{attempt}").as_bytes());
    u32::from(u16::from_be_bytes([digest[0], digest[1]])) % 100 < percent
}

fn next_call(calls: &Mutex<u32>) -> u32 {
    let mut calls = calls.lock().unwrap_or_else(|p| p.into_inner());
    *calls += 1;
    *calls
}

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    Timeout,
    Throttle,
}

/// The model: a hit call outlives generate-tasks' 120 s timeout, or is throttled; the others
/// answer in 2 s. Hits are a fraction of all calls, reproducibly.
pub struct FaultyModel {
    percent: u32,
    fault: Fault,
    calls: Mutex<u32>,
}

#[async_trait]
impl TaskGenerator for FaultyModel {
    async fn generate(
        &self,
        goal: &str,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        if !hit("model", next_call(&self.calls), self.percent) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            return OfflineGenerator::new().generate(goal, action).await;
        }
        match self.fault {
            Fault::Timeout => {
                tokio::time::sleep(Duration::from_secs(130)).await;
                OfflineGenerator::new().generate(goal, action).await
            }
            Fault::Throttle => Err(DomainError::transient(
                ErrorCode::Throttled,
                "injected throttling",
            )),
        }
    }
}

pub fn model(percent: u32, fault: Fault) -> Arc<dyn TaskGenerator> {
    Arc::new(FaultyModel {
        percent,
        fault,
        calls: Mutex::new(0),
    })
}

/// How a task save fails: before writing, as a conditional-check failure; or after writing, the
/// answer lost, so SaveTasks is retried.
#[derive(Debug, Clone, Copy)]
pub enum SaveFault {
    Conflict,
    Lost,
}

/// A store that fails a fraction of task saves, reproducibly.
pub struct FaultyStore<S> {
    inner: S,
    fault: SaveFault,
    percent: u32,
    calls: Mutex<u32>,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S, fault: SaveFault, percent: u32) -> Self {
        Self {
            inner,
            fault,
            percent,
            calls: Mutex::new(0),
        }
    }
}

#[async_trait]
impl<S: Store> Store for FaultyStore<S> {
    async fn get_goal(&self, goal_id: &str) -> Result<Option<Goal>, StoreError> {
        self.inner.get_goal(goal_id).await
    }
    async fn put_goal(&self, goal: &Goal) -> Result<(), StoreError> {
        self.inner.put_goal(goal).await
    }
    async fn put_actions(&self, actions: &[Action]) -> Result<(), StoreError> {
        self.inner.put_actions(actions).await
    }
    async fn list_actions(&self, goal_id: &str) -> Result<Vec<Action>, StoreError> {
        self.inner.list_actions(goal_id).await
    }
    async fn begin_run(
        &self,
        record: &WorkflowExecution,
        quota: ModelQuota,
    ) -> Result<(), StoreError> {
        self.inner.begin_run(record, quota).await
    }
    async fn reserved_model_calls(&self) -> Result<u32, StoreError> {
        self.inner.reserved_model_calls().await
    }
    async fn get_execution(&self, arn: &str) -> Result<Option<WorkflowExecution>, StoreError> {
        self.inner.get_execution(arn).await
    }
    async fn list_goal_executions(
        &self,
        goal_id: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<RunsPage, StoreError> {
        self.inner.list_goal_executions(goal_id, limit, after).await
    }
    async fn list_running_started_before(
        &self,
        t: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.inner.list_running_started_before(t).await
    }
    async fn list_started_before(
        &self,
        t: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.inner.list_started_before(t).await
    }
    async fn set_total_actions(&self, arn: &str, total: u32) -> Result<(), StoreError> {
        self.inner.set_total_actions(arn, total).await
    }
    async fn record_action_outcome(
        &self,
        arn: &str,
        outcome: &ActionOutcome,
        at: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        self.inner.record_action_outcome(arn, outcome, at).await
    }
    async fn set_progress(
        &self,
        arn: &str,
        percent: u8,
        eta: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.set_progress(arn, percent, eta, at).await
    }
    async fn finish_run(&self, arn: &str, end: &RunEnd) -> Result<bool, StoreError> {
        self.inner.finish_run(arn, end).await
    }
    async fn clear_pending_alert(&self, arn: &str) -> Result<(), StoreError> {
        self.inner.clear_pending_alert(arn).await
    }
    async fn list_pending_alerts(&self) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.inner.list_pending_alerts().await
    }
    async fn list_execution_tasks(&self, arn: &str) -> Result<Vec<Task>, StoreError> {
        self.inner.list_execution_tasks(arn).await
    }
    async fn delete_execution_tasks(&self, arn: &str) -> Result<u32, StoreError> {
        self.inner.delete_execution_tasks(arn).await
    }

    async fn count_action_tasks(&self, goal_id: &str) -> Result<BTreeMap<String, u32>, StoreError> {
        self.inner.count_action_tasks(goal_id).await
    }

    async fn save_action_tasks(&self, tasks: &[Task]) -> Result<u32, StoreError> {
        let hit = hit("save", next_call(&self.calls), self.percent);
        if hit && matches!(self.fault, SaveFault::Conflict) {
            return Err(StoreError::ConditionFailed(
                "injected conditional-check failure".into(),
            ));
        }
        let written = self.inner.save_action_tasks(tasks).await?;
        if hit {
            return Err(StoreError::Unavailable(
                "injected: the answer was lost after the write".into(),
            ));
        }
        Ok(written)
    }
}

/// The product over `store` and `generator`, on the virtual clock.
pub fn stack(store: Arc<dyn Store>, generator: Arc<dyn TaskGenerator>) -> LocalStack {
    LocalStack::with_store(
        store,
        generator,
        Arc::new(VirtualClock::default()),
        None,
        Arc::new(NoMetrics),
    )
    .expect("stack")
}

/// How a faulty run ended, once its records passed [`assert_consistent`].
pub struct Outcome {
    pub status: RecordStatus,
    pub failed: HashSet<String>,
    pub actions: usize,
}

/// Seeds an `n`-action goal "g", runs it to its end and checks what it left in the store.
pub async fn run_with(stack: LocalStack, n: usize) -> Outcome {
    let (goal, actions) = example_goal("g", "u", n, Utc::now());
    seed(stack.store.as_ref(), &goal, &actions)
        .await
        .expect("seed");
    let arn = stack.start("u", "g").await.expect("start");
    let result = stack.execute(&arn).await.expect("the started run executes");
    assert_ne!(
        result.status,
        ExecutionStatus::TimedOut,
        "{:?}",
        result.error
    );
    assert_consistent(&stack, &result, &arn, &actions).await
}

/// The batch summaries UpdateProgress was given (`entered`) or answered (its exits).
fn progress_reports(result: &ExecutionResult, entered: bool) -> Vec<BatchSummary> {
    result
        .history
        .iter()
        .filter_map(|e| match &e.details {
            EventDetails::StateEntered(StateType::Task, d) if entered => Some((&d.name, &d.input)),
            EventDetails::StateExited(StateType::Task, d) if !entered => Some((&d.name, &d.output)),
            _ => None,
        })
        .filter(|(name, _)| *name == "UpdateProgress")
        .map(|(_, data)| serde_json::from_value(data.clone()).expect("a batch summary"))
        .collect()
}

fn failed_ids(summary: &BatchSummary) -> HashSet<String> {
    summary
        .failed_actions
        .iter()
        .map(|f| f.action_id.clone())
        .collect()
}

/// The checks every faulty run must pass: no task lost or duplicated, the failed list exact, the
/// goal's status by the all / some / none rule (failed when the run ended in an uncaught error).
pub async fn assert_consistent(
    stack: &LocalStack,
    result: &ExecutionResult,
    arn: &str,
    actions: &[Action],
) -> Outcome {
    let record = stack
        .store
        .get_execution(arn)
        .await
        .expect("get")
        .expect("record");
    assert!(
        record.status.is_final(),
        "the run ended: {:?}",
        record.status
    );
    let tasks = stack.store.list_execution_tasks(arn).await.expect("tasks");
    let ids: HashSet<_> = tasks.iter().map(|t| t.task_id.clone()).collect();
    assert_eq!(ids.len(), tasks.len(), "no duplicated task");
    let mut per_action: HashMap<String, Vec<&Task>> = HashMap::new();
    for t in &tasks {
        per_action.entry(t.action_id.clone()).or_default().push(t);
    }
    for action in actions {
        let Some(stored) = per_action.get_mut(&action.action_id) else {
            continue;
        };
        stored.sort_by_key(|t| t.position);
        let titles: Vec<&str> = stored.iter().map(|t| t.title.as_str()).collect();
        let expected = offline_tasks(action);
        let expected: Vec<&str> = expected.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(
            titles, expected,
            "{}: exactly its tasks, in order",
            action.action_id
        );
    }
    assert!(
        per_action
            .keys()
            .all(|id| actions.iter().any(|a| &a.action_id == id)),
        "no task of another action"
    );

    let failed: HashSet<String> = record
        .failed_actions
        .iter()
        .map(|f| f.action_id.clone())
        .collect();
    assert_eq!(
        (failed.len(), record.failed_count as usize),
        (record.failed_actions.len(), failed.len()),
        "each failure listed and counted once"
    );

    // A batch that finished reported each of its actions once: succeeded with its tasks stored,
    // or failed with none.
    let batches = plan_batches(actions.to_vec());
    let finished = progress_reports(result, false);
    let mut reported = HashSet::new();
    for summary in &finished {
        let batch = &batches[summary.batch_index as usize];
        let (with, without): (HashSet<String>, HashSet<String>) = batch
            .actions
            .iter()
            .map(|a| a.action_id.clone())
            .partition(|id| per_action.contains_key(id));
        let succeeded: HashSet<String> = summary.succeeded_action_ids.iter().cloned().collect();
        assert_eq!(
            (succeeded, failed_ids(summary)),
            (with, without),
            "batch {}: succeeded and failed actions",
            summary.batch_index
        );
        reported.extend(failed_ids(summary));
    }
    // A batch stopped while UpdateProgress ran may have recorded part of its failures.
    let stopped: HashSet<String> = progress_reports(result, true)
        .iter()
        .filter(|s| finished.iter().all(|f| f.batch_index != s.batch_index))
        .flat_map(failed_ids)
        .collect();
    assert!(
        reported.is_subset(&failed),
        "every failure a finished batch reported is recorded: missing {:?}",
        reported.difference(&failed).collect::<Vec<_>>()
    );
    assert!(
        failed
            .iter()
            .all(|id| reported.contains(id) || stopped.contains(id)),
        "the record lists only failures batches reported: {failed:?} vs {reported:?}"
    );

    let goal = stack.store.get_goal("g").await.expect("get").expect("goal");
    if result.status == ExecutionStatus::Succeeded {
        let mut indexes: Vec<u32> = finished.iter().map(|s| s.batch_index).collect();
        indexes.sort_unstable();
        assert_eq!(
            indexes,
            (0..batches.len() as u32).collect::<Vec<_>>(),
            "every batch finished once"
        );
        let without: HashSet<String> = actions
            .iter()
            .map(|a| a.action_id.clone())
            .filter(|id| !per_action.contains_key(id))
            .collect();
        assert_eq!(failed, without, "the failed list is exact");
        let expected = match failed.len() {
            0 => (RecordStatus::Succeeded, GoalStatus::Active),
            n if n == actions.len() => (RecordStatus::Failed, GoalStatus::Failed),
            _ => (RecordStatus::Succeeded, GoalStatus::Partial),
        };
        assert_eq!((record.status, goal.status), expected);
    } else {
        assert_eq!(
            (record.status, goal.status),
            (RecordStatus::Failed, GoalStatus::Failed),
            "an uncaught failure fails the run and the goal: {:?}",
            result.error
        );
    }
    assert!(goal.completed_at.is_some(), "the goal's end is stamped");
    Outcome {
        status: record.status,
        failed,
        actions: actions.len(),
    }
}

/// What model faults may do: at 100 % every action fails and so does the run; below, retries
/// absorb most of them.
pub fn assert_model_outcome(percent: u32, outcome: &Outcome) {
    let n = outcome.actions;
    match percent {
        100 => assert_eq!(
            (outcome.status, outcome.failed.len()),
            (RecordStatus::Failed, n)
        ),
        _ => assert!(
            outcome.failed.len() < n / 2,
            "{percent} %: {} failed",
            outcome.failed.len()
        ),
    }
}

/// What failing saves may do. A conflict fails its action, never the batch: at 100 % every
/// action fails. A lost answer fails no action: SaveTasks is retried, writes nothing twice, and
/// at 100 % the batch fails after its retries and so does the run.
pub fn assert_store_outcome(fault: SaveFault, percent: u32, outcome: &Outcome) {
    let n = outcome.actions;
    let failed = outcome.failed.len();
    match (fault, percent) {
        (SaveFault::Conflict, 100) => {
            assert_eq!((outcome.status, failed), (RecordStatus::Failed, n))
        }
        (SaveFault::Conflict, _) => assert_eq!(
            (outcome.status, failed > 0 && failed < n),
            (RecordStatus::Succeeded, true),
            "{percent} %: {failed} failed"
        ),
        (SaveFault::Lost, 100) => {
            assert_eq!((outcome.status, failed), (RecordStatus::Failed, 0))
        }
        (SaveFault::Lost, _) => assert_eq!(failed, 0, "{percent} %: no action fails"),
    }
}
