//! A goal and its runs as its owner reads them: the goal with its actions, their tasks and its
//! latest run; its runs newest first, a page at a time behind an opaque cursor, each with its
//! counts, whether it can be retried and, once the table no longer keeps it, where the archive
//! does.

use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{owned_goal, retry_possible, StatusView};
use crate::error::DomainError;
use crate::operations::{archived_location, kept_since, ARCHIVE_PREFIX};
use crate::ports::{Archive, Clock, RunsAfter, Store};
use crate::records::{ExecutionStatus, Goal, GoalStatus, WorkflowExecution};

/// One of a goal's actions, with how many tasks it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionEntry {
    pub action_id: String,
    pub sub_goal_id: String,
    pub position: u32,
    pub title: String,
    /// The tasks the action holds: one run's set, the latest that saved it; 0 before any has.
    pub task_count: u32,
}

/// The 200 answer to a goal request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalView {
    pub goal_id: String,
    pub title: String,
    pub status: GoalStatus,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// In position order.
    pub actions: Vec<ActionEntry>,
    /// The tasks all its actions hold.
    pub task_count: u32,
    /// The run processing the goal, or the last one that did; `null` before the first, or once
    /// the table no longer keeps it.
    pub latest_run: Option<StatusView>,
}

/// The caller's goal: its status, its actions with their tasks, and its latest run as the status
/// route shows it.
pub async fn goal_view(
    store: &dyn Store,
    clock: &dyn Clock,
    user_id: &str,
    goal_id: &str,
) -> Result<GoalView, DomainError> {
    let goal = owned_goal(store, user_id, goal_id).await?;
    let counts = store.count_action_tasks(goal_id).await?;
    let actions: Vec<ActionEntry> = store
        .list_actions(goal_id)
        .await?
        .into_iter()
        .map(|a| ActionEntry {
            task_count: counts.get(&a.action_id).copied().unwrap_or(0),
            action_id: a.action_id,
            sub_goal_id: a.sub_goal_id,
            position: a.position,
            title: a.title,
        })
        .collect();
    let latest_run = match &goal.current_execution_arn {
        Some(arn) => store
            .get_execution(arn)
            .await?
            .filter(|run| run.user_id == user_id)
            .map(|run| StatusView::of(run, clock.now())),
        None => None,
    };
    Ok(GoalView {
        task_count: actions.iter().map(|a| a.task_count).sum(),
        actions,
        latest_run,
        goal_id: goal.goal_id,
        title: goal.title,
        status: goal.status,
        updated_at: goal.updated_at,
        completed_at: goal.completed_at,
    })
}

/// How many runs a page holds when the caller does not say.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// The most runs one page holds: a page of 64-action runs with long failure causes stays well
/// inside a Lambda response.
pub const MAX_PAGE_SIZE: usize = 50;
/// A cursor longer than this is none this API gave (a goal id of 2,048 characters and an
/// execution ARN fit several times over).
const MAX_CURSOR_CHARS: usize = 8 * 1024;

/// The page size a request asks for (`limit`): 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`]
/// when absent.
pub fn page_size(asked: Option<&str>) -> Result<usize, DomainError> {
    let Some(text) = asked else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| {
            DomainError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_PAGE_SIZE}"
            ))
        })
}

/// What a cursor carries: the goal it pages through and the run the next page follows. Clients
/// see it only as base64url text, and only this module reads it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    #[serde(rename = "g")]
    goal_id: String,
    #[serde(rename = "t")]
    started_at: DateTime<Utc>,
    #[serde(rename = "a")]
    execution_arn: String,
}

/// The cursor of the page after `after`, in `goal_id`'s runs.
pub fn encode_cursor(goal_id: &str, after: &RunsAfter) -> String {
    let cursor = Cursor {
        goal_id: goal_id.to_owned(),
        started_at: after.started_at,
        execution_arn: after.execution_arn.clone(),
    };
    BASE64_URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

/// Where a cursor says `goal_id`'s next page starts; 400 for text no page of that goal gave.
pub fn decode_cursor(goal_id: &str, text: &str) -> Result<RunsAfter, DomainError> {
    let refused = || DomainError::bad_request("cursor is not one a page of this goal's runs gave");
    if text.len() > MAX_CURSOR_CHARS {
        return Err(refused());
    }
    let bytes = BASE64_URL_SAFE_NO_PAD.decode(text).map_err(|_| refused())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| refused())?;
    if cursor.goal_id != goal_id {
        return Err(refused());
    }
    Ok(RunsAfter {
        started_at: cursor.started_at,
        execution_arn: cursor.execution_arn,
    })
}

