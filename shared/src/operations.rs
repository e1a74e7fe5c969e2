//! What keeps runs honest when the state machine cannot: the status-change finaliser (a timeout,
//! an abort or a States.Runtime error runs no Catch) and the daily maintenance sweep.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::deadlines::RUN_LIMIT_SECONDS;
use crate::error::{DomainError, StoreError};
use crate::metrics::{Metric, MetricName, MetricSink};
use crate::ports::{Alert, Archive, Clock, ExecutionControl, Notifier, Store};
use crate::records::{ExecutionStatus, GoalStatus, RunEnd, WorkflowExecution};
use crate::steps::RunResult;
use crate::workflow::{deliver_pending_alert, emit_run_end, outcome_metric, workflow_end};

/// The `detail` of an EventBridge "Step Functions Execution Status Change" event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChange {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub status: String,
    /// Epoch milliseconds.
    #[serde(default)]
    pub start_date: Option<i64>,
    #[serde(default)]
    pub stop_date: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// What finalising did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Finalised {
    /// The record was RUNNING and now carries the final status.
    Ended,
    /// The record had already ended (a duplicate or late event, or the workflow's own ending).
    AlreadyEnded,
    /// No record: not a run this product started.
    Unknown,
    /// A status this finaliser does not act on (RUNNING, SUCCEEDED).
    Ignored,
}

/// The error a run that ended outside the workflow is recorded with when the service gave none.
fn default_error(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::TimedOut => "States.Timeout",
        ExecutionStatus::Aborted => "ExecutionAborted",
        _ => "ExecutionFailed",
    }
}

/// Ends the record of a run that failed, timed out or was aborted, once: goal failed (draft after
/// an abort), the run's tasks removed after an abort, one alert.
pub async fn finalise_run(
    store: &dyn Store,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    change: &ExecutionStatusChange,
) -> Result<Finalised, DomainError> {
    let status = match ExecutionStatus::parse(&change.status) {
        Some(
            s @ (ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted),
        ) => s,
        _ => return Ok(Finalised::Ignored),
    };
    let Some(run) = store.get_execution(&change.execution_arn).await? else {
        return Ok(Finalised::Unknown);
    };
    let at = change
        .stop_date
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(|| clock.now());
    let error = change
        .error
        .clone()
        .unwrap_or_else(|| default_error(status).to_owned());
    let cause = change.cause.clone().unwrap_or_default();
    let end = outside_end(&run, status, at, error, cause);
    end_run(
        store,
        notifier,
        metrics,
        &run,
        end,
        MetricName::ExecutionsFailed,
    )
    .await
}

/// How a run that `status` ended outside the workflow (a timeout, an abort, an uncaught failure)
/// is recorded: goal failed (draft after an abort) and one alert.
fn outside_end(
    run: &WorkflowExecution,
    status: ExecutionStatus,
    at: DateTime<Utc>,
    error: String,
    cause: String,
) -> RunEnd {
    RunEnd {
        status,
        goal_status: if status == ExecutionStatus::Aborted {
            GoalStatus::Draft
        } else {
            GoalStatus::Failed
        },
        at,
        error: Some(error.clone()),
        cause: Some(cause.clone()),
        alert: Some(Alert {
            subject: format!(
                "Start activity run {} for goal {}",
                status.as_str(),
                run.goal_id
            ),
            execution_arn: run.execution_arn.clone(),
            goal_id: Some(run.goal_id.clone()),
            status,
            message: if cause.is_empty() {
                error
            } else {
                format!("{error}: {cause}")
            },
        }),
    }
}

/// Ends `run` as `end` says, once, counting it in `metric`, and delivers its alert.
async fn end_run(
    store: &dyn Store,
    notifier: &dyn Notifier,
    metrics: &dyn MetricSink,
    run: &WorkflowExecution,
    end: RunEnd,
    metric: MetricName,
) -> Result<Finalised, DomainError> {
    let ended_now = match store.finish_run(&run.execution_arn, &end).await {
        Ok(ended) => ended,
        Err(StoreError::ConditionFailed(_)) => false,
        Err(e) => return Err(e.into()),
    };
    // Only a run whose record ended aborted loses its tasks: one the workflow ended first (its
    // last step committed while StopExecution was on its way) keeps what it saved. A cancel's
    // own clean-up may have been cut short, so it is finished here.
    if end.status == ExecutionStatus::Aborted
        && (ended_now || ended_aborted(store, &run.execution_arn).await?)
    {
        store.delete_execution_tasks(&run.execution_arn).await?;
    }
    if ended_now {
        emit_run_end(store, metrics, &run.execution_arn, metric, end.at).await?;
    }
    deliver_pending_alert(
        store,
        notifier,
        &run.execution_arn,
        ended_now.then_some(&end),
    )
    .await?;
    Ok(if ended_now {
        Finalised::Ended
    } else {
        Finalised::AlreadyEnded
    })
}

