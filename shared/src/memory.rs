//! In-memory adapters: the embedded defaults of local runs and tests. They keep the same
//! conditional-write and idempotency rules as the AWS adapters, so what passes here means the same
//! thing there.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::capacity::ModelQuota;
use crate::error::{DomainError, StoreError};
use crate::naming;
use crate::ports::{
    no_longer_running, quota_full, refuse_oversized_save, repeated_save, Alert, Archive, Counted,
    ExecutionControl, ExecutionDescription, Notifier, RunsAfter, RunsPage, StartOutcome, Store,
};
use crate::records::{
    Action, ActionOutcome, ExecutionStatus, Goal, GoalStatus, RunEnd, Task, WorkflowExecution,
};

#[derive(Default)]
struct Tables {
    goals: HashMap<String, Goal>,
    /// goalId -> actionId -> action
    actions: HashMap<String, BTreeMap<String, Action>>,
    tasks: HashMap<String, Task>,
    /// (goalId, actionId) -> the run whose tasks the action holds, and their ids.
    generations: HashMap<(String, String), (String, Vec<String>)>,
    executions: HashMap<String, WorkflowExecution>,
    /// The model calls the runs in progress hold ([`Store::reserved_model_calls`]).
    reserved_model_calls: u32,
}

/// A [`Store`] in one process's memory. Every method takes the lock once, so each call is atomic
/// like the single DynamoDB request (or transaction) it stands for.
#[derive(Default)]
pub struct InMemoryStore {
    tables: Mutex<Tables>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> Result<MutexGuard<'_, Tables>, StoreError> {
        self.tables
            .lock()
            .map_err(|_| StoreError::Other("in-memory store poisoned by a panic".into()))
    }

    /// Every task stored, for assertions.
    pub fn all_tasks(&self) -> Vec<Task> {
        self.tables()
            .map(|t| t.tasks.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn missing_execution(execution_arn: &str) -> StoreError {
    StoreError::ConditionFailed(format!("no execution {execution_arn}"))
}

fn is_running(t: &Tables, execution_arn: &str) -> bool {
    t.executions
        .get(execution_arn)
        .is_some_and(|run| run.status == ExecutionStatus::Running)
}

#[async_trait]
impl Store for InMemoryStore {
    async fn get_goal(&self, goal_id: &str) -> Result<Option<Goal>, StoreError> {
        Ok(self.tables()?.goals.get(goal_id).cloned())
    }

    async fn put_goal(&self, goal: &Goal) -> Result<(), StoreError> {
        self.tables()?
            .goals
            .insert(goal.goal_id.clone(), goal.clone());
        Ok(())
    }

    async fn put_actions(&self, actions: &[Action]) -> Result<(), StoreError> {
        let mut t = self.tables()?;
        for a in actions {
            // A put replaces the whole item, as DynamoDB's does, and with it the tasks it names.
            t.generations
                .remove(&(a.goal_id.clone(), a.action_id.clone()));
            t.actions
                .entry(a.goal_id.clone())
                .or_default()
                .insert(a.action_id.clone(), a.clone());
        }
        Ok(())
    }

    async fn list_actions(&self, goal_id: &str) -> Result<Vec<Action>, StoreError> {
        let mut actions: Vec<Action> = self
            .tables()?
            .actions
            .get(goal_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        actions.sort_by(|a, b| (a.position, &a.action_id).cmp(&(b.position, &b.action_id)));
        Ok(actions)
    }

    async fn begin_run(
        &self,
        record: &WorkflowExecution,
        quota: ModelQuota,
    ) -> Result<(), StoreError> {
        let mut t = self.tables()?;
        if t.executions.contains_key(&record.execution_arn) {
            return Err(StoreError::ConditionFailed(format!(
                "execution {} already recorded",
                record.execution_arn
            )));
        }
        let goal = t
            .goals
            .get(&record.goal_id)
            .ok_or_else(|| StoreError::ConditionFailed(format!("no goal {}", record.goal_id)))?;
        if goal.status == GoalStatus::Processing {
            return Err(StoreError::ConditionFailed(format!(
                "goal {} is already processing",
                record.goal_id
            )));
        }
        if let Some(source) = &record.retry_of {
            if goal.current_execution_arn.as_ref() != Some(source) {
                return Err(StoreError::ConditionFailed(format!(
                    "goal {}'s latest run is no longer {source}",
                    record.goal_id
                )));
            }
        }
        let reserved = t.reserved_model_calls.saturating_add(record.model_calls);
        if record.model_calls > 0 && reserved > quota.concurrent_calls {
            return Err(quota_full(record));
        }
        let goal = t
            .goals
            .get_mut(&record.goal_id)
            .ok_or_else(|| StoreError::ConditionFailed(format!("no goal {}", record.goal_id)))?;
        goal.status = GoalStatus::Processing;
        goal.current_execution_arn = Some(record.execution_arn.clone());
        goal.updated_at = record.started_at;
        goal.completed_at = None;
        t.reserved_model_calls = reserved;
        t.executions
            .insert(record.execution_arn.clone(), record.clone());
        Ok(())
    }

    async fn get_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<WorkflowExecution>, StoreError> {
        Ok(self.tables()?.executions.get(execution_arn).cloned())
    }

    async fn list_goal_executions(
        &self,
        goal_id: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<RunsPage, StoreError> {
        let limit = limit.max(1);
        let place = |r: &WorkflowExecution| (r.started_at, r.execution_arn.clone());
        let mut runs: Vec<WorkflowExecution> = self
            .tables()?
            .executions
            .values()
            .filter(|e| e.goal_id == goal_id)
            .filter(|e| after.is_none_or(|a| place(e) < (a.started_at, a.execution_arn.clone())))
            .cloned()
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(place(r)));
        runs.truncate(limit.saturating_add(1));
        Ok(RunsPage::of(runs, limit))
    }

    async fn list_running_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        Ok(self
            .tables()?
            .executions
            .values()
            .filter(|e| e.status == ExecutionStatus::Running && e.started_at < started_before)
            .cloned()
            .collect())
    }

    async fn list_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        let mut runs: Vec<WorkflowExecution> = self
            .tables()?
            .executions
            .values()
            .filter(|e| e.started_at < started_before)
            .cloned()
            .collect();
        runs.sort_by(|a, b| {
            (a.started_at, &a.execution_arn).cmp(&(b.started_at, &b.execution_arn))
        });
        Ok(runs)
    }

    async fn set_total_actions(&self, execution_arn: &str, total: u32) -> Result<(), StoreError> {
        let mut t = self.tables()?;
        let run = t
            .executions
            .get_mut(execution_arn)
            .ok_or_else(|| missing_execution(execution_arn))?;
        run.total_actions = total;
        Ok(())
    }

    async fn record_action_outcome(
        &self,
        execution_arn: &str,
        outcome: &ActionOutcome,
        at: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        let mut t = self.tables()?;
        let run = t
            .executions
            .get_mut(execution_arn)
            .ok_or_else(|| missing_execution(execution_arn))?;
        let mut counted = Counted::default();
        if run.status.is_final() {
            return Ok(counted);
        }
        if !run.processed_action_ids.contains(&outcome.action_id) {
            run.processed_action_ids.push(outcome.action_id.clone());
            run.processed_actions += 1;
            run.finished_calls.extend(outcome.call.clone());
            counted.processed = true;
        }
        if let Some(failure) = &outcome.failure {
            if !run.failed_action_ids.contains(&outcome.action_id) {
                run.failed_action_ids.push(outcome.action_id.clone());
                run.failed_count += 1;
                run.failed_actions.push(failure.clone());
                counted.failed = true;
            }
        }
        if counted != Counted::default() {
            run.updated_at = at;
        }
        Ok(counted)
    }

    async fn set_progress(
        &self,
        execution_arn: &str,
        percent: u8,
        eta_seconds: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut t = self.tables()?;
        let run = t
            .executions
            .get_mut(execution_arn)
            .ok_or_else(|| missing_execution(execution_arn))?;
        if !run.status.is_final() && run.progress_percent <= percent {
            run.progress_percent = percent;
            run.eta_seconds = eta_seconds;
            run.updated_at = at;
        }
        Ok(())
    }

    async fn finish_run(&self, execution_arn: &str, end: &RunEnd) -> Result<bool, StoreError> {
        let mut t = self.tables()?;
        let run = t
            .executions
            .get_mut(execution_arn)
            .ok_or_else(|| missing_execution(execution_arn))?;
        if run.status.is_final() {
            return Ok(false);
        }
        run.status = end.status;
        run.stopped_at = Some(end.at);
        run.updated_at = end.at;
        run.error.clone_from(&end.error);
        run.cause.clone_from(&end.cause);
        run.pending_alert.clone_from(&end.alert);
        if end.status == ExecutionStatus::Succeeded {
            run.eta_seconds = Some(0);
        }
        let (goal_id, held) = (run.goal_id.clone(), run.model_calls);
        if let Some(goal) = t.goals.get_mut(&goal_id) {
            if goal.current_execution_arn.as_deref() == Some(execution_arn) {
                goal.status = end.goal_status;
                goal.updated_at = end.at;
                goal.completed_at = Some(end.at);
            }
        }
        t.reserved_model_calls = t.reserved_model_calls.saturating_sub(held);
        Ok(true)
    }

    async fn reserved_model_calls(&self) -> Result<u32, StoreError> {
        Ok(self.tables()?.reserved_model_calls)
    }

    async fn clear_pending_alert(&self, execution_arn: &str) -> Result<(), StoreError> {
        let mut t = self.tables()?;
        let run = t
            .executions
            .get_mut(execution_arn)
            .ok_or_else(|| missing_execution(execution_arn))?;
        run.pending_alert = None;
        Ok(())
    }

    async fn list_pending_alerts(&self) -> Result<Vec<WorkflowExecution>, StoreError> {
        let t = self.tables()?;
        Ok(t.executions
            .values()
            .filter(|run| run.pending_alert.is_some())
            .cloned()
            .collect())
    }

    async fn save_action_tasks(&self, tasks: &[Task]) -> Result<u32, StoreError> {
        let Some(first) = tasks.first() else {
            return Ok(0);
        };
        let mut t = self.tables()?;
        let key = (first.goal_id.clone(), first.action_id.clone());
        let exists = t
            .actions
            .get(&first.goal_id)
            .is_some_and(|a| a.contains_key(&first.action_id));
        if !exists {
            return Err(StoreError::ConditionFailed(format!(
                "no action {} in goal {}",
                first.action_id, first.goal_id
            )));
        }
        let ids: Vec<String> = tasks.iter().map(|task| task.task_id.clone()).collect();
        let previous = t.generations.get(&key).cloned();
        if let Some(answer) = repeated_save(previous.as_ref(), first, &ids) {
            return answer;
        }
        let replaced = previous.as_ref().map_or(0, |(_, held)| held.len());
        refuse_oversized_save(&first.action_id, ids.len(), replaced)?;
        if !is_running(&t, &first.execution_arn) {
            return Err(no_longer_running(&first.execution_arn));
        }
        if let Some(stored) = tasks
            .iter()
            .find(|task| t.tasks.contains_key(&task.task_id))
        {
            // The transaction's conditions fail as a whole: nothing is written.
            return Err(StoreError::ConditionFailed(format!(
                "task {} already stored",
                stored.task_id
            )));
        }
        for old in previous.map(|(_, held)| held).unwrap_or_default() {
            t.tasks.remove(&old);
        }
        for task in tasks {
            t.tasks.insert(task.task_id.clone(), task.clone());
        }
        t.generations
            .insert(key, (first.execution_arn.clone(), ids));
        Ok(tasks.len() as u32)
    }

    async fn list_execution_tasks(&self, execution_arn: &str) -> Result<Vec<Task>, StoreError> {
        let mut tasks: Vec<Task> = self
            .tables()?
            .tasks
            .values()
            .filter(|task| task.execution_arn == execution_arn)
            .cloned()
            .collect();
        tasks.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        Ok(tasks)
    }

    async fn delete_execution_tasks(&self, execution_arn: &str) -> Result<u32, StoreError> {
        let mut t = self.tables()?;
        let held: Vec<String> = t
            .generations
            .values()
            .filter(|(run, _)| run == execution_arn)
            .flat_map(|(_, ids)| ids.clone())
            .collect();
        for id in &held {
            t.tasks.remove(id);
        }
        t.generations.retain(|_, (run, _)| run != execution_arn);
        Ok(held.len() as u32)
    }

    async fn count_action_tasks(&self, goal_id: &str) -> Result<BTreeMap<String, u32>, StoreError> {
        Ok(self
            .tables()?
            .generations
            .iter()
            .filter(|((goal, _), _)| goal == goal_id)
            .map(|((_, action), (_, ids))| (action.clone(), ids.len() as u32))
            .collect())
    }
}

/// Keeps archived objects in memory.
#[derive(Default)]
pub struct InMemoryArchive {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl InMemoryArchive {
    /// Every object, by key.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Archive for InMemoryArchive {
    async fn exists(&self, key: &str) -> Result<bool, DomainError> {
        Ok(self.objects().contains_key(key))
    }

    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), DomainError> {
        if let Ok(mut objects) = self.objects.lock() {
            objects.insert(key.to_owned(), body);
        }
        Ok(())
    }

    fn location(&self, key: &str) -> String {
        format!("memory:///{key}")
    }
}

/// Collects published alerts in memory.
#[derive(Default)]
pub struct RecordingNotifier {
    alerts: Mutex<Vec<Alert>>,
    unavailable_for: AtomicU32,
}

impl RecordingNotifier {
    /// A notifier whose first `publishes` attempts fail as an unreachable SNS would.
    pub fn unavailable_for(publishes: u32) -> Self {
        Self {
            unavailable_for: AtomicU32::new(publishes),
            ..Self::default()
        }
    }

    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), DomainError> {
        let unavailable = self
            .unavailable_for
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if unavailable {
            return Err(DomainError::transient(
                crate::error::ErrorCode::Unavailable,
                "the alerts topic is unavailable",
            ));
        }
        if let Ok(mut alerts) = self.alerts.lock() {
            alerts.push(alert.clone());
        }
        Ok(())
    }
}

