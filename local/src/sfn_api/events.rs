//! GetExecutionHistory's events: the interpreter's history in AWS's shapes, with each event's
//! details under the member AWS names for its type.

use serde_json::{json, Map, Value};

use super::names::{epoch, REGION};
use asl_interpreter::history::HistoryEvent;

/// How an execution was stopped, for its ExecutionAborted event.
#[derive(Debug, Clone, Default)]
pub struct Abort {
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// JSON text, as the API carries inputs and outputs.
fn text(value: Option<&Value>) -> Value {
    Value::String(value.unwrap_or(&Value::Null).to_string())
}

fn string(details: &Value, key: &str) -> Option<Value> {
    details.get(key).filter(|v| !v.is_null()).map(|v| match v {
        Value::String(_) => v.clone(),
        other => Value::String(other.to_string()),
    })
}

/// `resourceType` and `resource` of a service integration: `lambda` and `invoke` for
/// `arn:aws:states:::lambda:invoke`.
fn resource_parts(resource: &str) -> (String, String) {
    let parts: Vec<&str> = resource.split(':').collect();
    match parts.get(5..) {
        Some([service, rest @ ..]) if !rest.is_empty() => ((*service).to_owned(), rest.join(":")),
        _ => (String::new(), resource.to_owned()),
    }
}

fn error_cause(details: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for key in ["error", "cause"] {
        if let Some(v) = string(details, key) {
            out.insert(key.into(), v);
        }
    }
    out
}

/// The details member and its content for one event, or `None` for types that carry none.
fn details(event: &HistoryEvent, abort: &Abort, role_arn: &str) -> Option<(String, Value)> {
    let d = &event.details;
    let kind = event.event_type.as_str();
    let data_details = json!({"truncated": false});
    let member = |name: &str, v: Value| Some((name.to_owned(), v));
    if kind.ends_with("StateEntered") {
        return member(
            "stateEnteredEventDetails",
            json!({"name": d["name"], "input": text(d.get("input")), "inputDetails": data_details}),
        );
    }
    if kind.ends_with("StateExited") {
        return member(
            "stateExitedEventDetails",
            json!({"name": d["name"], "output": text(d.get("output")), "outputDetails": data_details}),
        );
    }
    if let Some(phase) = kind.strip_prefix("Task") {
        return task_details(phase, d);
    }
    if let Some(phase) = kind.strip_prefix("LambdaFunction") {
        return lambda_details(phase, d);
    }
    if let Some(phase) = kind.strip_prefix("Activity") {
        return activity_details(phase, d);
    }
    if kind.starts_with("MapIteration") {
        let name = format!(
            "mapIteration{}EventDetails",
            kind.trim_start_matches("MapIteration")
        );
        return member(&name, json!({"name": d["name"], "index": d["index"]}));
    }
    match kind {
        "ExecutionStarted" => member(
            "executionStartedEventDetails",
            json!({"input": text(d.get("input")), "inputDetails": data_details, "roleArn": role_arn}),
        ),
        "ExecutionSucceeded" => member(
            "executionSucceededEventDetails",
            json!({"output": text(d.get("output")), "outputDetails": data_details}),
        ),
        "ExecutionFailed" => member("executionFailedEventDetails", Value::Object(error_cause(d))),
        "ExecutionTimedOut" => member(
            "executionTimedOutEventDetails",
            Value::Object(error_cause(d)),
        ),
        "ExecutionAborted" => member(
            "executionAbortedEventDetails",
            Value::Object(error_cause(
                &json!({"error": abort.error, "cause": abort.cause}),
            )),
        ),
        "MapStateStarted" => member(
            "mapStateStartedEventDetails",
            json!({"length": d["length"]}),
        ),
        _ => None,
    }
}

/// A scheduled task's timeout and heartbeat, in seconds, where it has them.
fn limits(d: &Value) -> impl Iterator<Item = (String, Value)> + '_ {
    [
        ("timeout", "timeoutInSeconds"),
        ("heartbeat", "heartbeatInSeconds"),
    ]
    .into_iter()
    .filter_map(|(from, to)| {
        d.get(from)
            .filter(|v| v.is_u64())
            .map(|n| (to.to_owned(), n.clone()))
    })
}

fn task_details(phase: &str, d: &Value) -> Option<(String, Value)> {
    let (resource_type, resource) = resource_parts(d["resource"].as_str().unwrap_or_default());
    let mut out = Map::new();
    out.insert("resourceType".into(), Value::String(resource_type));
    out.insert("resource".into(), Value::String(resource));
    match phase {
        "Scheduled" => {
            out.insert("region".into(), Value::from(REGION));
            out.insert("parameters".into(), text(d.get("parameters")));
            out.extend(limits(d));
        }
        "Succeeded" | "Submitted" => {
            out.insert("output".into(), text(d.get("output")));
            out.insert("outputDetails".into(), json!({"truncated": false}));
        }
        "Failed" | "TimedOut" | "StartFailed" | "SubmitFailed" => out.extend(error_cause(d)),
        "Started" => {}
        _ => return None,
    }
    let member = format!("task{phase}EventDetails");
    Some((member, Value::Object(out)))
}

