//! What every Lambda's `main` does before and around its handler: JSON logs, and one place that
//! turns domain errors into the `errorType` Step Functions matches. An invocation's log lines
//! carry ids and counts, never the goal's or its actions' text.

use std::future::Future;

#[cfg(feature = "lambda")]
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use percent_encoding::percent_decode_str;
#[cfg(feature = "lambda")]
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::error::DomainError;
use crate::metrics::REQUEST_ID;

#[cfg(feature = "lambda")]
pub use lambda_runtime::Error;

/// JSON log lines (CloudWatch Logs Insights reads their fields), level from `RUST_LOG`, default info.
#[cfg(feature = "lambda")]
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
#[cfg(feature = "lambda")]
pub fn diagnostic(error: DomainError) -> Diagnostic {
    Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: error.to_string(),
    }
}

/// The run an invocation is about, for its log lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Correlation {
    execution_arn: Option<String>,
    goal_id: Option<String>,
}

/// Finds the run's fields where each kind of event carries them: at the top level (the steps'
/// payloads), in `pathParameters` (the API, percent-encoded as the client sent them), in `input`
/// (ValidateInput's execution input) or in `detail` (an EventBridge status change, whose
/// execution input is a JSON string of its own).
fn correlation(event: &Value) -> Correlation {
    let execution_input = event
        .pointer("/detail/input")
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    let find = |name: &str| {
        text_at(Some(event), name)
            .map(str::to_owned)
            .or_else(|| {
                text_at(event.get("pathParameters"), name)
                    .map(|raw| percent_decode_str(raw).decode_utf8_lossy().into_owned())
            })
            .or_else(|| {
                [
                    event.get("input"),
                    event.get("detail"),
                    execution_input.as_ref(),
                ]
                .into_iter()
                .find_map(|place| text_at(place, name))
                .map(str::to_owned)
            })
    };
    Correlation {
        execution_arn: find("executionArn"),
        goal_id: find("goalId"),
    }
}

fn text_at<'a>(place: Option<&'a Value>, name: &str) -> Option<&'a str> {
    place
        .and_then(|p| p.get(name))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// The correlation fields every log line of an invocation carries.
fn invocation_span(request_id: &str, event: &Value) -> tracing::Span {
    let run = correlation(event);
    tracing::info_span!(
        "invocation",
        requestId = %request_id,
        executionArn = %run.execution_arn.as_deref().unwrap_or(""),
        goalId = %run.goal_id.as_deref().unwrap_or(""),
    )
}

/// One invocation of a handler on `event`: its log lines carry the request id and the run it is
/// about, and a last line says how it ended.
pub async fn logged<T>(
    request_id: &str,
    event: &Value,
    invocation: impl Future<Output = Result<T, DomainError>>,
) -> Result<T, DomainError> {
    let span = invocation_span(request_id, event);
    let result = REQUEST_ID
        .scope(request_id.to_owned(), invocation.instrument(span.clone()))
        .await;
    span.in_scope(|| match &result {
        Ok(_) => tracing::info!("invocation succeeded"),
        Err(e) => tracing::warn!(errorType = e.error_type(), error = %e, "invocation failed"),
    });
    result
}

/// Runs `handler` for every invocation until the runtime stops.
#[cfg(feature = "lambda")]
pub async fn run<F, Fut, T>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<T, DomainError>>,
    T: Serialize,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        logged(
            &event.context.request_id,
            &payload.clone(),
            handler(payload),
        )
        .await
        .map_err(diagnostic)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RUN: &str = crate::examples::SAMPLE_RUN_ARN;
    const PARTIAL_RUN: &str =
        "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-partial-run-1";

    /// What the sample event `stem` carries: its run's ARN and goal, where it has them.
    fn expected(stem: &str) -> (Option<&'static str>, Option<&'static str>) {
        match stem {
            "validate-input" | "get-actions" | "create-batches" | "generate-tasks"
            | "save-tasks" | "update-progress" | "aggregate-results" | "update-goal-status"
            | "handle-error" => (Some(RUN), Some("goal-demo")),
            s if s.starts_with("finalize-execution") => (Some(RUN), Some("goal-demo")),
            // The API names the run in its path, not its goal.
            "get-status" | "cancel" => (Some(RUN), None),
            "retry-failed" => (Some(PARTIAL_RUN), None),
            // The run does not exist yet.
            "start-workflow" => (None, Some("goal-new")),
            // A goal's view and history name the goal, not a run.
            "get-goal" | "list-executions" => (None, Some("goal-partial")),
            "maintenance" => (None, None),
            other => panic!("events/{other}.json: say here what it carries"),
        }
    }

    #[test]
    fn every_sample_event_names_its_run_where_it_has_one() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut seen = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let event: Value = serde_json::from_str(&text).unwrap();
            let (execution_arn, goal_id) = expected(stem);
            assert_eq!(
                correlation(&event),
                Correlation {
                    execution_arn: execution_arn.map(str::to_owned),
                    goal_id: goal_id.map(str::to_owned),
                },
                "{stem}"
            );
            seen += 1;
        }
        assert!(seen >= 15, "only {seen} samples found in {}", dir.display());
    }

    #[test]
    fn path_parameters_are_decoded_and_a_broken_execution_input_is_no_goal() {
        let api = json!({"pathParameters": {"executionArn": "arn%3Aaws%3Astates%3Ax"}});
        assert_eq!(
            correlation(&api).execution_arn.as_deref(),
            Some("arn:aws:states:x")
        );
        let change = json!({"detail": {"executionArn": "arn", "input": "{not json"}});
        assert_eq!(
            correlation(&change),
            Correlation {
                execution_arn: Some("arn".into()),
                goal_id: None
            }
        );
        assert_eq!(correlation(&json!("text")), Correlation::default());
    }
}