/// One run in a goal's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEntry {
    pub execution_arn: String,
    pub status: ExecutionStatus,
    pub total_actions: u32,
    /// Actions finished, successfully or not.
    pub processed_actions: u32,
    pub failed_count: u32,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Whether the retry route would start a run over this run's failed actions now: it
    /// processed every action with some failed, no run of the goal is processing, and it is the
    /// goal's latest run.
    pub can_retry: bool,
    /// The run whose failed actions this one processed again, for a retry.
    pub retry_of: Option<String>,
    /// The table no longer keeps this run (its 90 days are over); the archive does.
    pub archived: bool,
    /// Where the archive keeps it, once `archived`.
    pub archive_location: Option<String>,
}

impl RunEntry {
    /// `run` of `goal` as its history shows it at `now`.
    pub fn of(
        run: WorkflowExecution,
        goal: &Goal,
        now: DateTime<Utc>,
        archive: &dyn Archive,
    ) -> Self {
        let archive_location = archived_location(&run, now, archive);
        Self {
            can_retry: retry_possible(goal, &run),
            archived: archive_location.is_some(),
            archive_location,
            execution_arn: run.execution_arn,
            status: run.status,
            total_actions: run.total_actions,
            processed_actions: run.processed_actions,
            failed_count: run.failed_count,
            started_at: run.started_at,
            stopped_at: run.stopped_at,
            retry_of: run.retry_of,
        }
    }
}

/// Where runs older than the table keeps are found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OlderRuns {
    /// Runs that started before this are no longer listed.
    pub started_before: DateTime<Utc>,
    /// The archive holding them, one JSON Lines object per start date below it.
    pub location: String,
}

/// The 200 answer to a history request: a page of the goal's runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionsPage {
    pub goal_id: String,
    pub executions: Vec<RunEntry>,
    /// Passed back as `cursor`, the next page; `null` on the last.
    pub next_cursor: Option<String>,
    pub older_runs: OlderRuns,
}

