//! The ports: what the domain needs from the outside world. Adapters live in `memory`, `offline`
//! and `aws`; handlers receive them as trait objects built once at start-up.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capacity::ModelQuota;
use crate::error::{DomainError, StoreError};
use crate::records::{
    Action, ActionOutcome, ExecutionStatus, Goal, RunEnd, Task, WorkflowExecution,
};

/// Where goals, actions, tasks and WorkflowExecution records live. Every conditional method says
/// what it requires; adapters must give the same answers (the in-memory one is the reference).
#[async_trait]
pub trait Store: Send + Sync {
    async fn get_goal(&self, goal_id: &str) -> Result<Option<Goal>, StoreError>;
    /// Creates or replaces a goal (seeding and tests).
    async fn put_goal(&self, goal: &Goal) -> Result<(), StoreError>;
    /// Creates or replaces actions (seeding and tests).
    async fn put_actions(&self, actions: &[Action]) -> Result<(), StoreError>;
    /// A goal's actions in position order.
    async fn list_actions(&self, goal_id: &str) -> Result<Vec<Action>, StoreError>;

    /// In one atomic step: writes `record` (which must not exist yet), moves its goal to
    /// `processing` owned by the record's execution (the goal must exist and not be processing;
    /// for a retry, its latest run must still be the one retried) and reserves the record's
    /// `model_calls` from `quota`. `ConditionFailed` when a requirement on the record or the goal
    /// does not hold, `QuotaFull` when the runs in progress leave the quota too little room;
    /// nothing is written then.
    async fn begin_run(
        &self,
        record: &WorkflowExecution,
        quota: ModelQuota,
    ) -> Result<(), StoreError>;
    /// The model calls the runs in progress hold: what [`Store::begin_run`] reserved and
    /// [`Store::finish_run`] has not yet given back.
    async fn reserved_model_calls(&self) -> Result<u32, StoreError>;
    async fn get_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<WorkflowExecution>, StoreError>;
    /// Up to `limit` of a goal's runs, newest first (the goalId index): from the newest, or from
    /// the run after `after`. The page says where the next one starts, and says nothing when no
    /// run is left, so an empty page is never needed to learn that the last was the last.
    async fn list_goal_executions(
        &self,
        goal_id: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<RunsPage, StoreError>;
    /// Runs still RUNNING that started before `started_before` (the maintenance sweep).
    async fn list_running_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError>;
    /// Runs (any status) that started before `started_before`: the history the archive keeps
    /// before the TTL removes it.
    async fn list_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError>;
    /// Records the number of actions the run processes.
    async fn set_total_actions(&self, execution_arn: &str, total: u32) -> Result<(), StoreError>;
    /// Counts a finished action with atomic increments: as processed once, and, when the outcome
    /// is a failure, as failed once (an action counted as processed when its tasks were generated
    /// can still fail when they are saved). Says what it counted; repeats count nothing, and so
    /// does a run that is no longer RUNNING (its record is final).
    async fn record_action_outcome(
        &self,
        execution_arn: &str,
        outcome: &ActionOutcome,
        at: DateTime<Utc>,
    ) -> Result<Counted, StoreError>;
    /// Writes percent and ETA unless the stored percent is already higher (progress never goes
    /// back) or the run is no longer RUNNING.
    async fn set_progress(
        &self,
        execution_arn: &str,
        percent: u8,
        eta_seconds: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Ends a RUNNING run, gives back its model calls and moves its goal (if the goal is still
    /// owned by this run) in one step. Returns false, changing nothing, when the run had already
    /// ended.
    async fn finish_run(&self, execution_arn: &str, end: &RunEnd) -> Result<bool, StoreError>;
    /// Forgets the run's pending alert, once it has been published.
    async fn clear_pending_alert(&self, execution_arn: &str) -> Result<(), StoreError>;
    /// Ended runs whose alert is not yet delivered: the maintenance sweep's backstop.
    async fn list_pending_alerts(&self) -> Result<Vec<WorkflowExecution>, StoreError>;

    /// Makes one run's tasks of one action the tasks the action holds, replacing those an earlier
    /// run generated for it in the same atomic write: a reader sees the old set or the new, never
    /// both, and a run that dies half way leaves every action with one whole set. Returns the
    /// number of tasks the action holds from this run, whether this call or an earlier attempt
    /// of the same save wrote them. Refused ([`StoreError::ConditionFailed`]) when the action
    /// does not exist or changed meanwhile, or when the run is no longer RUNNING (a save in flight
    /// when the run was cancelled), and ([`StoreError::TooLarge`]) when the write would hold more
    /// than [`MAX_ATOMIC_WRITE_ITEMS`] items (see [`save_write_items`]).
    async fn save_action_tasks(&self, tasks: &[Task]) -> Result<u32, StoreError>;
    /// The tasks a run wrote (the tasks' execution index).
    async fn list_execution_tasks(&self, execution_arn: &str) -> Result<Vec<Task>, StoreError>;
    /// Deletes the tasks of the run that its goal's actions still hold (each action's set with
    /// its release, atomically; a set a later run has replaced is that run's and stays), reading
    /// the actions consistently; returns how many were deleted.
    async fn delete_execution_tasks(&self, execution_arn: &str) -> Result<u32, StoreError>;
    /// How many tasks each of a goal's actions holds (one run's set, see
    /// [`Store::save_action_tasks`]), by action id; an action that holds none is absent.
    async fn count_action_tasks(&self, goal_id: &str) -> Result<BTreeMap<String, u32>, StoreError>;
}

/// The refusal of a run the model quota has no room for.
pub fn quota_full(record: &WorkflowExecution) -> StoreError {
    StoreError::QuotaFull(format!(
        "no room in the model quota for {} more calls at once (run {})",
        record.model_calls, record.execution_arn
    ))
}

/// The most items one atomic write holds (DynamoDB's TransactWriteItems limit).
pub const MAX_ATOMIC_WRITE_ITEMS: usize = 100;

/// The items of the atomic write that saves `new` tasks of an action in place of the `replaced`
/// ones it held: each task written, each task deleted, the action, and the check that the run is
/// still RUNNING.
pub const fn save_write_items(new: usize, replaced: usize) -> usize {
    new + replaced + 2
}

/// The refusal of a save of `new` tasks in place of `replaced`, when one atomic write cannot hold
/// it.
pub fn refuse_oversized_save(
    action_id: &str,
    new: usize,
    replaced: usize,
) -> Result<(), StoreError> {
    let items = save_write_items(new, replaced);
    if items > MAX_ATOMIC_WRITE_ITEMS {
        return Err(StoreError::TooLarge(format!(
            "saving {new} tasks of action {action_id} in place of {replaced} needs {items} items in \
             one atomic write; at most {MAX_ATOMIC_WRITE_ITEMS} fit"
        )));
    }
    Ok(())
}

/// The answer to a save of `ids`, `first`'s run's tasks of its action, when the action already
/// holds that run's tasks (`held`): done when they are these (their number, as the first attempt
/// answered), refused when they are others. `None` when the save has still to be written.
pub fn repeated_save(
    held: Option<&(String, Vec<String>)>,
    first: &Task,
    ids: &[String],
) -> Option<Result<u32, StoreError>> {
    let (run, held) = held?;
    (*run == first.execution_arn).then(|| {
        if held == ids {
            Ok(ids.len() as u32)
        } else {
            Err(StoreError::ConditionFailed(format!(
                "action {} holds other tasks of this run",
                first.action_id
            )))
        }
    })
}

/// The refusal of a write of a run whose record is final.
pub fn no_longer_running(execution_arn: &str) -> StoreError {
    StoreError::ConditionFailed(format!("execution {execution_arn} is no longer running"))
}

/// A place in a goal's runs, newest first: just after the run that started at `started_at` with
/// this ARN. Runs that started in the same millisecond come in an order each adapter keeps from
/// one page to the next (the in-memory one: descending ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsAfter {
    pub started_at: DateTime<Utc>,
    pub execution_arn: String,
}

impl RunsAfter {
    /// Just after `run`.
    pub fn of(run: &WorkflowExecution) -> Self {
        Self {
            started_at: run.started_at,
            execution_arn: run.execution_arn.clone(),
        }
    }
}

/// One page of a goal's runs, newest first, and where the next page starts (`None`: no more).
#[derive(Debug, Clone, PartialEq)]
pub struct RunsPage {
    pub runs: Vec<WorkflowExecution>,
    pub next: Option<RunsAfter>,
}

impl RunsPage {
    /// The page of at most `limit` runs out of `runs` (newest first, already after the cursor),
    /// of which the adapter fetched one more than `limit` when it could: that one only says
    /// whether a next page exists.
    pub fn of(mut runs: Vec<WorkflowExecution>, limit: usize) -> Self {
        let more = runs.len() > limit;
        runs.truncate(limit);
        let next = if more {
            runs.last().map(RunsAfter::of)
        } else {
            None
        };
        Self { runs, next }
    }
}

/// What recording an action's outcome counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub processed: bool,
    pub failed: bool,
}

/// What StartExecution answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new execution, or (same name and input while running) the running one.
    Started {
        execution_arn: String,
        start_date: DateTime<Utc>,
    },
    /// The name is taken by a closed execution (for 90 days): read the record instead.
    AlreadyExists { execution_arn: String },
}

