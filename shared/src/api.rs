//! What the API routes do: start a run, retry a finished run's failed actions, report a run's
//! status, cancel it. The caller is always the user named by the verified token's claims.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capacity::{retry_after_seconds, ModelQuota, RunShare};
use crate::error::{DomainError, ErrorCode, StoreError};
use crate::metrics::{Metric, MetricName, MetricSink};
use crate::naming::execution_name;
use crate::ports::{Clock, ExecutionControl, StartOutcome, Store};
use crate::progress::progress_percent;
use crate::records::{ExecutionStatus, FailedAction, Goal, GoalStatus, RunEnd, WorkflowExecution};
use crate::steps::ExecutionInput;
use crate::workflow::actions_to_process;

/// An idempotency key is at most this long.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// The 202 answer to a start or retry request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartResponse {
    pub execution_arn: String,
    pub start_date: DateTime<Utc>,
    pub status: ExecutionStatus,
}

impl StartResponse {
    /// The answer for a run already recorded: its ARN, start and current status.
    pub fn of(run: &WorkflowExecution) -> Self {
        Self {
            execution_arn: run.execution_arn.clone(),
            start_date: run.started_at,
            status: run.status,
        }
    }
}

/// Starts processing a goal's actions. Repeating the same request (same goal, same idempotency
/// key) returns the run the first one started and never starts a second. Without a key, the
/// goal's last change stands in for it, so a double click does not start two runs either. While
/// the runs in progress fill the model quota, a new run is refused (429 with Retry-After) rather
/// than started to fail for capacity.
#[allow(clippy::too_many_arguments)]
pub async fn start_activity(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    user_id: &str,
    goal_id: &str,
    idempotency_key: Option<&str>,
    quota: ModelQuota,
) -> Result<StartResponse, DomainError> {
    let goal = owned_goal(store, user_id, goal_id).await?;
    let key = match idempotency_key {
        Some(k) => check_idempotency_key(k)?.to_owned(),
        None => format!("goal-state-{}", goal.updated_at.timestamp_micros()),
    };
    let name = execution_name(goal_id, &key);
    let execution_arn = control.execution_arn(&name);

    if let Some(existing) = store.get_execution(&execution_arn).await? {
        return Ok(StartResponse::of(&existing));
    }
    if goal.status == GoalStatus::Processing {
        return Err(already_processing(
            goal_id,
            goal.current_execution_arn.as_deref(),
        ));
    }
    let actions = check_runnable(store, &goal, None).await?;

    let record = WorkflowExecution::started(execution_arn, name, &goal, key, clock.now());
    let run = Launch {
        record,
        action_ids: None,
        actions,
    };
    launch(store, control, clock, metrics, quota, &goal, run).await
}

/// The idempotency key of a retry of `source_name`'s failed actions: one retry per finished run.
pub fn retry_key(source_name: &str) -> String {
    format!("retry:{source_name}")
}

/// Starts a run over only the failed actions of the caller's finished run, leaving the tasks
/// earlier runs saved for the other actions alone. Retrying the same run again returns the run
/// the first retry started and never starts a second (the execution name is derived from the goal
/// and [`retry_key`]).
///
/// Refused (409) while the run is going, when it ended before processing all its actions (an
/// uncaught error, a timeout, an abort: its failed list is incomplete), when none of its actions
/// failed, while another run of the goal is processing, and when a newer run of the goal has
/// replaced it; refused (429) as a start is while the model quota has no room.
pub async fn retry_failed(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    quota: ModelQuota,
    user_id: &str,
    execution_arn: &str,
) -> Result<StartResponse, DomainError> {
    let source = owned_execution(store, user_id, execution_arn).await?;
    let key = retry_key(&source.execution_name);
    let name = execution_name(&source.goal_id, &key);
    let retry_arn = control.execution_arn(&name);
    if let Some(existing) = store.get_execution(&retry_arn).await? {
        return Ok(StartResponse::of(&existing));
    }

    let action_ids = actions_to_retry(&source)?;
    let goal = owned_goal(store, user_id, &source.goal_id).await?;
    if let Some(refusal) = goal_refuses_retry(&goal, &source) {
        return Err(refusal);
    }
    let actions = check_runnable(store, &goal, Some(&action_ids)).await?;

    let record =
        WorkflowExecution::started(retry_arn, name, &goal, key, clock.now()).retrying(&source);
    let run = Launch {
        record,
        action_ids: Some(action_ids),
        actions,
    };
    launch(store, control, clock, metrics, quota, &goal, run).await
}

