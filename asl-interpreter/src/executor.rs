//! The executor: runs a definition's executions, each under its timeout, the history quota and a
//! stop, and gives each one's result with its history.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::clock::{iso, Clock};
use crate::definition::Definition;
use crate::error::{ErrorName, StatesError};
use crate::events::{
    ErrorEventDetails, EventDetails, ExecutionStartedEventDetails, OutputEventDetails,
};
use crate::execution::{Execution, Frame};
use crate::history::{History, HistoryEvent};
use crate::invoker::LambdaInvoker;
pub use crate::limits::{Limits, MAX_EXECUTION_SECONDS, MAX_PAYLOAD_BYTES};
use crate::run::run_machine;
use crate::test_state::{self, StateTest};

const REGION_ACCOUNT: &str = "us-east-1:111111111111";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecutionResult {
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
    /// Billed state transitions: one per state entered, retries included.
    pub transitions: u64,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
}

impl ExecutionResult {
    /// The `{"status", "output", "error", "cause"}` object the CLI prints.
    pub fn summary(&self) -> Value {
        json!({
            "status": self.status.as_str(),
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
        })
    }
}

pub struct Executor {
    definition: Definition,
    invoker: Arc<dyn LambdaInvoker>,
    clock: Arc<dyn Clock>,
    state_machine_arn: String,
    limits: Limits,
}

/// Resolves when an execution is to be stopped (StopExecution): it then ends ABORTED.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How an execution's body ended.
enum End {
    Done(Result<Value, StatesError>),
    TimedOut,
    Aborted,
}

impl End {
    /// Records the execution's last event and gives its status, output, error and cause.
    fn record(
        self,
        execution: &Execution,
    ) -> (
        ExecutionStatus,
        Option<Value>,
        Option<String>,
        Option<String>,
    ) {
        let last = |details| execution.history.push_last(details, execution.clock.now());
        match self {
            End::Done(Ok(out)) => {
                last(EventDetails::ExecutionSucceeded(OutputEventDetails {
                    output: out.clone(),
                }));
                (ExecutionStatus::Succeeded, Some(out), None, None)
            }
            End::TimedOut => {
                let error = ErrorName::Timeout.as_str();
                last(EventDetails::ExecutionTimedOut(ErrorEventDetails {
                    error: Some(error.to_owned()),
                    cause: None,
                }));
                (
                    ExecutionStatus::TimedOut,
                    None,
                    Some(error.to_string()),
                    None,
                )
            }
            End::Aborted => {
                last(EventDetails::ExecutionAborted);
                (ExecutionStatus::Aborted, None, None, None)
            }
            End::Done(Err(e)) => {
                last(EventDetails::ExecutionFailed((&e).into()));
                let error = (!e.error.is_empty()).then_some(e.error);
                (ExecutionStatus::Failed, None, error, e.cause)
            }
        }
    }
}

/// How AWS fails an execution whose history reaches its quota of `events`.
fn history_full(events: usize) -> End {
    End::Done(Err(StatesError::named(
        ErrorName::Runtime,
        crate::history::full_cause(events),
    )))
}

impl Executor {
    pub fn new(
        definition: Definition,
        invoker: Arc<dyn LambdaInvoker>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Executor {
            definition,
            invoker,
            clock,
            state_machine_arn: format!("arn:aws:states:{REGION_ACCOUNT}:stateMachine:sfn-local"),
            limits: Limits::default(),
        }
    }