fn lambda_details(phase: &str, d: &Value) -> Option<(String, Value)> {
    let content = match phase {
        "Scheduled" => {
            let mut scheduled = json!({
                "resource": d["resource"],
                "input": text(d.get("parameters")),
                "inputDetails": {"truncated": false},
            });
            if let Some(n) = d.get("timeout").filter(|v| v.is_u64()) {
                scheduled["timeoutInSeconds"] = n.clone();
            }
            scheduled
        }
        "Succeeded" => {
            json!({"output": text(d.get("output")), "outputDetails": {"truncated": false}})
        }
        "Failed" | "TimedOut" | "StartFailed" | "ScheduleFailed" => Value::Object(error_cause(d)),
        _ => return None,
    };
    Some((format!("lambdaFunction{phase}EventDetails"), content))
}

fn activity_details(phase: &str, d: &Value) -> Option<(String, Value)> {
    let content = match phase {
        "Scheduled" => {
            let mut scheduled = Map::new();
            scheduled.insert("resource".into(), d["resource"].clone());
            scheduled.insert("input".into(), text(d.get("input")));
            scheduled.insert("inputDetails".into(), json!({"truncated": false}));
            scheduled.extend(limits(d));
            Value::Object(scheduled)
        }
        "Started" => match d.get("workerName") {
            Some(worker) => json!({"workerName": worker}),
            None => json!({}),
        },
        "Succeeded" => {
            json!({"output": text(d.get("output")), "outputDetails": {"truncated": false}})
        }
        "Failed" | "TimedOut" | "ScheduleFailed" => Value::Object(error_cause(d)),
        _ => return None,
    };
    Some((format!("activity{phase}EventDetails"), content))
}

/// One event as GetExecutionHistory answers it; without `include_data`, inputs and outputs are
/// left out.
pub fn aws_event(event: &HistoryEvent, abort: &Abort, role_arn: &str, include_data: bool) -> Value {
    let mut out = Map::new();
    out.insert("timestamp".into(), epoch(event.timestamp));
    out.insert("type".into(), Value::from(event.event_type.as_str()));
    out.insert("id".into(), Value::from(event.id));
    out.insert(
        "previousEventId".into(),
        Value::from(event.previous_event_id),
    );
    if let Some((member, mut content)) = details(event, abort, role_arn) {
        if !include_data {
            if let Some(fields) = content.as_object_mut() {
                fields.remove("input");
                fields.remove("output");
            }
        }
        out.insert(member, content);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, details: Value) -> HistoryEvent {
        HistoryEvent {
            id: 3,
            previous_event_id: 2,
            timestamp: chrono::Utc::now(),
            event_type: kind.into(),
            details,
        }
    }

    #[test]
    fn task_events_carry_the_integration_and_its_data_as_text() {
        let scheduled = event(
            "TaskScheduled",
            json!({"resource": "arn:aws:states:::lambda:invoke", "parameters": {"a": 1}}),
        );
        let e = aws_event(&scheduled, &Abort::default(), "r", true);
        let d = &e["taskScheduledEventDetails"];
        assert_eq!(d["resourceType"], "lambda");
        assert_eq!(d["resource"], "invoke");
        assert_eq!(d["parameters"], r#"{"a":1}"#);
        let failed = event(
            "TaskFailed",
            json!({"resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "error": "E", "cause": "C"}),
        );
        let e = aws_event(&failed, &Abort::default(), "r", true);
        assert_eq!(
            e["taskFailedEventDetails"],
            json!({"resourceType": "sqs", "resource": "sendMessage.waitForTaskToken", "error": "E", "cause": "C"})
        );
    }

    #[test]
    fn states_exits_and_the_execution_data_can_be_left_out() {
        let exited = event(
            "PassStateExited",
            json!({"name": "P", "output": {"x": [1]}}),
        );
        let with = aws_event(&exited, &Abort::default(), "r", true);
        assert_eq!(with["stateExitedEventDetails"]["output"], r#"{"x":[1]}"#);
        assert_eq!(with["previousEventId"], 2);
        let without = aws_event(&exited, &Abort::default(), "r", false);
        assert_eq!(
            without["stateExitedEventDetails"],
            json!({"name": "P", "outputDetails": {"truncated": false}})
        );
        let aborted = Abort {
            error: Some("Stopped".into()),
            cause: None,
        };
        let e = aws_event(&event("ExecutionAborted", json!({})), &aborted, "r", true);
        assert_eq!(
            e["executionAbortedEventDetails"],
            json!({"error": "Stopped"})
        );
    }
}