/// Why `goal` refuses a retry of its run `run` now, if it does: another run of it is processing,
/// or a newer run has replaced `run`.
fn goal_refuses_retry(goal: &Goal, run: &WorkflowExecution) -> Option<DomainError> {
    if goal.status == GoalStatus::Processing {
        return Some(already_processing(
            &goal.goal_id,
            goal.current_execution_arn.as_deref(),
        ));
    }
    if goal.current_execution_arn.as_deref() != Some(run.execution_arn.as_str()) {
        return Some(DomainError::conflict(format!(
            "execution {} is no longer goal {}'s latest run (now {}); retry that one instead",
            run.execution_arn,
            goal.goal_id,
            goal.current_execution_arn.as_deref().unwrap_or("none")
        )));
    }
    None
}

/// Whether [`retry_failed`] would start a retry of `goal`'s run `run` now: the run processed
/// every action with some failed, and the goal takes a retry of it.
pub fn retry_possible(goal: &Goal, run: &WorkflowExecution) -> bool {
    run.can_retry() && goal_refuses_retry(goal, run).is_none()
}

/// The actions a retry of `run` processes: exactly its failed ones, once it has processed every
/// one of its actions.
fn actions_to_retry(run: &WorkflowExecution) -> Result<Vec<String>, DomainError> {
    let arn = &run.execution_arn;
    if !run.status.is_final() {
        return Err(DomainError::conflict(format!(
            "execution {arn} has not finished yet"
        )));
    }
    if !run.finished_every_action() {
        return Err(DomainError::conflict(format!(
            "execution {arn} ended {} before it processed all its actions; start the goal again",
            run.status.as_str()
        )));
    }
    let ids = run.failed_ids();
    if ids.is_empty() {
        return Err(DomainError::conflict(format!(
            "execution {arn} has no failed actions to retry"
        )));
    }
    Ok(ids)
}

/// A run to begin: its record, the actions it processes (all of the goal's when `action_ids` is
/// `None`) and how many they are.
struct Launch {
    record: WorkflowExecution,
    action_ids: Option<Vec<String>>,
    actions: usize,
}