    /// Runs executions under `limits` instead of AWS's quotas.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs executions as executions of the state machine `arn` (their ids derive from it).
    pub fn with_state_machine_arn(mut self, arn: impl Into<String>) -> Self {
        self.state_machine_arn = arn.into();
        self
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Runs on a runtime matching the clock (paused for a virtual clock), for callers without one.
    pub fn execute_blocking(&self, input: Value) -> std::io::Result<ExecutionResult> {
        let rt = crate::clock::runtime(self.clock.as_ref())?;
        Ok(rt.block_on(self.execute(input)))
    }

    /// Runs one execution. With a virtual clock this must run on a paused runtime.
    pub async fn execute(&self, input: Value) -> ExecutionResult {
        let name = uuid::Uuid::new_v4().to_string();
        self.execute_named(&name, input, Box::pin(std::future::pending()))
            .await
    }

    /// Runs one execution named `name` (its id is the state machine's ARN with that name), until it
    /// ends or `stop` resolves.
    pub async fn execute_named(
        &self,
        name: &str,
        input: Value,
        stop: StopSignal,
    ) -> ExecutionResult {
        self.execute_observed(name, input, stop, Arc::default())
            .await
    }

    /// [`Executor::execute_named`], recording its events in `history` as they happen, so they can
    /// be read while the execution runs.
    pub async fn execute_observed(
        &self,
        name: &str,
        input: Value,
        stop: StopSignal,
        history: Arc<History>,
    ) -> ExecutionResult {
        let started_at = self.clock.now();
        history.limit_to(self.limits.history_events);
        let execution = self.start(name, &input, started_at, history);
        let end = self.end(&execution, input, stop).await;
        let (status, output, error, cause) = end.record(&execution);
        ExecutionResult {
            status,
            output,
            error,
            cause,
            history: execution.history.events(),
            transitions: execution.transitions.load(Ordering::SeqCst),
            started_at,
            stopped_at: self.clock.now(),
        }
    }

    /// Runs the state `state` of the definition's top level once, on its own, as TestState does:
    /// with `input` and the variables `variables`, its error caught by its catchers or, when one of
    /// its retriers would retry it, reported RETRIABLE without a retry; its pipeline's steps
    /// inspected. With a virtual clock this must run on a paused runtime.
    pub async fn test_state(
        &self,
        state: &str,
        input: Value,
        variables: Map<String, Value>,
    ) -> StateTest {
        let name = uuid::Uuid::new_v4().to_string();
        let execution = self.start(&name, &input, self.clock.now(), Arc::default());
        let Some(state) = self.definition.root.states.get(state).cloned() else {
            return StateTest::missing(state);
        };
        test_state::test_state(execution, state, input, variables).await
    }

    /// An execution named `name` of `input`, started at `started_at`: its ExecutionStarted event
    /// recorded in `history`.
    fn start(
        &self,
        name: &str,
        input: &Value,
        started_at: DateTime<Utc>,
        history: Arc<History>,
    ) -> Arc<Execution> {
        let execution = Arc::new(Execution {
            invoker: self.invoker.clone(),
            clock: self.clock.clone(),
            history,
            transitions: AtomicU64::new(0),
            expressions: self.definition.expressions.clone(),
            context_base: self.context_base(name, input, started_at),
            region: self
                .state_machine_arn
                .split(':')
                .nth(3)
                .unwrap_or_default()
                .to_owned(),
            run_machine,
        });
        execution.event(EventDetails::ExecutionStarted(
            ExecutionStartedEventDetails {
                input: input.clone(),
            },
        ));
        execution
    }

    /// The context object's `Execution` and `StateMachine`, the same for every state.
    fn context_base(
        &self,
        name: &str,
        input: &Value,
        started_at: DateTime<Utc>,
    ) -> Map<String, Value> {
        let sm_arn = &self.state_machine_arn;
        let sm_name = sm_arn.rsplit(':').next().unwrap_or_default();
        let account = sm_arn.split(':').nth(4).unwrap_or("111111111111");
        let mut base = Map::new();
        base.insert(
            "Execution".into(),
            json!({
                "Id": format!("{}:{name}", sm_arn.replacen(":stateMachine:", ":execution:", 1)),
                "Input": input,
                "StartTime": iso(started_at),
                "Name": name,
                "RoleArn": format!("arn:aws:iam::{account}:role/{sm_name}"),
                "RedriveCount": 0,
            }),
        );
        base.insert(
            "StateMachine".into(),
            json!({"Id": sm_arn, "Name": sm_name}),
        );
        base
    }

    /// Runs the state machine until it ends, the execution's time runs out, the history fills or
    /// `stop` fires, whichever comes first.
    async fn end(&self, execution: &Arc<Execution>, input: Value, stop: StopSignal) -> End {
        if input.to_string().len() > MAX_PAYLOAD_BYTES {
            return End::Done(Err(StatesError::named(
                ErrorName::DataLimitExceeded,
                "The execution input exceeds the maximum size",
            )));
        }
        let body = run_machine(
            execution.clone(),
            self.definition.root.clone(),
            input,
            Frame::default(),
        );
        let limit = self
            .definition
            .timeout_seconds
            .unwrap_or(self.limits.execution_seconds)
            .min(self.limits.execution_seconds);
        let limited = tokio::time::timeout(Duration::from_secs(limit), body);
        let end = tokio::select! {
            biased;
            () = execution.history.filled() => history_full(self.limits.history_events),
            () = stop => End::Aborted,
            end = limited => end.map_or(End::TimedOut, End::Done),
        };
        if execution.history.is_full() {
            history_full(self.limits.history_events)
        } else {
            end
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::invoker::{FunctionError, LatencyInvoker};
    use async_trait::async_trait;

    struct Echo;

    #[async_trait]
    impl LambdaInvoker for Echo {
        async fn invoke(&self, _name: &str, payload: Value) -> Result<Value, FunctionError> {
            Ok(payload)
        }
    }

    fn executor(definition: &str, latency_secs: u64) -> Executor {
        let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
        let invoker = Arc::new(LatencyInvoker {
            inner: Arc::new(Echo),
            clock: clock.clone(),
            latency: Box::new(move |_| Duration::from_secs(latency_secs)),
        });
        let def = Definition::parse(definition).unwrap_or_else(|e| panic!("{e}"));
        Executor::new(def, invoker, clock)
    }

    const TASK: &str = r#"{"StartAt":"T","States":{"T":{"Type":"Task",
        "Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":10,"End":true}}}"#;