async fn ended_aborted(store: &dyn Store, execution_arn: &str) -> Result<bool, DomainError> {
    let run = store.get_execution(execution_arn).await?;
    Ok(run.is_some_and(|r| r.status == ExecutionStatus::Aborted))
}

/// What one maintenance sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Runs found RUNNING past the run limit.
    pub overdue: u32,
    /// Of those, the ones this sweep ended.
    pub finalised: u32,
    /// Executions the service still reports running (left alone).
    pub still_running: u32,
    /// Overdue runs this sweep could not handle (the service or the store failed); the next
    /// sweep tries them again.
    pub failed: u32,
    /// Alerts that earlier writers of ended runs could not publish, published by this sweep.
    pub alerts_delivered: u32,
    /// Such alerts that could still not be published; the next sweep tries again.
    pub alerts_undelivered: u32,
}

/// How many overdue runs a sweep handles at a time: each costs a DescribeExecution and a few
/// writes, so a backlog of a thousand takes seconds, not the function's whole timeout.
pub const SWEEP_CONCURRENCY: usize = 16;

/// What the sweep did with one overdue run.
enum Swept {
    Finalised,
    AlreadyEnded,
    StillRunning,
}

/// Ends runs still recorded RUNNING past the 15-minute limit, with what the service reports: a
/// run it finished successfully is ended with the outcome its output gives, any other with its
/// status (FAILED when it has no such execution). Each run is handled on its own, so one that
/// fails is counted and logged and the rest still end. Running it twice changes nothing more.
pub async fn sweep_overdue_runs(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
) -> Result<SweepReport, DomainError> {
    let now = clock.now();
    let overdue = store
        .list_running_started_before(now - Duration::seconds(RUN_LIMIT_SECONDS))
        .await?;
    let mut report = SweepReport {
        overdue: overdue.len() as u32,
        ..SweepReport::default()
    };
    let sweeps: Vec<_> = overdue
        .iter()
        .map(|run| async move {
            let result = sweep_run(store, control, notifier, metrics, run, now).await;
            (run, result)
        })
        .collect();
    let mut swept = stream::iter(sweeps).buffer_unordered(SWEEP_CONCURRENCY);
    while let Some((run, result)) = swept.next().await {
        match result {
            Ok(Swept::Finalised) => report.finalised += 1,
            Ok(Swept::AlreadyEnded) => {}
            Ok(Swept::StillRunning) => report.still_running += 1,
            Err(e) => {
                tracing::warn!(executionArn = %run.execution_arn, error = %e, "overdue run not ended");
                report.failed += 1;
            }
        }
    }
    if report.failed > 0 {
        metrics.emit(
            &[Metric::count(MetricName::SweepFailures, report.failed)],
            &[],
        );
    }
    // No writer comes after the sweep, or after a status-change event that went to the
    // dead-letter queue: the alerts they left pending are sent from here, day after day.
    for run in store.list_pending_alerts().await? {
        match deliver_pending_alert(store, notifier, &run.execution_arn, None).await {
            Ok(()) => report.alerts_delivered += 1,
            Err(e) => {
                tracing::warn!(executionArn = %run.execution_arn, error = %e, "alert still undelivered");
                report.alerts_undelivered += 1;
            }
        }
    }
    Ok(report)
}