/// Begins the run for `goal` (record written, goal processing, its share of the model `quota`
/// reserved) and starts its execution. Refused (429, with when to try again) while the runs in
/// progress leave the quota no room for the run's smallest share. When the execution's start is
/// refused, the record ends FAILED and the goal gets its status back, so it can be started again.
async fn launch(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    quota: ModelQuota,
    goal: &Goal,
    run: Launch,
) -> Result<StartResponse, DomainError> {
    let Launch {
        mut record,
        action_ids,
        actions,
    } = run;
    let goal_id = goal.goal_id.as_str();
    let execution_arn = record.execution_arn.clone();
    let free = free_calls(store, quota).await?;
    let Some(share) = RunShare::within(actions, free) else {
        return Err(no_room(store, clock, free, actions).await);
    };
    record.model_calls = share.calls;
    record.actions_at_once = share.actions_at_once;
    match store.begin_run(&record, quota).await {
        Ok(()) => {}
        Err(StoreError::QuotaFull(_)) => {
            // Another start took the room meanwhile.
            let free = free_calls(store, quota).await?;
            return Err(no_room(store, clock, free, actions).await);
        }
        Err(StoreError::ConditionFailed(_)) => {
            // Lost a race: another request started a run (maybe this very one) meanwhile.
            if let Some(existing) = store.get_execution(&execution_arn).await? {
                return Ok(StartResponse::of(&existing));
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
        goal_id: record.goal_id.clone(),
        user_id: record.user_id.clone(),
        idempotency_key: record.idempotency_key.clone(),
        action_ids,
        actions_at_once: Some(share.actions_at_once),
    };
    let input = serde_json::to_string(&input)
        .map_err(|e| DomainError::permanent(ErrorCode::Internal, e.to_string()))?;
    let refusal = match control.start_execution(&record.execution_name, &input).await {
        Ok(StartOutcome::Started { .. }) => {
            metrics.emit(
                &[Metric::count(MetricName::ExecutionsStarted, 1)],
                &[("executionArn", &execution_arn), ("goalId", goal_id)],
            );
            // The record's start, not the service's: a repeated request answers from the record,
            // and the same request must get the same answer.
            return Ok(StartResponse::of(&record));
        }
        Ok(StartOutcome::AlreadyExists { .. }) => DomainError::conflict(match &record.retry_of {
            None => format!(
                "an earlier run already used this start request for goal {goal_id}; send a new idempotency key"
            ),
            Some(source) => format!(
                "the failed actions of execution {source} were already retried by a run that is no longer recorded; start the goal again"
            ),
        }),
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
                alert: None,
            },
        )
        .await?;
    Err(refusal)
}

/// Refuses (400) a run its goal's data cannot make, before anything is written or started: the
/// goal's own text, and the actions the run would process (see [`actions_to_process`]).
async fn check_runnable(
    store: &dyn Store,
    goal: &Goal,
    action_ids: Option<&[String]>,
) -> Result<usize, DomainError> {
    if let Some(refusal) = goal.refusal() {
        return Err(DomainError::bad_request(refusal));
    }
    let actions = store.list_actions(&goal.goal_id).await?;
    actions_to_process(&goal.goal_id, actions, action_ids).map(|a| a.len())
}

/// The model calls of `quota` the runs in progress leave free.
async fn free_calls(store: &dyn Store, quota: ModelQuota) -> Result<u32, DomainError> {
    Ok(quota
        .concurrent_calls
        .saturating_sub(store.reserved_model_calls().await?))
}

/// The refusal of a run of `actions` actions that `free` calls of the model quota cannot hold:
/// when the runs in progress are expected to have given back enough for its smallest share.
async fn no_room(store: &dyn Store, clock: &dyn Clock, free: u32, actions: usize) -> DomainError {
    let now = clock.now();
    let wanted = RunShare::of(actions, 1).calls;
    match store.list_running_started_before(now).await {
        Ok(running) => DomainError::at_capacity(retry_after_seconds(&running, now, free, wanted)),
        Err(e) => e.into(),
    }
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

/// The caller's goal. Another user's goal is answered exactly as a missing one, so that ids cannot
/// be probed: both are 404 with the same message.
pub(crate) async fn owned_goal(
    store: &dyn Store,
    user_id: &str,
    goal_id: &str,
) -> Result<Goal, DomainError> {
    match store.get_goal(goal_id).await? {
        Some(goal) if goal.user_id == user_id => Ok(goal),
        _ => Err(DomainError::not_found(format!(
            "goal {goal_id} does not exist"
        ))),
    }
}

/// The caller's run; another user's run is answered exactly as a missing one (see [`owned_goal`]).
async fn owned_execution(
    store: &dyn Store,
    user_id: &str,
    execution_arn: &str,
) -> Result<WorkflowExecution, DomainError> {
    match store.get_execution(execution_arn).await? {
        Some(run) if run.user_id == user_id => Ok(run),
        _ => Err(DomainError::not_found(format!(
            "execution {execution_arn} does not exist"
        ))),
    }
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
    /// Whether the run has ended with failed actions a retry may take up (see [`retry_failed`]).
    pub can_retry: bool,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl StatusView {
    /// The view of a record at `now`: percent from the counters, ETA from
    /// [`WorkflowExecution::seconds_remaining`].
    pub fn of(run: WorkflowExecution, now: DateTime<Utc>) -> Self {
        let percent = progress_percent(run.processed_actions, run.total_actions);
        let eta = if run.status.is_final() {
            Some(0)
        } else {
            run.seconds_remaining(now)
        };
        Self {
            progress_percent: percent.max(run.progress_percent),
            estimated_seconds_remaining: eta,
            can_retry: run.can_retry(),
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
        alert: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::ApiWorld;
    use crate::memory::RecordingNotifier;
    use crate::metrics::NoMetrics;
    use crate::outcome::RunOutcome;
    use crate::records::ActionOutcome;
    use crate::steps::{RunRef, RunSummary};
    use crate::workflow::update_goal_status;

    async fn world(actions: usize) -> ApiWorld {
        ApiWorld::new(actions).await.unwrap()
    }

    fn action(i: usize) -> String {
        format!("g1-a0{i}")
    }

    async fn retry(w: &ApiWorld, user: &str, arn: &str) -> Result<StartResponse, DomainError> {
        retry_failed(
            &w.store,
            &w.control,
            &w.clock,
            &NoMetrics,
            ModelQuota::default(),
            user,
            arn,
        )
        .await
    }

    /// Plays a run to its end as the workflow does: every listed action processed, those at
    /// `failed` failing, then UpdateGoalStatus.
    async fn finish(w: &ApiWorld, arn: &str, actions: &[String], failed: &[String]) {
        w.store
            .set_total_actions(arn, actions.len() as u32)
            .await
            .unwrap();
        let mut failures = Vec::new();
        for id in actions {
            let outcome = if failed.contains(id) {
                let f = FailedAction::new(id.clone(), "PermanentError".into(), "bad".into());
                failures.push(f.clone());
                ActionOutcome::failed(f)
            } else {
                ActionOutcome::succeeded(id)
            };
            w.store
                .record_action_outcome(arn, &outcome, w.clock.now())
                .await
                .unwrap();
        }
        let total = actions.len() as u32;
        let summary = RunSummary {
            run: RunRef {
                execution_arn: arn.to_owned(),
                goal_id: "g1".into(),
                user_id: "u1".into(),
            },
            total_actions: total,
            succeeded_actions: total - failures.len() as u32,
            outcome: RunOutcome::from_counts(total, failures.len() as u32),
            failed_actions: failures,
            tasks_written: 0,
        };
        update_goal_status(
            &w.store,
            &RecordingNotifier::default(),
            &w.clock,
            &NoMetrics,
            summary,
        )
        .await
        .unwrap();
        w.control.close(arn, ExecutionStatus::Succeeded);
    }

    /// A run of the goal's `n` actions in which the ones at `failed` failed.
    async fn finished_run(w: &ApiWorld, n: usize, failed: &[usize]) -> String {
        let arn = w.start("k").await.unwrap().execution_arn;
        let all: Vec<String> = (0..n).map(action).collect();
        let failed: Vec<String> = failed.iter().copied().map(action).collect();
        finish(w, &arn, &all, &failed).await;
        arn
    }

    async fn goal(w: &ApiWorld) -> Goal {
        w.store.get_goal("g1").await.unwrap().unwrap()
    }

    fn input_of(w: &ApiWorld, arn: &str) -> ExecutionInput {
        let recorded = w.control.recorded();
        let execution = recorded
            .iter()
            .find(|e| e.description.execution_arn == arn)
            .unwrap();
        serde_json::from_str(&execution.input).unwrap()
    }

    fn code(result: Result<StartResponse, DomainError>) -> Option<ErrorCode> {
        result.err().map(|e| e.code)
    }

    #[tokio::test]
    async fn a_retry_processes_exactly_the_failed_actions_once() {
        let w = world(4).await;
        let source = finished_run(&w, 4, &[1, 3]).await;
        assert_eq!(goal(&w).await.status, GoalStatus::Partial);

        let first = retry(&w, "u1", &source).await.unwrap();
        assert_eq!(first.status, ExecutionStatus::Running);
        assert_ne!(first.execution_arn, source);
        let input = input_of(&w, &first.execution_arn);
        assert_eq!(input.action_ids, Some(vec![action(1), action(3)]));
        assert_eq!(
            (input.goal_id.as_str(), input.user_id.as_str()),
            ("g1", "u1")
        );
        let record = w
            .store
            .get_execution(&first.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.retry_of.as_deref(), Some(source.as_str()));
        assert_eq!(record.actions_done_earlier, 2);
        let g = goal(&w).await;
        assert_eq!(g.status, GoalStatus::Processing);
        assert_eq!(g.current_execution_arn, Some(first.execution_arn.clone()));

        // Again while the retry runs, and again after it has ended: the same run, no new start.
        let repeated = retry(&w, "u1", &source).await.unwrap();
        assert_eq!(
            (&repeated.execution_arn, repeated.status),
            (&first.execution_arn, ExecutionStatus::Running)
        );
        finish(&w, &first.execution_arn, &[action(1), action(3)], &[]).await;
        let again = retry(&w, "u1", &source).await.unwrap();
        assert_eq!(
            (again.execution_arn, again.status),
            (first.execution_arn, ExecutionStatus::Succeeded)
        );
        assert_eq!(w.control.recorded().len(), 2);
        assert_eq!(goal(&w).await.status, GoalStatus::Active);
    }

    #[tokio::test]
    async fn the_goal_status_after_a_retry_counts_what_earlier_runs_did() {
        // Partial run, retry fails again for every retried action: still partial, not failed.
        let w = world(4).await;
        let source = finished_run(&w, 4, &[0, 2]).await;
        let first = retry(&w, "u1", &source).await.unwrap().execution_arn;
        finish(&w, &first, &[action(0), action(2)], &[action(0), action(2)]).await;
        let record = w.store.get_execution(&first).await.unwrap().unwrap();
        assert_eq!(record.status, ExecutionStatus::Failed);
        assert_eq!(goal(&w).await.status, GoalStatus::Partial);

        // A retry of that retry: one more succeeds, then the last.
        let second = retry(&w, "u1", &first).await.unwrap().execution_arn;
        assert_eq!(
            input_of(&w, &second).action_ids,
            Some(vec![action(0), action(2)])
        );
        finish(&w, &second, &[action(0), action(2)], &[action(2)]).await;
        assert_eq!(goal(&w).await.status, GoalStatus::Partial);
        let third = retry(&w, "u1", &second).await.unwrap().execution_arn;
        assert_eq!(input_of(&w, &third).action_ids, Some(vec![action(2)]));
        let record = w.store.get_execution(&third).await.unwrap().unwrap();
        assert_eq!(record.actions_done_earlier, 3);
        finish(&w, &third, &[action(2)], &[]).await;
        assert_eq!(goal(&w).await.status, GoalStatus::Active);
    }

    #[tokio::test]
    async fn a_run_where_everything_failed_is_retried_whole_and_judged_alone() {
        let w = world(2).await;
        let source = finished_run(&w, 2, &[0, 1]).await;
        assert_eq!(goal(&w).await.status, GoalStatus::Failed);
        let retry_arn = retry(&w, "u1", &source).await.unwrap().execution_arn;
        assert_eq!(
            input_of(&w, &retry_arn).action_ids,
            Some(vec![action(0), action(1)])
        );
        finish(
            &w,
            &retry_arn,
            &[action(0), action(1)],
            &[action(0), action(1)],
        )
        .await;
        assert_eq!(goal(&w).await.status, GoalStatus::Failed);
    }

    #[tokio::test]
    async fn runs_that_cannot_be_retried_are_conflicts() {
        let w = world(3).await;
        // Still running.
        let running = w.start("k").await.unwrap().execution_arn;
        assert_eq!(
            code(retry(&w, "u1", &running).await),
            Some(ErrorCode::Conflict)
        );
        // Finished with nothing failed.
        let all: Vec<String> = (0..3).map(action).collect();
        finish(&w, &running, &all, &[]).await;
        assert_eq!(
            code(retry(&w, "u1", &running).await),
            Some(ErrorCode::Conflict)
        );

        // Ended before processing every action: an uncaught error, a timeout, an abort.
        for (status, error) in [
            (ExecutionStatus::Failed, "States.Runtime"),
            (ExecutionStatus::TimedOut, "States.Timeout"),
            (ExecutionStatus::Aborted, "Cancelled"),
        ] {
            let arn = w.start(error).await.unwrap().execution_arn;
            let failed = FailedAction::new(action(0), "PermanentError".into(), String::new());
            w.store
                .record_action_outcome(&arn, &ActionOutcome::failed(failed), w.clock.now())
                .await
                .unwrap();
            let end = RunEnd {
                status,
                goal_status: GoalStatus::Failed,
                at: w.clock.now(),
                error: Some(error.into()),
                cause: None,
                alert: None,
            };
            w.store.finish_run(&arn, &end).await.unwrap();
            let refused = retry(&w, "u1", &arn).await;
            assert_eq!(code(refused), Some(ErrorCode::Conflict), "{error}");
        }
        // Only the first run's execution was started.
        assert_eq!(w.control.recorded().len(), 4);
    }

    #[tokio::test]
    async fn a_retry_waits_for_the_goal_and_follows_its_latest_run() {
        let w = world(3).await;
        let source = finished_run(&w, 3, &[2]).await;
        // Another run of the goal is going.
        let other = w.start("k2").await.unwrap().execution_arn;
        let busy = retry(&w, "u1", &source).await;
        assert_eq!(code(busy.clone()), Some(ErrorCode::Conflict));
        assert!(busy.err().is_some_and(|e| e.message.contains(&other)));
        // It has ended: the goal's latest run is now that one, not the source.
        let all: Vec<String> = (0..3).map(action).collect();
        finish(&w, &other, &all, &[action(1)]).await;
        assert_eq!(
            code(retry(&w, "u1", &source).await),
            Some(ErrorCode::Conflict)
        );
        assert_eq!(w.control.recorded().len(), 2);
        // The latest run can be retried.
        let latest = retry(&w, "u1", &other).await.unwrap().execution_arn;
        assert_eq!(input_of(&w, &latest).action_ids, Some(vec![action(1)]));
    }

    #[tokio::test]
    async fn only_the_owner_may_retry() {
        let w = world(3).await;
        let source = finished_run(&w, 3, &[0]).await;
        // A stranger learns nothing: the answer is the one for a run that does not exist.
        let missing = "arn:aws:states:x:1:execution:M:none";
        for (user, arn) in [("u2", source.as_str()), ("u1", missing)] {
            assert_eq!(
                retry(&w, user, arn).await.err(),
                Some(DomainError::not_found(format!(
                    "execution {arn} does not exist"
                )))
            );
        }
        assert_eq!(w.control.recorded().len(), 1);
        assert_eq!(goal(&w).await.status, GoalStatus::Partial);
    }

    #[tokio::test]
    async fn a_refused_start_gives_the_goal_its_status_back() {
        let w = world(3).await;
        let source = finished_run(&w, 3, &[0]).await;
        // The retry's name is taken by an execution whose record is gone (e.g. expired).
        let source_name = crate::naming::execution_name_of(&source).to_owned();
        let name = execution_name("g1", &retry_key(&source_name));
        let taken = w.control.execution_arn(&name);
        w.control.start_execution(&name, "{}").await.unwrap();
        w.control.close(&taken, ExecutionStatus::Succeeded);

        let refused = retry(&w, "u1", &source).await;
        assert_eq!(code(refused), Some(ErrorCode::Conflict));
        let g = goal(&w).await;
        assert_eq!(g.status, GoalStatus::Partial);
        let record = w.store.get_execution(&taken).await.unwrap().unwrap();
        assert_eq!(record.status, ExecutionStatus::Failed);
    }
}
