//! What a cancel, the status-change finaliser and the workflow's own last steps may do to each
//! other's writes, in memory and on DynamoDB (moto): a run the workflow ended keeps its tasks
//! whatever event arrives after, a run that ended aborted keeps none whatever order its last save,
//! the cancel and the finaliser come in, and nothing of a run that is no longer RUNNING is written;
//! the maintenance sweep ends a backlog of overdue runs.

mod support;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use shared::api::cancel_run;
use shared::aws::DynamoStore;
use shared::error::{DomainError, ErrorCode, StoreError};
use shared::examples::{example_tasks, started_run, EXAMPLE_STATE_MACHINE_ARN};
use shared::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
use shared::metrics::NoMetrics;
use shared::naming::execution_name_of;
use shared::operations::{finalise_run, sweep_overdue_runs, ExecutionStatusChange, Finalised};
use shared::outcome::RunOutcome;
use shared::ports::{
    ExecutionControl, ExecutionDescription, ManualClock, StartOutcome, Store,
    MAX_ATOMIC_WRITE_ITEMS,
};
use shared::records::{
    Action, ActionOutcome, ExecutionStatus, GoalStatus, RunEnd, Task, WorkflowExecution,
};
use shared::steps::{ActionResult, RunRef, RunSummary, SaveTasksRequest};
use shared::workflow::{save_tasks, update_goal_status};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn tasks_for(run: &WorkflowExecution, action_id: &str, n: u32) -> Vec<Task> {
    example_tasks(run, action_id, n, t0())
}

fn run_ref(run: &WorkflowExecution) -> RunRef {
    RunRef {
        execution_arn: run.execution_arn.clone(),
        goal_id: run.goal_id.clone(),
        user_id: run.user_id.clone(),
    }
}

/// SaveTasks' request for one batch holding these actions, three tasks each.
fn save_request(run: &WorkflowExecution, actions: &[&Action]) -> SaveTasksRequest {
    SaveTasksRequest {
        run: run_ref(run),
        batch_index: 0,
        action_results: actions
            .iter()
            .map(|a| ActionResult {
                action_id: a.action_id.clone(),
                tasks: tasks_for(run, &a.action_id, 3),
                failure: None,
            })
            .collect(),
    }
}

fn status_change(run: &WorkflowExecution, status: &str) -> ExecutionStatusChange {
    ExecutionStatusChange {
        execution_arn: run.execution_arn.clone(),
        state_machine_arn: EXAMPLE_STATE_MACHINE_ARN.to_owned(),
        status: status.to_owned(),
        start_date: Some(t0().timestamp_millis()),
        stop_date: Some((t0() + Duration::seconds(30)).timestamp_millis()),
        error: None,
        cause: None,
    }
}

/// A run of `n` actions whose execution is running.
async fn running(
    store: &dyn Store,
    goal_id: &str,
    n: usize,
) -> (WorkflowExecution, Vec<Action>, InMemoryExecutions) {
    let (run, actions) = started_run(store, goal_id, "u", n, t0())
        .await
        .expect("run");
    let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, t0);
    let started = control
        .start_execution(execution_name_of(&run.execution_arn), "{}")
        .await
        .expect("start");
    assert!(matches!(started, StartOutcome::Started { .. }));
    (run, actions, control)
}

/// Step Functions while the workflow's UpdateGoalStatus is in flight: the Lambda commits the
/// run's end, then StopExecution aborts the execution, which had not ended yet.
struct EndsWhileStopping<'a> {
    inner: &'a InMemoryExecutions,
    store: &'a dyn Store,
    summary: RunSummary,
}

#[async_trait]
impl ExecutionControl for EndsWhileStopping<'_> {
    fn execution_arn(&self, name: &str) -> String {
        self.inner.execution_arn(name)
    }

    async fn start_execution(&self, name: &str, input: &str) -> Result<StartOutcome, DomainError> {
        self.inner.start_execution(name, input).await
    }

    async fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDescription>, DomainError> {
        self.inner.describe_execution(execution_arn).await
    }

    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> Result<(), DomainError> {
        let clock = ManualClock::new(t0() + Duration::seconds(20));
        let notifier = RecordingNotifier::default();
        update_goal_status(
            self.store,
            &notifier,
            &clock,
            &NoMetrics,
            self.summary.clone(),
        )
        .await?;
        self.inner.stop_execution(execution_arn, cause).await
    }
}