/// Ends one overdue run as the service reports it.
async fn sweep_run(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    notifier: &dyn Notifier,
    metrics: &dyn MetricSink,
    run: &WorkflowExecution,
    now: DateTime<Utc>,
) -> Result<Swept, DomainError> {
    let (end, metric) = match control.describe_execution(&run.execution_arn).await? {
        Some(d) if d.status == ExecutionStatus::Running => return Ok(Swept::StillRunning),
        Some(d) if d.status == ExecutionStatus::Succeeded => {
            let at = d.stop_date.unwrap_or(now);
            match d.output.as_deref().map(serde_json::from_str::<RunResult>) {
                Some(Ok(result)) => (
                    workflow_end(&result.summary, run.actions_done_earlier, at),
                    outcome_metric(result.summary.outcome),
                ),
                // Not the workflow's output: the goal's outcome is unknown, so the run is ended
                // as failed to free the goal.
                _ => (
                    outside_end(
                        run,
                        ExecutionStatus::Failed,
                        at,
                        "ExecutionOutputUnreadable".to_owned(),
                        "the execution succeeded but its output does not say how the run ended"
                            .to_owned(),
                    ),
                    MetricName::ExecutionsFailed,
                ),
            }
        }
        Some(d) => (
            outside_end(
                run,
                d.status,
                d.stop_date.unwrap_or(now),
                d.error
                    .unwrap_or_else(|| default_error(d.status).to_owned()),
                d.cause.unwrap_or_default(),
            ),
            MetricName::ExecutionsFailed,
        ),
        None => (
            outside_end(
                run,
                ExecutionStatus::Failed,
                now,
                "ExecutionNotFound".to_owned(),
                "the service has no such execution".to_owned(),
            ),
            MetricName::ExecutionsFailed,
        ),
    };
    Ok(
        match end_run(store, notifier, metrics, run, end, metric).await? {
            Finalised::Ended => Swept::Finalised,
            _ => Swept::AlreadyEnded,
        },
    )
}

/// DynamoDB may delete a run any time after its `expiresAt`: a day's archive object is written at
/// least this long before the first of its runs expires.
pub const ARCHIVE_MARGIN_DAYS: i64 = 2;

/// The daily passes that may write a day once it is due: the pass of the day it becomes due, and
/// the next day's if that one is missed.
const PASSES_TO_ARCHIVE_A_DAY: i64 = 2;

/// A day's runs are archived once the whole day is this old. The day's first runs expire
/// [`EXECUTION_RETENTION_DAYS`] days after it begins; it becomes due at the start of the day
/// `ARCHIVE_AFTER_DAYS + 1` days after it begins, and one of the next [`PASSES_TO_ARCHIVE_A_DAY`]
/// daily passes, whatever their time of day, writes it at least [`ARCHIVE_MARGIN_DAYS`] before
/// its first runs expire.
///
/// [`EXECUTION_RETENTION_DAYS`]: crate::records::EXECUTION_RETENTION_DAYS
pub const ARCHIVE_AFTER_DAYS: i64 =
    crate::records::EXECUTION_RETENTION_DAYS - ARCHIVE_MARGIN_DAYS - PASSES_TO_ARCHIVE_A_DAY - 1;

/// What one archive pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveReport {
    /// Runs written in this pass.
    pub records: u32,
    /// Objects written in this pass, one per start date.
    pub written: Vec<String>,
    /// Days already archived by an earlier pass.
    pub already_archived: u32,
}

/// Where in the archive the history is kept: one object per start date below it.
pub const ARCHIVE_PREFIX: &str = "execution-history/";

/// The archive object holding the runs that started on `date`.
pub fn archive_key(date: NaiveDate) -> String {
    format!(
        "{ARCHIVE_PREFIX}date={}/executions.jsonl",
        date.format("%Y-%m-%d")
    )
}

/// Where the archive keeps `run` once the table no longer does: past its TTL, DynamoDB deletes
/// the record within days and may return it until then; its day was archived before (see
/// [`ARCHIVE_AFTER_DAYS`]). `None` while the table keeps it.
pub fn archived_location(
    run: &WorkflowExecution,
    now: DateTime<Utc>,
    archive: &dyn Archive,
) -> Option<String> {
    (run.expires_at <= now.timestamp())
        .then(|| archive.location(&archive_key(run.started_at.date_naive())))
}

/// The first instant whose runs the table still keeps: runs that started before it are only in
/// the archive.
pub fn kept_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(crate::records::EXECUTION_RETENTION_DAYS)
}

