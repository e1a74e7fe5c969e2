//! The execution registry: StartExecution with AWS's name rules, executions running in the
//! background on the interpreter, DescribeExecution, StopExecution, ListExecutions,
//! GetExecutionHistory and DescribeStateMachineForExecution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, watch};

use super::error::{ApiError, Code};
use super::events::{aws_event, Abort};
use super::machines::{Kind, Machine};
use super::names::{self, check_execution_arn, check_name, epoch};
use super::pages::Page;
use super::status::{StatusChange, StatusListener};
use asl_interpreter::clock::{runtime, Clock, VirtualClock};
use asl_interpreter::executor::{ExecutionResult, Executor, StopSignal, MAX_PAYLOAD_BYTES};
use asl_interpreter::history::History;
use asl_interpreter::invoker::LambdaInvoker;

/// How long StopExecution waits for the execution to record its end.
const STOP_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
struct Progress {
    status: &'static str,
    stopped: Option<DateTime<Utc>>,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    abort: Abort,
}

pub struct Execution {
    pub arn: String,
    pub name: String,
    pub machine: Arc<Machine>,
    /// The input as the request gave it.
    input: String,
    started: DateTime<Utc>,
    history: Arc<History>,
    progress: Mutex<Progress>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    done: watch::Sender<bool>,
}

impl Execution {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, result: &ExecutionResult) {
        let mut progress = self.progress();
        progress.status = result.status.as_str();
        progress.stopped = Some(result.stopped_at);
        progress.output = result.output.clone();
        if progress.status != "ABORTED" {
            progress.error = result.error.clone();
            progress.cause = result.cause.clone();
        }
        drop(progress);
        self.done.send_replace(true);
    }

    fn fail(&self, cause: &str) {
        let mut progress = self.progress();
        progress.status = "FAILED";
        progress.stopped = Some(Utc::now());
        progress.error = Some("States.Runtime".into());
        progress.cause = Some(cause.to_owned());
        drop(progress);
        self.done.send_replace(true);
    }

    fn list_item(&self) -> Value {
        let progress = self.progress();
        let mut item = json!({
            "executionArn": self.arn,
            "stateMachineArn": self.machine.arn,
            "name": self.name,
            "status": progress.status,
            "startDate": epoch(self.started),
        });
        if let Some(stopped) = progress.stopped {
            item["stopDate"] = epoch(stopped);
        }
        if let Some(version) = self.machine.version_arn() {
            item["stateMachineVersionArn"] = Value::from(version);
        }
        if let Some(alias) = &self.machine.alias_arn {
            item["stateMachineAliasArn"] = Value::from(alias.as_str());
        }
        item
    }

    pub fn describe(&self) -> Value {
        let mut answer = self.list_item();
        let progress = self.progress();
        answer["input"] = Value::from(self.input.as_str());
        answer["inputDetails"] = json!({"included": true});
        if let Some(output) = &progress.output {
            answer["output"] = Value::from(output.to_string());
            answer["outputDetails"] = json!({"included": true});
        }
        for (key, value) in [("error", &progress.error), ("cause", &progress.cause)] {
            if let Some(v) = value {
                answer[key] = Value::from(v.as_str());
            }
        }
        answer["redriveCount"] = Value::from(0);
        answer["redriveStatus"] = Value::from("NOT_REDRIVABLE");
        answer
    }

    /// Its status now, as the event EventBridge would deliver.
    fn status_change(&self) -> Value {
        let progress = self.progress();
        // A stopped execution's error and cause are the stop's.
        let (error, cause) = if progress.status == "ABORTED" {
            (&progress.abort.error, &progress.abort.cause)
        } else {
            (&progress.error, &progress.cause)
        };
        StatusChange {
            execution_arn: &self.arn,
            state_machine_arn: &self.machine.arn,
            name: &self.name,
            status: progress.status,
            started: self.started,
            stopped: progress.stopped,
            input: Some(&self.input),
            output: progress.output.as_ref().map(Value::to_string),
            error: error.as_deref(),
            cause: cause.as_deref(),
        }
        .event()
    }

    /// The events so far, oldest first, in AWS's shape.
    pub fn events(&self, include_data: bool) -> Vec<Value> {
        let abort = self.progress().abort.clone();
        self.history
            .events()
            .iter()
            .map(|e| aws_event(e, &abort, &self.machine.role_arn, include_data))
            .collect()
    }
}

/// A checked StartExecution: the execution's name and its input, as text and parsed.
pub struct Start {
    pub name: String,
    pub text: String,
    pub input: Value,
}