    #[test]
    fn task_within_timeout_succeeds_after_its_latency() {
        let r = executor(TASK, 9)
            .execute_blocking(json!({"a": 1}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, ExecutionStatus::Succeeded);
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 9);
    }

    #[test]
    fn timeout_seconds_path_reads_the_limit_from_the_input() {
        let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task",
            "Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSecondsPath":"$.limit","End":true}}}"#;
        let execute = |input: Value| {
            executor(def, 60)
                .execute_blocking(input)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let r = execute(json!({"limit": 10}));
        assert_eq!(r.error.as_deref(), Some("States.Timeout"));
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 10);
        let r = execute(json!({"limit": 100}));
        assert_eq!(r.status, ExecutionStatus::Succeeded);
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 60);
        for bad in [json!({"limit": 0}), json!({"limit": "ten"}), json!({})] {
            assert_eq!(
                execute(bad.clone()).error.as_deref(),
                Some("States.Runtime"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_heartbeat_not_below_the_timeout_is_refused() {
        let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task",
            "Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":10,
            "HeartbeatSecondsPath":"$.beat","End":true}}}"#;
        let execute = |beat: u64| {
            executor(def, 1)
                .execute_blocking(json!({"beat": beat}))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(execute(5).status, ExecutionStatus::Succeeded);
        assert_eq!(execute(10).error.as_deref(), Some("States.Runtime"));
    }

    #[test]
    fn task_over_timeout_fails_at_the_timeout_instant() {
        let r = executor(TASK, 60)
            .execute_blocking(json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.status, r.error.as_deref()),
            (ExecutionStatus::Failed, Some("States.Timeout"))
        );
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 10);
        assert!(r
            .history
            .iter()
            .any(|e| matches!(e.details, EventDetails::LambdaFunctionTimedOut(_))));
    }

    #[test]
    fn execution_timeout_ends_timed_out() {
        let def = r#"{"TimeoutSeconds":5,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}}"#;
        let r = executor(def, 0)
            .execute_blocking(json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, ExecutionStatus::TimedOut);
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 5);
        assert_eq!(
            r.history.last().map(|e| e.event_type()),
            Some("ExecutionTimedOut".into())
        );
    }

    #[test]
    fn payloads_over_256_kib_fail_with_data_limit_exceeded_which_states_all_does_not_catch() {
        let half = json!({"s": "x".repeat(MAX_PAYLOAD_BYTES / 2)});
        let doubled = json!({"a.$": "$.s", "b.$": "$.s"});
        let task_with = |catch: Value| {
            json!({"StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
                      "Parameters": doubled, "Catch": catch, "End": true},
                "Caught": {"Type": "Succeed"}}})
        };
        let status_and_error = |def: &Value, input: &Value| {
            let r = executor(&def.to_string(), 0)
                .execute_blocking(input.clone())
                .unwrap_or_else(|e| panic!("{e}"));
            (r.status, r.error)
        };
        let exceeded = (
            ExecutionStatus::Failed,
            Some("States.DataLimitExceeded".to_owned()),
        );
        // A task's result over the limit: States.ALL does not catch it, only its own name does.
        let other = json!([{"ErrorEquals": ["Other"], "Next": "Caught"}]);
        assert_eq!(status_and_error(&task_with(other), &half), exceeded);
        let all = json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]);
        assert_eq!(status_and_error(&task_with(all), &half), exceeded);
        let named = json!([{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Caught"}]);
        assert_eq!(
            status_and_error(&task_with(named), &half),
            (ExecutionStatus::Succeeded, None)
        );
        // A state's output over the limit ends the execution.
        let pass = json!({"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Parameters": doubled, "End": true}}});
        assert_eq!(status_and_error(&pass, &half), exceeded);
        // An execution input over the limit never enters a state.
        let def = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
        let r = executor(def, 0)
            .execute_blocking(json!({"s": "x".repeat(MAX_PAYLOAD_BYTES)}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.error.as_deref(), Some("States.DataLimitExceeded"));
        assert_eq!(r.transitions, 0);
        // Just under the limit is fine.
        let r = executor(def, 0)
            .execute_blocking(json!({"s": "x".repeat(MAX_PAYLOAD_BYTES - 16)}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, ExecutionStatus::Succeeded);
    }

    #[test]
    fn map_makespan_follows_concurrency_on_the_virtual_clock() {
        let def = r#"{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":2,"End":true,
            "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task",
            "Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}}}}"#;
        let r = executor(def, 30)
            .execute_blocking(json!([1, 2, 3, 4, 5]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.output, Some(json!([1, 2, 3, 4, 5])));
        // Five 30 s tasks two at a time: three waves.
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 90);
        // Map entered once, then five iterations of one state each.
        assert_eq!(r.transitions, 6);
    }

    #[test]
    fn a_loop_that_nests_its_output_deeper_each_time_fails_at_the_depth_limit() {
        let def = r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Next":"P","Branches":[
            {"StartAt":"S","States":{"S":{"Type":"Succeed"}}}]}}}"#;
        // On a thread with a small stack, as a server's worker has.
        let r = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || executor(def, 0).execute_blocking(json!({})))
            .unwrap_or_else(|e| panic!("{e}"))
            .join()
            .unwrap_or_else(|_| panic!("the execution panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
        let cause = r.cause.unwrap_or_default();
        assert!(cause.contains("nested deeper than 1000 levels"), "{cause}");
    }

    #[test]
    fn history_numbers_events_in_order() {
        let def =
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Succeed"}}}"#;
        let r = executor(def, 0)
            .execute_blocking(json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<_> = r.history.iter().map(|e| e.event_type()).collect();
        assert_eq!(
            kinds,
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "SucceedStateEntered",
                "SucceedStateExited",
                "ExecutionSucceeded"
            ]
        );
        assert!(r
            .history
            .iter()
            .enumerate()
            .all(|(i, e)| e.id == i as u64 + 1));
    }

    /// The shape AWS gives an execution whose history reaches 25,000 events.
    fn assert_history_full(r: &ExecutionResult) {
        assert_eq!(r.status, ExecutionStatus::Failed);
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
        let cause = crate::history::full_cause(crate::history::MAX_EVENTS);
        assert_eq!(r.cause.as_deref(), Some(cause.as_str()));
        assert_eq!(r.history.len(), crate::history::MAX_EVENTS);
        let last = r.history.last().map(|e| (e.id, e.event_type()));
        assert_eq!(last, Some((25_000, "ExecutionFailed".into())));
    }

    #[test]
    fn a_host_sets_the_history_quota_and_the_longest_execution() {
        let spin = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}"#;
        let limits = Limits {
            history_events: 100,
            ..Limits::default()
        };
        let r = executor(spin, 0)
            .with_limits(limits)
            .execute_blocking(json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, ExecutionStatus::Failed);
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
        let cause = crate::history::full_cause(100);
        assert_eq!(r.cause.as_deref(), Some(cause.as_str()));
        assert_eq!(r.history.len(), 100);

        let wait = r#"{"StartAt":"W","TimeoutSeconds":3600,"States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}"#;
        let limits = Limits {
            execution_seconds: 60,
            ..Limits::default()
        };
        let r = executor(wait, 0)
            .with_limits(limits)
            .execute_blocking(json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, ExecutionStatus::TimedOut);
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 60);
    }

    #[test]
    fn loops_of_states_that_never_wait_end_at_the_history_quota() {
        let loops = [
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}"#,
                json!({}),
            ),
            (
                r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[
                {"Variable":"$.spin","BooleanEquals":true,"Next":"C"}],"Default":"D"},
                "D":{"Type":"Succeed"}}}"#,
                json!({"spin": true}),
            ),
            (
                r#"{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{
                "StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}}}}"#,
                json!([1, 2, 3]),
            ),
        ];
        for (def, input) in loops {
            let r = executor(def, 0)
                .execute_blocking(input)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_history_full(&r);
        }
        // A retrier that would retry for ever ends the same way.
        let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task",
            "Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true,
            "Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":1,"BackoffRate":1,"MaxAttempts":99999999}]}}}"#;
        let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
        let recorder = Arc::new(Recorder {
            clock: clock.clone(),
            calls: Default::default(),
        });
        let definition = Definition::parse(def).unwrap_or_else(|e| panic!("{e}"));
        let r = Executor::new(definition, recorder, clock)
            .execute_blocking(json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_history_full(&r);
    }

    #[test]
    fn a_stop_ends_a_loop_of_states_that_never_wait() {
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}"#;
        let executor = executor(def, 0);
        let stop: StopSignal = Box::pin(async {
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
        });
        let r = crate::clock::runtime(executor.clock().as_ref())
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(executor.execute_named("stopped", json!({}), stop));
        assert_eq!(r.status, ExecutionStatus::Aborted);
        assert!(r.history.len() < 1000, "{} events", r.history.len());
    }

    /// Blocks its thread for a while on every call, as slow synchronous work would.
    struct Busy;

    #[async_trait]
    impl LambdaInvoker for Busy {
        async fn invoke(&self, _name: &str, payload: Value) -> Result<Value, FunctionError> {
            std::thread::sleep(Duration::from_millis(20));
            Ok(payload)
        }
    }

    #[test]
    fn timeout_seconds_ends_a_loop_of_tasks_that_never_yield() {
        let def = r#"{"TimeoutSeconds":1,"StartAt":"T","States":{"T":{"Type":"Task",
            "Resource":"arn:aws:lambda:us-east-1:1:function:f","Next":"T"}}}"#;
        let definition = Definition::parse(def).unwrap_or_else(|e| panic!("{e}"));
        let r = Executor::new(
            definition,
            Arc::new(Busy),
            Arc::new(crate::clock::RealClock),
        )
        .execute_blocking(json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, ExecutionStatus::TimedOut);
        assert!(r.history.len() < 1000, "{} events", r.history.len());
    }

    /// Fails every call and records the virtual instant of each attempt.
    struct Recorder {
        clock: Arc<dyn Clock>,
        calls: std::sync::Mutex<Vec<DateTime<Utc>>>,
    }

    #[async_trait]
    impl LambdaInvoker for Recorder {
        async fn invoke(&self, _name: &str, _payload: Value) -> Result<Value, FunctionError> {
            self.calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(self.clock.now());
            Err(FunctionError::unhandled("Flaky", "again"))
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn retries_happen_at_the_scheduled_virtual_instants(
            interval in 1u32..20,
            backoff in 1.0f64..3.0,
            max in 0u64..5,
            cap in proptest::option::of(1u32..60),
        ) {
            let mut retrier = json!({"ErrorEquals": ["Flaky"], "IntervalSeconds": interval, "BackoffRate": backoff, "MaxAttempts": max});
            if let Some(c) = cap {
                retrier["MaxDelaySeconds"] = json!(c);
            }
            let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:1:function:f", "Retry": [retrier], "End": true}}});
            let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
            let recorder = Arc::new(Recorder { clock: clock.clone(), calls: Default::default() });
            let definition = Definition::parse(&def.to_string()).unwrap_or_else(|e| panic!("{e}"));
            let r = Executor::new(definition, recorder.clone(), clock)
                .execute_blocking(json!({}))
                .unwrap_or_else(|e| panic!("{e}"));
            proptest::prop_assert_eq!(r.error.as_deref(), Some("Flaky"));
            let calls = recorder.calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // One attempt plus MaxAttempts retries, each after Interval * Backoff^(n-1), capped.
            proptest::prop_assert_eq!(calls.len() as u64, max + 1);
            for (n, pair) in calls.windows(2).enumerate() {
                let mut want = f64::from(interval) * backoff.powi(n as i32);
                if let Some(c) = cap {
                    want = want.min(f64::from(c));
                }
                let got = (pair[1] - pair[0]).num_microseconds().unwrap_or(0) as f64 / 1e6;
                proptest::prop_assert!((got - want).abs() < 0.01, "retry {} after {got} s, want {want} s", n + 1);
            }
            // Entered once, plus one transition per retry.
            proptest::prop_assert_eq!(r.transitions, max + 1);
        }

        #[test]
        fn full_jitter_stays_under_the_schedule_and_replays_the_same(
            interval in 1u32..20,
            max in 1u64..5,
            cap in proptest::option::of(1u32..60),
        ) {
            let mut retrier = json!({"ErrorEquals": ["Flaky"], "IntervalSeconds": interval,
                "BackoffRate": 2, "MaxAttempts": max, "JitterStrategy": "FULL"});
            if let Some(c) = cap {
                retrier["MaxDelaySeconds"] = json!(c);
            }
            let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:1:function:f", "Retry": [retrier], "End": true}}});
            let gaps = || {
                let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
                let recorder = Arc::new(Recorder { clock: clock.clone(), calls: Default::default() });
                let definition = Definition::parse(&def.to_string()).unwrap_or_else(|e| panic!("{e}"));
                let executor = Executor::new(definition, recorder.clone(), clock.clone());
                crate::clock::runtime(clock.as_ref())
                    .unwrap_or_else(|e| panic!("{e}"))
                    .block_on(executor.execute_named("replayed", json!({}), Box::pin(std::future::pending())));
                let calls = recorder.calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
                calls.windows(2).map(|p| (p[1] - p[0]).num_microseconds().unwrap_or(0)).collect::<Vec<_>>()
            };
            let first = gaps();
            proptest::prop_assert_eq!(first.len() as u64, max);
            for (n, got) in first.iter().enumerate() {
                let mut ceiling = f64::from(interval) * 2f64.powi(n as i32);
                if let Some(c) = cap {
                    ceiling = ceiling.min(f64::from(c));
                }
                let got = *got as f64 / 1e6;
                proptest::prop_assert!((0.0..=ceiling + 0.01).contains(&got), "retry {} after {got} s, ceiling {ceiling} s", n + 1);
            }
            proptest::prop_assert_eq!(gaps(), first);
        }
    }
}
