//! The whole product on one machine: the real definition executed with the project's own handlers
//! in process, over the embedded in-memory store and the offline task generator, on the
//! executor's clock. `sfn-local run` and the workflow scenarios drive it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use function_dispatch::Ports;
use serde::Serialize;
use serde_json::{json, Value};
use shared::capacity::{ModelQuota, MODEL_CONCURRENCY_ENV};
use shared::examples::{example_goal, mark, seed, EXAMPLE_STATE_MACHINE_ARN};
use shared::http_api::RequestEvent;
use shared::memory::{InMemoryArchive, InMemoryStore, RecordingNotifier};
use shared::metrics::{MetricSink, NoMetrics};
use shared::naming;
use shared::offline::OfflineGenerator;
use shared::ports::{Archive, ExecutionControl, Notifier, Store, TaskGenerator};
use shared::records::{ExecutionStatus as RecordStatus, GoalStatus};
use shared::DomainError;

use asl_interpreter::clock::Clock;
use asl_interpreter::definition::{Definition, DefinitionError};
use asl_interpreter::executor::{ExecutionResult, Executor};
use asl_interpreter::invoker::{LambdaInvoker, LatencyInvoker};

use crate::concurrency::{ReservedConcurrency, ReservedConcurrencyInvoker};
use crate::example::{ExampleGoal, EXAMPLE_GOAL_ID, EXAMPLE_USER_ID};
use crate::in_process::{HandlerClock, Handlers, InProcessInvoker, LocalExecutions};
use crate::latency::Latency;
use crate::sfn_api::status::{StatusChange, StatusListener};

/// The definition the product deploys, built into the binary.
pub const DEFINITION: &str = include_str!("../../statemachine/start-activity.asl.json");

/// Price of Step Functions Standard state transitions, in dollars.
pub const PRICE_PER_TRANSITION: f64 = 0.025 / 1000.0;
/// Price of one Lambda request, in dollars (duration is priced separately and not estimated).
pub const PRICE_PER_LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;

/// The name the product's state machine has in `serve`'s Step Functions API, as in AWS.
pub const STATE_MACHINE_NAME: &str = "StartActivity";

/// The definition's substitution keys and the functions they name (`${ValidateInputFunctionArn}`).
fn substitutions() -> HashMap<String, String> {
    [
        ("ValidateInput", "validate-input"),
        ("GetActions", "get-actions"),
        ("CreateBatches", "create-batches"),
        ("GenerateTasks", "generate-tasks"),
        ("SaveTasks", "save-tasks"),
        ("UpdateProgress", "update-progress"),
        ("AggregateResults", "aggregate-results"),
        ("UpdateGoalStatus", "update-goal-status"),
        ("HandleError", "handle-error"),
    ]
    .iter()
    .map(|(key, function)| {
        (
            format!("{key}FunctionArn"),
            format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        )
    })
    .collect()
}

/// The definition with each function ARN pointing at the function of that name.
pub fn local_definition() -> Result<Definition, DefinitionError> {
    local_definition_from(DEFINITION)
}

/// A variant of the product's definition (`text`), its functions named as in [`local_definition`].
pub fn local_definition_from(text: &str) -> Result<Definition, DefinitionError> {
    Definition::parse_with(text, &substitutions())
}

/// The text of [`local_definition`]: the product's definition with its substitutions made, as
/// CreateStateMachine takes it.
pub fn local_definition_text() -> String {
    substitutions()
        .iter()
        .fold(DEFINITION.to_owned(), |text, (key, arn)| {
            text.replace(&format!("${{{key}}}"), arn)
        })
}

/// Whether an EventBridge event pattern matches `event`: every field the pattern names must hold
/// one of the pattern's values (an object matches field by field). Content filters (prefix,
/// numeric, exists, ...) are not supported and match nothing.
pub fn event_pattern_matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(field, expected)| {
        let actual = &event[field.as_str()];
        match expected {
            Value::Object(_) => event_pattern_matches(expected, actual),
            Value::Array(values) => values.iter().any(|v| match actual {
                Value::Array(items) => items.contains(v),
                other => !v.is_object() && v == other,
            }),
            _ => false,
        }
    })
}