async fn a_run_the_workflow_ended_first_keeps_its_tasks(store: &dyn Store) {
    let (run, actions, control) = running(store, "g-ended", 2).await;
    let all: Vec<&Action> = actions.iter().collect();
    let saved = save_tasks(store, save_request(&run, &all))
        .await
        .expect("save");
    assert_eq!(saved.tasks_written, 6);
    let racing = EndsWhileStopping {
        inner: &control,
        store,
        summary: RunSummary {
            run: run_ref(&run),
            total_actions: 2,
            succeeded_actions: 2,
            failed_actions: Vec::new(),
            tasks_written: 6,
            outcome: RunOutcome::Succeeded,
        },
    };
    let clock = ManualClock::new(t0() + Duration::seconds(30));
    let cancelled = cancel_run(store, &racing, &clock, "u", &run.execution_arn).await;
    let refusal = cancelled.expect_err("the run had already ended");
    assert_eq!(refusal.code, ErrorCode::Conflict, "{refusal}");

    // The service reports the stop as ABORTED; so might an operator's stop-execution.
    let notifier = RecordingNotifier::default();
    let aborted = status_change(&run, "ABORTED");
    let finalised = finalise_run(store, &notifier, &clock, &NoMetrics, &aborted).await;
    assert_eq!(finalised, Ok(Finalised::AlreadyEnded));

    let record = store.get_execution(&run.execution_arn).await.expect("get");
    assert_eq!(record.map(|r| r.status), Some(ExecutionStatus::Succeeded));
    let goal = store.get_goal("g-ended").await.expect("get").expect("goal");
    assert_eq!(goal.status, GoalStatus::Active);
    let held = store.count_action_tasks("g-ended").await.expect("count");
    assert_eq!(held.values().sum::<u32>(), 6, "{held:?}");
    assert!(notifier.alerts().is_empty());
}

/// One of the three writers at a cancelled run's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// SaveTasks of the batch that was in flight when the run was cancelled.
    Save,
    /// The owner's cancel through the API.
    Cancel,
    /// The finaliser, on the service's ABORTED event.
    Finalise,
}

async fn a_cancelled_run_keeps_no_tasks_in_any_order(store: &dyn Store, order: [Step; 3]) {
    let goal_id = format!("g-{order:?}")
        .replace(['[', ']', ',', ' '], "")
        .to_lowercase();
    let (run, actions, control) = running(store, &goal_id, 2).await;
    // The first batch was saved before the cancel; the second is the one in flight.
    save_tasks(store, save_request(&run, &[&actions[0]]))
        .await
        .expect("first batch");
    let clock = ManualClock::new(t0() + Duration::seconds(30));
    let notifier = RecordingNotifier::default();
    let mut cancelled = false;
    for step in order {
        match step {
            Step::Save => {
                let summary = save_tasks(store, save_request(&run, &[&actions[1]]))
                    .await
                    .expect("SaveTasks answers");
                if cancelled {
                    assert_eq!(summary.tasks_written, 0, "{order:?}: {summary:?}");
                    assert_eq!(summary.failed_actions.len(), 1, "{order:?}: {summary:?}");
                }
            }
            Step::Cancel => {
                cancel_run(store, &control, &clock, "u", &run.execution_arn)
                    .await
                    .expect("cancel");
                cancelled = true;
            }
            Step::Finalise => {
                control.close(&run.execution_arn, ExecutionStatus::Aborted);
                let aborted = status_change(&run, "ABORTED");
                finalise_run(store, &notifier, &clock, &NoMetrics, &aborted)
                    .await
                    .expect("finalise");
                cancelled = true;
            }
        }
    }
    let record = store.get_execution(&run.execution_arn).await.expect("get");
    assert_eq!(
        record.map(|r| r.status),
        Some(ExecutionStatus::Aborted),
        "{order:?}"
    );
    let held = store.count_action_tasks(&goal_id).await.expect("count");
    assert!(held.is_empty(), "{order:?}: {held:?}");
    let listed = store
        .list_execution_tasks(&run.execution_arn)
        .await
        .expect("list");
    assert!(listed.is_empty(), "{order:?}: {listed:?}");
    let goal = store.get_goal(&goal_id).await.expect("get").expect("goal");
    assert_eq!(goal.status, GoalStatus::Draft, "{order:?}");
}

const ORDERS: [[Step; 3]; 6] = [
    [Step::Save, Step::Cancel, Step::Finalise],
    [Step::Save, Step::Finalise, Step::Cancel],
    [Step::Cancel, Step::Save, Step::Finalise],
    [Step::Cancel, Step::Finalise, Step::Save],
    [Step::Finalise, Step::Save, Step::Cancel],
    [Step::Finalise, Step::Cancel, Step::Save],
];

