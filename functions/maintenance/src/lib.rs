//! The daily maintenance job (the scheduled rule's target): ends runs the service no longer runs
//! but whose records still say RUNNING past the run limit, then archives the history the TTL is
//! about to remove.

use serde::Serialize;
use serde_json::Value;
use shared::metrics::MetricSink;
use shared::operations::{archive_history, sweep_overdue_runs, ArchiveReport, SweepReport};
use shared::ports::{Archive, Clock, ExecutionControl, Notifier, Store};
use shared::{DomainError, ErrorCode};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceReport {
    pub sweep: SweepReport,
    pub archive: ArchiveReport,
}

/// The ports the job works over.
pub struct Maintenance<'a> {
    pub store: &'a dyn Store,
    pub control: &'a dyn ExecutionControl,
    pub notifier: &'a dyn Notifier,
    pub archive: &'a dyn Archive,
    pub clock: &'a dyn Clock,
    pub metrics: &'a dyn MetricSink,
}

/// The scheduled event carries nothing the job needs; any event starts a pass. The archive runs
/// even when the sweep could not (its days are about to expire). The pass fails, for the
/// function's error alarm, when the sweep or the archive did, or when some overdue runs could
/// not be ended (the sweep ends all the others first).
pub async fn handle(
    ports: Maintenance<'_>,
    _event: Value,
) -> Result<MaintenanceReport, DomainError> {
    let sweep = sweep_overdue_runs(
        ports.store,
        ports.control,
        ports.notifier,
        ports.clock,
        ports.metrics,
    )
    .await;
    let archive = archive_history(ports.store, ports.archive, ports.clock).await;
    let report = MaintenanceReport {
        sweep: sweep?,
        archive: archive?,
    };
    if report.sweep.failed > 0 {
        return Err(DomainError::transient(
            ErrorCode::Unavailable,
            format!(
                "{} of {} overdue runs could not be ended; the next pass tries them again",
                report.sweep.failed, report.sweep.overdue
            ),
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU32, Ordering};

    use chrono::{DateTime, Duration, NaiveDate, Utc};
    use serde_json::json;
    use shared::examples::{started_run, EXAMPLE_STATE_MACHINE_ARN};
    use shared::memory::{InMemoryArchive, InMemoryExecutions, InMemoryStore, RecordingNotifier};
    use shared::metrics::NoMetrics;
    use shared::operations::{archive_key, ARCHIVE_AFTER_DAYS};
    use shared::ports::{ExecutionDescription, ManualClock, StartOutcome};
    use shared::records::{ExecutionStatus, WorkflowExecution};
    use shared::{ErrorCode, ErrorKind};

    /// What the ports' `#[async_trait]` methods return; this crate does not depend on the macro,
    /// so the test adapters below spell the boxed futures out.
    type Reply<'f, T> = Pin<Box<dyn Future<Output = Result<T, DomainError>> + Send + 'f>>;

    fn unavailable(what: &str) -> DomainError {
        DomainError::transient(ErrorCode::Unavailable, format!("{what} unavailable"))
    }

    /// An archive that accepts `puts_left` more objects, then fails every write.
    struct FlakyArchive {
        inner: InMemoryArchive,
        puts_left: AtomicU32,
    }

    impl Archive for FlakyArchive {
        fn exists<'s, 'k, 'f>(&'s self, key: &'k str) -> Reply<'f, bool>
        where
            's: 'f,
            'k: 'f,
            Self: 'f,
        {
            self.inner.exists(key)
        }

        fn put<'s, 'k, 'c, 'f>(
            &'s self,
            key: &'k str,
            body: Vec<u8>,
            content_type: &'c str,
        ) -> Reply<'f, ()>
        where
            's: 'f,
            'k: 'f,
            'c: 'f,
            Self: 'f,
        {
            let allowed = self
                .puts_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if allowed {
                self.inner.put(key, body, content_type)
            } else {
                Box::pin(async { Err(unavailable("archive")) })
            }
        }

        fn location(&self, key: &str) -> String {
            self.inner.location(key)
        }
    }

    /// Step Functions answering nothing but errors.
    struct DownControl;

    impl ExecutionControl for DownControl {
        fn execution_arn(&self, name: &str) -> String {
            shared::naming::execution_arn(EXAMPLE_STATE_MACHINE_ARN, name)
        }

        fn start_execution<'s, 'n, 'i, 'f>(
            &'s self,
            _name: &'n str,
            _input: &'i str,
        ) -> Reply<'f, StartOutcome>
        where
            's: 'f,
            'n: 'f,
            'i: 'f,
            Self: 'f,
        {
            Box::pin(async { Err(unavailable("step functions")) })
        }

        fn describe_execution<'s, 'a, 'f>(
            &'s self,
            _execution_arn: &'a str,
        ) -> Reply<'f, Option<ExecutionDescription>>
        where
            's: 'f,
            'a: 'f,
            Self: 'f,
        {
            Box::pin(async { Err(unavailable("step functions")) })
        }

        fn stop_execution<'s, 'a, 'c, 'f>(
            &'s self,
            _execution_arn: &'a str,
            _cause: &'c str,
        ) -> Reply<'f, ()>
        where
            's: 'f,
            'a: 'f,
            'c: 'f,
            Self: 'f,
        {
            Box::pin(async { Err(unavailable("step functions")) })
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T17:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn days_ago(days: i64, hour: u32) -> DateTime<Utc> {
        let day = (now() - Duration::days(days)).date_naive();
        day.and_hms_opt(hour, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()
    }

    /// Two whole days old enough to archive (two runs, then one) and one run too recent for it.
    async fn store_with_history() -> (InMemoryStore, NaiveDate, NaiveDate) {
        let store = InMemoryStore::new();
        let older = ARCHIVE_AFTER_DAYS + 5;
        let old = ARCHIVE_AFTER_DAYS + 1;
        for (goal, at) in [
            ("g1", days_ago(older, 8)),
            ("g2", days_ago(older, 22)),
            ("g3", days_ago(old, 3)),
            ("g4", days_ago(ARCHIVE_AFTER_DAYS - 1, 3)),
        ] {
            started_run(&store, goal, "u", 1, at).await.unwrap();
        }
        let date = |at: DateTime<Utc>| at.date_naive();
        (store, date(days_ago(older, 0)), date(days_ago(old, 0)))
    }

    fn archived_goals(archive: &InMemoryArchive, date: NaiveDate) -> Vec<String> {
        let objects = archive.objects();
        let body = objects
            .get(&archive_key(date))
            .map(Vec::as_slice)
            .unwrap_or_default();
        body.split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| serde_json::from_slice::<WorkflowExecution>(line).ok())
            .map(|run| run.goal_id)
            .collect()
    }

    fn ports<'a>(
        store: &'a InMemoryStore,
        control: &'a dyn ExecutionControl,
        notifier: &'a RecordingNotifier,
        archive: &'a dyn Archive,
        clock: &'a ManualClock,
    ) -> Maintenance<'a> {
        Maintenance {
            store,
            control,
            notifier,
            archive,
            clock,
            metrics: &NoMetrics,
        }
    }

    #[tokio::test]
    async fn a_stuck_run_without_an_execution_is_failed() {
        let store = InMemoryStore::new();
        let start = Utc::now() - Duration::hours(1);
        let (run, _) = started_run(&store, "g", "u", 2, start).await.unwrap();
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now);
        let notifier = RecordingNotifier::default();
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(Utc::now());
        let report = handle(
            ports(&store, &control, &notifier, &archive, &clock),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!((report.sweep.overdue, report.sweep.finalised), (1, 1));
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.status, record.error.as_deref()),
            (ExecutionStatus::Failed, Some("ExecutionNotFound"))
        );
    }

    #[tokio::test]
    async fn old_days_are_archived_once_each_and_a_second_pass_adds_nothing() {
        let (store, older, old) = store_with_history().await;
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, now);
        let notifier = RecordingNotifier::default();
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(now());

        let first = handle(
            ports(&store, &control, &notifier, &archive, &clock),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(
            first.archive.written,
            [archive_key(older), archive_key(old)]
        );
        assert_eq!(
            (first.archive.records, first.archive.already_archived),
            (3, 0)
        );
        assert_eq!(archived_goals(&archive, older), ["g1", "g2"]);
        assert_eq!(archived_goals(&archive, old), ["g3"]);
        // The recent run's day is not archived yet: the TTL is still days away from it.
        assert_eq!(archive.objects().len(), 2);

        let objects = archive.objects();
        let second = handle(
            ports(&store, &control, &notifier, &archive, &clock),
            json!({}),
        )
        .await
        .unwrap();
        assert!(second.archive.written.is_empty());
        assert_eq!(
            (second.archive.records, second.archive.already_archived),
            (0, 2)
        );
        assert_eq!(archive.objects(), objects);
    }

    #[tokio::test]
    async fn a_failing_archive_is_a_transient_error_and_the_next_pass_writes_only_what_is_missing()
    {
        let (store, older, old) = store_with_history().await;
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, now);
        let notifier = RecordingNotifier::default();
        let clock = ManualClock::new(now());
        let flaky = FlakyArchive {
            inner: InMemoryArchive::default(),
            puts_left: AtomicU32::new(1),
        };

        let failed = handle(
            ports(&store, &control, &notifier, &flaky, &clock),
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (failed.kind, failed.code),
            (ErrorKind::Transient, ErrorCode::Unavailable)
        );
        // The day written before the failure is complete; the failed day left no object behind.
        assert_eq!(archived_goals(&flaky.inner, older), ["g1", "g2"]);
        assert!(!flaky.inner.objects().contains_key(&archive_key(old)));

        let retried = handle(
            ports(&store, &control, &notifier, &flaky.inner, &clock),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(retried.archive.written, [archive_key(old)]);
        assert_eq!(
            (retried.archive.records, retried.archive.already_archived),
            (1, 1)
        );
        assert_eq!(archived_goals(&flaky.inner, old), ["g3"]);
    }

    #[tokio::test]
    async fn an_unreachable_step_functions_leaves_stuck_runs_running_and_unreported() {
        let store = InMemoryStore::new();
        let (run, _) = started_run(&store, "g", "u", 2, now() - Duration::hours(1))
            .await
            .unwrap();
        let notifier = RecordingNotifier::default();
        let archive = InMemoryArchive::default();
        let clock = ManualClock::new(now());

        let failed = handle(
            ports(&store, &DownControl, &notifier, &archive, &clock),
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (failed.kind, failed.code),
            (ErrorKind::Transient, ErrorCode::Unavailable)
        );
        // Without the service's answer the run's fate is unknown, so it is not ended or alerted on.
        let record = store
            .get_execution(&run.execution_arn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (record.status, record.stopped_at),
            (ExecutionStatus::Running, None)
        );
        assert!(notifier.alerts().is_empty());
    }
}