/// The EventBridge rule that sends a run's status changes to the finaliser.
#[derive(Debug, Clone)]
pub struct StatusChangeRule {
    /// The rule's event pattern.
    pub pattern: Value,
    /// The function it targets, by name or ARN.
    pub target: String,
}

/// A function of a deployed stack: its name, the binary its code is, and the ports its deployed
/// environment names. Its runs are started, described and stopped through `control`, which ends
/// at the deployment's [`LocalExecutions`] (seen through a recorder, say).
pub struct DeployedFunction {
    pub name: String,
    pub binary: String,
    pub store: Arc<dyn Store>,
    pub notifier: Arc<dyn Notifier>,
    pub generator: Arc<dyn TaskGenerator>,
    pub control: Arc<dyn ExecutionControl>,
    pub archive: Arc<dyn Archive>,
    /// Its reserved concurrency, when it has one.
    pub reserved_concurrency: Option<u32>,
}

/// A deployed stack, read back: what [`LocalStack::deployed`] runs. `executions` are its state
/// machine's runs, which [`LocalStack::execute`] executes.
pub struct Deployment {
    pub state_machine_arn: String,
    pub definition: Definition,
    pub functions: Vec<DeployedFunction>,
    pub status_change_rule: StatusChangeRule,
    pub executions: Arc<LocalExecutions>,
}

/// The embedded product: store, handlers, executor.
pub struct LocalStack {
    pub store: Arc<dyn Store>,
    /// The alerts of the embedded handlers (a deployed stack's go to its own topic).
    pub notifier: Arc<RecordingNotifier>,
    handlers: Arc<Handlers>,
    executions: Arc<LocalExecutions>,
    invoker: Arc<InProcessInvoker>,
    /// The functions as the executor calls them: with the simulated latency, if any, and their
    /// reserved concurrency.
    lambda: Arc<ReservedConcurrencyInvoker>,
    executor: Executor,
    status_change_rule: StatusChangeRule,
    /// Whether the runs the handlers start wait for [`LocalStack::execute`] (`LocalExecutions`)
    /// rather than go to a Step Functions API.
    runs_in_process: bool,
}

/// What a run did, for people (`sfn-local run`) and machines (`--json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub execution_arn: String,
    pub status: String,
    pub error: Option<String>,
    pub goal_status: Option<GoalStatus>,
    pub total_actions: u32,
    pub actions_succeeded: u32,
    pub actions_failed: u32,
    pub failed_action_ids: Vec<String>,
    pub tasks_written: usize,
    pub state_transitions: u64,
    pub lambda_invocations: u64,
    pub simulated_makespan_seconds: f64,
    pub estimated_cost_usd: f64,
    pub alerts: usize,
}

impl LocalStack {
    /// The embedded default: the in-memory store.
    pub fn new(clock: Arc<dyn Clock>, latency: Option<Latency>) -> Result<Self, DefinitionError> {
        Self::with_store(
            Arc::new(InMemoryStore::new()),
            Arc::new(OfflineGenerator::new()),
            clock,
            latency,
            Arc::new(NoMetrics),
        )
    }

    /// The embedded default over another definition of the workflow (a variant `bench` compares).
    pub fn with_definition(
        clock: Arc<dyn Clock>,
        latency: Option<Latency>,
        definition: Definition,
    ) -> Result<Self, DefinitionError> {
        let mut stack = Self::new(clock.clone(), None)?;
        (stack.executor, stack.lambda) = executor_over(
            &stack.invoker,
            &stack.executions,
            definition,
            clock,
            latency,
            product_reservations()?,
        );
        Ok(stack)
    }

