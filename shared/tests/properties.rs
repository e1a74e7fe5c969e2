//! The correctness properties of DESIGN.md section 4, over the in-memory adapters (the reference
//! semantics every adapter shares). Each property drives the functions the handlers call (`api`,
//! `workflow`, `operations`) in the order the API and the state machine call them, and judges what
//! they did with an oracle of its own: a model of the requests, a count, a simulated timeline, the
//! template's own alarm; never the formula the code uses.
//!
//! Property 3 (the retry schedule) and the state machine's half of property 4 (the run and AI call
//! limits) are rules of the definition, not of this crate: sfn-local's `tests/properties.rs` runs
//! the definition to check them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::Value;
use shared::api::{
    cancel_run, get_status, retry_failed, start_activity, StartResponse, StatusView,
};
use shared::batching::MAX_BATCH_SIZE;
use shared::capacity::ModelQuota;
use shared::deadlines::{AI_CALL_LIMIT_SECONDS, BATCH_BUDGET_SECONDS, RUN_LIMIT_SECONDS};
use shared::examples::{example_goal, mark, seed, EXAMPLE_STATE_MACHINE_ARN};
use shared::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
use shared::metrics::{NoMetrics, RecordingMetrics};
use shared::naming::execution_name;
use shared::offline::OfflineGenerator;
use shared::operations::{finalise_run, sweep_overdue_runs, ExecutionStatusChange, Finalised};
use shared::ports::{
    Clock, Counted, GeneratedTask, ManualClock, RunsAfter, RunsPage, Store, TaskGenerator,
};
use shared::progress::{eta_seconds, layout_eta_seconds, progress_percent};
use shared::records::{
    Action, ActionOutcome, CallTiming, ExecutionStatus, Goal, GoalStatus, RunEnd, Task,
    WorkflowExecution, ALL_ACTIONS_FAILED,
};
use shared::steps::{
    ActionResult, AggregateRequest, CaughtError, ExecutionInput, GenerateTasksRequest,
    HandleErrorRequest, RunActions, RunRef, RunSummary, SaveTasksRequest, ValidateInputRequest,
};
use shared::{workflow, DomainError, ErrorCode, ErrorKind, StoreError};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn seconds(s: i64) -> Duration {
    Duration::seconds(s)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a test runtime")
}

/// One thread: concurrent tasks interleave only where they yield, as [`Interleaved`] decides.
fn single_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a test runtime")
}

/// The product over in-memory adapters, driven as the API and the state machine drive it.
struct World {
    store: Arc<dyn Store>,
    memory: Arc<InMemoryStore>,
    control: InMemoryExecutions,
    clock: Arc<ManualClock>,
    metrics: RecordingMetrics,
    notifier: RecordingNotifier,
    generator: OfflineGenerator,
}

impl World {
    fn new() -> Self {
        Self::over(Arc::new(InMemoryStore::new()), None)
    }

    /// The product over `memory`, or over `store` wrapping it when given.
    fn over(memory: Arc<InMemoryStore>, store: Option<Arc<dyn Store>>) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let service_clock = clock.clone();
        Self {
            store: store.unwrap_or_else(|| memory.clone() as Arc<dyn Store>),
            memory,
            control: InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, move || {
                service_clock.now()
            }),
            clock,
            metrics: RecordingMetrics::default(),
            notifier: RecordingNotifier::default(),
            generator: OfflineGenerator::new(),
        }
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn at(&self, instant: DateTime<Utc>) {
        self.clock.set(instant);
    }

    /// A goal of `user` with `n` example actions; those at `failing` fail for good.
    async fn goal(&self, goal_id: &str, user: &str, n: usize, failing: &[usize]) -> Vec<Action> {
        let (goal, mut actions) = example_goal(goal_id, user, n, self.clock.now());
        mark(&mut actions, failing.iter().copied(), "[fail]");
        seed(self.store(), &goal, &actions).await.expect("seed");
        actions
    }

    /// Rewrites the goal's actions: only those at `failing` still fail.
    async fn fix(&self, goal_id: &str, user: &str, n: usize, failing: &[usize]) {
        let (_, mut actions) = example_goal(goal_id, user, n, t0());
        mark(&mut actions, failing.iter().copied(), "[fail]");
        self.store().put_actions(&actions).await.expect("actions");
    }

    async fn start(
        &self,
        user: &str,
        goal_id: &str,
        key: &str,
    ) -> Result<StartResponse, DomainError> {
        start_activity(
            self.store(),
            &self.control,
            self.clock.as_ref(),
            &self.metrics,
            user,
            goal_id,
            Some(key),
            // These properties start many runs of small goals at made-up times; admission has
            // its own (shared::capacity), so the quota here never refuses one.
            ModelQuota {
                concurrent_calls: u32::MAX / 1024,
            },
        )
        .await
    }

    async fn record(&self, execution_arn: &str) -> WorkflowExecution {
        self.store()
            .get_execution(execution_arn)
            .await
            .expect("get")
            .expect("record")
    }

    async fn goal_status(&self, goal_id: &str) -> GoalStatus {
        self.store()
            .get_goal(goal_id)
            .await
            .expect("get")
            .map(|g| g.status)
            .expect("goal")
    }

    fn input(&self, execution_arn: &str) -> ExecutionInput {
        let started = self.control.recorded();
        let input = started
            .iter()
            .find(|e| e.description.execution_arn == execution_arn)
            .map(|e| e.input.clone())
            .expect("a started execution");
        serde_json::from_str(&input).expect("input")
    }

    /// ValidateInput and GetActions, as the state machine starts a run.
    async fn actions_of(&self, execution_arn: &str) -> RunActions {
        let validated = workflow::validate_input(
            self.store(),
            ValidateInputRequest {
                execution_arn: execution_arn.to_owned(),
                started_at: self.clock.now(),
                input: serde_json::to_value(self.input(execution_arn)).expect("input"),
            },
        )
        .await
        .expect("validate");
        workflow::get_actions(self.store(), validated)
            .await
            .expect("actions")
    }

    /// GenerateTasks for one action, with the definition's Catch: a failure becomes the action's
    /// failed result.
    async fn generate(
        &self,
        run: &RunRef,
        batch_started_at: DateTime<Utc>,
        action: &Action,
    ) -> ActionResult {
        let req = GenerateTasksRequest {
            run: run.clone(),
            goal_title: String::new(),
            batch_started_at,
            action: action.clone(),
            retry_count: 0,
            batch_index: None,
            action_started_at: None,
        };
        workflow::generate_tasks(
            self.store(),
            &self.generator,
            self.clock.as_ref(),
            &self.metrics,
            req,
        )
        .await
        .unwrap_or_else(|e| ActionResult {
            action_id: action.action_id.clone(),
            tasks: Vec::new(),
            failure: Some(CaughtError {
                error: e.error_type().to_owned(),
                cause: e.message,
            }),
        })
    }

    /// A started execution through every state to UpdateGoalStatus, as the state machine runs it.
    async fn run(&self, execution_arn: &str) -> RunSummary {
        let batched = workflow::create_batches(self.actions_of(execution_arn).await);
        let mut batch_results = Vec::new();
        for batch in batched.batches {
            let started = self.clock.now();
            let mut action_results = Vec::new();
            for action in &batch.actions {
                action_results.push(self.generate(&batched.run, started, action).await);
            }
            let saved = workflow::save_tasks(
                self.store(),
                SaveTasksRequest {
                    run: batched.run.clone(),
                    batch_index: batch.batch_index,
                    action_results,
                },
            )
            .await
            .expect("save");
            batch_results.push(
                workflow::update_progress(self.store(), self.clock.as_ref(), &self.metrics, saved)
                    .await
                    .expect("progress"),
            );
        }
        let summary = workflow::aggregate_results(AggregateRequest {
            run: batched.run,
            total_actions: batched.total_actions,
            batch_results,
        });
        workflow::update_goal_status(
            self.store(),
            &self.notifier,
            self.clock.as_ref(),
            &self.metrics,
            summary.clone(),
        )
        .await
        .expect("goal status");
        // The execution itself succeeds even when every action failed: the run's verdict is
        // the record's.
        self.control
            .close(execution_arn, ExecutionStatus::Succeeded);
        summary
    }

    /// An uncaught error: the definition's Catch sends it to HandleError.
    async fn fail_uncaught(&self, execution_arn: &str, goal_id: &str) {
        let req = HandleErrorRequest {
            execution_arn: execution_arn.to_owned(),
            goal_id: Some(goal_id.to_owned()),
            error: CaughtError {
                error: "States.TaskFailed".into(),
                cause: "a step failed".into(),
            },
        };
        workflow::handle_error(
            self.store(),
            &self.notifier,
            self.clock.as_ref(),
            &self.metrics,
            req,
        )
        .await
        .expect("handle error");
        self.control.close(execution_arn, ExecutionStatus::Failed);
    }

    /// The execution ends outside the workflow (a timeout, a failure no Catch sees): the
    /// status-change event reaches finalize-execution.
    async fn end_outside(&self, execution_arn: &str, status: ExecutionStatus) -> Finalised {
        self.control.close(execution_arn, status);
        let change = ExecutionStatusChange {
            execution_arn: execution_arn.to_owned(),
            state_machine_arn: EXAMPLE_STATE_MACHINE_ARN.to_owned(),
            status: status.as_str().to_owned(),
            start_date: None,
            stop_date: Some(self.clock.now().timestamp_millis()),
            error: None,
            cause: None,
        };
        finalise_run(
            self.store(),
            &self.notifier,
            self.clock.as_ref(),
            &self.metrics,
            &change,
        )
        .await
        .expect("finalise")
    }

    async fn cancel(&self, user: &str, execution_arn: &str) -> StatusView {
        cancel_run(
            self.store(),
            &self.control,
            self.clock.as_ref(),
            user,
            execution_arn,
        )
        .await
        .expect("cancel")
    }

    async fn status(&self, user: &str, execution_arn: &str) -> StatusView {
        get_status(self.store(), self.clock.as_ref(), user, execution_arn)
            .await
            .expect("status")
    }

    /// For each action that has tasks, the runs that wrote them.
    fn writers(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut writers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for task in self.memory.all_tasks() {
            writers
                .entry(task.action_id)
                .or_default()
                .insert(task.execution_arn);
        }
        writers
    }
}