async fn an_ended_runs_counts_and_progress_are_not_written(store: &dyn Store) {
    let (run, actions, _control) = running(store, "g-counts", 2).await;
    let first = ActionOutcome::succeeded(&actions[0].action_id);
    let counted = store
        .record_action_outcome(&run.execution_arn, &first, t0())
        .await
        .expect("count");
    assert!(counted.processed);
    store
        .set_progress(&run.execution_arn, 50, Some(30), t0())
        .await
        .expect("progress");
    let end = RunEnd {
        status: ExecutionStatus::Aborted,
        goal_status: GoalStatus::Draft,
        at: t0() + Duration::seconds(10),
        error: Some("Cancelled".into()),
        cause: None,
        alert: None,
    };
    assert_eq!(store.finish_run(&run.execution_arn, &end).await, Ok(true));

    let late = ActionOutcome::succeeded(&actions[1].action_id);
    let counted = store
        .record_action_outcome(&run.execution_arn, &late, t0() + Duration::seconds(20))
        .await
        .expect("a late count answers");
    assert!(!counted.processed && !counted.failed);
    store
        .set_progress(&run.execution_arn, 100, None, t0() + Duration::seconds(20))
        .await
        .expect("a late progress answers");
    let record = store
        .get_execution(&run.execution_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (
            record.processed_actions,
            record.progress_percent,
            record.eta_seconds
        ),
        (1, 50, Some(30))
    );
    let saved = store
        .save_action_tasks(&tasks_for(&run, &actions[1].action_id, 2))
        .await;
    assert!(
        matches!(&saved, Err(StoreError::ConditionFailed(why)) if why.contains("no longer running")),
        "{saved:?}"
    );
}

async fn a_save_one_atomic_write_cannot_hold_is_refused_before_it_is_sent(store: &dyn Store) {
    let (run, actions, _control) = running(store, "g-large", 2).await;
    let action = &actions[0].action_id;
    // Each task written, the action and the run's check: 98 tasks fill one write.
    let most = (MAX_ATOMIC_WRITE_ITEMS - 2) as u32;
    let refused = store
        .save_action_tasks(&tasks_for(&run, action, most + 1))
        .await;
    assert!(
        matches!(&refused, Err(StoreError::TooLarge(why)) if why.contains("101 items")),
        "{refused:?}"
    );
    assert!(store
        .count_action_tasks("g-large")
        .await
        .expect("count")
        .is_empty());
    assert_eq!(
        store
            .save_action_tasks(&tasks_for(&run, action, most))
            .await,
        Ok(most)
    );
    // SaveTasks reports such an action as failed and goes on with the batch.
    let mut request = save_request(&run, &[&actions[1]]);
    request.action_results[0].tasks = tasks_for(&run, &actions[1].action_id, most + 1);
    let summary = save_tasks(store, request).await.expect("save");
    assert_eq!(summary.failed_actions.len(), 1);
    assert_eq!(summary.failed_actions[0].error, "PAYLOAD_TOO_LARGE");
}

async fn every_fence_holds(store: &dyn Store) {
    a_run_the_workflow_ended_first_keeps_its_tasks(store).await;
    for order in ORDERS {
        a_cancelled_run_keeps_no_tasks_in_any_order(store, order).await;
    }
    an_ended_runs_counts_and_progress_are_not_written(store).await;
    a_save_one_atomic_write_cannot_hold_is_refused_before_it_is_sent(store).await;
}

#[tokio::test]
async fn in_memory() {
    let store = InMemoryStore::new();
    every_fence_holds(&store).await;
}

#[tokio::test]
async fn on_dynamodb() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, "fencing").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    every_fence_holds(&store).await;
}

/// A backlog of overdue runs on DynamoDB: every run is ended with what the service reports, one
/// the service no longer has included, in one pass.
#[tokio::test]
async fn a_backlog_of_overdue_runs_is_swept_on_dynamodb() {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, "sweep").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, t0);
    let mut runs = Vec::new();
    for i in 0..40 {
        let (run, _) = started_run(&store, &format!("g-overdue-{i}"), "u", 1, t0())
            .await
            .expect("run");
        // The first one's execution never started: the service has none.
        if i > 0 {
            let name = execution_name_of(&run.execution_arn);
            control.start_execution(name, "{}").await.expect("start");
            control.close(&run.execution_arn, ExecutionStatus::TimedOut);
        }
        runs.push(run);
    }
    let clock = ManualClock::new(t0() + Duration::hours(1));
    let started = std::time::Instant::now();
    let report = sweep_overdue_runs(
        &store,
        &control,
        &RecordingNotifier::default(),
        &clock,
        &NoMetrics,
    )
    .await
    .expect("sweep");
    println!(
        "swept {} overdue runs on moto in {:.2} s",
        report.overdue,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        (report.overdue, report.finalised, report.failed),
        (40, 40, 0)
    );
    for (i, run) in runs.iter().enumerate() {
        let record = store.get_execution(&run.execution_arn).await.expect("get");
        let expected = if i == 0 {
            ExecutionStatus::Failed
        } else {
            ExecutionStatus::TimedOut
        };
        assert_eq!(record.map(|r| r.status), Some(expected));
    }
}
