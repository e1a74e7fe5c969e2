//! What the three API routes do: start a run, report its status, cancel it. The caller is always
//! the user named by the verified token's claims.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorCode, StoreError};
use crate::metrics::{Metric, MetricName, MetricSink};
use crate::naming::execution_name;
use crate::ports::{Clock, ExecutionControl, StartOutcome, Store};
use crate::progress::{eta_seconds, progress_percent};
use crate::records::{ExecutionStatus, FailedAction, GoalStatus, RunEnd, WorkflowExecution};
use crate::steps::ExecutionInput;

/// An idempotency key is at most this long.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// The 202 answer to a start request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartResponse {
    pub execution_arn: String,
    pub start_date: DateTime<Utc>,
    pub status: ExecutionStatus,
}

/// Starts processing a goal's actions. Repeating the same request (same goal, same idempotency
/// key) returns the run the first one started and never starts a second. Without a key, the
/// goal's last change stands in for it, so a double click does not start two runs either.
pub async fn start_activity(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    user_id: &str,
    goal_id: &str,
    idempotency_key: Option<&str>,
) -> Result<StartResponse, DomainError> {
    let goal = owned_goal(store, user_id, goal_id).await?;
    let key = match idempotency_key {
        Some(k) => check_idempotency_key(k)?.to_owned(),
        None => format!("goal-state-{}", goal.updated_at.timestamp_micros()),
    };
    let name = execution_name(goal_id, &key);
    let execution_arn = control.execution_arn(&name);

    if let Some(existing) = store.get_execution(&execution_arn).await? {
        return Ok(StartResponse {
            execution_arn,
            start_date: existing.started_at,
            status: existing.status,
        });
    }
    if goal.status == GoalStatus::Processing {
        return Err(already_processing(
            goal_id,
            goal.current_execution_arn.as_deref(),
        ));
    }

    let record = WorkflowExecution::started(
        execution_arn.clone(),
        name.clone(),
        &goal,
        key.clone(),
        clock.now(),
    );
    match store.begin_run(&record).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed(_)) => {
            // Lost a race: another request started a run (maybe this very one) meanwhile.
            if let Some(existing) = store.get_execution(&execution_arn).await? {
                return Ok(StartResponse {
                    execution_arn,
                    start_date: existing.started_at,
                    status: existing.status,
                });
            }
            let current = store.get_goal(goal_id).await?;
            return Err(already_processing(
                goal_id,
                current.and_then(|g| g.current_execution_arn).as_deref(),
            ));
        }
        Err(e) => return Err(e.into()),
    }

    let input = ExecutionInput {
        goal_id: goal.goal_id.clone(),
        user_id: goal.user_id.clone(),
        idempotency_key: key,
        action_ids: None,
    };
    let input = serde_json::to_string(&input)
        .map_err(|e| DomainError::permanent(ErrorCode::Internal, e.to_string()))?;
    let refusal = match control.start_execution(&name, &input).await {
        Ok(StartOutcome::Started { start_date, .. }) => {
            metrics.emit(
                &[Metric::count(MetricName::ExecutionsStarted, 1)],
                &[("executionArn", &execution_arn), ("goalId", goal_id)],
            );
            return Ok(StartResponse {
                execution_arn,
                start_date,
                status: ExecutionStatus::Running,
            })
        }
        Ok(StartOutcome::AlreadyExists { .. }) => DomainError::conflict(format!(
            "an earlier run already used this start request for goal {goal_id}; send a new idempotency key"
        )),
        Err(e) => e,
    };
    // Nothing runs: give the goal back its status so it can be started again.
    store
        .finish_run(
            &execution_arn,
            &RunEnd {
                status: ExecutionStatus::Failed,
                goal_status: goal.status,
                at: clock.now(),
                error: Some("StartExecutionFailed".to_owned()),
                cause: Some(refusal.message.clone()),
            },
        )
        .await?;
    Err(refusal)
}

fn check_idempotency_key(key: &str) -> Result<&str, DomainError> {
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(DomainError::bad_request(format!(
            "idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
        )));
    }
    Ok(key)
}

fn already_processing(goal_id: &str, execution_arn: Option<&str>) -> DomainError {
    DomainError::conflict(format!(
        "goal {goal_id} is already processing (execution {})",
        execution_arn.unwrap_or("unknown")
    ))
}