/// Copies the history of every whole day older than [`ARCHIVE_AFTER_DAYS`] to the archive as JSON
/// Lines, one object per start date. An object is written once, while all of its day's records
/// still exist, and never rewritten (the TTL removes records afterwards), so passes can repeat
/// and a missed one is made up by the next.
pub async fn archive_history(
    store: &dyn Store,
    archive: &dyn Archive,
    clock: &dyn Clock,
) -> Result<ArchiveReport, DomainError> {
    let first_kept_day = (clock.now() - Duration::days(ARCHIVE_AFTER_DAYS)).date_naive();
    let before = first_kept_day.and_time(NaiveTime::MIN).and_utc();
    let mut by_date: BTreeMap<NaiveDate, Vec<WorkflowExecution>> = BTreeMap::new();
    for run in store.list_started_before(before).await? {
        by_date
            .entry(run.started_at.date_naive())
            .or_default()
            .push(run);
    }
    let mut report = ArchiveReport::default();
    for (date, runs) in by_date {
        let key = archive_key(date);
        if archive.exists(&key).await? {
            report.already_archived += 1;
            continue;
        }
        let mut body = Vec::new();
        for run in &runs {
            serde_json::to_writer(&mut body, run)
                .map_err(|e| DomainError::permanent(crate::ErrorCode::Internal, e.to_string()))?;
            body.push(b'\n');
        }
        archive.put(&key, body, "application/x-ndjson").await?;
        report.records += runs.len() as u32;
        report.written.push(key);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::{started_run, EXAMPLE_STATE_MACHINE_ARN};
    use crate::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
    use crate::metrics::NoMetrics;
    use crate::ports::{ManualClock, StartOutcome};

    fn change(arn: &str, status: &str) -> ExecutionStatusChange {
        ExecutionStatusChange {
            execution_arn: arn.to_owned(),
            state_machine_arn: EXAMPLE_STATE_MACHINE_ARN.to_owned(),
            status: status.to_owned(),
            start_date: Some(1_800_000_000_000),
            stop_date: Some(1_800_000_900_000),
            error: None,
            cause: None,
        }
    }

    #[tokio::test]
    async fn a_timed_out_run_is_finalised_once() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let clock = ManualClock::new(Utc::now());
        let (run, _) = started_run(&store, "g", "u", 2, Utc::now()).await.unwrap();
        let event = change(&run.execution_arn, "TIMED_OUT");
        assert_eq!(
            finalise_run(&store, &notifier, &clock, &NoMetrics, &event).await,
            Ok(Finalised::Ended)
        );
        assert_eq!(
            finalise_run(&store, &notifier, &clock, &NoMetrics, &event).await,
            Ok(Finalised::AlreadyEnded)
        );
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, ExecutionStatus::TimedOut);
        assert_eq!(record.error.as_deref(), Some("States.Timeout"));
        assert_eq!(
            store.get_goal("g").await.unwrap().unwrap().status,
            GoalStatus::Failed
        );
        assert_eq!(notifier.alerts().len(), 1);
    }

    #[tokio::test]
    async fn an_alert_that_could_not_be_published_goes_out_with_the_next_attempt() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::unavailable_for(1);
        let clock = ManualClock::new(Utc::now());
        let (run, _) = started_run(&store, "g", "u", 2, Utc::now()).await.unwrap();
        let event = change(&run.execution_arn, "TIMED_OUT");
        let failed = finalise_run(&store, &notifier, &clock, &NoMetrics, &event)
            .await
            .unwrap_err();
        assert!(failed.is_retryable(), "{failed}");
        let record = store.get_execution(&run.execution_arn).await.unwrap();
        let record = record.unwrap();
        assert_eq!(record.status, ExecutionStatus::TimedOut);
        assert!(record.pending_alert.is_some());
        assert!(notifier.alerts().is_empty());

        // The invocation's retry finds the run ended and sends what the first attempt could not.
        assert_eq!(
            finalise_run(&store, &notifier, &clock, &NoMetrics, &event).await,
            Ok(Finalised::AlreadyEnded)
        );
        let alerts = notifier.alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].status, ExecutionStatus::TimedOut);
        let record = store.get_execution(&run.execution_arn).await.unwrap();
        assert_eq!(record.unwrap().pending_alert, None);
        finalise_run(&store, &notifier, &clock, &NoMetrics, &event)
            .await
            .unwrap();
        assert_eq!(notifier.alerts().len(), 1, "a late duplicate sends nothing");
    }

    #[tokio::test]
    async fn an_abort_puts_the_goal_back_to_draft() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let (run, _) = started_run(&store, "g", "u", 2, Utc::now()).await.unwrap();
        let event = change(&run.execution_arn, "ABORTED");
        finalise_run(
            &store,
            &notifier,
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            &event,
        )
        .await
        .unwrap();
        assert_eq!(
            store.get_goal("g").await.unwrap().unwrap().status,
            GoalStatus::Draft
        );
    }

    #[tokio::test]
    async fn other_statuses_and_unknown_runs_are_left_alone() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let clock = ManualClock::new(Utc::now());
        let (run, _) = started_run(&store, "g", "u", 2, Utc::now()).await.unwrap();
        let ok = change(&run.execution_arn, "SUCCEEDED");
        assert_eq!(
            finalise_run(&store, &notifier, &clock, &NoMetrics, &ok).await,
            Ok(Finalised::Ignored)
        );
        let unknown = change("arn:other", "FAILED");
        assert_eq!(
            finalise_run(&store, &notifier, &clock, &NoMetrics, &unknown).await,
            Ok(Finalised::Unknown)
        );
        assert!(notifier.alerts().is_empty());
    }

    #[tokio::test]
    async fn the_sweep_ends_overdue_runs_with_the_services_status() {
        let store = InMemoryStore::new();
        let notifier = RecordingNotifier::default();
        let start = Utc::now() - Duration::minutes(20);
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, move || start);
        let (run, _) = started_run(&store, "g", "u", 2, start).await.unwrap();
        let name = crate::naming::execution_name_of(&run.execution_arn).to_owned();
        let started = control.start_execution(&name, "{}").await.unwrap();
        assert!(matches!(started, StartOutcome::Started { .. }));
        control.close(&run.execution_arn, ExecutionStatus::TimedOut);
        let (fresh, _) = started_run(&store, "g2", "u", 2, Utc::now()).await.unwrap();

        let clock = ManualClock::new(Utc::now());
        let report = sweep_overdue_runs(&store, &control, &notifier, &clock, &NoMetrics)
            .await
            .unwrap();
        assert_eq!(
            report,
            SweepReport {
                overdue: 1,
                finalised: 1,
                ..SweepReport::default()
            }
        );
        let again = sweep_overdue_runs(&store, &control, &notifier, &clock, &NoMetrics)
            .await
            .unwrap();
        assert_eq!(again, SweepReport::default());
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, ExecutionStatus::TimedOut);
        let untouched = store
            .get_execution(&fresh.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(untouched.status, ExecutionStatus::Running);
    }

    #[tokio::test]
    async fn the_sweep_sends_the_alerts_ended_runs_left_pending_until_one_goes_out() {
        let store = InMemoryStore::new();
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now);
        let clock = ManualClock::new(Utc::now());
        let (run, _) = started_run(&store, "g", "u", 2, Utc::now()).await.unwrap();
        // The finaliser ended the run, but SNS refused its alert through all of its retries.
        let down = RecordingNotifier::unavailable_for(u32::MAX);
        let event = change(&run.execution_arn, "TIMED_OUT");
        assert!(finalise_run(&store, &down, &clock, &NoMetrics, &event)
            .await
            .is_err());

        let report = sweep_overdue_runs(&store, &control, &down, &clock, &NoMetrics)
            .await
            .unwrap();
        assert_eq!((report.alerts_delivered, report.alerts_undelivered), (0, 1));

        let notifier = RecordingNotifier::default();
        let report = sweep_overdue_runs(&store, &control, &notifier, &clock, &NoMetrics)
            .await
            .unwrap();
        assert_eq!((report.alerts_delivered, report.alerts_undelivered), (1, 0));
        assert_eq!(notifier.alerts().len(), 1);
        assert_eq!(notifier.alerts()[0].execution_arn, run.execution_arn);
        let report = sweep_overdue_runs(&store, &control, &notifier, &clock, &NoMetrics)
            .await
            .unwrap();
        assert_eq!(report, SweepReport::default());
        assert_eq!(notifier.alerts().len(), 1);
    }
}

