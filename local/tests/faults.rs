//! Fault injection through the real definition and handlers: a model that throttles or times out
//! on a chosen fraction of calls, and a store whose writes fail. Whatever happens, no task is lost
//! or duplicated, the failed list is exact, and the goal's status follows the all / some / none rule.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sfn_local::run::LocalStack;
use sfn_local::{ExecutionStatus, VirtualClock};
use sha2::{Digest, Sha256};
use shared::examples::{example_goal, seed};
use shared::memory::InMemoryStore;
use shared::metrics::NoMetrics;
use shared::offline::OfflineGenerator;
use shared::ports::{Counted, GeneratedTask, Store, TaskGenerator};
use shared::records::{
    Action, ActionOutcome, ExecutionStatus as RecordStatus, Goal, GoalStatus, RunEnd, Task,
    WorkflowExecution,
};
use shared::StoreError;
use shared::{DomainError, ErrorCode};

/// Whether call `attempt` of `key` is hit, for a fraction of calls, reproducibly.
fn hit(key: &str, attempt: u32, percent: u32) -> bool {
    let digest = Sha256::digest(format!("{key}/{attempt}").as_bytes());
    u32::from(u16::from_be_bytes([digest[0], digest[1]])) % 100 < percent
}

/// The model: a hit call outlives generate-tasks' 120 s timeout, or is throttled; the others
/// answer in 2 s. Hits are a fraction of all calls, reproducibly.
struct FaultyModel {
    percent: u32,
    fault: Fault,
    calls: Mutex<u32>,
}

#[derive(Clone, Copy)]
enum Fault {
    Timeout,
    Throttle,
}

#[async_trait]
impl TaskGenerator for FaultyModel {
    async fn generate(
        &self,
        goal: Option<&str>,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            *calls += 1;
            *calls
        };
        if !hit("model", call, self.percent) {
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

fn model(percent: u32, fault: Fault) -> Arc<dyn TaskGenerator> {
    Arc::new(FaultyModel {
        percent,
        fault,
        calls: Mutex::new(0),
    })
}

fn stack(store: Arc<dyn Store>, generator: Arc<dyn TaskGenerator>) -> LocalStack {
    LocalStack::with_store(
        store,
        generator,
        Arc::new(VirtualClock::default()),
        None,
        Arc::new(NoMetrics),
    )
    .expect("stack")
}

/// The checks every faulty run must pass.
async fn assert_consistent(
    stack: &LocalStack,
    arn: &str,
    actions: &[Action],
) -> (RecordStatus, HashSet<String>) {
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
    for (action, ts) in &per_action {
        let positions: HashSet<u32> = ts.iter().map(|t| t.position).collect();
        assert_eq!(positions.len(), ts.len(), "{action}: each task once");
        assert_eq!(
            positions,
            (0..ts.len() as u32).collect(),
            "{action}: all of its tasks"
        );
    }
    let failed: HashSet<String> = record
        .failed_actions
        .iter()
        .map(|f| f.action_id.clone())
        .collect();
    assert_eq!(
        failed.len(),
        record.failed_actions.len(),
        "each failure listed once"
    );
    let goal = stack.store.get_goal("g").await.expect("get").expect("goal");
    if record.status == RecordStatus::Succeeded || record.failed_count as usize == actions.len() {
        // The run finished: the failed list is exactly the actions without tasks.
        let without: HashSet<String> = actions
            .iter()
            .map(|a| a.action_id.clone())
            .filter(|id| !per_action.contains_key(id))
            .collect();
        assert_eq!(failed, without, "the failed list is exact");
        let expected = match failed.len() {
            0 => GoalStatus::Active,
            n if n == actions.len() => GoalStatus::Failed,
            _ => GoalStatus::Partial,
        };
        assert_eq!(goal.status, expected);
    } else {
        assert_eq!(
            goal.status,
            GoalStatus::Failed,
            "an uncaught failure fails the goal"
        );
    }
    (record.status, failed)
}

async fn run_with(stack: LocalStack, n: usize) -> (RecordStatus, HashSet<String>, usize) {
    let (goal, actions) = example_goal("g", "u", n, Utc::now());
    seed(stack.store.as_ref(), &goal, &actions)
        .await
        .expect("seed");
    let arn = stack.start("u", "g").await.expect("start");
    let result = stack.run(&arn).await;
    assert_ne!(
        result.status,
        ExecutionStatus::TimedOut,
        "{:?}",
        result.error
    );
    let (status, failed) = assert_consistent(&stack, &arn, &actions).await;
    (status, failed, actions.len())
}

#[tokio::test(start_paused = true)]
async fn model_timeouts_and_throttling_at_ten_fifty_and_a_hundred_percent() {
    for fault in [Fault::Timeout, Fault::Throttle] {
        for percent in [10, 50, 100] {
            let s = stack(Arc::new(InMemoryStore::new()), model(percent, fault));
            let (status, failed, n) = run_with(s, 32).await;
            match percent {
                // Every call fails: every action fails after its retries, and so does the goal.
                100 => assert_eq!((status, failed.len()), (RecordStatus::Failed, n)),
                // Retries absorb most faults: a few actions fail at most.
                _ => assert!(failed.len() < n / 2, "{percent} %: {} failed", failed.len()),
            }
        }
    }
}

/// A store that fails a fraction of task saves, either before writing (a conditional-check
/// failure) or after writing (the answer is lost, so the step is retried).
struct FaultyStore {
    inner: InMemoryStore,
    percent: u32,
    calls: Mutex<u32>,
}

#[async_trait]
impl Store for FaultyStore {
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
    async fn begin_run(&self, record: &WorkflowExecution) -> Result<(), StoreError> {
        self.inner.begin_run(record).await
    }
    async fn get_execution(&self, arn: &str) -> Result<Option<WorkflowExecution>, StoreError> {
        self.inner.get_execution(arn).await
    }
    async fn list_goal_executions(
        &self,
        goal_id: &str,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.inner.list_goal_executions(goal_id).await
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
    async fn list_execution_tasks(&self, arn: &str) -> Result<Vec<Task>, StoreError> {
        self.inner.list_execution_tasks(arn).await
    }
    async fn delete_execution_tasks(&self, arn: &str) -> Result<u32, StoreError> {
        self.inner.delete_execution_tasks(arn).await
    }

    async fn save_action_tasks(&self, tasks: &[Task]) -> Result<u32, StoreError> {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            *calls += 1;
            *calls
        };
        if hit("condition", call, self.percent / 2) {
            return Err(StoreError::ConditionFailed(
                "injected conditional-check failure".into(),
            ));
        }
        let written = self.inner.save_action_tasks(tasks).await?;
        if hit("lost", call, self.percent) {
            return Err(StoreError::Unavailable(
                "injected: the answer was lost after the write".into(),
            ));
        }
        Ok(written)
    }
}

#[tokio::test(start_paused = true)]
async fn store_failures_never_lose_or_duplicate_tasks() {
    for percent in [10, 50, 100] {
        let store = Arc::new(FaultyStore {
            inner: InMemoryStore::new(),
            percent,
            calls: Mutex::new(0),
        });
        let (status, failed, n) =
            run_with(stack(store, Arc::new(OfflineGenerator::new())), 24).await;
        if percent == 100 {
            // Every save's answer is lost: the batch fails after its retries and so does the run.
            assert_eq!(status, RecordStatus::Failed);
        } else {
            assert!(failed.len() < n, "{percent} %: {} failed", failed.len());
        }
    }
}