    /// The product over another store (DynamoDB on a local AWS-API server, say) and generator.
    pub fn with_store(
        store: Arc<dyn Store>,
        generator: Arc<dyn TaskGenerator>,
        clock: Arc<dyn Clock>,
        latency: Option<Latency>,
        metrics: Arc<dyn MetricSink>,
    ) -> Result<Self, DefinitionError> {
        let executions = LocalExecutions::new(EXAMPLE_STATE_MACHINE_ARN, clock.clone());
        Self::product(store, generator, clock, latency, metrics, executions, None)
    }

    /// The product whose handlers start, describe and stop runs through `control` (Step
    /// Functions, or `serve`'s own Step Functions API) on the state machine `state_machine_arn`:
    /// its runs are executed there, not by [`LocalStack::execute`], and their status changes
    /// come back through [`LocalStack::status_changed`].
    pub fn with_control(
        store: Arc<dyn Store>,
        generator: Arc<dyn TaskGenerator>,
        clock: Arc<dyn Clock>,
        latency: Option<Latency>,
        metrics: Arc<dyn MetricSink>,
        control: Arc<dyn ExecutionControl>,
        state_machine_arn: &str,
    ) -> Result<Self, DefinitionError> {
        let executions = LocalExecutions::new(state_machine_arn, clock.clone());
        Self::product(
            store,
            generator,
            clock,
            latency,
            metrics,
            executions,
            Some(control),
        )
    }