#[cfg(test)]
mod sweep_tests {
    use super::*;
    use async_trait::async_trait;

    use crate::examples::{started_run, EXAMPLE_STATE_MACHINE_ARN};
    use crate::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
    use crate::metrics::{NoMetrics, RecordingMetrics};
    use crate::naming::execution_name_of;
    use crate::outcome::RunOutcome;
    use crate::ports::{ExecutionDescription, ManualClock, StartOutcome};
    use crate::records::FailedAction;
    use crate::steps::{RunRef, RunSummary};

    /// Step Functions answering for every execution but `broken`, and taking `delay` to answer.
    struct Service {
        inner: InMemoryExecutions,
        broken: Option<String>,
        delay: std::time::Duration,
    }

    #[async_trait]
    impl ExecutionControl for Service {
        fn execution_arn(&self, name: &str) -> String {
            self.inner.execution_arn(name)
        }

        async fn start_execution(
            &self,
            name: &str,
            input: &str,
        ) -> Result<StartOutcome, DomainError> {
            self.inner.start_execution(name, input).await
        }

        async fn describe_execution(
            &self,
            execution_arn: &str,
        ) -> Result<Option<ExecutionDescription>, DomainError> {
            tokio::time::sleep(self.delay).await;
            if self.broken.as_deref() == Some(execution_arn) {
                return Err(DomainError::transient(
                    crate::ErrorCode::Unavailable,
                    "Step Functions unavailable",
                ));
            }
            self.inner.describe_execution(execution_arn).await
        }