/// A page of the caller's goal's runs, newest first: `page_size` of them from the newest, or
/// from where `cursor` (a `nextCursor` of an earlier page of this goal) says.
pub async fn goal_executions(
    store: &dyn Store,
    archive: &dyn Archive,
    clock: &dyn Clock,
    user_id: &str,
    goal_id: &str,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<ExecutionsPage, DomainError> {
    let after = cursor.map(|c| decode_cursor(goal_id, c)).transpose()?;
    let goal = owned_goal(store, user_id, goal_id).await?;
    let page = store
        .list_goal_executions(goal_id, page_size, after.as_ref())
        .await?;
    let now = clock.now();
    Ok(ExecutionsPage {
        goal_id: goal.goal_id.clone(),
        next_cursor: page.next.as_ref().map(|n| encode_cursor(goal_id, n)),
        executions: page
            .runs
            .into_iter()
            .filter(|run| run.user_id == user_id)
            .map(|run| RunEntry::of(run, &goal, now, archive))
            .collect(),
        older_runs: OlderRuns {
            started_before: kept_since(now),
            location: archive.location(ARCHIVE_PREFIX),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::ModelQuota;
    use crate::examples::{example_goal, seed};
    use crate::memory::{InMemoryArchive, InMemoryStore};
    use crate::ports::ManualClock;
    use crate::records::{FailedAction, GoalStatus, RunEnd, EXECUTION_RETENTION_DAYS};
    use crate::ErrorCode;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// Goal "g" of "u" with a run every day for `days` days up to `t0`, the last one ended with
    /// a failed action, and goal "other" of "v" with a run of its own.
    async fn history(days: i64) -> InMemoryStore {
        let store = InMemoryStore::new();
        let (goal, actions) = example_goal("g", "u", 2, t0());
        seed(&store, &goal, &actions).await.unwrap();
        for day in (0..days).rev() {
            let at = t0() - Duration::days(day);
            let run = WorkflowExecution::started(
                format!("arn:run-{day:03}"),
                format!("run-{day:03}"),
                &goal,
                format!("k{day}"),
                at,
            );
            store.begin_run(&run, ModelQuota::default()).await.unwrap();
            store
                .set_total_actions(&run.execution_arn, 2)
                .await
                .unwrap();
            let failed = FailedAction::new(actions[1].action_id.clone(), "E".into(), "c".into());
            for outcome in [
                crate::records::ActionOutcome::succeeded(&actions[0].action_id),
                crate::records::ActionOutcome::failed(failed),
            ] {
                store
                    .record_action_outcome(&run.execution_arn, &outcome, at)
                    .await
                    .unwrap();
            }
            let end = RunEnd {
                status: ExecutionStatus::Succeeded,
                goal_status: GoalStatus::Partial,
                at: at + Duration::seconds(20),
                error: None,
                cause: None,
                alert: None,
            };
            store.finish_run(&run.execution_arn, &end).await.unwrap();
        }
        let (other, other_actions) = example_goal("other", "v", 1, t0());
        seed(&store, &other, &other_actions).await.unwrap();
        let run =
            WorkflowExecution::started("arn:other".into(), "o".into(), &other, "k".into(), t0());
        store.begin_run(&run, ModelQuota::default()).await.unwrap();
        store
    }

    #[test]
    fn page_sizes_are_one_to_fifty() {
        assert_eq!(page_size(None), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(Some("1")), Ok(1));
        assert_eq!(page_size(Some("50")), Ok(50));
        for refused in ["0", "51", "-1", "", "ten", "1.5", " 5"] {
            let code = page_size(Some(refused)).map_err(|e| e.code);
            assert_eq!(code, Err(ErrorCode::BadRequest), "{refused:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_goal() {
        let after = RunsAfter {
            started_at: t0(),
            execution_arn: "arn:aws:states:us-east-1:1:execution:M:goal-g-1".into(),
        };
        let text = encode_cursor("g", &after);
        assert!(text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(decode_cursor("g", &text), Ok(after.clone()));
        for refused in [
            encode_cursor("other", &after),
            "not a cursor".to_owned(),
            BASE64_URL_SAFE_NO_PAD.encode(b"{\"g\":\"g\"}"),
            "A".repeat(MAX_CURSOR_CHARS + 1),
        ] {
            let code = decode_cursor("g", &refused).map_err(|e| e.code);
            assert_eq!(code, Err(ErrorCode::BadRequest), "{refused:.40}");
        }
    }

    #[tokio::test]
    async fn pages_walk_the_history_newest_first_once() {
        let store = history(7).await;
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(t0() + Duration::minutes(1));
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = goal_executions(&store, &archive, &clock, "u", "g", 3, cursor.as_deref())
                .await
                .unwrap();
            assert!(page.executions.len() <= 3);
            seen.extend(page.executions.iter().map(|e| e.execution_arn.clone()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).map(|d| format!("arn:run-{d:03}")).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn only_the_latest_run_can_be_retried() {
        let store = history(3).await;
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(t0() + Duration::minutes(1));
        let page = goal_executions(&store, &archive, &clock, "u", "g", 50, None)
            .await
            .unwrap();
        let retryable: Vec<bool> = page.executions.iter().map(|e| e.can_retry).collect();
        assert_eq!(retryable, [true, false, false]);
        let newest = &page.executions[0];
        assert_eq!(
            (
                newest.status,
                newest.total_actions,
                newest.processed_actions,
                newest.failed_count
            ),
            (ExecutionStatus::Succeeded, 2, 2, 1)
        );
        assert_eq!(newest.stopped_at, Some(t0() + Duration::seconds(20)));
        assert_eq!(page.next_cursor, None);
    }

    #[tokio::test]
    async fn runs_past_the_tables_keeping_say_where_the_archive_has_them() {
        let store = history(EXECUTION_RETENTION_DAYS + 3).await;
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(t0() + Duration::minutes(1));
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = goal_executions(&store, &archive, &clock, "u", "g", 50, cursor.as_deref())
                .await
                .unwrap();
            assert_eq!(
                page.older_runs,
                OlderRuns {
                    started_before: clock.now() - Duration::days(EXECUTION_RETENTION_DAYS),
                    location: "memory:///execution-history/".into(),
                }
            );
            entries.extend(page.executions);
            let Some(next) = page.next_cursor else { break };
            cursor = Some(next);
        }
        assert_eq!(entries.len() as i64, EXECUTION_RETENTION_DAYS + 3);
        for entry in &entries {
            let expired = entry.started_at < clock.now() - Duration::days(EXECUTION_RETENTION_DAYS);
            assert_eq!(entry.archived, expired, "{}", entry.started_at);
            let expected = expired.then(|| {
                format!(
                    "memory:///execution-history/date={}/executions.jsonl",
                    entry.started_at.format("%Y-%m-%d")
                )
            });
            assert_eq!(entry.archive_location, expected);
        }
        assert_eq!(entries.iter().filter(|e| e.archived).count(), 3);
    }

    #[tokio::test]
    async fn the_goal_view_counts_the_tasks_its_actions_hold_and_shows_its_latest_run() {
        let store = InMemoryStore::new();
        let (goal, actions) = example_goal("g", "u", 3, t0());
        seed(&store, &goal, &actions).await.unwrap();
        let clock = ManualClock::new(t0());
        let fresh = goal_view(&store, &clock, "u", "g").await.unwrap();
        assert_eq!((fresh.status, fresh.task_count), (GoalStatus::Draft, 0));
        assert_eq!(fresh.latest_run, None);
        let ids: Vec<&str> = fresh.actions.iter().map(|a| a.action_id.as_str()).collect();
        let expected: Vec<&str> = actions.iter().map(|a| a.action_id.as_str()).collect();
        assert_eq!(ids, expected);

        let run = WorkflowExecution::started("arn:1".into(), "1".into(), &goal, "k".into(), t0());
        store.begin_run(&run, ModelQuota::default()).await.unwrap();
        // Two tasks for the first action, three for the third.
        for (action, n) in [(&actions[0], 2), (&actions[2], 3)] {
            let tasks: Vec<crate::records::Task> = (0..n)
                .map(|i| crate::records::Task {
                    task_id: crate::naming::task_id("arn:1", &action.action_id, i),
                    goal_id: "g".into(),
                    action_id: action.action_id.clone(),
                    execution_arn: "arn:1".into(),
                    position: i,
                    title: format!("t{i}"),
                    description: String::new(),
                    estimated_minutes: 10,
                    created_at: t0(),
                })
                .collect();
            store.save_action_tasks(&tasks).await.unwrap();
        }
        let view = goal_view(&store, &clock, "u", "g").await.unwrap();
        let counts: Vec<u32> = view.actions.iter().map(|a| a.task_count).collect();
        assert_eq!((counts, view.task_count), (vec![2, 0, 3], 5));
        assert_eq!(view.status, GoalStatus::Processing);
        let latest = view.latest_run.expect("the latest run");
        assert_eq!(
            (latest.execution_arn.as_str(), latest.status),
            ("arn:1", ExecutionStatus::Running)
        );

        assert_eq!(
            goal_view(&store, &clock, "v", "g").await.err(),
            Some(DomainError::not_found("goal g does not exist"))
        );
    }

    #[tokio::test]
    async fn another_users_goal_and_foreign_cursors_are_refused() {
        let store = history(2).await;
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(t0());
        let list = |user: &'static str, goal: &'static str, cursor: Option<String>| {
            let (store, archive, clock) = (&store, &archive, &clock);
            async move { goal_executions(store, archive, clock, user, goal, 1, cursor.as_deref()).await }
        };
        assert_eq!(
            list("v", "g", None).await.err(),
            Some(DomainError::not_found("goal g does not exist"))
        );
        assert_eq!(
            list("u", "nope", None).await.err(),
            Some(DomainError::not_found("goal nope does not exist"))
        );
        let other = list("v", "other", None).await.unwrap();
        assert_eq!(other.executions.len(), 1);
        let first = list("u", "g", None).await.unwrap();
        let foreign = encode_cursor(
            "other",
            &RunsAfter {
                started_at: t0(),
                execution_arn: "arn:other".into(),
            },
        );
        let refused = list("u", "g", Some(foreign)).await.map_err(|e| e.code);
        assert_eq!(refused.err(), Some(ErrorCode::BadRequest));
        let second = list("u", "g", first.next_cursor).await.unwrap();
        assert_eq!(second.executions[0].execution_arn, "arn:run-001");
        assert_eq!(second.next_cursor, None);
    }
}