impl Start {
    pub fn check(name: Option<String>, input: Option<String>) -> Result<Start, ApiError> {
        let name = name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_name(&name)?;
        let text = input.unwrap_or_else(|| "{}".to_owned());
        if text.len() > MAX_PAYLOAD_BYTES {
            return Err(ApiError::validation(
                "input",
                "Member must have length less than or equal to 262144",
            ));
        }
        let input = serde_json::from_str(&text).map_err(|e| {
            ApiError::new(
                Code::InvalidExecutionInput,
                format!("Invalid State Machine Execution Input: '{e}'"),
            )
        })?;
        Ok(Start { name, text, input })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRequest {
    pub execution_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopRequest {
    execution_arn: String,
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    pub state_machine_arn: Option<String>,
    status_filter: Option<String>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRequest {
    execution_arn: String,
    reverse_order: Option<bool>,
    include_execution_data: Option<bool>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Default)]
struct Registry {
    by_arn: HashMap<String, Arc<Execution>>,
    /// ARNs in the order their executions started.
    order: Vec<String>,
}

pub struct Executions {
    registry: Mutex<Registry>,
    clock: Arc<dyn Clock>,
    /// Whether each execution runs on a virtual clock of its own.
    virtual_clock: bool,
    /// Who hears of the Standard executions' status changes.
    listener: Option<Arc<dyn StatusListener>>,
}

impl Executions {
    pub fn new(clock: Arc<dyn Clock>, virtual_clock: bool) -> Self {
        Executions {
            registry: Mutex::default(),
            clock,
            virtual_clock,
            listener: None,
        }
    }

    /// Tells `listener` of every status change of the Standard executions, as Step Functions
    /// tells EventBridge (Express executions send none).
    pub fn with_listener(mut self, listener: Arc<dyn StatusListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The listener to tell of `execution`'s status changes, if there is one for it.
    fn listener_for(&self, execution: &Execution) -> Option<Arc<dyn StatusListener>> {
        self.listener
            .clone()
            .filter(|_| execution.machine.kind == Kind::Standard)
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, arn: &str) -> Result<Arc<Execution>, ApiError> {
        check_execution_arn(arn)?;
        self.lock()
            .by_arn
            .get(arn)
            .cloned()
            .ok_or_else(|| ApiError::no_execution(arn))
    }

    /// Starts an execution in the background, or answers the running one with the same name
    /// and input, as AWS does; any other reuse of a name is ExecutionAlreadyExists.
    pub fn start(
        &self,
        machine: Arc<Machine>,
        start: Start,
        invoker: Arc<dyn LambdaInvoker>,
    ) -> Result<Value, ApiError> {
        let arn = names::execution_arn(&machine.arn, &start.name, machine.kind == Kind::Express);
        let mut registry = self.lock();
        if let Some(existing) = registry.by_arn.get(&arn) {
            let running = existing.progress().status == "RUNNING";
            if running && existing.input == start.text {
                return Ok(json!({"executionArn": arn, "startDate": epoch(existing.started)}));
            }
            return Err(ApiError::new(
                Code::ExecutionAlreadyExists,
                format!("Execution Already Exists: '{arn}'"),
            ));
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let execution = Arc::new(Execution {
            arn: arn.clone(),
            name: start.name,
            machine,
            input: start.text,
            started: self.clock.now(),
            history: Arc::default(),
            progress: Mutex::new(Progress {
                status: "RUNNING",
                ..Progress::default()
            }),
            stop: Mutex::new(Some(stop_tx)),
            done: watch::channel(false).0,
        });
        registry.by_arn.insert(arn.clone(), execution.clone());
        registry.order.push(arn.clone());
        drop(registry);
        let answer = json!({"executionArn": arn, "startDate": epoch(execution.started)});
        if let Some(listener) = self.listener_for(&execution) {
            let event = execution.status_change();
            tokio::spawn(async move { listener.status_changed(event).await });
        }
        self.spawn(execution, start.input, stop_rx, invoker);
        Ok(answer)
    }

    fn spawn(
        &self,
        execution: Arc<Execution>,
        input: Value,
        stop: oneshot::Receiver<()>,
        invoker: Arc<dyn LambdaInvoker>,
    ) {
        let clock: Arc<dyn Clock> = if self.virtual_clock {
            Arc::new(VirtualClock::new(execution.started))
        } else {
            self.clock.clone()
        };
        let executor = Executor::new(execution.machine.definition.clone(), invoker, clock.clone())
            .with_state_machine_arn(execution.machine.arn.clone());
        // A stop that can no longer come (its sender gone) must not end the execution.
        let signal: StopSignal = Box::pin(async move {
            if stop.await.is_err() {
                std::future::pending::<()>().await;
            }
        });
        let history = execution.history.clone();
        let name = execution.name.clone();
        let run = async move {
            executor
                .execute_observed(&name, input, signal, history)
                .await
        };
        let listener = self.listener_for(&execution);
        if !clock.is_virtual() {
            tokio::spawn(async move {
                execution.finish(&run.await);
                if let Some(listener) = listener {
                    listener.status_changed(execution.status_change()).await;
                }
            });
            return;
        }
        // A virtual clock needs a paused runtime of its own; the end is told on this one.
        let here = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            match runtime(clock.as_ref()) {
                Ok(rt) => execution.finish(&rt.block_on(run)),
                Err(e) => execution.fail(&format!("The execution could not start: {e}")),
            }
            if let Some(listener) = listener {
                let event = execution.status_change();
                here.spawn(async move { listener.status_changed(event).await });
            }
        });
    }

    pub fn describe(&self, request: ExecutionRequest) -> Result<Value, ApiError> {
        Ok(self.get(&request.execution_arn)?.describe())
    }

    /// Stops a running execution (it ends ABORTED with the given error and cause) and waits for
    /// it to record its end; a closed execution answers its stop date.
    pub async fn stop(&self, request: StopRequest) -> Result<Value, ApiError> {
        let execution = self.get(&request.execution_arn)?;
        let sender = execution
            .stop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(sender) = sender {
            execution.progress().abort = Abort {
                error: request.error.clone(),
                cause: request.cause.clone(),
            };
            let mut done = execution.done.subscribe();
            if sender.send(()).is_ok() {
                let _ = tokio::time::timeout(STOP_WAIT, done.wait_for(|d| *d)).await;
            }
            let mut progress = execution.progress();
            if progress.status == "ABORTED" {
                progress.error = request.error;
                progress.cause = request.cause;
            }
        }
        let stopped = execution
            .progress()
            .stopped
            .unwrap_or_else(|| self.clock.now());
        Ok(json!({"stopDate": epoch(stopped)}))
    }

    /// The executions of `machine`, newest first.
    pub fn list(&self, machine: &Machine, request: ListRequest) -> Result<Value, ApiError> {
        const STATUSES: [&str; 5] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
        if let Some(filter) = &request.status_filter {
            if !STATUSES.contains(&filter.as_str()) {
                return Err(ApiError::validation(
                    "statusFilter",
                    "Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, RUNNING]",
                ));
            }
        }
        let registry = self.lock();
        let items: Vec<Value> = registry
            .order
            .iter()
            .rev()
            .filter_map(|arn| registry.by_arn.get(arn))
            .filter(|e| e.machine.name == machine.name)
            // A version's or an alias's ARN lists the executions started from it.
            .filter(|e| match &machine.alias_arn {
                Some(alias) => e.machine.alias_arn.as_ref() == Some(alias),
                None => {
                    machine.version.is_none() || e.machine.version_arn() == machine.version_arn()
                }
            })
            .map(|e| e.list_item())
            .filter(|item| {
                request
                    .status_filter
                    .as_deref()
                    .is_none_or(|status| item["status"] == status)
            })
            .collect();
        drop(registry);
        request.page.answer("executions", items)
    }

    pub fn history(&self, request: HistoryRequest) -> Result<Value, ApiError> {
        let execution = self.get(&request.execution_arn)?;
        let mut events = execution.events(request.include_execution_data.unwrap_or(true));
        if request.reverse_order.unwrap_or(false) {
            events.reverse();
        }
        request.page.answer("events", events)
    }

    pub fn machine_for(&self, request: ExecutionRequest) -> Result<Value, ApiError> {
        let machine = self.get(&request.execution_arn)?.machine.clone();
        let mut answer = Map::new();
        answer.insert("stateMachineArn".into(), Value::from(machine.arn.as_str()));
        answer.insert("name".into(), Value::from(machine.name.as_str()));
        answer.insert("definition".into(), Value::from(machine.text.as_str()));
        answer.insert("roleArn".into(), Value::from(machine.role_arn.as_str()));
        answer.insert("updateDate".into(), epoch(machine.updated));
        answer.insert("loggingConfiguration".into(), machine.logging.clone());
        answer.insert("tracingConfiguration".into(), machine.tracing.clone());
        answer.insert(
            "encryptionConfiguration".into(),
            machine.encryption.describe(),
        );
        if machine.revision_id != super::machines::INITIAL_REVISION {
            answer.insert(
                "revisionId".into(),
                Value::from(machine.revision_id.as_str()),
            );
        }
        if let Some(version) = machine.version_arn() {
            answer.insert("stateMachineVersionArn".into(), Value::from(version));
        }
        Ok(Value::Object(answer))
    }
}

/// Express workflows are billed by the 100 ms, rounded up.
fn billed_ms(result: &ExecutionResult) -> u64 {
    let ms = (result.stopped_at - result.started_at)
        .num_milliseconds()
        .max(0) as u64;
    ms.div_ceil(100).max(1) * 100
}

/// StartSyncExecution's answer for an execution run to its end.
pub fn sync_answer(
    machine: &Machine,
    arn: &str,
    name: &str,
    input: &str,
    result: &ExecutionResult,
) -> Value {
    let mut answer = json!({
        "executionArn": arn,
        "stateMachineArn": machine.arn,
        "name": name,
        "startDate": epoch(result.started_at),
        "stopDate": epoch(result.stopped_at),
        "status": result.status.as_str(),
        "input": input,
        "inputDetails": {"included": true},
        "billingDetails": {
            "billedMemoryUsedInMB": 64,
            "billedDurationInMilliseconds": billed_ms(result),
        },
    });
    if let Some(output) = &result.output {
        answer["output"] = Value::from(output.to_string());
        answer["outputDetails"] = json!({"included": true});
    }
    if let Some(error) = &result.error {
        answer["error"] = Value::from(error.as_str());
    }
    if let Some(cause) = &result.cause {
        answer["cause"] = Value::from(cause.as_str());
    }
    answer
}