/// The all / some / none rule, by counting the goal's actions that have tasks.
fn goal_status_by_rule(with_tasks: usize, actions: usize) -> GoalStatus {
    if with_tasks == actions {
        GoalStatus::Active
    } else if with_tasks == 0 {
        GoalStatus::Failed
    } else {
        GoalStatus::Partial
    }
}

/// How many whole percent of `total` actions `processed` actions make: the thresholds 1 %, 2 %,
/// ..., 100 % they have reached, counted one by one.
fn thresholds_reached(processed: u32, total: u32) -> u8 {
    (1..=100u64)
        .filter(|p| p * u64::from(total) <= 100 * u64::from(processed))
        .count() as u8
}

/// How a run ends, and which handler ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Every action turned into tasks.
    Succeed,
    /// One action fails for good.
    Partial,
    /// Every action fails for good.
    AllFail,
    /// A step fails and the definition's Catch runs HandleError.
    Uncaught,
    /// The execution outlives TimeoutSeconds; finalize-execution records it.
    TimeOut,
    /// The owner cancels it through the API.
    Cancel,
}

impl Ending {
    const ALL: [Ending; 6] = [
        Ending::Succeed,
        Ending::Partial,
        Ending::AllFail,
        Ending::Uncaught,
        Ending::TimeOut,
        Ending::Cancel,
    ];

    /// The actions of a goal of `n` that fail for good for this ending.
    fn failing(self, n: usize) -> Vec<usize> {
        match self {
            Ending::Partial => vec![0],
            Ending::AllFail => (0..n).collect(),
            _ => Vec::new(),
        }
    }

    /// What DESIGN.md and docs/api.md say the run's record and goal end as.
    fn expected(self) -> (ExecutionStatus, GoalStatus, Option<&'static str>) {
        match self {
            Ending::Succeed => (ExecutionStatus::Succeeded, GoalStatus::Active, None),
            Ending::Partial => (ExecutionStatus::Succeeded, GoalStatus::Partial, None),
            Ending::AllFail => (
                ExecutionStatus::Failed,
                GoalStatus::Failed,
                Some(ALL_ACTIONS_FAILED),
            ),
            Ending::Uncaught => (
                ExecutionStatus::Failed,
                GoalStatus::Failed,
                Some("States.TaskFailed"),
            ),
            Ending::TimeOut => (
                ExecutionStatus::TimedOut,
                GoalStatus::Failed,
                Some("States.Timeout"),
            ),
            Ending::Cancel => (
                ExecutionStatus::Aborted,
                GoalStatus::Draft,
                Some("Cancelled"),
            ),
        }
    }

    /// Whether the run counts as failed for the failure-rate alert: it produced nothing a user
    /// asked for because of a fault. A partial run delivered, a cancelled one was the user's call.
    fn is_failure(self) -> bool {
        matches!(self, Ending::AllFail | Ending::Uncaught | Ending::TimeOut)
    }

    /// Ends the started run on `goal_id` of `user` this way.
    async fn play(self, w: &World, user: &str, goal_id: &str, execution_arn: &str) {
        match self {
            Ending::Succeed | Ending::Partial | Ending::AllFail => {
                w.run(execution_arn).await;
            }
            Ending::Uncaught => {
                w.fail_uncaught(execution_arn, goal_id).await;
                // The execution then fails, and its status change finds the run already ended.
                let late = w.end_outside(execution_arn, ExecutionStatus::Failed).await;
                assert_eq!(late, Finalised::AlreadyEnded);
            }
            Ending::TimeOut => {
                let finalised = w
                    .end_outside(execution_arn, ExecutionStatus::TimedOut)
                    .await;
                assert_eq!(finalised, Finalised::Ended);
            }
            Ending::Cancel => {
                w.cancel(user, execution_arn).await;
                let late = w.end_outside(execution_arn, ExecutionStatus::Aborted).await;
                assert_eq!(late, Finalised::AlreadyEnded);
            }
        }
    }
}

