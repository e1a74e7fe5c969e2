//! The records the product stores: goals, their actions, the tasks generated for them, and one
//! WorkflowExecution per run.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::batching::{actions_at_once, batch_sizes};
use crate::progress::{eta_seconds, layout_eta_seconds};

/// How long a WorkflowExecution record is kept before DynamoDB's TTL removes it.
pub const EXECUTION_RETENTION_DAYS: i64 = 90;

/// The error a run is recorded with when it processed every one of its actions and all failed.
pub const ALL_ACTIONS_FAILED: &str = "AllActionsFailed";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoalStatus {
    Draft,
    Processing,
    Active,
    Partial,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    pub goal_id: String,
    pub user_id: String,
    pub title: String,
    pub status: GoalStatus,
    /// The run that owns the goal while it is processing, and the last run afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_execution_arn: Option<String>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub goal_id: String,
    pub action_id: String,
    pub sub_goal_id: String,
    /// Order within the goal (sub-goal major, action minor); batching keeps it.
    pub position: u32,
    pub title: String,
    #[serde(default)]
    pub description: String,
}

impl Goal {
    /// The goal's title travels with every action to the model (the run reads the goal once), so
    /// it is bounded like an action's text.
    pub const MAX_TITLE_CHARS: usize = 200;

    /// Why a run of this goal cannot start, if it cannot.
    pub fn refusal(&self) -> Option<String> {
        text_refusal(
            &format!("goal {}", self.goal_id),
            &[("title", &self.title, Self::MAX_TITLE_CHARS)],
        )
    }
}

impl Action {
    /// With these bounds the 64 actions a run loads stay well inside a state's 256 KiB on their
    /// way through GetActions and CreateBatches, even at 4 bytes a character.
    pub const MAX_TITLE_CHARS: usize = 100;
    pub const MAX_DESCRIPTION_CHARS: usize = 500;

    /// Why this action cannot be processed, if it cannot.
    pub fn refusal(&self) -> Option<String> {
        text_refusal(
            &format!("action {}", self.action_id),
            &[
                ("title", &self.title, Self::MAX_TITLE_CHARS),
                (
                    "description",
                    &self.description,
                    Self::MAX_DESCRIPTION_CHARS,
                ),
            ],
        )
    }
}

/// Why `what`'s fields (name, text, most characters) cannot travel in the state, if they cannot.
fn text_refusal(what: &str, fields: &[(&str, &str, usize)]) -> Option<String> {
    if let Some((name, _, most)) = fields
        .iter()
        .find(|(_, text, most)| text.chars().count() > *most)
    {
        return Some(format!("{what}: {name} is longer than {most} characters"));
    }
    fields
        .iter()
        .any(|(_, text, _)| !is_payload_text(text))
        .then(|| format!("{what}: control characters in the text"))
}