/// DescribeExecution's answer, as much of it as the domain uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDescription {
    pub execution_arn: String,
    pub status: ExecutionStatus,
    pub start_date: DateTime<Utc>,
    pub stop_date: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The execution's output (JSON text), once it has succeeded.
    #[serde(default)]
    pub output: Option<String>,
}

impl ExecutionDescription {
    /// An execution StartExecution has just started.
    pub fn running(execution_arn: String, start_date: DateTime<Utc>) -> Self {
        ExecutionDescription {
            execution_arn,
            status: ExecutionStatus::Running,
            start_date,
            stop_date: None,
            error: None,
            cause: None,
            output: None,
        }
    }
}

impl StartOutcome {
    /// StartExecution's answer for a name `existing` (started with `existing_input`) already
    /// has: the running execution again for the same input, ExecutionAlreadyExists for another
    /// input or once it has closed.
    pub fn for_taken_name(
        existing: &ExecutionDescription,
        existing_input: &str,
        input: &str,
    ) -> Self {
        let execution_arn = existing.execution_arn.clone();
        if existing.status == ExecutionStatus::Running && existing_input == input {
            StartOutcome::Started {
                execution_arn,
                start_date: existing.start_date,
            }
        } else {
            StartOutcome::AlreadyExists { execution_arn }
        }
    }
}