/// What a test does next to one goal's runs.
#[derive(Debug, Clone, Copy)]
enum Request {
    /// POST start-activity with this idempotency key.
    Start(u8),
    /// The owner cancels the running run.
    Cancel,
    /// The running execution fails or times out outside the workflow.
    EndOutside(ExecutionStatus),
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        3 => (0u8..4).prop_map(Request::Start),
        1 => Just(Request::Cancel),
        1 => Just(Request::EndOutside(ExecutionStatus::Failed)),
        1 => Just(Request::EndOutside(ExecutionStatus::TimedOut)),
    ]
}

/// A model generator: the offline one, counting its calls.
#[derive(Default)]
struct CountingGenerator {
    inner: OfflineGenerator,
    calls: Mutex<u32>,
}

impl CountingGenerator {
    fn calls(&self) -> u32 {
        self.calls.lock().map(|c| *c).unwrap_or_default()
    }
}

#[async_trait]
impl TaskGenerator for CountingGenerator {
    async fn generate(
        &self,
        goal_title: &str,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        if let Ok(mut calls) = self.calls.lock() {
            *calls += 1;
        }
        self.inner.generate(goal_title, action).await
    }
}

/// A store through which concurrent steps interleave at every call: before each call it lets the
/// other tasks run as many times as the schedule says, and after each call it notes what
/// get-status would answer about the watched run at that moment.
struct Interleaved {
    inner: Arc<InMemoryStore>,
    schedule: Mutex<(Vec<u8>, usize)>,
    watched: Mutex<Option<String>>,
    seen: Mutex<Vec<(StatusView, u8)>>,
    now: DateTime<Utc>,
}

impl Interleaved {
    fn new(inner: Arc<InMemoryStore>, schedule: Vec<u8>, now: DateTime<Utc>) -> Self {
        Self {
            inner,
            schedule: Mutex::new((schedule, 0)),
            watched: Mutex::new(None),
            seen: Mutex::new(Vec::new()),
            now,
        }
    }

    fn watch(&self, execution_arn: &str) {
        if let Ok(mut w) = self.watched.lock() {
            *w = Some(execution_arn.to_owned());
        }
    }

    /// What get-status answered after each store call, with the stored percent.
    fn seen(&self) -> Vec<(StatusView, u8)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    async fn before(&self) {
        let yields = match self.schedule.lock() {
            Ok(mut s) if !s.0.is_empty() => {
                let (schedule, next) = &mut *s;
                let n = schedule[*next % schedule.len()];
                *next += 1;
                n
            }
            _ => 0,
        };
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
    }

    async fn after(&self) {
        let watched = self.watched.lock().ok().and_then(|w| w.clone());
        let Some(arn) = watched else { return };
        if let Ok(Some(run)) = self.inner.get_execution(&arn).await {
            let stored = run.progress_percent;
            if let Ok(mut seen) = self.seen.lock() {
                seen.push((StatusView::of(run, self.now), stored));
            }
        }
    }
}

macro_rules! interleaved {
    ($store:expr, $method:ident ( $($arg:expr),* )) => {{
        $store.before().await;
        let answer = $store.inner.$method($($arg),*).await;
        $store.after().await;
        answer
    }};
}

#[async_trait]
impl Store for Interleaved {
    async fn get_goal(&self, goal_id: &str) -> Result<Option<Goal>, StoreError> {
        interleaved!(self, get_goal(goal_id))
    }
    async fn put_goal(&self, goal: &Goal) -> Result<(), StoreError> {
        interleaved!(self, put_goal(goal))
    }
    async fn put_actions(&self, actions: &[Action]) -> Result<(), StoreError> {
        interleaved!(self, put_actions(actions))
    }
    async fn list_actions(&self, goal_id: &str) -> Result<Vec<Action>, StoreError> {
        interleaved!(self, list_actions(goal_id))
    }
    async fn begin_run(
        &self,
        record: &WorkflowExecution,
        quota: ModelQuota,
    ) -> Result<(), StoreError> {
        interleaved!(self, begin_run(record, quota))
    }
    async fn reserved_model_calls(&self) -> Result<u32, StoreError> {
        interleaved!(self, reserved_model_calls())
    }
    async fn get_execution(&self, arn: &str) -> Result<Option<WorkflowExecution>, StoreError> {
        interleaved!(self, get_execution(arn))
    }
    async fn list_goal_executions(
        &self,
        goal_id: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<RunsPage, StoreError> {
        interleaved!(self, list_goal_executions(goal_id, limit, after))
    }
    async fn list_running_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        interleaved!(self, list_running_started_before(started_before))
    }
    async fn list_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        interleaved!(self, list_started_before(started_before))
    }
    async fn set_total_actions(&self, arn: &str, total: u32) -> Result<(), StoreError> {
        interleaved!(self, set_total_actions(arn, total))
    }
    async fn record_action_outcome(
        &self,
        arn: &str,
        outcome: &ActionOutcome,
        at: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        interleaved!(self, record_action_outcome(arn, outcome, at))
    }
    async fn set_progress(
        &self,
        arn: &str,
        percent: u8,
        eta_seconds: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        interleaved!(self, set_progress(arn, percent, eta_seconds, at))
    }
    async fn finish_run(&self, arn: &str, end: &RunEnd) -> Result<bool, StoreError> {
        interleaved!(self, finish_run(arn, end))
    }
    async fn clear_pending_alert(&self, arn: &str) -> Result<(), StoreError> {
        interleaved!(self, clear_pending_alert(arn))
    }
    async fn list_pending_alerts(&self) -> Result<Vec<WorkflowExecution>, StoreError> {
        interleaved!(self, list_pending_alerts())
    }
    async fn save_action_tasks(&self, tasks: &[Task]) -> Result<u32, StoreError> {
        interleaved!(self, save_action_tasks(tasks))
    }
    async fn list_execution_tasks(&self, arn: &str) -> Result<Vec<Task>, StoreError> {
        interleaved!(self, list_execution_tasks(arn))
    }
    async fn delete_execution_tasks(&self, arn: &str) -> Result<u32, StoreError> {
        interleaved!(self, delete_execution_tasks(arn))
    }
    async fn count_action_tasks(&self, goal_id: &str) -> Result<BTreeMap<String, u32>, StoreError> {
        interleaved!(self, count_action_tasks(goal_id))
    }
}

/// The template's WorkflowFailureRateAlarm: its metric queries, expression, comparison and
/// threshold, as CloudWatch evaluates them over one window.
struct Alarm {
    /// Metric query id -> the product metric it sums over the window.
    sums: Vec<(String, String)>,
    expression: String,
    comparison: String,
    threshold: f64,
}