        async fn stop_execution(
            &self,
            execution_arn: &str,
            cause: &str,
        ) -> Result<(), DomainError> {
            self.inner.stop_execution(execution_arn, cause).await
        }
    }

    fn long_ago() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap()
    }

    fn now() -> ManualClock {
        ManualClock::new(long_ago() + Duration::hours(2))
    }

    /// `n` runs started long ago whose executions the service still has.
    async fn overdue(
        store: &InMemoryStore,
        n: usize,
        delay: std::time::Duration,
    ) -> (Vec<WorkflowExecution>, Service) {
        let service = Service {
            inner: InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, long_ago),
            broken: None,
            delay,
        };
        let mut runs = Vec::new();
        for i in 0..n {
            let (run, _) = started_run(store, &format!("g{i}"), "u", 2, long_ago())
                .await
                .unwrap();
            let name = execution_name_of(&run.execution_arn);
            service.inner.start_execution(name, "{}").await.unwrap();
            runs.push(run);
        }
        (runs, service)
    }

    async fn status_of(store: &InMemoryStore, run: &WorkflowExecution) -> ExecutionStatus {
        let record = store.get_execution(&run.execution_arn).await.unwrap();
        record.unwrap().status
    }

    #[tokio::test]
    async fn one_run_the_service_cannot_describe_does_not_stop_the_others() {
        let store = InMemoryStore::new();
        let (runs, mut service) = overdue(&store, 3, std::time::Duration::ZERO).await;
        for run in &runs {
            service
                .inner
                .close(&run.execution_arn, ExecutionStatus::TimedOut);
        }
        service.broken = Some(runs[1].execution_arn.clone());
        let notifier = RecordingNotifier::default();
        let metrics = RecordingMetrics::default();
        let clock = now();

        let report = sweep_overdue_runs(&store, &service, &notifier, &clock, &metrics)
            .await
            .unwrap();
        assert_eq!(
            report,
            SweepReport {
                overdue: 3,
                finalised: 2,
                failed: 1,
                ..SweepReport::default()
            }
        );
        assert_eq!(status_of(&store, &runs[0]).await, ExecutionStatus::TimedOut);
        assert_eq!(status_of(&store, &runs[1]).await, ExecutionStatus::Running);
        assert_eq!(status_of(&store, &runs[2]).await, ExecutionStatus::TimedOut);
        assert_eq!(notifier.alerts().len(), 2);
        let failures: Vec<String> = metrics
            .lines()
            .into_iter()
            .filter(|l| l.contains("SweepFailures"))
            .collect();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].contains("\"SweepFailures\":1"),
            "{}",
            failures[0]
        );

        // Once the service answers again, the next sweep ends the one left.
        service.broken = None;
        let again = sweep_overdue_runs(&store, &service, &notifier, &clock, &metrics)
            .await
            .unwrap();
        assert_eq!((again.overdue, again.finalised, again.failed), (1, 1, 0));
    }

    #[tokio::test]
    async fn a_run_the_service_finished_successfully_ends_with_the_outcome_of_its_output() {
        let store = InMemoryStore::new();
        let (runs, service) = overdue(&store, 2, std::time::Duration::ZERO).await;
        let summary = |run: &WorkflowExecution, failed: u32| RunSummary {
            run: RunRef {
                execution_arn: run.execution_arn.clone(),
                goal_id: run.goal_id.clone(),
                user_id: run.user_id.clone(),
            },
            total_actions: 2,
            succeeded_actions: 2 - failed,
            failed_actions: (0..failed)
                .map(|i| FailedAction::new(format!("a{i}"), "PermanentError".into(), "x".into()))
                .collect(),
            tasks_written: 3,
            outcome: RunOutcome::from_counts(2, failed),
        };
        let output = |summary: RunSummary| {
            let goal_status = summary.outcome.for_goal(0).goal_status();
            let result = RunResult {
                summary,
                goal_status,
                completed_at: long_ago(),
            };
            serde_json::to_string(&result).unwrap()
        };
        service
            .inner
            .succeed(&runs[0].execution_arn, &output(summary(&runs[0], 1)));
        // A successful execution whose output is not the workflow's.
        service.inner.succeed(&runs[1].execution_arn, "{}");
        let notifier = RecordingNotifier::default();
        let clock = now();

        let report = sweep_overdue_runs(&store, &service, &notifier, &clock, &NoMetrics)
            .await
            .unwrap();
        assert_eq!((report.finalised, report.failed), (2, 0));
        let partial = store
            .get_execution(&runs[0].execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(partial.status, ExecutionStatus::Succeeded);
        assert_eq!(partial.stopped_at, Some(long_ago()));
        let goal = store.get_goal("g0").await.unwrap().unwrap();
        assert_eq!(goal.status, GoalStatus::Partial);
        assert_eq!(status_of(&store, &runs[1]).await, ExecutionStatus::Failed);
        let goal = store.get_goal("g1").await.unwrap().unwrap();
        assert_eq!(goal.status, GoalStatus::Failed);
        let alerts = notifier.alerts();
        assert_eq!(alerts.len(), 1, "only the unreadable run alerts");
        assert_eq!(alerts[0].execution_arn, runs[1].execution_arn);
    }

    /// A thousand overdue runs, each DescribeExecution answered after 20 ms: handled
    /// SWEEP_CONCURRENCY at a time, the pass takes about 1,000 × 20 ms / 16 = 1.25 s of the
    /// function's 900 s (one at a time it would take 20 s).
    #[tokio::test]
    async fn a_backlog_of_a_thousand_overdue_runs_ends_in_one_pass() {
        let store = InMemoryStore::new();
        let (runs, service) = overdue(&store, 1000, std::time::Duration::from_millis(20)).await;
        for run in &runs {
            service
                .inner
                .close(&run.execution_arn, ExecutionStatus::Failed);
        }
        let clock = now();
        let started = std::time::Instant::now();
        let report = sweep_overdue_runs(
            &store,
            &service,
            &RecordingNotifier::default(),
            &clock,
            &NoMetrics,
        )
        .await
        .unwrap();
        println!(
            "swept {} overdue runs in {:.2} s",
            report.overdue,
            started.elapsed().as_secs_f64()
        );
        assert_eq!((report.overdue, report.finalised), (1000, 1000));
        for run in &runs {
            assert_eq!(status_of(&store, run).await, ExecutionStatus::Failed);
        }
    }
}

