//! The product's handlers called in process, as Lambda and Step Functions would call them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use asl_interpreter::clock::Clock;
use asl_interpreter::invoker::{FunctionError, Invocation, LambdaInvoker};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use function_dispatch::Ports;
use serde_json::Value;
use shared::memory::RecordedExecution;
use shared::naming;
use shared::ports::{ExecutionControl, ExecutionDescription, StartOutcome};
use shared::{DomainError, ErrorCode};
use tokio::sync::watch;

/// Invocations made in this process, for their request ids.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// The handlers' view of the executor's clock.
pub(crate) struct HandlerClock(pub(crate) Arc<dyn Clock>);

impl shared::ports::Clock for HandlerClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// The project's handlers and the ports they run over: one set of ports for every function (the
/// embedded default), or each function of a deployed stack with its own.
pub(crate) enum Handlers {
    Shared(Ports),
    /// Deployed function name -> the binary it runs and the ports its environment names.
    Deployed(HashMap<String, (String, Ports)>),
}

impl Handlers {
    /// Invokes a function by name or ARN; a deployed stack's are also found by their binary's name.
    pub(crate) async fn invoke(
        &self,
        function: &str,
        payload: Value,
    ) -> Result<Value, DomainError> {
        // Logged as a Lambda's invocation is (shared::boot), with a request id of its own.
        let request_id = format!("local-{}", REQUESTS.fetch_add(1, Ordering::Relaxed));
        let event = payload.clone();
        let invocation = async {
            match self {
                Handlers::Shared(ports) => ports.invoke(function, payload).await,
                Handlers::Deployed(functions) => {
                    let name = function_dispatch::function_name(function);
                    let found = functions
                        .get(name)
                        .or_else(|| functions.values().find(|(binary, _)| binary == name));
                    match found {
                        Some((binary, ports)) => ports.invoke(binary, payload).await,
                        None => Err(DomainError::not_found(format!(
                            "no function named {name} in this stack"
                        ))),
                    }
                }
            }
        };
        shared::boot::logged(&request_id, &event, invocation).await
    }
}

/// Calls the project's handlers in process; counts invocations for the cost estimate.
pub struct InProcessInvoker {
    pub(crate) handlers: Arc<Handlers>,
    pub(crate) invocations: Mutex<u64>,
}

#[async_trait]
impl LambdaInvoker for InProcessInvoker {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError> {
        if let Ok(mut n) = self.invocations.lock() {
            *n += 1;
        }
        self.handlers
            .invoke(function_name, payload)
            .await
            .map_err(|e| FunctionError::unhandled(e.error_type(), e.to_string()))
    }
}

#[derive(Default)]
pub(crate) struct Pending {
    /// Started executions not yet executed: name -> input.
    pub(crate) queued: BTreeMap<String, String>,
    pub(crate) stops: HashMap<String, watch::Sender<bool>>,
    /// Every execution started, by ARN.
    pub(crate) executions: HashMap<String, RecordedExecution>,
}

/// Step Functions for start-workflow and cancel: a start is queued for [`crate::stack::LocalStack::execute`] to
/// execute; a stop ends the running execution ABORTED. Names follow the service's rules.
pub struct LocalExecutions {
    pub(crate) state_machine_arn: String,
    clock: Arc<dyn Clock>,
    pub(crate) pending: Mutex<Pending>,
}

impl LocalExecutions {
    /// The runs of the state machine `state_machine_arn`, their dates on `clock`.
    pub fn new(state_machine_arn: &str, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(LocalExecutions {
            state_machine_arn: state_machine_arn.to_owned(),
            clock,
            pending: Mutex::new(Pending::default()),
        })
    }

    fn pending(&self) -> Result<std::sync::MutexGuard<'_, Pending>, DomainError> {
        self.pending
            .lock()
            .map_err(|_| DomainError::permanent(ErrorCode::Internal, "execution registry poisoned"))
    }
}

#[async_trait]
impl ExecutionControl for LocalExecutions {
    fn execution_arn(&self, name: &str) -> String {
        naming::execution_arn(&self.state_machine_arn, name)
    }

    async fn start_execution(&self, name: &str, input: &str) -> Result<StartOutcome, DomainError> {
        let execution_arn = self.execution_arn(name);
        let mut pending = self.pending()?;
        if let Some(existing) = pending.executions.get(&execution_arn) {
            return Ok(StartOutcome::for_taken_name(
                &existing.description,
                &existing.input,
                input,
            ));
        }
        let start_date = self.clock.now();
        pending.queued.insert(name.to_owned(), input.to_owned());
        pending
            .stops
            .insert(execution_arn.clone(), watch::channel(false).0);
        pending.executions.insert(
            execution_arn.clone(),
            RecordedExecution {
                input: input.to_owned(),
                description: ExecutionDescription::running(execution_arn.clone(), start_date),
            },
        );
        Ok(StartOutcome::Started {
            execution_arn,
            start_date,
        })
    }

    async fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDescription>, DomainError> {
        Ok(self
            .pending()?
            .executions
            .get(execution_arn)
            .map(|e| e.description.clone()))
    }

    async fn stop_execution(&self, execution_arn: &str, _cause: &str) -> Result<(), DomainError> {
        if let Some(stop) = self.pending()?.stops.get(execution_arn) {
            stop.send_replace(true);
        }
        Ok(())
    }
}

/// Lambda for a host whose Lambda tasks call the product's functions in process (those named in
/// [`function_dispatch::FUNCTION_NAMES`], by name or ARN) and any other function through `others`.
pub struct ProductFunctions {
    pub product: Arc<dyn LambdaInvoker>,
    pub others: Arc<dyn LambdaInvoker>,
}

impl ProductFunctions {
    fn route(&self, function_name: &str) -> &Arc<dyn LambdaInvoker> {
        let name = function_dispatch::function_name(function_name);
        if function_dispatch::FUNCTION_NAMES.contains(&name) {
            &self.product
        } else {
            &self.others
        }
    }
}

#[async_trait]
impl LambdaInvoker for ProductFunctions {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError> {
        self.route(function_name)
            .invoke(function_name, payload)
            .await
    }

    async fn invoke_logged(
        &self,
        function_name: &str,
        payload: Value,
        tail: bool,
    ) -> Result<Invocation, FunctionError> {
        self.route(function_name)
            .invoke_logged(function_name, payload, tail)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_in_use_starts_again_only_with_the_same_input() {
        let executions = LocalExecutions::new(
            "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            Arc::new(asl_interpreter::RealClock),
        );
        let first = executions.start_execution("n", "{}").await;
        let again = executions.start_execution("n", "{}").await;
        assert!(
            matches!(first, Ok(StartOutcome::Started { .. })),
            "{first:?}"
        );
        assert_eq!(again, first);
        let other = executions.start_execution("n", r#"{"a":1}"#).await;
        assert!(
            matches!(other, Ok(StartOutcome::AlreadyExists { .. })),
            "{other:?}"
        );
    }
}
