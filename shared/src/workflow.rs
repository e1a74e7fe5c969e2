//! What each state machine step does, over the ports. The step functions' handlers parse their
//! payload, call one of these and return its result.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::batching::{actions_at_once, plan_batches, MAX_BATCH_SIZE};
use crate::deadlines::may_start_ai_call;
use crate::error::{DomainError, ErrorCode, ErrorKind, StoreError};
use crate::metrics::{Metric, MetricName, MetricSink};
use crate::naming::task_id;
use crate::outcome::RunOutcome;
use crate::ports::{Alert, Clock, Notifier, Store, TaskGenerator};
use crate::progress::progress_percent;
use crate::records::{
    Action, ActionOutcome, CallTiming, ExecutionStatus, FailedAction, GoalStatus, RunEnd, Task,
    WorkflowExecution, ALL_ACTIONS_FAILED,
};
use crate::steps::{
    ActionResult, AggregateRequest, BatchSummary, BatchedRun, ExecutionInput, GenerateTasksRequest,
    HandleErrorRequest, RunActions, RunRef, RunResult, RunSummary, SaveTasksRequest,
    ValidateInputRequest, ValidatedRun,
};

/// A goal has at most 8 sub-goals of 8 actions.
pub const MAX_ACTIONS_PER_RUN: usize = 8 * MAX_BATCH_SIZE;

/// Checks the execution input against the stored goal and run: the goal exists, belongs to the
/// user and is being processed by this very execution.
pub async fn validate_input(
    store: &dyn Store,
    req: ValidateInputRequest,
) -> Result<ValidatedRun, DomainError> {
    let input: ExecutionInput = serde_json::from_value(req.input)
        .map_err(|e| DomainError::bad_request(format!("invalid execution input: {e}")))?;
    if input.goal_id.trim().is_empty() || input.user_id.trim().is_empty() {
        return Err(DomainError::bad_request(
            "goalId and userId must not be empty",
        ));
    }
    if let Some(ids) = &input.action_ids {
        check_action_ids(ids)?;
    }
    if input
        .actions_at_once
        .is_some_and(|n| n == 0 || n as usize > MAX_BATCH_SIZE)
    {
        return Err(DomainError::bad_request(format!(
            "actionsAtOnce must be 1 to {MAX_BATCH_SIZE}"
        )));
    }
    let goal = store
        .get_goal(&input.goal_id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("goal {} does not exist", input.goal_id)))?;
    if goal.user_id != input.user_id {
        return Err(DomainError::forbidden(format!(
            "goal {} does not belong to user {}",
            goal.goal_id, input.user_id
        )));
    }
    if goal.status != GoalStatus::Processing
        || goal.current_execution_arn.as_deref() != Some(req.execution_arn.as_str())
    {
        return Err(DomainError::conflict(format!(
            "goal {} is not being processed by this execution",
            goal.goal_id
        )));
    }
    if let Some(refusal) = goal.refusal() {
        return Err(DomainError::bad_request(refusal));
    }
    Ok(ValidatedRun {
        run: RunRef {
            execution_arn: req.execution_arn,
            goal_id: input.goal_id,
            user_id: input.user_id,
        },
        goal_title: goal.title,
        action_ids: input.action_ids,
        actions_at_once: input.actions_at_once,
    })
}

fn check_action_ids(ids: &[String]) -> Result<(), DomainError> {
    if ids.is_empty() || ids.len() > MAX_ACTIONS_PER_RUN {
        return Err(DomainError::bad_request(format!(
            "actionIds must list 1 to {MAX_ACTIONS_PER_RUN} actions"
        )));
    }
    let unique: HashSet<&String> = ids.iter().collect();
    if unique.len() != ids.len() {
        return Err(DomainError::bad_request(
            "actionIds must not repeat an action",
        ));
    }
    Ok(())
}

