//! The payloads that travel between the state machine's steps: what each Task state hands its
//! function and what the function returns. `statemachine/` builds these shapes; keep both in step.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::batching::Batch;
use crate::outcome::RunOutcome;
use crate::records::{Action, CallTiming, FailedAction, GoalStatus, Task};

/// The execution input start-workflow passes to StartExecution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionInput {
    pub goal_id: String,
    pub user_id: String,
    pub idempotency_key: String,
    /// Process only these actions (a retry of failed actions); all of the goal's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_ids: Option<Vec<String>>,
    /// How many of each batch's actions run at once: the run's share of the model quota
    /// ([`crate::capacity::RunShare`]); the default for its batches when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_at_once: Option<u32>,
}

/// Who the run is for; every step after ValidateInput carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRef {
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    pub goal_id: String,
    pub user_id: String,
}

/// ValidateInput's payload: `$$.Execution.Id`, `$$.Execution.StartTime` and the execution input
/// as it was given (validated here, so the state machine passes it untouched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateInputRequest {
    pub execution_arn: String,
    pub started_at: DateTime<Utc>,
    pub input: serde_json::Value,
}

/// ValidateInput's result, and GetActions' payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatedRun {
    #[serde(flatten)]
    pub run: RunRef,
    /// The goal's context for the model, read once here and carried to every action.
    pub goal_title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_at_once: Option<u32>,
}

/// GetActions' result, and CreateBatches' payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunActions {
    #[serde(flatten)]
    pub run: RunRef,
    pub goal_title: String,
    pub actions: Vec<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_at_once: Option<u32>,
}

/// CreateBatches' result: the outer Map iterates over `batches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchedRun {
    #[serde(flatten)]
    pub run: RunRef,
    pub goal_title: String,
    pub total_actions: u32,
    /// ProcessActions' `MaxConcurrencyPath`: the run's share, or
    /// [`crate::batching::actions_at_once`] for a run begun without one.
    pub actions_at_once: u32,
    pub batches: Vec<Batch>,
}

/// GenerateTasks' payload: one action of one batch, with the batch's start time
/// (`$$.State.EnteredTime` of the inner Map) from which its deadline is derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateTasksRequest {
    #[serde(flatten)]
    pub run: RunRef,
    pub goal_title: String,
    pub batch_started_at: DateTime<Utc>,
    pub action: Action,
    /// `$$.State.RetryCount`: how many times the state machine has retried this call.
    #[serde(default)]
    pub retry_count: u32,
    /// The batch's index in the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_index: Option<u32>,
    /// `$$.State.EnteredTime`: when the action entered GenerateTasks, before any retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_started_at: Option<DateTime<Utc>>,
}

impl GenerateTasksRequest {
    /// The call's timing if it ends at `finished_at`; `None` when the state machine did not pass
    /// the batch and the start.
    pub fn call_timing(&self, finished_at: DateTime<Utc>) -> Option<CallTiming> {
        Some(CallTiming {
            batch_index: self.batch_index?,
            started_at: self.action_started_at?,
            finished_at,
            untimed: false,
        })
    }
}

/// What one iteration of the inner Map yields: GenerateTasks' result, or the failure its Catch
/// recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    /// The error the Catch clause caught (a timeout carries no cause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<CaughtError>,
}

/// SaveTasks' payload: one batch's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveTasksRequest {
    #[serde(flatten)]
    pub run: RunRef,
    pub batch_index: u32,
    pub action_results: Vec<ActionResult>,
}

/// SaveTasks' result, UpdateProgress' payload and (returned unchanged by UpdateProgress) one
/// element of the outer Map's result: counts and failed ids only, never tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    #[serde(flatten)]
    pub run: RunRef,
    pub batch_index: u32,
    pub succeeded_action_ids: Vec<String>,
    pub failed_actions: Vec<FailedAction>,
    pub tasks_written: u32,
}

/// AggregateResults' payload: the run and the outer Map's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregateRequest {
    #[serde(flatten)]
    pub run: RunRef,
    pub total_actions: u32,
    pub batch_results: Vec<BatchSummary>,
}

/// AggregateResults' result, and UpdateGoalStatus' payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    #[serde(flatten)]
    pub run: RunRef,
    pub total_actions: u32,
    pub succeeded_actions: u32,
    pub failed_actions: Vec<FailedAction>,
    pub tasks_written: u32,
    pub outcome: RunOutcome,
}

/// UpdateGoalStatus' result: the execution's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub goal_status: GoalStatus,
    pub completed_at: DateTime<Utc>,
}

/// A caught error as a Catch clause's ResultPath places it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// HandleError's payload: the run (whatever of it is known) and the uncaught error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandleErrorRequest {
    pub execution_arn: String,
    #[serde(default)]
    pub goal_id: Option<String>,
    pub error: CaughtError,
}

/// Reads a step's payload; a payload of the wrong shape is a validation error naming what is wrong.
pub fn parse<T: serde::de::DeserializeOwned>(
    payload: serde_json::Value,
) -> Result<T, crate::DomainError> {
    serde_json::from_value(payload).map_err(|e| {
        crate::DomainError::bad_request(format!(
            "payload is not a {}: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("payload")
        ))
    })
}