/// Text that may travel in state payloads: no control characters but newline and tab, since JSON
/// spells each of the others as six bytes and the payload bounds count characters.
pub fn is_payload_text(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    pub goal_id: String,
    pub action_id: String,
    pub execution_arn: String,
    pub position: u32,
    pub title: String,
    pub description: String,
    pub estimated_minutes: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    pub fn is_final(self) -> bool {
        self != ExecutionStatus::Running
    }

    /// Parses Step Functions' status names (the same words).
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedAction {
    pub action_id: String,
    pub error: String,
    #[serde(default)]
    pub cause: String,
}

impl FailedAction {
    /// The longest cause kept. Failed actions travel through the outer Map's result, which must
    /// stay under Step Functions' 256 KiB payload limit even when all 64 actions fail with long
    /// causes (a Lambda error's cause can carry a whole stack trace).
    pub const MAX_CAUSE_BYTES: usize = 1024;

    pub fn new(action_id: String, error: String, mut cause: String) -> Self {
        if cause.len() > Self::MAX_CAUSE_BYTES {
            let mut end = Self::MAX_CAUSE_BYTES - '…'.len_utf8();
            while !cause.is_char_boundary(end) {
                end -= 1;
            }
            cause.truncate(end);
            cause.push('…');
        }
        FailedAction {
            action_id,
            error,
            cause,
        }
    }
}

/// One run of the workflow for one goal: what the status API reads and the history keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowExecution {
    pub execution_arn: String,
    pub execution_name: String,
    pub goal_id: String,
    pub user_id: String,
    pub idempotency_key: String,
    pub status: ExecutionStatus,
    #[serde(default)]
    pub total_actions: u32,
    /// Actions finished, successfully or not.
    #[serde(default)]
    pub processed_actions: u32,
    #[serde(default)]
    pub failed_count: u32,
    /// Ids of the finished actions: guards the counters against counting an action twice.
    #[serde(default)]
    pub processed_action_ids: Vec<String>,
    #[serde(default)]
    pub failed_actions: Vec<FailedAction>,
    /// Ids of the failed actions: guards the failure count the same way.
    #[serde(default)]
    pub failed_action_ids: Vec<String>,
    #[serde(default)]
    pub progress_percent: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The sort key of the goal and status indexes: written in a fixed-width form so that text
    /// order is time order.
    #[serde(serialize_with = "serialize_sortable")]
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Epoch seconds after which DynamoDB's TTL deletes the record.
    pub expires_at: i64,
    /// The run whose failed actions this run processes again; absent for a run over the whole goal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// How many of the goal's actions earlier runs turned into tasks and this run leaves alone: 0
    /// for a run over the whole goal. The goal's final status counts them with this run's own.
    #[serde(default)]
    pub actions_done_earlier: u32,
    /// The model calls the run was admitted to make at once: reserved from the quota when it
    /// began, given back when it ends ([`crate::capacity::RunShare`]); 0 for a run that reserved
    /// nothing.
    #[serde(default)]
    pub model_calls: u32,
    /// How many of each batch's actions run at once within `model_calls`; 0 when the run was
    /// begun without a share (each batch then runs its default,
    /// [`actions_at_once`](crate::batching::actions_at_once)).
    #[serde(default)]
    pub actions_at_once: u32,
    /// The model calls counted so far, for the remaining-time estimate
    /// ([`layout_eta_seconds`](crate::progress::layout_eta_seconds)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finished_calls: Vec<CallTiming>,
    /// An alert the run's end called for and that is not yet known to be delivered: written with
    /// the end, removed once published, so a failed publish is retried, never lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_alert: Option<Alert>,
}

impl WorkflowExecution {
    /// Whether [`Store::record_action_outcome`](crate::ports::Store::record_action_outcome) would
    /// count nothing of `outcome` now.
    pub fn has_counted(&self, outcome: &ActionOutcome) -> bool {
        let id = &outcome.action_id;
        self.processed_action_ids.contains(id)
            && (outcome.failure.is_none() || self.failed_action_ids.contains(id))
    }

    /// Seconds left at `now`: by the run's layout and its finished calls' latencies where enough
    /// have finished, else by the pace so far.
    pub fn seconds_remaining(&self, now: DateTime<Utc>) -> Option<u64> {
        if self.processed_actions >= self.total_actions {
            return eta_seconds(0, self.processed_actions, self.total_actions);
        }
        let at_once = match self.actions_at_once {
            0 => actions_at_once(batch_sizes(self.total_actions as usize).count()),
            n => n as usize,
        };
        layout_eta_seconds(self.total_actions, at_once, &self.finished_calls, now).or_else(|| {
            let elapsed = (now - self.started_at).num_seconds().max(0) as u64;
            eta_seconds(elapsed, self.processed_actions, self.total_actions)
        })
    }