/// Starting, inspecting and stopping executions of the workflow's state machine.
#[async_trait]
pub trait ExecutionControl: Send + Sync {
    /// The ARN an execution named `name` has (known before it starts).
    fn execution_arn(&self, name: &str) -> String;
    async fn start_execution(&self, name: &str, input: &str) -> Result<StartOutcome, DomainError>;
    /// `None` when no such execution exists.
    async fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDescription>, DomainError>;
    /// Stops a running execution; stopping one that has already ended, or that does not exist
    /// (a start that never went through), is not an error.
    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> Result<(), DomainError>;
}

pub use crate::records::Alert;

/// Publishes alerts (SNS in production).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn publish(&self, alert: &Alert) -> Result<(), DomainError>;
}

/// Long-term storage for execution history (S3 in production).
#[async_trait]
pub trait Archive: Send + Sync {
    async fn exists(&self, key: &str) -> Result<bool, DomainError>;
    /// Writes (or overwrites) the object at `key`.
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), DomainError>;
    /// Where the object at `key` is, as a person or a tool would name it (`s3://bucket/key`).
    fn location(&self, key: &str) -> String;
}

/// One task as the generator proposes it, before it gets its id and position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedTask {
    pub title: String,
    pub description: String,
    pub estimated_minutes: u32,
}

/// Turns an action into tasks (Bedrock in production, the offline generator locally).
#[async_trait]
pub trait TaskGenerator: Send + Sync {
    /// Transient errors for throttling and timeouts, Permanent for output that breaks the schema.
    async fn generate(
        &self,
        goal_title: &str,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError>;
}

/// The current time: the system's in Lambda, a virtual one in the local executor.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that shows the time it is set to, for tests.
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(now))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = now;
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_starts_again_only_while_running_with_the_same_input() {
        let at = Utc::now();
        let mut existing = ExecutionDescription::running("arn:x".into(), at);
        let started = StartOutcome::Started {
            execution_arn: "arn:x".into(),
            start_date: at,
        };
        let exists = StartOutcome::AlreadyExists {
            execution_arn: "arn:x".into(),
        };
        assert_eq!(StartOutcome::for_taken_name(&existing, "{}", "{}"), started);
        assert_eq!(
            StartOutcome::for_taken_name(&existing, "{}", "{\"a\":1}"),
            exists
        );
        existing.status = ExecutionStatus::Succeeded;
        assert_eq!(StartOutcome::for_taken_name(&existing, "{}", "{}"), exists);
    }
}