    /// The embedded handlers over one set of ports, the runs' control `control` when given (else
    /// `executions`).
    fn product(
        store: Arc<dyn Store>,
        generator: Arc<dyn TaskGenerator>,
        clock: Arc<dyn Clock>,
        latency: Option<Latency>,
        metrics: Arc<dyn MetricSink>,
        executions: Arc<LocalExecutions>,
        control: Option<Arc<dyn ExecutionControl>>,
    ) -> Result<Self, DefinitionError> {
        let notifier = Arc::new(RecordingNotifier::default());
        let runs_in_process = control.is_none();
        let reserved = product_reservations()?;
        let ports = Ports {
            store: store.clone(),
            generator,
            notifier: notifier.clone(),
            control: control.unwrap_or_else(|| executions.clone()),
            archive: Arc::new(InMemoryArchive::default()),
            clock: Arc::new(HandlerClock(clock.clone())),
            metrics,
            quota: model_quota(&reserved),
        };
        let rule = StatusChangeRule {
            pattern: json!({
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [executions.state_machine_arn]},
            }),
            target: "finalize-execution".into(),
        };
        let mut stack = Self::assemble(
            store,
            notifier,
            Handlers::Shared(ports),
            executions,
            local_definition()?,
            rule,
            clock,
            latency,
            reserved,
        );
        stack.runs_in_process = runs_in_process;
        Ok(stack)
    }

    /// A deployed stack's definition and functions, each function over the ports its deployed
    /// environment names; `store` is the one the caller reads (the same tables).
    pub fn deployed(
        deployment: Deployment,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        latency: Option<Latency>,
        metrics: Arc<dyn MetricSink>,
    ) -> Self {
        let reserved = ReservedConcurrency(
            deployment
                .functions
                .iter()
                .filter_map(|f| Some((f.name.clone(), f.reserved_concurrency?)))
                .collect(),
        );
        let quota = deployment
            .functions
            .iter()
            .find(|f| f.binary == "generate-tasks")
            .and_then(|f| f.reserved_concurrency)
            .map_or_else(ModelQuota::default, |concurrent_calls| ModelQuota {
                concurrent_calls,
            });
        let functions = deployment
            .functions
            .into_iter()
            .map(|f| {
                let ports = Ports {
                    store: f.store,
                    generator: f.generator,
                    notifier: f.notifier,
                    control: f.control,
                    archive: f.archive,
                    clock: Arc::new(HandlerClock(clock.clone())),
                    metrics: metrics.clone(),
                    quota,
                };
                (f.name, (f.binary, ports))
            })
            .collect();
        Self::assemble(
            store,
            Arc::new(RecordingNotifier::default()),
            Handlers::Deployed(functions),
            deployment.executions,
            deployment.definition,
            deployment.status_change_rule,
            clock,
            latency,
            reserved,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        store: Arc<dyn Store>,
        notifier: Arc<RecordingNotifier>,
        handlers: Handlers,
        executions: Arc<LocalExecutions>,
        definition: Definition,
        status_change_rule: StatusChangeRule,
        clock: Arc<dyn Clock>,
        latency: Option<Latency>,
        reserved: ReservedConcurrency,
    ) -> Self {
        let handlers = Arc::new(handlers);
        let invoker = Arc::new(InProcessInvoker {
            handlers: handlers.clone(),
            invocations: Mutex::new(0),
        });
        let (executor, lambda) =
            executor_over(&invoker, &executions, definition, clock, latency, reserved);
        Self {
            store,
            notifier,
            handlers,
            executions,
            invoker,
            lambda,
            executor,
            status_change_rule,
            runs_in_process: true,
        }
    }

    /// The stack's functions as its executor calls them (with the simulated latency, if any):
    /// what another host's Lambda tasks can call in process.
    pub fn lambda(&self) -> Arc<dyn LambdaInvoker> {
        self.lambda.clone()
    }

    /// Invocations refused so far because the function's reserved concurrency was all in use.
    pub fn throttled_invocations(&self) -> u64 {
        self.lambda.throttled()
    }

    /// Whether the runs its handlers start are executed by [`LocalStack::execute`].
    pub fn runs_in_process(&self) -> bool {
        self.runs_in_process
    }

    /// A run's status change, as EventBridge delivers it: sent to the rule's target (the
    /// finaliser) when the rule's pattern matches it.
    pub async fn status_changed(&self, event: Value) {
        let rule = &self.status_change_rule;
        if !event_pattern_matches(&rule.pattern, &event) {
            return;
        }
        if let Err(e) = self.invoke(&rule.target, event.clone()).await {
            let arn = event["detail"]["executionArn"].as_str().unwrap_or_default();
            eprintln!("sfn-local: finalising {arn} failed: {e}");
        }
    }

    /// Invokes one of the stack's functions, as Lambda would.
    pub async fn invoke(&self, function: &str, payload: Value) -> Result<Value, DomainError> {
        self.handlers.invoke(function, payload).await
    }

    /// Calls an API route's handler as API Gateway would, for `user`.
    pub async fn api(
        &self,
        function: &str,
        user: &str,
        path_parameters: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let mut event = RequestEvent::new("POST", "/")
            .user(user)
            .header("content-type", "application/json")
            .request_id(&uuid::Uuid::new_v4().to_string());
        for &(name, value) in path_parameters {
            event = event.path_parameter(name, value);
        }
        if let Some(body) = body {
            event = event.body(&body.to_string());
        }
        let event = event.into_value();
        let response = self
            .invoke(function, event)
            .await
            .unwrap_or_else(|e| json!({"error": e.to_string()}));
        let body = response["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        json!({"statusCode": response["statusCode"], "headers": response["headers"], "body": body})
    }

    /// Seeds the shipped example goal with `goal`'s injected failures and starts its run.
    pub async fn start_example(
        &self,
        goal: &ExampleGoal,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        self.seed_example(goal, EXAMPLE_USER_ID, EXAMPLE_GOAL_ID, now)
            .await?;
        self.start(EXAMPLE_USER_ID, EXAMPLE_GOAL_ID).await
    }

    /// Seeds the shipped example goal as `goal_id` of `user`, with `goal`'s injected failures.
    pub async fn seed_example(
        &self,
        goal: &ExampleGoal,
        user: &str,
        goal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let (record, mut actions) = example_goal(goal_id, user, goal.actions, now);
        let n = actions.len();
        // Spread the injected failures over the goal, failing ones first.
        let step = |k: usize| n.checked_div(k).map_or(n, |s| s.max(1));
        mark(
            &mut actions,
            (0..n).step_by(step(goal.failing)).take(goal.failing),
            "[fail]",
        );
        mark(
            &mut actions,
            (1..n).step_by(step(goal.flaky)).take(goal.flaky),
            &format!("[flaky:{}]", goal.flaky_failures),
        );
        seed(self.store.as_ref(), &record, &actions)
            .await
            .map_err(|e| e.to_string())
    }

    /// Starts a goal through the start-workflow handler; the execution waits in the queue.
    pub async fn start(&self, user: &str, goal_id: &str) -> Result<String, String> {
        let answer = self
            .api("start-workflow", user, &[("goalId", goal_id)], None)
            .await;
        match answer["body"]["executionArn"].as_str() {
            Some(arn) if answer["statusCode"] == 202 => Ok(arn.to_owned()),
            _ => Err(format!("start-workflow answered {answer}")),
        }
    }

    /// Executes a run started through this stack to its end, then sends its status change to
    /// the rule's target when the rule's pattern matches it, as EventBridge does (the finaliser,
    /// for runs that end FAILED, TIMED_OUT or ABORTED). Each started run executes once: a run that
    /// has already executed, or was not started here, is refused.
    pub async fn execute(&self, execution_arn: &str) -> Result<ExecutionResult, String> {
        let name = naming::execution_name_of(execution_arn).to_owned();
        let (input, mut stop) = {
            let mut pending = self
                .executions
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let input = pending
                .queued
                .remove(&name)
                .ok_or_else(|| format!("execution {execution_arn} is not waiting to run here"))?;
            let stop = pending.stops.get(execution_arn).map(|s| s.subscribe());
            (input, stop)
        };
        let input_text = input;
        let input: Value = serde_json::from_str(&input_text).unwrap_or(Value::Null);
        let signal = Box::pin(async move {
            match stop.as_mut() {
                Some(rx) => {
                    let _ = rx.wait_for(|stopped| *stopped).await;
                }
                None => std::future::pending::<()>().await,
            }
        });
        let result = self.executor.execute_named(&name, input, signal).await;
        if let Ok(mut pending) = self.executions.pending.lock() {
            if let Some(d) = pending
                .executions
                .get_mut(execution_arn)
                .map(|e| &mut e.description)
            {
                d.status =
                    RecordStatus::parse(result.status.as_str()).unwrap_or(RecordStatus::Failed);
                d.stop_date = Some(result.stopped_at);
                d.error.clone_from(&result.error);
                d.cause.clone_from(&result.cause);
                d.output = result.output.as_ref().map(Value::to_string);
            }
        }
        let event = StatusChange {
            execution_arn,
            state_machine_arn: &self.executions.state_machine_arn,
            name: &name,
            status: result.status.as_str(),
            started: result.started_at,
            stopped: Some(result.stopped_at),
            input: Some(&input_text),
            output: result.output.as_ref().map(Value::to_string),
            error: result.error.as_deref(),
            cause: result.cause.as_deref(),
        }
        .event();
        self.status_changed(event).await;
        Ok(result)
    }

    /// The report of a finished run.
    pub async fn report(&self, execution_arn: &str, result: &ExecutionResult) -> RunReport {
        let record = self.store.get_execution(execution_arn).await.ok().flatten();
        let goal_status = match &record {
            Some(r) => self
                .store
                .get_goal(&r.goal_id)
                .await
                .ok()
                .flatten()
                .map(|g| g.status),
            None => None,
        };
        let tasks = self
            .store
            .list_execution_tasks(execution_arn)
            .await
            .map(|t| t.len())
            .unwrap_or(0);
        let lambda_invocations = self.invoker.invocations.lock().map(|n| *n).unwrap_or(0);
        let (total, processed, failed, failed_ids) = record
            .map(|r| {
                let ids = r
                    .failed_actions
                    .iter()
                    .map(|f| f.action_id.clone())
                    .collect();
                (r.total_actions, r.processed_actions, r.failed_count, ids)
            })
            .unwrap_or_default();
        RunReport {
            execution_arn: execution_arn.to_owned(),
            status: result.status.as_str().to_owned(),
            error: result.error.clone(),
            goal_status,
            total_actions: total,
            actions_succeeded: processed.saturating_sub(failed),
            actions_failed: failed,
            failed_action_ids: failed_ids,
            tasks_written: tasks,
            state_transitions: result.transitions,
            lambda_invocations,
            simulated_makespan_seconds: (result.stopped_at - result.started_at).num_milliseconds()
                as f64
                / 1000.0,
            estimated_cost_usd: result.transitions as f64 * PRICE_PER_TRANSITION
                + lambda_invocations as f64 * PRICE_PER_LAMBDA_REQUEST,
            alerts: self.notifier.alerts().len(),
        }
    }
}

/// The product's template's reserved concurrency, generate-tasks' set by `MODEL_CONCURRENCY`
/// when it is (the template's `ModelConcurrency` parameter, as the deployed functions read it); a
/// template that cannot be read is an unusable definition of the stack.
fn product_reservations() -> Result<ReservedConcurrency, DefinitionError> {
    let mut reserved = ReservedConcurrency::of_product().map_err(|e| DefinitionError::Field {
        path: "template.yaml".into(),
        field: "ReservedConcurrentExecutions".into(),
        message: e.to_string(),
    })?;
    if std::env::var_os(MODEL_CONCURRENCY_ENV).is_some() {
        let quota = ModelQuota::from_env();
        reserved
            .0
            .insert("generate-tasks".to_owned(), quota.concurrent_calls);
    }
    Ok(reserved)
}

/// The model quota start admits runs against: generate-tasks' reserved concurrency.
fn model_quota(reserved: &ReservedConcurrency) -> ModelQuota {
    reserved
        .of("generate-tasks")
        .map_or_else(ModelQuota::default, |concurrent_calls| ModelQuota {
            concurrent_calls,
        })
}

/// The executor of `definition` over the in-process functions, with the simulated latency and
/// the template's reserved concurrency, and the functions as it calls them.
fn executor_over(
    invoker: &Arc<InProcessInvoker>,
    executions: &LocalExecutions,
    definition: Definition,
    clock: Arc<dyn Clock>,
    latency: Option<Latency>,
    reserved: ReservedConcurrency,
) -> (Executor, Arc<ReservedConcurrencyInvoker>) {
    let timed: Arc<dyn LambdaInvoker> = match latency {
        Some(latency) => Arc::new(LatencyInvoker {
            inner: invoker.clone(),
            clock: clock.clone(),
            latency,
        }),
        None => invoker.clone(),
    };
    // A reserved execution stays busy for the whole invocation, its latency included.
    let dispatch = Arc::new(ReservedConcurrencyInvoker::new(timed, reserved));
    let executor = Executor::new(definition, dispatch.clone(), clock)
        .with_state_machine_arn(&executions.state_machine_arn);
    (executor, dispatch)
}

#[async_trait::async_trait]
impl StatusListener for LocalStack {
    async fn status_changed(&self, event: Value) {
        LocalStack::status_changed(self, event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_patterns_match_field_by_field() {
        let pattern =
            json!({"source": ["aws.states"], "detail": {"status": ["FAILED", "ABORTED"]}});
        let event = |status: &str| json!({"source": "aws.states", "detail": {"status": status}});
        assert!(event_pattern_matches(&pattern, &event("ABORTED")));
        assert!(!event_pattern_matches(&pattern, &event("SUCCEEDED")));
        assert!(!event_pattern_matches(
            &pattern,
            &json!({"source": "aws.events", "detail": {"status": "FAILED"}})
        ));
        assert!(event_pattern_matches(
            &json!({"resources": ["arn:x"]}),
            &json!({"resources": ["arn:y", "arn:x"]})
        ));
        assert!(!event_pattern_matches(
            &json!({"source": [{"prefix": "aws."}]}),
            &json!({"source": "aws.states"})
        ));
    }
}