    /// A record for a run that has just been started.
    pub fn started(
        execution_arn: String,
        execution_name: String,
        goal: &Goal,
        idempotency_key: String,
        started_at: DateTime<Utc>,
    ) -> Self {
        // Stored at millisecond precision (the index key form), so keep no more here.
        let started_at = started_at.trunc_subsecs(3);
        Self {
            execution_arn,
            execution_name,
            goal_id: goal.goal_id.clone(),
            user_id: goal.user_id.clone(),
            idempotency_key,
            status: ExecutionStatus::Running,
            total_actions: 0,
            processed_actions: 0,
            failed_count: 0,
            processed_action_ids: Vec::new(),
            failed_actions: Vec::new(),
            failed_action_ids: Vec::new(),
            progress_percent: 0,
            eta_seconds: None,
            error: None,
            cause: None,
            started_at,
            updated_at: started_at,
            stopped_at: None,
            expires_at: expiry_for(started_at),
            retry_of: None,
            actions_done_earlier: 0,
            model_calls: 0,
            actions_at_once: 0,
            finished_calls: Vec::new(),
            pending_alert: None,
        }
    }

    /// The same record for a run over only the failed actions of `source`: the goal's actions
    /// that have tasks once `source` ended are left alone and counted as done earlier.
    pub fn retrying(mut self, source: &WorkflowExecution) -> Self {
        self.retry_of = Some(source.execution_arn.clone());
        self.actions_done_earlier = source.actions_done_after();
        self
    }

    /// Whether the run ended by the all / some / none rule after processing every one of its
    /// actions (SUCCEEDED, or FAILED because all of them failed), so that its failed list is
    /// complete. A run stopped by an uncaught error, a timeout or an abort may have left actions
    /// unprocessed.
    pub fn finished_every_action(&self) -> bool {
        match self.status {
            ExecutionStatus::Succeeded => true,
            ExecutionStatus::Failed => self.error.as_deref() == Some(ALL_ACTIONS_FAILED),
            _ => false,
        }
    }

    /// Whether the run's failed actions can be retried: it processed every action and some failed.
    pub fn can_retry(&self) -> bool {
        self.finished_every_action() && !self.failed_actions.is_empty()
    }

    /// The ids of the run's failed actions, in the order they failed, each once.
    pub fn failed_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::with_capacity(self.failed_actions.len());
        for failed in &self.failed_actions {
            if !ids.contains(&failed.action_id) {
                ids.push(failed.action_id.clone());
            }
        }
        ids
    }

    /// How many of the goal's actions have tasks once this (finished) run has ended: those done
    /// before it and its own successful ones.
    pub fn actions_done_after(&self) -> u32 {
        let failed = self.failed_ids().len() as u32;
        self.actions_done_earlier + self.total_actions.saturating_sub(failed)
    }
}

/// A time as fixed-width RFC 3339 text (milliseconds, `Z`), whose text order is time order.
pub fn sortable_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn serialize_sortable<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&sortable_timestamp(*t))
}

/// The TTL of a record: start + 90 days, in epoch seconds.
pub fn expiry_for(started_at: DateTime<Utc>) -> i64 {
    (started_at + Duration::days(EXECUTION_RETENTION_DAYS)).timestamp()
}

/// What became of one action in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionOutcome {
    pub action_id: String,
    /// `None` when the action's tasks were generated and saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailedAction>,
    /// When its model call ran, where that is known; kept with the count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallTiming>,
}