async fn owned_goal(
    store: &dyn Store,
    user_id: &str,
    goal_id: &str,
) -> Result<crate::records::Goal, DomainError> {
    let goal = store
        .get_goal(goal_id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("goal {goal_id} does not exist")))?;
    if goal.user_id != user_id {
        return Err(DomainError::forbidden(format!(
            "goal {goal_id} belongs to another user"
        )));
    }
    Ok(goal)
}

async fn owned_execution(
    store: &dyn Store,
    user_id: &str,
    execution_arn: &str,
) -> Result<WorkflowExecution, DomainError> {
    let run = store.get_execution(execution_arn).await?.ok_or_else(|| {
        DomainError::not_found(format!("execution {execution_arn} does not exist"))
    })?;
    if run.user_id != user_id {
        return Err(DomainError::forbidden(format!(
            "execution {execution_arn} belongs to another user"
        )));
    }
    Ok(run)
}

/// The 200 answer to a status request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub execution_arn: String,
    pub goal_id: String,
    pub status: ExecutionStatus,
    pub progress_percent: u8,
    pub processed_actions: u32,
    pub total_actions: u32,
    pub failed_count: u32,
    pub failed_actions: Vec<FailedAction>,
    /// Absent until the first action finishes; 0 once the run has ended.
    pub estimated_seconds_remaining: Option<u64>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl StatusView {
    /// The view of a record at `now`: percent from the counters, ETA from the pace so far.
    pub fn of(run: WorkflowExecution, now: DateTime<Utc>) -> Self {
        let percent = progress_percent(run.processed_actions, run.total_actions);
        let eta = if run.status.is_final() {
            Some(0)
        } else {
            let elapsed = (now - run.started_at).num_seconds().max(0) as u64;
            eta_seconds(elapsed, run.processed_actions, run.total_actions)
        };
        Self {
            progress_percent: percent.max(run.progress_percent),
            estimated_seconds_remaining: eta,
            execution_arn: run.execution_arn,
            goal_id: run.goal_id,
            status: run.status,
            processed_actions: run.processed_actions,
            total_actions: run.total_actions,
            failed_count: run.failed_count,
            failed_actions: run.failed_actions,
            started_at: run.started_at,
            updated_at: run.updated_at,
            stopped_at: run.stopped_at,
            error: run.error,
            cause: run.cause,
        }
    }
}

pub async fn get_status(
    store: &dyn Store,
    clock: &dyn Clock,
    user_id: &str,
    execution_arn: &str,
) -> Result<StatusView, DomainError> {
    let run = owned_execution(store, user_id, execution_arn).await?;
    Ok(StatusView::of(run, clock.now()))
}

/// Cancels a running run: stops the execution, ends the record ABORTED with the goal back to
/// draft, and deletes the tasks the run wrote. Cancelling an aborted run again changes nothing;
/// cancelling a run that ended otherwise is a conflict.
pub async fn cancel_run(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    clock: &dyn Clock,
    user_id: &str,
    execution_arn: &str,
) -> Result<StatusView, DomainError> {
    let run = owned_execution(store, user_id, execution_arn).await?;
    match run.status {
        ExecutionStatus::Running => {}
        ExecutionStatus::Aborted => {
            // A repeated cancel: finish the clean-up the first one may not have completed.
            store.delete_execution_tasks(execution_arn).await?;
            return Ok(StatusView::of(run, clock.now()));
        }
        ended => {
            return Err(DomainError::conflict(format!(
                "execution {execution_arn} has already ended ({})",
                ended.as_str()
            )))
        }
    }
    control
        .stop_execution(execution_arn, "Cancelled by the goal's owner")
        .await?;
    let end = RunEnd {
        status: ExecutionStatus::Aborted,
        goal_status: GoalStatus::Draft,
        at: clock.now(),
        error: Some("Cancelled".to_owned()),
        cause: Some("Cancelled by the goal's owner".to_owned()),
    };
    let aborted_now = store.finish_run(execution_arn, &end).await?;
    let run = owned_execution(store, user_id, execution_arn).await?;
    if !aborted_now && run.status != ExecutionStatus::Aborted {
        return Err(DomainError::conflict(format!(
            "execution {execution_arn} ended ({}) before it could be cancelled",
            run.status.as_str()
        )));
    }
    store.delete_execution_tasks(execution_arn).await?;
    Ok(StatusView::of(run, clock.now()))
}
