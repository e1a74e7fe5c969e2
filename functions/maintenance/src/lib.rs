//! The daily maintenance job (the scheduled rule's target): ends runs the service no longer runs
//! but whose records still say RUNNING past the run limit, then archives the history the TTL is
//! about to remove.

use serde::Serialize;
use serde_json::Value;
use shared::metrics::MetricSink;
use shared::operations::{archive_history, sweep_overdue_runs, ArchiveReport, SweepReport};
use shared::ports::{Archive, Clock, ExecutionControl, Notifier, Store};
use shared::DomainError;

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

/// The scheduled event carries nothing the job needs; any event starts a pass.
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
    .await?;
    let archive = archive_history(ports.store, ports.archive, ports.clock).await?;
    Ok(MaintenanceReport { sweep, archive })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use serde_json::json;
    use shared::examples::{started_run, EXAMPLE_STATE_MACHINE_ARN};
    use shared::memory::{InMemoryArchive, InMemoryExecutions, InMemoryStore, RecordingNotifier};
    use shared::metrics::NoMetrics;
    use shared::ports::ManualClock;
    use shared::records::ExecutionStatus;

    #[tokio::test]
    async fn a_stuck_run_without_an_execution_is_failed() {
        let store = InMemoryStore::new();
        let start = Utc::now() - Duration::hours(1);
        let (run, _) = started_run(&store, "g", "u", 2, start).await.unwrap();
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now);
        let notifier = RecordingNotifier::default();
        let ports = Maintenance {
            store: &store,
            control: &control,
            notifier: &notifier,
            archive: &InMemoryArchive::default(),
            clock: &ManualClock::new(Utc::now()),
            metrics: &NoMetrics,
        };
        let report = handle(ports, json!({})).await.unwrap();
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
}