/// One action's model call: the batch it ran in, when the action entered GenerateTasks (retries
/// included) and when its outcome was counted. Stored compactly, as up to 64 of them are kept
/// in a record every counting write and status read pays for by size: `[batch, start, end]` in
/// epoch milliseconds, `[batch, at]` untimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredCall", into = "StoredCall")]
pub struct CallTiming {
    pub batch_index: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Counted with its batch, once the batch ended (an action that failed for good, or one a
    /// generator of the operator's own ran): its call's start and length are not known.
    pub untimed: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredCall {
    Timed(u32, i64, i64),
    Untimed(u32, i64),
}

impl From<CallTiming> for StoredCall {
    fn from(call: CallTiming) -> Self {
        let (start, end) = (
            call.started_at.timestamp_millis(),
            call.finished_at.timestamp_millis(),
        );
        if call.untimed {
            StoredCall::Untimed(call.batch_index, end)
        } else {
            StoredCall::Timed(call.batch_index, start, end)
        }
    }
}

impl From<StoredCall> for CallTiming {
    fn from(stored: StoredCall) -> Self {
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        match stored {
            StoredCall::Timed(batch_index, start, end) => CallTiming {
                batch_index,
                started_at: at(start),
                finished_at: at(end),
                untimed: false,
            },
            StoredCall::Untimed(batch_index, end) => CallTiming::untimed(batch_index, at(end)),
        }
    }
}

impl CallTiming {
    /// An action of batch `batch_index` counted at `at`, when the batch ended.
    pub fn untimed(batch_index: u32, at: DateTime<Utc>) -> Self {
        CallTiming {
            batch_index,
            started_at: at,
            finished_at: at,
            untimed: true,
        }
    }
}

impl ActionOutcome {
    pub fn succeeded(action_id: impl Into<String>) -> Self {
        Self {
            action_id: action_id.into(),
            failure: None,
            call: None,
        }
    }

    pub fn failed(failure: FailedAction) -> Self {
        Self {
            action_id: failure.action_id.clone(),
            failure: Some(failure),
            call: None,
        }
    }

    pub fn with_call(self, call: Option<CallTiming>) -> Self {
        Self { call, ..self }
    }
}

/// An operator alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub subject: String,
    pub execution_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_id: Option<String>,
    pub status: ExecutionStatus,
    pub message: String,
}

/// How a run ends, as written in one step to the record and the goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    pub status: ExecutionStatus,
    pub goal_status: GoalStatus,
    pub at: DateTime<Utc>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The alert this end calls for, kept in the record until it is delivered.
    pub alert: Option<Alert>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_timings_are_stored_as_short_lists_of_numbers() {
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let timed = CallTiming {
            batch_index: 2,
            started_at: at(1_800_000_000_000),
            finished_at: at(1_800_000_012_345),
            untimed: false,
        };
        let untimed = CallTiming::untimed(3, at(1_800_000_020_000));
        let stored = serde_json::to_value([&timed, &untimed]).unwrap_or_default();
        assert_eq!(
            stored,
            serde_json::json!([
                [2, 1_800_000_000_000_i64, 1_800_000_012_345_i64],
                [3, 1_800_000_020_000_i64]
            ])
        );
        let read: Vec<CallTiming> = serde_json::from_value(stored).unwrap_or_default();
        assert_eq!(read, [timed, untimed]);
    }

    fn action(title: &str, description: &str) -> Action {
        Action {
            goal_id: "g".into(),
            action_id: "a1".into(),
            sub_goal_id: "s".into(),
            position: 0,
            title: title.into(),
            description: description.into(),
        }
    }

    #[test]
    fn actions_are_bounded_in_characters_not_bytes() {
        let title = "目".repeat(Action::MAX_TITLE_CHARS);
        let description = "🎯\n\t".repeat(Action::MAX_DESCRIPTION_CHARS / 3);
        assert_eq!(action(&title, &description).refusal(), None);
        assert_eq!(action("", "").refusal(), None);

        let long_title = action(&format!("{title}x"), "");
        assert!(long_title.refusal().unwrap().contains("title"));
        let long_description = action("t", &"x".repeat(Action::MAX_DESCRIPTION_CHARS + 1));
        assert!(long_description.refusal().unwrap().contains("description"));
        let control = action("t", "bell\u{7}");
        assert!(control.refusal().unwrap().contains("control characters"));
    }

    #[test]
    fn a_goal_title_that_travels_to_every_action_is_bounded() {
        let goal = |title: String| Goal {
            goal_id: "g".into(),
            user_id: "u".into(),
            title,
            status: GoalStatus::Draft,
            current_execution_arn: None,
            updated_at: chrono::Utc::now(),
            completed_at: None,
        };
        assert_eq!(goal("😀".repeat(Goal::MAX_TITLE_CHARS)).refusal(), None);
        assert_eq!(
            goal("x".repeat(Goal::MAX_TITLE_CHARS + 1)).refusal(),
            Some("goal g: title is longer than 200 characters".into())
        );
        assert_eq!(
            goal("a\u{1b}[2J".into()).refusal(),
            Some("goal g: control characters in the text".into())
        );
    }