/// An execution as [`InMemoryExecutions`] (and sfn-local's in-process executions) keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedExecution {
    pub input: String,
    pub description: ExecutionDescription,
}

/// Execution control with Step Functions' naming rules, for tests and local runs that drive the
/// executions themselves: a name is taken once; starting it again with the same input while it
/// runs returns it, after it closed is `AlreadyExists`.
pub struct InMemoryExecutions {
    state_machine_arn: String,
    clock: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    executions: Mutex<BTreeMap<String, RecordedExecution>>,
}

impl InMemoryExecutions {
    pub fn new(
        state_machine_arn: impl Into<String>,
        clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static,
    ) -> Self {
        Self {
            state_machine_arn: state_machine_arn.into(),
            clock: Box::new(clock),
            executions: Mutex::new(BTreeMap::new()),
        }
    }

    fn executions(
        &self,
    ) -> Result<MutexGuard<'_, BTreeMap<String, RecordedExecution>>, DomainError> {
        self.executions.lock().map_err(|_| {
            DomainError::permanent(crate::ErrorCode::Internal, "execution registry poisoned")
        })
    }

    /// Every execution started, by ARN.
    pub fn recorded(&self) -> Vec<RecordedExecution> {
        self.executions
            .lock()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Ends an execution as the service would when it finishes on its own.
    pub fn close(&self, execution_arn: &str, status: ExecutionStatus) {
        if let Ok(mut executions) = self.executions.lock() {
            if let Some(e) = executions.get_mut(execution_arn) {
                if !e.description.status.is_final() {
                    e.description.status = status;
                    e.description.stop_date = Some((self.clock)());
                }
            }
        }
    }

    /// Ends an execution successfully with `output`, as the service would.
    pub fn succeed(&self, execution_arn: &str, output: &str) {
        self.close(execution_arn, ExecutionStatus::Succeeded);
        if let Ok(mut executions) = self.executions.lock() {
            if let Some(e) = executions.get_mut(execution_arn) {
                e.description.output = Some(output.to_owned());
            }
        }
    }
}

