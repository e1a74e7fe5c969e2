//! The target of the EventBridge rule on "Step Functions Execution Status Change" (FAILED,
//! TIMED_OUT, ABORTED): ends the run's record and goal, once, and alerts.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;
use shared::metrics::MetricSink;
use shared::operations::{finalise_run, ExecutionStatusChange, Finalised};
use shared::ports::{Clock, Notifier, Store};
use shared::DomainError;

pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";

pub async fn handle(
    store: &dyn Store,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    event: Value,
) -> Result<Finalised, DomainError> {
    let event: EventBridgeEvent<ExecutionStatusChange> =
        serde_json::from_value(event).map_err(|e| {
            DomainError::bad_request(format!("not an execution status change event: {e}"))
        })?;
    if event.source != "aws.states" || event.detail_type != DETAIL_TYPE {
        return Err(DomainError::bad_request(format!(
            "unexpected event {} from {}",
            event.detail_type, event.source
        )));
    }
    finalise_run(store, notifier, clock, metrics, &event.detail).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use shared::api::cancel_run;
    use shared::examples::{
        sample_run, EXAMPLE_STATE_MACHINE_ARN, SAMPLE_RUN_ARN, SAMPLE_STATUS_CHANGES,
    };
    use shared::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
    use shared::metrics::NoMetrics;
    use shared::ports::ManualClock;
    use shared::records::{ExecutionStatus, GoalStatus};
    use shared::ErrorCode;

    fn sample(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events")
            .join(format!("{name}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn at_millis(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }

    /// goal-demo of user-demo being processed by the sample run, started at the samples'
    /// `startDate`.
    async fn world() -> (InMemoryStore, RecordingNotifier, ManualClock) {
        let store = InMemoryStore::new();
        sample_run(&store).await.unwrap();
        let clock = ManualClock::new(at_millis(1_795_514_430_000));
        (store, RecordingNotifier::default(), clock)
    }

    #[tokio::test]
    async fn each_sample_ends_the_run_once_with_its_status_and_error() {
        for (name, status, error, goal_status) in SAMPLE_STATUS_CHANGES {
            let (store, notifier, clock) = world().await;
            let event = sample(name);
            let first = handle(&store, &notifier, &clock, &NoMetrics, event.clone()).await;
            let again = handle(&store, &notifier, &clock, &NoMetrics, event.clone()).await;
            assert_eq!(
                (first, again),
                (Ok(Finalised::Ended), Ok(Finalised::AlreadyEnded)),
                "{name}"
            );
            let record = store.get_execution(SAMPLE_RUN_ARN).await.unwrap().unwrap();
            let stop = event["detail"]["stopDate"].as_i64().map(at_millis);
            assert_eq!(
                (record.status, record.error.as_deref(), record.stopped_at),
                (status, Some(error), stop),
                "{name}"
            );
            assert_eq!(
                record.cause.as_deref().unwrap_or_default(),
                event["detail"]["cause"].as_str().unwrap_or_default(),
                "{name}"
            );
            assert_eq!(
                store.get_goal("goal-demo").await.unwrap().unwrap().status,
                goal_status,
                "{name}"
            );
            let alerts = notifier.alerts();
            assert_eq!(alerts.len(), 1, "{name}: one alert, also for the duplicate");
            assert_eq!(alerts[0].status, status, "{name}");
        }
    }

    #[tokio::test]
    async fn the_abort_of_a_run_cancel_already_ended_changes_nothing() {
        let (store, notifier, clock) = world().await;
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now);
        cancel_run(&store, &control, &clock, "user-demo", SAMPLE_RUN_ARN)
            .await
            .unwrap();
        let cancelled = store.get_execution(SAMPLE_RUN_ARN).await.unwrap().unwrap();
        let goal = store.get_goal("goal-demo").await.unwrap().unwrap();
        assert_eq!(
            (cancelled.status, goal.status),
            (ExecutionStatus::Aborted, GoalStatus::Draft)
        );

        let result = handle(
            &store,
            &notifier,
            &clock,
            &NoMetrics,
            sample("finalize-execution-aborted"),
        )
        .await;
        assert_eq!(result, Ok(Finalised::AlreadyEnded));
        assert_eq!(
            store.get_execution(SAMPLE_RUN_ARN).await.unwrap(),
            Some(cancelled),
            "the record keeps cancel's error, cause and stop time"
        );
        assert_eq!(store.get_goal("goal-demo").await.unwrap(), Some(goal));
        assert!(notifier.alerts().is_empty());
    }

    #[tokio::test]
    async fn other_events_are_refused() {
        let (store, notifier, clock) = world().await;
        let mut other = sample("finalize-execution-failed");
        other["source"] = json!("aws.s3");
        let e = handle(&store, &notifier, &clock, &NoMetrics, other).await;
        assert_eq!(e.map_err(|e| e.code), Err(ErrorCode::BadRequest));
        assert_eq!(
            store
                .get_execution(SAMPLE_RUN_ARN)
                .await
                .unwrap()
                .map(|r| r.status),
            Some(ExecutionStatus::Running)
        );
    }
}