    #[test]
    fn statuses_use_step_functions_names() {
        for s in [
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ] {
            assert_eq!(ExecutionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ExecutionStatus::parse("PENDING_REDRIVE"), None);
    }

    #[test]
    fn sortable_timestamps_sort_like_times() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap();
        let b = a + Duration::milliseconds(500);
        assert_eq!(sortable_timestamp(a), "2026-01-01T00:00:00.000Z");
        assert!(sortable_timestamp(a) < sortable_timestamp(b));
    }

    #[test]
    fn long_causes_are_cut_at_a_character_boundary() {
        let short = FailedAction::new("a".into(), "E".into(), "why".into());
        assert_eq!(short.cause, "why");
        let long = FailedAction::new("a".into(), "E".into(), "é".repeat(2000));
        assert!(long.cause.len() <= FailedAction::MAX_CAUSE_BYTES);
        assert!(long.cause.ends_with('…'));
    }

    fn finished(
        status: ExecutionStatus,
        error: Option<&str>,
        total: u32,
        failed: &[&str],
    ) -> WorkflowExecution {
        let now = Utc::now();
        let (goal, _) = crate::examples::example_goal("g", "u", 1, now);
        let mut run =
            WorkflowExecution::started("arn".into(), "name".into(), &goal, "k".into(), now);
        run.status = status;
        run.error = error.map(str::to_owned);
        run.total_actions = total;
        run.failed_actions = failed
            .iter()
            .map(|id| FailedAction::new((*id).to_owned(), "PermanentError".into(), String::new()))
            .collect();
        run
    }

    #[test]
    fn only_runs_that_processed_every_action_have_a_complete_failed_list() {
        assert!(finished(ExecutionStatus::Succeeded, None, 4, &["a"]).finished_every_action());
        assert!(finished(
            ExecutionStatus::Failed,
            Some(ALL_ACTIONS_FAILED),
            2,
            &["a", "b"]
        )
        .finished_every_action());
        assert!(
            !finished(ExecutionStatus::Failed, Some("States.Runtime"), 4, &["a"])
                .finished_every_action()
        );
        for status in [
            ExecutionStatus::Running,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ] {
            assert!(!finished(status, None, 4, &["a"]).finished_every_action());
        }
    }

    #[test]
    fn a_retry_counts_what_its_source_left_done() {
        let source = finished(ExecutionStatus::Succeeded, None, 64, &["a", "b", "a"]);
        assert_eq!(source.failed_ids(), ["a", "b"]);
        assert_eq!(source.actions_done_after(), 62);
        let now = Utc::now();
        let (goal, _) = crate::examples::example_goal("g", "u", 1, now);
        let retry = WorkflowExecution::started("arn2".into(), "n2".into(), &goal, "k2".into(), now)
            .retrying(&source);
        assert_eq!(retry.retry_of.as_deref(), Some("arn"));
        assert_eq!(retry.actions_done_earlier, 62);

        let mut second = finished(ExecutionStatus::Succeeded, None, 2, &["b"]);
        second.actions_done_earlier = 62;
        assert_eq!(second.actions_done_after(), 63);
    }

    #[test]
    fn records_written_before_retries_existed_still_read() {
        let now = Utc::now();
        let (goal, _) = crate::examples::example_goal("g", "u", 1, now);
        let mut value = serde_json::to_value(WorkflowExecution::started(
            "arn".into(),
            "n".into(),
            &goal,
            "k".into(),
            now,
        ))
        .unwrap_or_default();
        if let Some(fields) = value.as_object_mut() {
            fields.remove("actionsDoneEarlier");
            assert!(!fields.contains_key("retryOf"));
        }
        let read: WorkflowExecution = serde_json::from_value(value).unwrap();
        assert_eq!((read.retry_of, read.actions_done_earlier), (None, 0));
    }

    #[test]
    fn records_expire_ninety_days_after_start() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap();
        assert_eq!(expiry_for(start) - start.timestamp(), 90 * 24 * 3600);
    }
}