#[async_trait]
impl ExecutionControl for InMemoryExecutions {
    fn execution_arn(&self, name: &str) -> String {
        naming::execution_arn(&self.state_machine_arn, name)
    }

    async fn start_execution(&self, name: &str, input: &str) -> Result<StartOutcome, DomainError> {
        let execution_arn = self.execution_arn(name);
        let mut executions = self.executions()?;
        if let Some(existing) = executions.get(&execution_arn) {
            return Ok(StartOutcome::for_taken_name(
                &existing.description,
                &existing.input,
                input,
            ));
        }
        let start_date = (self.clock)();
        executions.insert(
            execution_arn.clone(),
            RecordedExecution {
                input: input.to_owned(),
                description: ExecutionDescription::running(execution_arn.clone(), start_date),
            },
        );
        Ok(StartOutcome::Started {
            execution_arn,
            start_date,
        })
    }

    async fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDescription>, DomainError> {
        Ok(self
            .executions()?
            .get(execution_arn)
            .map(|e| e.description.clone()))
    }

    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> Result<(), DomainError> {
        let now = (self.clock)();
        let mut executions = self.executions()?;
        let Some(e) = executions.get_mut(execution_arn) else {
            return Ok(());
        };
        if !e.description.status.is_final() {
            e.description.status = ExecutionStatus::Aborted;
            e.description.stop_date = Some(now);
            e.description.cause = Some(cause.to_owned());
        }
        Ok(())
    }
}
