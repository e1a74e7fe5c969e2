//! The daily maintenance job (the scheduled rule's target): ends runs the service no longer runs
//! but whose records still say RUNNING past the run limit.

use serde_json::Value;
use shared::metrics::MetricSink;
use shared::operations::{sweep_overdue_runs, SweepReport};
use shared::ports::{Clock, ExecutionControl, Notifier, Store};
use shared::DomainError;

/// The scheduled event carries nothing the job needs; any event starts a sweep.
pub async fn handle(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    _event: Value,
) -> Result<SweepReport, DomainError> {
    sweep_overdue_runs(store, control, notifier, clock, metrics).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use serde_json::json;
    use shared::examples::{started_run, EXAMPLE_STATE_MACHINE_ARN};
    use shared::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
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
        let report = handle(
            &store,
            &control,
            &notifier,
            &ManualClock::new(Utc::now()),
            &NoMetrics,
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!((report.overdue, report.finalised), (1, 1));
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