/// Loads the actions the run processes (all of the goal's, or the listed ones) and records how
/// many there are.
pub async fn get_actions(store: &dyn Store, run: ValidatedRun) -> Result<RunActions, DomainError> {
    let actions = store.list_actions(&run.run.goal_id).await?;
    let actions = actions_to_process(&run.run.goal_id, actions, run.action_ids.as_deref())?;
    store
        .set_total_actions(&run.run.execution_arn, actions.len() as u32)
        .await?;
    Ok(RunActions {
        run: run.run,
        goal_title: run.goal_title,
        actions,
        actions_at_once: run.actions_at_once,
    })
}

/// Of a goal's `actions`, the ones a run processes (all, or the listed `action_ids`), or why no
/// run can process them: none, more than [`MAX_ACTIONS_PER_RUN`], a listed one the goal does not
/// have, or text too long to travel in the state. Checked when a run is asked for, so a user's
/// mistake is answered there, and again by the run itself.
pub fn actions_to_process(
    goal_id: &str,
    mut actions: Vec<Action>,
    action_ids: Option<&[String]>,
) -> Result<Vec<Action>, DomainError> {
    if let Some(ids) = action_ids {
        check_action_ids(ids)?;
        let wanted: HashSet<&String> = ids.iter().collect();
        actions.retain(|a| wanted.contains(&a.action_id));
        if actions.len() != ids.len() {
            return Err(DomainError::bad_request(format!(
                "{} of the listed actions do not belong to goal {goal_id}",
                ids.len() - actions.len(),
            )));
        }
    }
    if actions.is_empty() {
        return Err(DomainError::bad_request(format!(
            "goal {goal_id} has no actions"
        )));
    }
    if actions.len() > MAX_ACTIONS_PER_RUN {
        return Err(DomainError::bad_request(format!(
            "goal {goal_id} has {} actions; at most {MAX_ACTIONS_PER_RUN} can be processed",
            actions.len()
        )));
    }
    if let Some(refusal) = actions.iter().find_map(Action::refusal) {
        return Err(DomainError::bad_request(refusal));
    }
    Ok(actions)
}

pub fn create_batches(run: RunActions) -> BatchedRun {
    let total_actions = run.actions.len() as u32;
    let at_once = run.actions_at_once;
    let batches = plan_batches(run.actions);
    BatchedRun {
        run: run.run,
        goal_title: run.goal_title,
        total_actions,
        actions_at_once: at_once.unwrap_or_else(|| actions_at_once(batches.len()) as u32),
        batches,
    }
}

/// Generates one action's tasks, refusing to start when the batch's budget cannot fit the call,
/// and counts the action as processed so progress moves per action.
pub async fn generate_tasks(
    store: &dyn Store,
    generator: &dyn TaskGenerator,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    req: GenerateTasksRequest,
) -> Result<ActionResult, DomainError> {
    let started = clock.now();
    let properties = [
        ("executionArn", req.run.execution_arn.as_str()),
        ("goalId", req.run.goal_id.as_str()),
        ("actionId", req.action.action_id.as_str()),
    ];
    if req.retry_count > 0 {
        metrics.emit(&[Metric::count(MetricName::AiRetries, 1)], &properties);
    }
    if !may_start_ai_call(req.batch_started_at, started) {
        return Err(DomainError::permanent(
            ErrorCode::DeadlineExceeded,
            format!(
                "batch started at {} has no time left for action {}",
                req.batch_started_at.to_rfc3339(),
                req.action.action_id
            ),
        ));
    }
    let call_started = clock.now();
    let generated = generator.generate(&req.goal_title, &req.action).await;
    let created_at = clock.now();
    // Every call's latency, answered or not: slow failures are what the timeout runbook looks for.
    let latency_ms = (created_at - call_started).num_milliseconds().max(0) as f64;
    metrics.emit(
        &[Metric::new(MetricName::AiLatency, latency_ms)],
        &properties,
    );
    let generated = generated?;
    let tasks = generated
        .into_iter()
        .enumerate()
        .map(|(i, t)| Task {
            task_id: task_id(&req.run.execution_arn, &req.action.action_id, i as u32),
            goal_id: req.run.goal_id.clone(),
            action_id: req.action.action_id.clone(),
            execution_arn: req.run.execution_arn.clone(),
            position: i as u32,
            title: t.title,
            description: t.description,
            estimated_minutes: t.estimated_minutes,
            created_at,
        })
        .collect();
    store
        .record_action_outcome(
            &req.run.execution_arn,
            &ActionOutcome::succeeded(&req.action.action_id).with_call(req.call_timing(created_at)),
            created_at,
        )
        .await?;
    Ok(ActionResult {
        action_id: req.action.action_id,
        tasks,
        failure: None,
    })
}

