//! What every Lambda's `main` does before and around its handler: JSON logs, and one place that
//! turns domain errors into the `errorType` Step Functions matches.

use std::future::Future;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::error::DomainError;

pub use lambda_runtime::Error;

/// JSON log lines (CloudWatch Logs Insights reads their fields), level from `RUST_LOG`, default info.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .init();
}

/// The error a failed invocation reports: `errorType` is the taxonomy's name.
pub fn diagnostic(error: DomainError) -> Diagnostic {
    Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: error.to_string(),
    }
}

/// The correlation fields every log line of an invocation carries.
fn invocation_span(request_id: &str, event: &Value) -> tracing::Span {
    let field = |name: &str| {
        event
            .get(name)
            .or_else(|| event.pointer(&format!("/pathParameters/{name}")))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    tracing::info_span!(
        "invocation",
        requestId = %request_id,
        executionArn = %field("executionArn"),
        goalId = %field("goalId"),
    )
}

/// Runs `handler` for every invocation until the runtime stops.
pub async fn run<F, Fut, T>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<T, DomainError>>,
    T: Serialize,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = invocation_span(&event.context.request_id, &event.payload);
        let result = handler(event.payload).instrument(span.clone()).await;
        span.in_scope(|| match &result {
            Ok(_) => tracing::info!("invocation succeeded"),
            Err(e) => tracing::warn!(errorType = e.error_type(), error = %e, "invocation failed"),
        });
        result.map_err(diagnostic)
    }))
    .await
}