impl Alarm {
    fn from_template() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml");
        let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
        let alarm = &template["Resources"]["WorkflowFailureRateAlarm"]["Properties"];
        let text_of = |v: &serde_yaml_ng::Value| v.as_str().map(str::to_owned);
        let mut sums = Vec::new();
        let mut expression = None;
        for query in alarm["Metrics"].as_sequence().into_iter().flatten() {
            let id = text_of(&query["Id"]).expect("a query id");
            let stat = &query["MetricStat"];
            if stat.is_mapping() {
                assert_eq!(text_of(&stat["Stat"]).as_deref(), Some("Sum"), "{id}");
                sums.push((
                    id,
                    text_of(&stat["Metric"]["MetricName"]).expect("a metric"),
                ));
            } else if query["ReturnData"].as_bool() == Some(true) {
                expression = text_of(&query["Expression"]);
            }
        }
        Self {
            sums,
            expression: expression.expect("the alarm's expression"),
            comparison: text_of(&alarm["ComparisonOperator"]).expect("a comparison"),
            threshold: alarm["Threshold"].as_f64().expect("a threshold"),
        }
    }

    /// Whether the alarm is in ALARM given each metric's sum over the window.
    fn fires(&self, totals: &BTreeMap<String, f64>) -> bool {
        let vars: BTreeMap<String, f64> = self
            .sums
            .iter()
            .map(|(id, metric)| (id.clone(), totals.get(metric).copied().unwrap_or(0.0)))
            .collect();
        let value = MetricMath::eval(&self.expression, &vars);
        match self.comparison.as_str() {
            "GreaterThanThreshold" => value > self.threshold,
            "GreaterThanOrEqualToThreshold" => value >= self.threshold,
            "LessThanThreshold" => value < self.threshold,
            "LessThanOrEqualToThreshold" => value <= self.threshold,
            other => panic!("comparison {other} is not modelled"),
        }
    }
}

/// Sums the product metrics in EMF lines, as CloudWatch extracts them.
fn metric_sums(lines: &[String]) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for line in lines {
        let doc: Value = serde_json::from_str(line).expect("an EMF line is JSON");
        for directive in doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().expect("a metric name");
                let value = doc[name].as_f64().expect("a metric value");
                *sums.entry(name.to_owned()).or_insert(0.0) += value;
            }
        }
    }
    sums
}

/// CloudWatch metric math, as much of it as the alarm uses: numbers, query ids, `+ - * /`,
/// comparisons (1 or 0) and `IF(condition, then, else)`.
struct MetricMath<'a> {
    tokens: Vec<String>,
    at: usize,
    vars: &'a BTreeMap<String, f64>,
}

