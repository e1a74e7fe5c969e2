//! The project's Lambda handlers, called in process by function name: what the local executor
//! runs Task states against, with the same `lib.rs` code the deployed functions run.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use shared::capacity::ModelQuota;
use shared::metrics::MetricSink;
use shared::ports::{Archive, Clock, ExecutionControl, Notifier, Store, TaskGenerator};
use shared::{DomainError, ErrorCode};

/// The ports the handlers run over.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub generator: Arc<dyn TaskGenerator>,
    pub notifier: Arc<dyn Notifier>,
    pub control: Arc<dyn ExecutionControl>,
    pub archive: Arc<dyn Archive>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<dyn MetricSink>,
    /// The model quota start admits runs against.
    pub quota: ModelQuota,
}

/// The functions the state machine's Task states, the API and the EventBridge rules call, by the
/// name each is deployed under.
pub const FUNCTION_NAMES: [&str; 17] = [
    "start-workflow",
    "validate-input",
    "get-actions",
    "create-batches",
    "generate-tasks",
    "save-tasks",
    "update-progress",
    "aggregate-results",
    "update-goal-status",
    "get-status",
    "cancel",
    "retry-failed",
    "get-goal",
    "list-executions",
    "handle-error",
    "finalize-execution",
    "maintenance",
];

/// The function a Lambda reference names: a plain name, a partial or full ARN, with or without a
/// version or alias qualifier.
pub fn function_name(reference: &str) -> &str {
    let name = reference
        .split_once(":function:")
        .map_or(reference, |(_, rest)| rest);
    name.split(':').next().unwrap_or(name)
}

fn to_value(result: Result<impl Serialize, DomainError>) -> Result<Value, DomainError> {
    result.and_then(|v| {
        serde_json::to_value(v)
            .map_err(|e| DomainError::permanent(ErrorCode::Internal, e.to_string()))
    })
}

impl Ports {
    /// Invokes the named function with `payload`, as Lambda would. An unknown name is a
    /// validation error.
    pub async fn invoke(&self, function: &str, payload: Value) -> Result<Value, DomainError> {
        let (store, clock, metrics) = (
            self.store.as_ref(),
            self.clock.as_ref(),
            self.metrics.as_ref(),
        );
        let (generator, notifier, control) = (
            self.generator.as_ref(),
            self.notifier.as_ref(),
            self.control.as_ref(),
        );
        let quota = &self.quota;
        match function_name(function) {
            "start-workflow" => to_value(
                start_workflow::handle(store, control, clock, metrics, *quota, payload).await,
            ),
            "validate-input" => to_value(validate_input::handle(store, payload).await),
            "get-actions" => to_value(get_actions::handle(store, payload).await),
            "create-batches" => to_value(create_batches::handle(payload)),
            "generate-tasks" => {
                to_value(generate_tasks::handle(store, generator, clock, metrics, payload).await)
            }
            "save-tasks" => to_value(save_tasks::handle(store, payload).await),
            "update-progress" => {
                to_value(update_progress::handle(store, clock, metrics, payload).await)
            }
            "aggregate-results" => to_value(aggregate_results::handle(payload)),
            "update-goal-status" => {
                to_value(update_goal_status::handle(store, notifier, clock, metrics, payload).await)
            }
            "get-status" => to_value(get_status::handle(store, clock, payload).await),
            "cancel" => to_value(cancel::handle(store, control, clock, payload).await),
            "retry-failed" => to_value(
                retry_failed::handle(store, control, clock, metrics, *quota, payload).await,
            ),
            "get-goal" => to_value(get_goal::handle(store, clock, payload).await),
            "list-executions" => {
                let archive = self.archive.as_ref();
                to_value(list_executions::handle(store, archive, clock, payload).await)
            }
            "handle-error" => {
                to_value(handle_error::handle(store, notifier, clock, metrics, payload).await)
            }
            "finalize-execution" => {
                to_value(finalize_execution::handle(store, notifier, clock, metrics, payload).await)
            }
            "maintenance" => {
                let ports = maintenance::Maintenance {
                    store,
                    control,
                    notifier,
                    archive: self.archive.as_ref(),
                    clock,
                    metrics,
                };
                to_value(maintenance::handle(ports, payload).await)
            }
            other => Err(DomainError::not_found(format!("no function named {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_any_reference_form() {
        assert_eq!(function_name("save-tasks"), "save-tasks");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:save-tasks:live"),
            "save-tasks"
        );
        assert_eq!(
            function_name("123456789012:function:save-tasks"),
            "save-tasks"
        );
    }
}