#[cfg(test)]
mod archive_tests {
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use super::*;
    use crate::examples::started_run;
    use crate::memory::{InMemoryArchive, InMemoryStore};
    use crate::ports::ManualClock;

    #[tokio::test]
    async fn old_days_are_archived_once_and_completely() {
        let store = InMemoryStore::new();
        let now = DateTime::parse_from_rfc3339("2026-11-24T17:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap();
        let day = |days_ago: i64, hour: u32| {
            (now - Duration::days(days_ago))
                .date_naive()
                .and_hms_opt(hour, 0, 0)
                .unwrap()
                .and_utc()
        };
        started_run(&store, "g1", "u", 1, day(89, 9)).await.unwrap();
        started_run(&store, "g2", "u", 1, day(89, 23))
            .await
            .unwrap();
        started_run(&store, "g3", "u", 1, day(95, 1)).await.unwrap();
        started_run(&store, "g4", "u", 1, day(86, 23))
            .await
            .unwrap();
        started_run(&store, "g5", "u", 1, day(85, 0)).await.unwrap();
        started_run(&store, "g6", "u", 1, day(3, 1)).await.unwrap();
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(now);

        let report = archive_history(&store, &archive, &clock).await.unwrap();
        assert_eq!((report.records, report.written.len()), (4, 3));
        assert_eq!(
            report.written,
            [95, 89, 86].map(|days_ago| archive_key(day(days_ago, 0).date_naive())),
            "the day 85 days ago is not over 85 days old yet"
        );
        let objects = archive.objects();
        let lines: Vec<WorkflowExecution> = objects[&archive_key(day(89, 0).date_naive())]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let goals: Vec<_> = lines.iter().map(|r| r.goal_id.as_str()).collect();
        assert_eq!(goals, ["g1", "g2"]);

        let again = archive_history(&store, &archive, &clock).await.unwrap();
        assert_eq!((again.records, again.already_archived), (0, 3));
        assert_eq!(archive.objects(), objects);
    }

    fn midnight(date: NaiveDate) -> DateTime<Utc> {
        date.and_time(NaiveTime::MIN).and_utc()
    }

    fn lines(object: &[u8]) -> Vec<WorkflowExecution> {
        object
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    /// Daily passes simulated from a run's start day to past its expiry.
    const PASS_DAYS: usize = crate::records::EXECUTION_RETENTION_DAYS as usize + 2;
    const DAY_MS: i64 = 86_400_000;

    /// Which daily pass is missed: none, any, or one in the days before the runs expire.
    fn missed_pass() -> impl Strategy<Value = Option<usize>> {
        let last_days = PASS_DAYS - 12..PASS_DAYS;
        prop_oneof![
            Just(None),
            (0..PASS_DAYS).prop_map(Some),
            last_days.prop_map(Some),
        ]
    }

    proptest! {
        /// A run started at any time of day is archived with all of its day's runs (the day's
        /// first and last instants included), by a pass at least two days before the first of
        /// them expires, whatever time of day each daily pass runs at and whichever one pass is
        /// missed; the object is never rewritten afterwards.
        #[test]
        fn each_day_is_archived_two_days_before_it_expires_though_a_pass_is_missed(
            day in 0..20_000i64,
            started_ms in 0..DAY_MS,
            pass_ms in proptest::collection::vec(0..DAY_MS, PASS_DAYS),
            missed in missed_pass(),
        ) {
            let date = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + Duration::days(day);
            let start = midnight(date);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let store = InMemoryStore::new();
            // The runs around the day, each begun when it starts: the day before's last, the
            // day's first, the generated one, the day's last, and the next day's first.
            let mut starts = vec![
                start - Duration::milliseconds(1),
                start,
                start + Duration::milliseconds(started_ms),
                start + Duration::milliseconds(DAY_MS - 1),
                start + Duration::days(1),
            ]
            .into_iter()
            .enumerate()
            .peekable();
            let mut day_runs = Vec::new();
            let archive = InMemoryArchive::default();
            let clock = ManualClock::new(start);
            let key = archive_key(date);
            let mut written: Option<(DateTime<Utc>, Vec<u8>)> = None;
            for (days_after, ms) in pass_ms.into_iter().enumerate() {
                let at = start + Duration::days(days_after as i64) + Duration::milliseconds(ms);
                while let Some((i, t)) = starts.next_if(|&(_, t)| t <= at) {
                    let (run, _) =
                        runtime.block_on(started_run(&store, &format!("g{i}"), "u", 1, t)).unwrap();
                    if t.date_naive() == date {
                        day_runs.push(run);
                    }
                }
                if missed == Some(days_after) {
                    continue;
                }
                clock.set(at);
                runtime.block_on(archive_history(&store, &archive, &clock)).unwrap();
                let object = archive.objects().get(&key).cloned();
                match (&written, object) {
                    (None, Some(object)) => written = Some((at, object)),
                    (Some((_, first)), object) => {
                        prop_assert_eq!(object.as_ref(), Some(first), "rewritten at {}", at)
                    }
                    (None, None) => {}
                }
            }
            let Some((at, object)) = written else {
                return Err(TestCaseError::fail("never archived"));
            };
            let first_expiry = day_runs.iter().map(|r| r.expires_at).min().unwrap();
            prop_assert!(
                at.timestamp() + ARCHIVE_MARGIN_DAYS * 86_400 <= first_expiry,
                "written at {at}, the first run expires at {first_expiry}"
            );
            prop_assert_eq!(lines(&object), day_runs, "written at {}", at);
        }
    }

    #[test]
    fn the_maintenance_schedule_runs_once_a_day() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let template: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let schedule = template["Parameters"]["MaintenanceSchedule"]["Default"]
            .as_str()
            .unwrap();
        let fields: Vec<&str> = schedule
            .strip_prefix("cron(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap()
            .split(' ')
            .collect();
        let [minute, hour, rest @ ..] = fields.as_slice() else {
            panic!("{schedule}");
        };
        assert!(minute.parse::<u8>().is_ok_and(|m| m < 60), "{schedule}");
        assert!(hour.parse::<u8>().is_ok_and(|h| h < 24), "{schedule}");
        assert_eq!(rest, ["*", "*", "?", "*"], "{schedule}");
    }
}