impl<'a> MetricMath<'a> {
    fn eval(expression: &str, vars: &'a BTreeMap<String, f64>) -> f64 {
        let mut tokens = Vec::new();
        let mut chars = expression.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(word);
            } else {
                chars.next();
                let mut op = c.to_string();
                if matches!(c, '<' | '>' | '=' | '!') && chars.peek() == Some(&'=') {
                    op.push('=');
                    chars.next();
                }
                tokens.push(op);
            }
        }
        let mut math = MetricMath {
            tokens,
            at: 0,
            vars,
        };
        let value = math.comparison();
        assert_eq!(math.at, math.tokens.len(), "unparsed: {expression}");
        value
    }

    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn take(&mut self) -> String {
        self.at += 1;
        self.tokens[self.at - 1].clone()
    }

    fn expect(&mut self, token: &str) {
        assert_eq!(self.take(), token);
    }

    fn comparison(&mut self) -> f64 {
        let left = self.sum();
        let holds: fn(f64, f64) -> bool = match self.peek() {
            Some(">") => |a: f64, b: f64| a > b,
            Some(">=") => |a: f64, b: f64| a >= b,
            Some("<") => |a: f64, b: f64| a < b,
            Some("<=") => |a: f64, b: f64| a <= b,
            Some("==") => |a: f64, b: f64| a == b,
            Some("!=") => |a: f64, b: f64| a != b,
            _ => return left,
        };
        self.take();
        let right = self.sum();
        f64::from(u8::from(holds(left, right)))
    }

    fn sum(&mut self) -> f64 {
        let mut value = self.product();
        while let Some(op @ ("+" | "-")) = self.peek() {
            let add = op == "+";
            self.take();
            let right = self.product();
            value = if add { value + right } else { value - right };
        }
        value
    }

    fn product(&mut self) -> f64 {
        let mut value = self.atom();
        while let Some(op @ ("*" | "/")) = self.peek() {
            let multiply = op == "*";
            self.take();
            let right = self.atom();
            value = if multiply {
                value * right
            } else {
                value / right
            };
        }
        value
    }

    fn atom(&mut self) -> f64 {
        let token = self.take();
        if token == "(" {
            let value = self.comparison();
            self.expect(")");
            return value;
        }
        if token == "IF" {
            self.expect("(");
            let condition = self.comparison();
            self.expect(",");
            let then = self.comparison();
            self.expect(",");
            let otherwise = self.comparison();
            self.expect(")");
            return if condition != 0.0 { then } else { otherwise };
        }
        token
            .parse()
            .ok()
            .or_else(|| self.vars.get(&token).copied())
            .unwrap_or_else(|| panic!("unknown term {token}"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// 1. The same start request never creates a second execution, whatever runs end in between;
    /// a new request for a goal that is not processing starts a run, and one while it is answers
    /// 409. Judged against a model of the goal: which keys were accepted, which run is going.
    #[test]
    fn p1_idempotent_start(first in 0u8..4, rest in prop::collection::vec(request(), 0..14)) {
        let rt = runtime();
        rt.block_on(async {
            let w = World::new();
            w.goal("g1", "u1", 3, &[]).await;
            let mut accepted: BTreeMap<u8, String> = BTreeMap::new();
            let mut running: Option<String> = None;
            for (i, step) in std::iter::once(Request::Start(first)).chain(rest).enumerate() {
                w.at(t0() + seconds(i as i64 + 1));
                match step {
                    Request::Start(key) => {
                        let answer = w.start("u1", "g1", &format!("key-{key}")).await;
                        match (accepted.get(&key), &running) {
                            (Some(arn), _) => {
                                let again = answer.map_err(|e| TestCaseError::fail(format!("a repeated request failed: {e}")))?;
                                prop_assert_eq!(&again.execution_arn, arn);
                                prop_assert_eq!(again.status, w.record(arn).await.status);
                            }
                            (None, Some(going)) => {
                                let refused = answer.err().map(|e| e.code);
                                prop_assert_eq!(refused, Some(ErrorCode::Conflict), "a second run of the goal while {} runs", going);
                            }
                            (None, None) => {
                                let started = answer.map_err(|e| TestCaseError::fail(format!("a valid start was refused: {e}")))?;
                                prop_assert_eq!(started.status, ExecutionStatus::Running);
                                prop_assert!(!accepted.values().any(|a| a == &started.execution_arn));
                                accepted.insert(key, started.execution_arn.clone());
                                running = Some(started.execution_arn);
                            }
                        }
                    }
                    Request::Cancel => {
                        if let Some(arn) = running.take() {
                            prop_assert_eq!(w.cancel("u1", &arn).await.status, ExecutionStatus::Aborted);
                        }
                    }
                    Request::EndOutside(status) => {
                        if let Some(arn) = running.take() {
                            prop_assert_eq!(w.end_outside(&arn, status).await, Finalised::Ended);
                        }
                    }
                }
            }
            // One execution and one record per accepted request, none for the refused ones.
            let executions: BTreeSet<String> = w.control.recorded().into_iter()
                .map(|e| e.description.execution_arn).collect();
            let answered: BTreeSet<String> = accepted.values().cloned().collect();
            prop_assert_eq!(&executions, &answered);
            let records: BTreeSet<String> = w.store().list_started_before(t0() + Duration::days(1)).await.expect("runs")
                .into_iter().map(|r| r.execution_arn).collect();
            prop_assert_eq!(&records, &answered);
            Ok(())
        })?;
    }

    /// 1. Distinct requests get distinct execution names.
    #[test]
    fn p1_names_separate_requests(g1 in "[a-z0-9-]{1,40}", g2 in "[a-z0-9-]{1,40}", k1 in ".{1,20}", k2 in ".{1,20}") {
        prop_assume!((g1.as_str(), k1.as_str()) != (g2.as_str(), k2.as_str()));
        prop_assert_ne!(execution_name(&g1, &k1), execution_name(&g2, &k2));
    }

    /// 2. CreateBatches puts every action in exactly one batch, keeps their order, makes no batch
    /// over 8 and none empty, and no more batches than needed: no two neighbours would fit in one.
    #[test]
    fn p2_batching(
        order in (0usize..=140).prop_flat_map(|n| Just((0..n).collect::<Vec<_>>()).prop_shuffle()),
        share in prop::option::of(1u32..=8),
    ) {
        let actions: Vec<Action> = order.iter().map(|i| Action {
            goal_id: "g".into(),
            action_id: format!("a{i}"),
            sub_goal_id: format!("s{}", i % 8),
            position: *i as u32,
            title: format!("action {i}"),
            description: String::new(),
        }).collect();
        let run = RunRef { execution_arn: "arn".into(), goal_id: "g".into(), user_id: "u".into() };
        let planned = workflow::create_batches(RunActions { run: run.clone(), goal_title: "g".into(), actions: actions.clone(), actions_at_once: share });
        prop_assert_eq!(&planned.run, &run);
        // The run's share of the model quota, or the default for its batches.
        let default = shared::batching::actions_at_once(planned.batches.len()) as u32;
        prop_assert_eq!(planned.actions_at_once, share.unwrap_or(default));
        prop_assert_eq!(planned.total_actions as usize, actions.len());
        for action in &actions {
            let homes = planned.batches.iter()
                .map(|b| b.actions.iter().filter(|a| *a == action).count())
                .sum::<usize>();
            prop_assert_eq!(homes, 1, "{} is in {} batches", action.action_id, homes);
        }
        let flat: Vec<&Action> = planned.batches.iter().flat_map(|b| &b.actions).collect();
        prop_assert_eq!(flat, actions.iter().collect::<Vec<_>>());
        for (i, b) in planned.batches.iter().enumerate() {
            prop_assert_eq!(b.batch_index as usize, i);
            prop_assert!((1..=8).contains(&b.actions.len()), "batch {} has {}", i, b.actions.len());
        }
        for pair in planned.batches.windows(2) {
            prop_assert!(pair[0].actions.len() + pair[1].actions.len() > 8, "batches {} and {} fit in one", pair[0].batch_index, pair[1].batch_index);
        }
    }

    /// 4. generate-tasks starts a model call only when the call, running for its whole 2 minutes,
    /// still ends within its batch's 5 minutes; otherwise it fails without calling the model, with
    /// an error the definition never retries.
    #[test]
    fn p4_ai_calls_fit_in_the_batch_budget(offset_ms in prop_oneof![179_000i64..=181_000, -60_000i64..1_200_000]) {
        let rt = runtime();
        rt.block_on(async {
            let w = World::new();
            let actions = w.goal("g", "u", 1, &[]).await;
            let arn = w.start("u", "g", "k").await.expect("start").execution_arn;
            let run = w.actions_of(&arn).await.run;
            let batch_started_at = t0() + seconds(7);
            let now = batch_started_at + Duration::milliseconds(offset_ms);
            w.at(now);
            let model = CountingGenerator::default();
            let req = GenerateTasksRequest { run, goal_title: String::new(), batch_started_at, action: actions[0].clone(), retry_count: 0, batch_index: None, action_started_at: None };
            let answer = workflow::generate_tasks(w.store(), &model, w.clock.as_ref(), &NoMetrics, req).await;
            let fits = now + Duration::minutes(2) <= batch_started_at + Duration::minutes(5);
            let processed = w.record(&arn).await.processed_actions;
            if fits {
                prop_assert!(answer.is_ok(), "{:?}", answer);
                prop_assert_eq!((model.calls(), processed), (1, 1));
            } else {
                let refused = answer.err().map(|e| (e.kind, e.code));
                prop_assert_eq!(refused, Some((ErrorKind::Permanent, ErrorCode::DeadlineExceeded)));
                prop_assert_eq!((model.calls(), processed), (0, 0));
            }
            Ok(())
        })?;
    }

    /// 4. No record stays RUNNING past the 15-minute run limit once its execution has ended: the
    /// maintenance sweep ends it with the service's status; younger runs, and runs the service
    /// still reports running, are left alone.
    #[test]
    fn p4_the_sweep_ends_runs_past_the_limit(runs in prop::collection::vec((prop_oneof![898i64..=902, 0i64..2_000], any::<bool>()), 1..6)) {
        let rt = runtime();
        rt.block_on(async {
            let w = World::new();
            let now = t0() + seconds(3_000);
            let mut arns = Vec::new();
            for (i, (age, _)) in runs.iter().enumerate() {
                let goal = format!("g{i}");
                w.at(now - seconds(*age));
                w.goal(&goal, "u", 1, &[]).await;
                arns.push(w.start("u", &goal, "k").await.expect("start").execution_arn);
            }
            for (arn, (_, ended_at_service)) in arns.iter().zip(&runs) {
                if *ended_at_service {
                    w.control.close(arn, ExecutionStatus::TimedOut);
                }
            }
            w.at(now);
            sweep_overdue_runs(w.store(), &w.control, &w.notifier, w.clock.as_ref(), &NoMetrics).await.expect("sweep");
            for (arn, (age, ended_at_service)) in arns.iter().zip(&runs) {
                let record = w.record(arn).await;
                let overdue = now - record.started_at > Duration::minutes(15);
                let expected = if overdue && *ended_at_service { ExecutionStatus::TimedOut } else { ExecutionStatus::Running };
                prop_assert_eq!(record.status, expected, "a run {} s old", age);
                prop_assert_eq!(record.stopped_at.is_some(), expected != ExecutionStatus::Running);
            }
            Ok(())
        })?;
    }

    /// 5. SaveTasks writes an action's tasks all or none; repeated and concurrent saves of a batch
    /// (Lambda retries) never duplicate one: the store ends with exactly the generated tasks.
    #[test]
    fn p5_atomic_persistence(n in 1usize..=8, failing in prop::collection::btree_set(0usize..8, 0..3), repeats in 1usize..5) {
        let rt = runtime();
        rt.block_on(async {
            let w = Arc::new(World::new());
            let failing: Vec<usize> = failing.into_iter().filter(|i| *i < n).collect();
            let actions = w.goal("g", "u", n, &failing).await;
            let arn = w.start("u", "g", "k").await.expect("start").execution_arn;
            let run = w.actions_of(&arn).await.run;
            let mut results = Vec::new();
            for a in &actions {
                results.push(w.generate(&run, t0(), a).await);
            }
            let save = SaveTasksRequest { run: run.clone(), batch_index: 0, action_results: results.clone() };
            let handles: Vec<_> = (0..repeats).map(|_| {
                let w = w.clone();
                let save = save.clone();
                tokio::spawn(async move { workflow::save_tasks(w.store(), save).await })
            }).collect();
            let generated: BTreeMap<String, Task> = results.iter().flat_map(|r| r.tasks.clone())
                .map(|t| (t.task_id.clone(), t)).collect();
            for h in handles {
                let summary = h.await.expect("join").expect("save");
                prop_assert_eq!(summary.succeeded_action_ids.len(), n - failing.len());
                prop_assert_eq!(summary.failed_actions.len(), failing.len());
                // Whichever attempt wrote them, each reports the batch's tasks once.
                prop_assert_eq!(summary.tasks_written as usize, generated.len());
            }
            let stored: BTreeMap<String, Task> = w.store().list_execution_tasks(&arn).await.expect("list")
                .into_iter().map(|t| (t.task_id.clone(), t)).collect();
            prop_assert_eq!(&stored, &generated);
            for (i, a) in actions.iter().enumerate() {
                let of_action = stored.values().filter(|t| t.action_id == a.action_id).count();
                prop_assert_eq!(of_action == 0, failing.contains(&i));
            }
            Ok(())
        })?;
    }

    /// 6. Progress as get-status reports it stays in 0..=100, never goes back under any
    /// interleaving of the batches' steps (Lambda retries of UpdateProgress included), is 100
    /// exactly when every action is processed, and is the whole percent of the actions processed.
    /// The observer sees the run after every store call, so it sees every count from 0 to all.
    #[test]
    fn p6_progress(
        n in 1usize..=24,
        failing in prop::collection::btree_set(0usize..24, 0..6),
        repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        schedule in prop::collection::vec(0u8..4, 1..64),
    ) {
        let failing: Vec<usize> = failing.into_iter().filter(|i| *i < n).collect();
        let rt = single_thread();
        rt.block_on(async {
            let memory = Arc::new(InMemoryStore::new());
            let store = Arc::new(Interleaved::new(memory.clone(), schedule, t0() + seconds(5)));
            let w = Arc::new(World::over(memory, Some(store.clone())));
            w.goal("g", "u", n, &failing).await;
            let arn = w.start("u", "g", "k").await.expect("start").execution_arn;
            store.watch(&arn);
            let batched = workflow::create_batches(w.actions_of(&arn).await);
            w.at(t0() + seconds(5));
            // Every batch at once, each through GenerateTasks, SaveTasks and UpdateProgress; some
            // UpdateProgress calls are repeated, as a retry after a lost answer does.
            let mut repeated = vec![0usize; batched.batches.len()];
            for r in &repeats {
                repeated[r.index(batched.batches.len())] += 1;
            }
            let handles: Vec<_> = batched.batches.into_iter().zip(repeated).map(|(batch, again)| {
                let w = w.clone();
                let run = batched.run.clone();
                tokio::spawn(async move {
                    let mut results = Vec::new();
                    for action in &batch.actions {
                        results.push(w.generate(&run, t0(), action).await);
                    }
                    let save = SaveTasksRequest { run, batch_index: batch.batch_index, action_results: results };
                    let summary = workflow::save_tasks(w.store(), save).await.expect("save");
                    for _ in 0..=again {
                        workflow::update_progress(w.store(), w.clock.as_ref(), &NoMetrics, summary.clone()).await.expect("progress");
                    }
                })
            }).collect();
            for h in handles {
                h.await.expect("join");
            }
            let seen = store.seen();
            for pair in seen.windows(2) {
                let (before, after) = (&pair[0], &pair[1]);
                prop_assert!(before.0.progress_percent <= after.0.progress_percent, "percent went back: {} -> {}", before.0.progress_percent, after.0.progress_percent);
                prop_assert!(before.1 <= after.1, "stored percent went back: {} -> {}", before.1, after.1);
                prop_assert!(before.0.processed_actions <= after.0.processed_actions);
                prop_assert!(before.0.failed_count <= after.0.failed_count);
            }
            for (view, _) in &seen {
                prop_assert!(view.progress_percent <= 100);
                prop_assert_eq!(view.progress_percent == 100, view.processed_actions as usize == n);
                prop_assert_eq!(view.progress_percent, thresholds_reached(view.processed_actions, n as u32));
            }
            let counts: BTreeSet<u32> = seen.iter().map(|(v, _)| v.processed_actions).collect();
            prop_assert_eq!(counts, (0..=n as u32).collect::<BTreeSet<_>>(), "every intermediate count is seen");
            let last = w.record(&arn).await;
            prop_assert_eq!((last.processed_actions as usize, last.failed_count as usize, last.progress_percent), (n, failing.len(), 100));
            let untimed = last.finished_calls.iter().filter(|c| c.untimed).count();
            prop_assert_eq!(untimed, failing.len(), "each failure is kept once with its batch");
            Ok(())
        })?;
    }

    /// 6. The percent function itself over the whole range: the whole percent processed.
    #[test]
    fn p6_percent_function(total in 1u32..=64, processed in 0u32..=70) {
        let percent = progress_percent(processed, total);
        prop_assert_eq!(percent, thresholds_reached(processed.min(total), total));
        prop_assert_eq!(percent == 100, processed >= total);
        prop_assert_eq!(progress_percent(processed, 0), 0, "nothing counted yet");
    }

    /// ETA: absent before the actions are counted (and before the first finishes), never
    /// negative, non-increasing as the actions finish at a constant pace after a start-up delay,
    /// zero only when every action is done, and never less than the simulated run has left
    /// (exactly that when there is no start-up delay).
    #[test]
    fn eta_as_actions_finish_at_a_constant_pace(n in 1u32..=64, pace in 0u64..=120, delay in prop_oneof![Just(0u64), 0u64..=300]) {
        prop_assert_eq!(eta_seconds(delay, 0, 0), None, "the actions are not counted yet");
        prop_assert_eq!(eta_seconds(delay, 0, n), None, "no action has finished yet");
        // Action k finishes at `delay + k * pace`; the last at `finish`.
        let finished_at: Vec<u64> = (1..=u64::from(n)).scan(delay, |t, _| { *t += pace; Some(*t) }).collect();
        let finish = finished_at[finished_at.len() - 1];
        let mut previous = None;
        for (k, at) in (1..=n).zip(&finished_at) {
            let eta = eta_seconds(*at, k, n);
            let eta = eta.ok_or_else(|| TestCaseError::fail(format!("no estimate after {k} of {n}")))?;
            prop_assert_eq!(eta == 0, k == n, "{} s left after {} of {}", eta, k, n);
            if let Some(previous) = previous {
                prop_assert!(eta <= previous, "the estimate rose from {} to {} s", previous, eta);
            }
            let left = finish - at;
            prop_assert!(eta >= left, "{} s promised, {} s left", eta, left);
            if delay == 0 && pace > 0 {
                prop_assert_eq!(eta, left);
            }
            previous = Some(eta);
        }
    }

    /// ETA from the layout, for any record of finished calls: none from fewer than three, else at
    /// least 1 s and no more than a batch's calls could still take one after another, each
    /// within its state's timeout.
    #[test]
    fn eta_from_the_layout_is_bounded(
        total in 1u32..=64,
        at_once in 1usize..=8,
        calls in prop::collection::vec((0u32..8, 0i64..=300_000, 0i64..=120_000), 0..=64),
        wait in 0i64..=200_000,
    ) {
        let batches = total.div_ceil(MAX_BATCH_SIZE as u32);
        let calls: Vec<CallTiming> = calls
            .into_iter()
            .take(total as usize)
            .map(|(batch, start, took)| CallTiming {
                batch_index: batch % batches,
                started_at: t0() + Duration::milliseconds(start),
                finished_at: t0() + Duration::milliseconds(start + took),
                untimed: false,
            })
            .collect();
        let now = calls.iter().map(|c| c.finished_at).max().unwrap_or(t0()) + Duration::milliseconds(wait);
        let eta = layout_eta_seconds(total, at_once, &calls, now);
        prop_assert_eq!(eta.is_none(), calls.len() < 3);
        if let Some(eta) = eta {
            let most = MAX_BATCH_SIZE as u64 * AI_CALL_LIMIT_SECONDS as u64;
            prop_assert!((1..=most).contains(&eta), "{} s", eta);
        }
    }

    /// ETA as get-status reports it during a run whose actions finish at a constant pace (some
    /// within the run's first second).
    #[test]
    fn eta_as_get_status_reports_it(n in 1usize..=10, pace in prop_oneof![Just(0i64), 0i64..=30], delay in prop_oneof![Just(0i64), 0i64..=60]) {
        let rt = runtime();
        rt.block_on(async {
            let w = World::new();
            w.goal("g", "u", n, &[]).await;
            let arn = w.start("u", "g", "k").await.expect("start").execution_arn;
            prop_assert_eq!(w.status("u", &arn).await.estimated_seconds_remaining, None, "not counted yet");
            w.at(t0() + seconds(delay));
            let batched = workflow::create_batches(w.actions_of(&arn).await);
            prop_assert_eq!(w.status("u", &arn).await.estimated_seconds_remaining, None, "none finished yet");
            let actions: Vec<Action> = batched.batches.iter().flat_map(|b| b.actions.clone()).collect();
            let finish = t0() + seconds(delay + pace * n as i64);
            let mut previous = None;
            for (k, action) in actions.iter().enumerate() {
                w.at(t0() + seconds(delay + pace * (k as i64 + 1)));
                w.generate(&batched.run, w.clock.now(), action).await;
                let eta = w.status("u", &arn).await.estimated_seconds_remaining
                    .ok_or_else(|| TestCaseError::fail("no estimate once an action finished"))?;
                prop_assert_eq!(eta == 0, k + 1 == n);
                if let Some(previous) = previous {
                    prop_assert!(eta <= previous, "the estimate rose from {} to {} s", previous, eta);
                }
                prop_assert!(eta as i64 >= (finish - w.clock.now()).num_seconds());
                previous = Some(eta);
            }
            Ok(())
        })?;
    }

    /// 7. Successful actions' tasks are kept, the failed list is exactly the actions that failed,
    /// and the goal's status follows the all / some / none rule over its actions; also after a
    /// retry of the failed actions, some of which the user fixed.
    #[test]
    fn p7_partial_failure(fate in (1usize..=12).prop_flat_map(|n| prop_oneof![
        prop::collection::vec(0u8..3, n),
        (0u8..3).prop_map(move |f| vec![f; n]),
    ])) {
        // Per action: 0 succeeds, 1 fails until the user fixes it, 2 keeps failing.
        let n = fate.len();
        let first_failing: Vec<usize> = (0..n).filter(|i| fate[*i] > 0).collect();
        let still_failing: Vec<usize> = (0..n).filter(|i| fate[*i] == 2).collect();
        let rt = runtime();
        rt.block_on(async {
            let w = World::new();
            let actions = w.goal("g", "u", n, &first_failing).await;
            let ids = |at: &[usize]| at.iter().map(|i| actions[*i].action_id.clone()).collect::<BTreeSet<_>>();
            let arn = w.start("u", "g", "k").await.expect("start").execution_arn;
            let summary = w.run(&arn).await;
            let failed: BTreeSet<String> = summary.failed_actions.iter().map(|f| f.action_id.clone()).collect();
            prop_assert_eq!(&failed, &ids(&first_failing));
            let with_tasks: BTreeSet<String> = w.writers().into_keys().collect();
            let succeeded: Vec<usize> = (0..n).filter(|i| fate[*i] == 0).collect();
            prop_assert_eq!(&with_tasks, &ids(&succeeded));
            prop_assert_eq!(w.goal_status("g").await, goal_status_by_rule(with_tasks.len(), n));
            if first_failing.is_empty() {
                return Ok(());
            }

            w.fix("g", "u", n, &still_failing).await;
            let retry = retry_failed(w.store(), &w.control, w.clock.as_ref(), &NoMetrics, ModelQuota::default(), "u", &arn)
                .await.expect("retry").execution_arn;
            let summary = w.run(&retry).await;
            let failed: BTreeSet<String> = summary.failed_actions.iter().map(|f| f.action_id.clone()).collect();
            prop_assert_eq!(&failed, &ids(&still_failing));
            let writers = w.writers();
            prop_assert!(writers.values().all(|runs| runs.len() == 1), "an action has tasks of two runs: {:?}", writers);
            let with_tasks: BTreeSet<String> = writers.into_keys().collect();
            let done: Vec<usize> = (0..n).filter(|i| fate[*i] < 2).collect();
            prop_assert_eq!(&with_tasks, &ids(&done));
            prop_assert_eq!(w.goal_status("g").await, goal_status_by_rule(with_tasks.len(), n));
            Ok(())
        })?;
    }

    /// 8. Concurrent runs for different goals never touch each other's records.
    #[test]
    fn p8_isolation(goals in prop::collection::vec((1usize..=16, prop::collection::btree_set(0usize..16, 0..3)), 2..6)) {
        let rt = runtime();
        rt.block_on(async {
            let w = Arc::new(World::new());
            let mut handles = Vec::new();
            for (i, (n, failing)) in goals.iter().cloned().enumerate() {
                let w = w.clone();
                handles.push(tokio::spawn(async move {
                    let (goal, user) = (format!("goal-{i}"), format!("user-{i}"));
                    let failing: Vec<usize> = failing.into_iter().filter(|f| *f < n).collect();
                    let actions = w.goal(&goal, &user, n, &failing).await;
                    let arn = w.start(&user, &goal, "same-key").await.expect("start").execution_arn;
                    w.run(&arn).await;
                    (arn, goal, actions, failing)
                }));
            }
            let mut runs = Vec::new();
            for h in handles {
                runs.push(h.await.expect("join"));
            }
            for (arn, goal_id, actions, failing) in &runs {
                let record = w.record(arn).await;
                prop_assert_eq!(record.goal_id.as_str(), goal_id.as_str());
                let mine: BTreeSet<&String> = actions.iter().map(|a| &a.action_id).collect();
                prop_assert_eq!(record.processed_action_ids.iter().collect::<BTreeSet<_>>(), mine.clone());
                let failed: BTreeSet<&String> = record.failed_actions.iter().map(|f| &f.action_id).collect();
                let expected: BTreeSet<&String> = failing.iter().map(|i| &actions[*i].action_id).collect();
                prop_assert_eq!(failed, expected);
                let tasks = w.store().list_execution_tasks(arn).await.expect("tasks");
                prop_assert_eq!(tasks.iter().map(|t| &t.action_id).collect::<BTreeSet<_>>().len(), actions.len() - failing.len());
                for task in tasks {
                    prop_assert!(mine.contains(&task.action_id));
                    prop_assert_eq!(task.goal_id.as_str(), goal_id.as_str());
                }
                let goal = w.store().get_goal(goal_id).await.expect("get").expect("goal");
                prop_assert_eq!(goal.current_execution_arn.as_deref(), Some(arn.as_str()));
                prop_assert_eq!(goal.status, goal_status_by_rule(actions.len() - failing.len(), actions.len()));
            }
            Ok(())
        })?;
    }

    /// 9. Every run that ends, however it ends, leaves a record with its final status, its error,
    /// the instants it started and stopped, and its expiry 90 days after its start; get-status
    /// says the same, and the history the archive copies lists it once.
    #[test]
    fn p9_history(endings in prop::collection::vec(prop::sample::select(Ending::ALL.to_vec()), 1..8)) {
        let rt = runtime();
        rt.block_on(async {
            let w = World::new();
            for (i, ending) in endings.iter().enumerate() {
                let goal = format!("g{i}");
                let started_at = t0() + seconds(100 * i as i64) + Duration::milliseconds(250);
                let stopped_at = started_at + seconds(10 + i as i64);
                w.at(started_at);
                w.goal(&goal, "u", 3, &ending.failing(3)).await;
                let arn = w.start("u", &goal, "k").await.expect("start").execution_arn;
                w.at(stopped_at);
                ending.play(&w, "u", &goal, &arn).await;

                let (status, goal_status, error) = ending.expected();
                let record = w.record(&arn).await;
                prop_assert_eq!(record.status, status, "{:?}", ending);
                prop_assert_eq!(record.error.as_deref(), error, "{:?}", ending);
                prop_assert_eq!(record.started_at, started_at);
                prop_assert_eq!(record.stopped_at, Some(stopped_at));
                prop_assert_eq!(record.expires_at, (started_at + Duration::days(90)).timestamp());
                prop_assert_eq!(w.goal_status(&goal).await, goal_status, "{:?}", ending);
                let view = w.status("u", &arn).await;
                prop_assert_eq!((view.status, view.started_at, view.stopped_at), (status, started_at, Some(stopped_at)));
                let kept = w.store().list_started_before(started_at + Duration::milliseconds(1)).await.expect("runs");
                prop_assert_eq!(kept.iter().filter(|r| r.goal_id == goal).collect::<Vec<_>>(), vec![&record]);
            }
            Ok(())
        })?;
    }

    /// 10. The template's failure-rate alarm, judging the metrics the handlers emit over a
    /// window's runs, fires exactly when more than one run in ten failed: never at 10 % or below.
    #[test]
    fn p10_alert_threshold(endings in prop_oneof![
        // Exactly 10 % failed, or one run more.
        (1usize..=3, 0usize..=1).prop_map(|(m, more)| (10 * m, m + more)),
        (1usize..=25).prop_flat_map(|n| (Just(n), 0..=n)),
    ].prop_flat_map(|(runs, failures)| (
        prop::collection::vec(prop::sample::select(vec![Ending::AllFail, Ending::Uncaught, Ending::TimeOut]), failures),
        prop::collection::vec(prop::sample::select(vec![Ending::Succeed, Ending::Partial, Ending::Cancel]), runs - failures),
    ).prop_map(|(mut failed, others)| { failed.extend(others); failed }).prop_shuffle())) {
        let alarm = Alarm::from_template();
        let rt = runtime();
        rt.block_on(async {
            let w = World::new();
            for (i, ending) in endings.iter().enumerate() {
                let goal = format!("g{i}");
                w.at(t0() + seconds(i as i64));
                w.goal(&goal, "u", 2, &ending.failing(2)).await;
                let arn = w.start("u", &goal, "k").await.expect("start").execution_arn;
                ending.play(&w, "u", &goal, &arn).await;
            }
            let sums = metric_sums(&w.metrics.lines());
            let failures = endings.iter().filter(|e| e.is_failure()).count();
            // More than one in ten: failures / runs > 1 / 10.
            let above = failures * 10 > endings.len();
            prop_assert_eq!(alarm.fires(&sums), above, "{} of {} runs failed; metrics {:?}", failures, endings.len(), sums);
            Ok(())
        })?;
    }
}

#[test]
fn constants_match_the_design() {
    assert_eq!(RUN_LIMIT_SECONDS, 900);
    assert_eq!(AI_CALL_LIMIT_SECONDS, 120);
    assert_eq!(BATCH_BUDGET_SECONDS, 300);
}

#[test]
fn the_alarm_model_reads_the_template() {
    let alarm = Alarm::from_template();
    assert_eq!(alarm.sums.len(), 2);
    let totals = |started: f64, failed: f64| {
        BTreeMap::from([
            ("ExecutionsStarted".to_owned(), started),
            ("ExecutionsFailed".to_owned(), failed),
        ])
    };
    assert!(!alarm.fires(&totals(0.0, 0.0)), "no runs, no alarm");
    assert!(!alarm.fires(&totals(10.0, 1.0)));
    assert!(alarm.fires(&totals(9.0, 1.0)));
}