/// Saves a batch's tasks, each action's all or none. Saving again writes nothing new. Actions
/// whose generation failed are reported, not saved.
pub async fn save_tasks(
    store: &dyn Store,
    req: SaveTasksRequest,
) -> Result<BatchSummary, DomainError> {
    let mut summary = BatchSummary {
        run: req.run,
        batch_index: req.batch_index,
        succeeded_action_ids: Vec::new(),
        failed_actions: Vec::new(),
        tasks_written: 0,
    };
    for result in req.action_results {
        if let Some(failure) = result.failure {
            summary.failed_actions.push(FailedAction::new(
                result.action_id,
                failure.error,
                failure.cause,
            ));
            continue;
        }
        if let Some(stray) = result.tasks.iter().find(|t| {
            t.action_id != result.action_id || t.execution_arn != summary.run.execution_arn
        }) {
            return Err(DomainError::bad_request(format!(
                "task {} does not belong to action {} of this run",
                stray.task_id, result.action_id
            )));
        }
        match store.save_action_tasks(&result.tasks).await {
            Ok(written) => {
                summary.tasks_written += written;
                summary.succeeded_action_ids.push(result.action_id);
            }
            Err(StoreError::ConditionFailed(why)) => summary.failed_actions.push(
                FailedAction::new(result.action_id, ErrorCode::Conflict.to_string(), why),
            ),
            Err(StoreError::TooLarge(why)) => summary.failed_actions.push(FailedAction::new(
                result.action_id,
                ErrorCode::PayloadTooLarge.to_string(),
                why,
            )),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(summary)
}

/// Counts a batch's actions that are not counted yet (generate-tasks counts each success as it
/// ends; a generator of the operator's own does not) and writes the run's percent and ETA.
pub async fn update_progress(
    store: &dyn Store,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    summary: BatchSummary,
) -> Result<BatchSummary, DomainError> {
    let now = clock.now();
    let arn = &summary.run.execution_arn;
    let mut run = stored_run(store, arn).await?;
    let with_batch = Some(CallTiming::untimed(summary.batch_index, now));
    let uncounted: Vec<ActionOutcome> = summary
        .succeeded_action_ids
        .iter()
        .map(ActionOutcome::succeeded)
        .chain(
            summary
                .failed_actions
                .iter()
                .cloned()
                .map(ActionOutcome::failed),
        )
        .filter(|outcome| !run.has_counted(outcome))
        .map(|outcome| outcome.with_call(with_batch.clone()))
        .collect();
    let (mut processed, mut failed) = (0, 0);
    for outcome in &uncounted {
        let counted = store.record_action_outcome(arn, outcome, now).await?;
        processed += u32::from(counted.processed);
        failed += u32::from(counted.failed);
    }
    metrics.emit(
        &[
            Metric::count(MetricName::ActionsProcessed, processed),
            Metric::count(MetricName::ActionsFailed, failed),
        ],
        &[("executionArn", arn), ("goalId", &summary.run.goal_id)],
    );
    if !uncounted.is_empty() {
        run = stored_run(store, arn).await?;
    }
    store
        .set_progress(
            arn,
            progress_percent(run.processed_actions, run.total_actions),
            run.seconds_remaining(now),
            now,
        )
        .await?;
    Ok(summary)
}

async fn stored_run(store: &dyn Store, arn: &str) -> Result<WorkflowExecution, DomainError> {
    store
        .get_execution(arn)
        .await?
        .ok_or_else(|| DomainError::permanent(ErrorCode::NotFound, format!("no record for {arn}")))
}

/// Folds the batches' summaries into the run's outcome by the all / some / none rule.
pub fn aggregate_results(req: AggregateRequest) -> RunSummary {
    let mut failed_actions = Vec::new();
    let mut succeeded = 0;
    let mut tasks_written = 0;
    for batch in req.batch_results {
        succeeded += batch.succeeded_action_ids.len() as u32;
        tasks_written += batch.tasks_written;
        failed_actions.extend(batch.failed_actions);
    }
    RunSummary {
        outcome: RunOutcome::from_counts(req.total_actions, failed_actions.len() as u32),
        run: req.run,
        total_actions: req.total_actions,
        succeeded_actions: succeeded,
        failed_actions,
        tasks_written,
    }
}

/// Ends the run: record SUCCEEDED (FAILED when every one of its actions failed), goal active /
/// partial / failed with its completion time, and an alert when nothing succeeded. The goal's
/// status judges the goal as a whole: a retry of failed actions counts the actions earlier runs
/// already turned into tasks (see [`RunOutcome::for_goal`]).
pub async fn update_goal_status(
    store: &dyn Store,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    summary: RunSummary,
) -> Result<RunResult, DomainError> {
    let now = clock.now();
    let done_earlier = store
        .get_execution(&summary.run.execution_arn)
        .await?
        .map_or(0, |run| run.actions_done_earlier);
    let end = workflow_end(&summary, done_earlier, now);
    let ended_now = store.finish_run(&summary.run.execution_arn, &end).await?;
    if ended_now {
        emit_run_end(
            store,
            metrics,
            &summary.run.execution_arn,
            outcome_metric(summary.outcome),
            now,
        )
        .await?;
    }
    deliver_pending_alert(
        store,
        notifier,
        &summary.run.execution_arn,
        ended_now.then_some(&end),
    )
    .await?;
    let goal_status = if ended_now {
        end.goal_status
    } else {
        store
            .get_goal(&summary.run.goal_id)
            .await?
            .map(|g| g.status)
            .unwrap_or(end.goal_status)
    };
    Ok(RunResult {
        summary,
        goal_status,
        completed_at: now,
    })
}

/// The metric a run that ended with `outcome` counts in.
pub(crate) fn outcome_metric(outcome: RunOutcome) -> MetricName {
    match outcome {
        RunOutcome::Succeeded => MetricName::ExecutionsSucceeded,
        RunOutcome::Partial => MetricName::ExecutionsPartial,
        RunOutcome::Failed => MetricName::ExecutionsFailed,
    }
}

/// How the workflow ends a run whose actions ended as `summary` says, at `at`: SUCCEEDED (FAILED
/// when every action failed, with an alert), the goal judged with the `done_earlier` actions
/// earlier runs turned into tasks.
pub(crate) fn workflow_end(summary: &RunSummary, done_earlier: u32, at: DateTime<Utc>) -> RunEnd {
    let failed = summary.outcome == RunOutcome::Failed;
    let alert = failed.then(|| Alert {
        subject: format!("Start activity failed for goal {}", summary.run.goal_id),
        execution_arn: summary.run.execution_arn.clone(),
        goal_id: Some(summary.run.goal_id.clone()),
        status: ExecutionStatus::Failed,
        message: format!(
            "Every one of the {} actions failed; first error: {}",
            summary.total_actions,
            summary
                .failed_actions
                .first()
                .map(|f| f.error.as_str())
                .unwrap_or("unknown")
        ),
    });
    RunEnd {
        status: if failed {
            ExecutionStatus::Failed
        } else {
            ExecutionStatus::Succeeded
        },
        goal_status: summary.outcome.for_goal(done_earlier).goal_status(),
        at,
        error: failed.then(|| ALL_ACTIONS_FAILED.to_owned()),
        cause: failed.then(|| format!("all {} actions failed", summary.total_actions)),
        alert,
    }
}

/// HandleError's result: the error the execution fails with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    pub error: String,
    pub cause: String,
}

/// Records an uncaught failure: record FAILED with the error, goal failed, and one alert unless
/// the failure is the data's (a `ValidationError`: what the user gave cannot be processed, which
/// the start refuses already and which on-call cannot fix).
pub async fn handle_error(
    store: &dyn Store,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    req: HandleErrorRequest,
) -> Result<RunFailure, DomainError> {
    let users_data = ErrorKind::from_error_type(&req.error.error) == Some(ErrorKind::Validation);
    let end = RunEnd {
        status: ExecutionStatus::Failed,
        goal_status: GoalStatus::Failed,
        at: clock.now(),
        error: Some(req.error.error.clone()),
        cause: Some(req.error.cause.clone()),
        alert: (!users_data).then(|| Alert {
            subject: "Start activity run failed".to_owned(),
            execution_arn: req.execution_arn.clone(),
            goal_id: req.goal_id.clone(),
            status: ExecutionStatus::Failed,
            message: format!("{}: {}", req.error.error, req.error.cause),
        }),
    };
    match store.finish_run(&req.execution_arn, &end).await {
        Ok(ended_now) => {
            if ended_now {
                emit_run_end(
                    store,
                    metrics,
                    &req.execution_arn,
                    MetricName::ExecutionsFailed,
                    end.at,
                )
                .await?;
            }
            deliver_pending_alert(
                store,
                notifier,
                &req.execution_arn,
                ended_now.then_some(&end),
            )
            .await?;
        }
        // The run failed before its record existed (e.g. a bad start): nothing to finish.
        Err(StoreError::ConditionFailed(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(RunFailure {
        error: req.error.error,
        cause: req.error.cause,
    })
}

/// Publishes the alert a run's end left pending, then forgets it. Every attempt to end a run calls
/// this, so an alert whose publish failed goes out with the next attempt (the step's retry,
/// HandleError, the status-change finaliser, the daily sweep) rather than being lost; a publish
/// that succeeded but was not forgotten is sent twice, never zero times. `ended` is the end the
/// caller has just written, whose alert it knows; without one the record tells.
pub(crate) async fn deliver_pending_alert(
    store: &dyn Store,
    notifier: &dyn Notifier,
    execution_arn: &str,
    ended: Option<&RunEnd>,
) -> Result<(), DomainError> {
    let alert = match ended {
        Some(end) => end.alert.clone(),
        None => store
            .get_execution(execution_arn)
            .await?
            .and_then(|run| run.pending_alert),
    };
    let Some(alert) = alert else {
        return Ok(());
    };
    notifier.publish(&alert).await?;
    store.clear_pending_alert(execution_arn).await?;
    Ok(())
}

/// Emits how a run ended and how long it took.
pub(crate) async fn emit_run_end(
    store: &dyn Store,
    metrics: &dyn MetricSink,
    execution_arn: &str,
    outcome: MetricName,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), DomainError> {
    let Some(run) = store.get_execution(execution_arn).await? else {
        return Ok(());
    };
    let seconds = (at - run.started_at).num_milliseconds().max(0) as f64 / 1000.0;
    metrics.emit(
        &[
            Metric::count(outcome, 1),
            Metric::new(MetricName::ExecutionDuration, seconds),
        ],
        &[("executionArn", execution_arn), ("goalId", &run.goal_id)],
    );
    Ok(())
}
