//! GetExecutionHistory's events: the interpreter's typed history written as the API answers it,
//! each event's details under the member AWS names for its type, inputs and outputs as JSON text.

use serde_json::{json, Map, Value};

use super::names::epoch;
use asl_interpreter::events::{ErrorEventDetails, EventDetails, MapIterationEventDetails};
use asl_interpreter::HistoryEvent;

/// How an execution was stopped, for its ExecutionAborted event.
#[derive(Debug, Clone, Default)]
pub struct Abort {
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// JSON text, as the API carries inputs and outputs.
fn text(value: &Value) -> Value {
    Value::String(value.to_string())
}

/// An input or output as JSON text, with its details member (`inputDetails`, `outputDetails`).
fn data(content: &mut Map<String, Value>, key: &str, value: &Value) {
    content.insert(key.into(), text(value));
    content.insert(format!("{key}Details"), json!({"truncated": false}));
}

/// The members of an object, each given only when it is present.
fn members<const N: usize>(fields: [(&str, Option<Value>); N]) -> Map<String, Value> {
    fields
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), value?)))
        .collect()
}

fn error_cause(error: &Option<String>, cause: &Option<String>) -> Map<String, Value> {
    members([
        ("error", error.clone().map(Value::from)),
        ("cause", cause.clone().map(Value::from)),
    ])
}

fn with_data(mut content: Map<String, Value>, key: &str, value: &Value) -> Value {
    data(&mut content, key, value);
    Value::Object(content)
}

fn output(value: &Value) -> Value {
    with_data(Map::new(), "output", value)
}

fn integration(resource_type: &str, resource: &str) -> Map<String, Value> {
    members([
        ("resourceType", Some(resource_type.into())),
        ("resource", Some(resource.into())),
    ])
}

fn limits(timeout: Option<u64>, heartbeat: Option<u64>) -> Map<String, Value> {
    members([
        ("timeoutInSeconds", timeout.map(Value::from)),
        ("heartbeatInSeconds", heartbeat.map(Value::from)),
    ])
}

/// The details member of an event and its content, or `None` for a type that carries none.
fn details(event: &EventDetails, abort: &Abort, role_arn: &str) -> Option<(&'static str, Value)> {
    use EventDetails as E;
    let errors = |d: &ErrorEventDetails| Value::Object(error_cause(&d.error, &d.cause));
    let iteration = |d: &MapIterationEventDetails| json!({"name": d.name, "index": d.index});
    let (member, content) = match event {
        E::ExecutionStarted(d) => {
            let role = members([("roleArn", Some(role_arn.into()))]);
            (
                "executionStartedEventDetails",
                with_data(role, "input", &d.input),
            )
        }
        E::ExecutionSucceeded(d) => ("executionSucceededEventDetails", output(&d.output)),
        E::ExecutionFailed(d) => ("executionFailedEventDetails", errors(d)),
        E::ExecutionTimedOut(d) => ("executionTimedOutEventDetails", errors(d)),
        E::ExecutionAborted => (
            "executionAbortedEventDetails",
            Value::Object(error_cause(&abort.error, &abort.cause)),
        ),
        E::StateEntered(_, d) => {
            let name = members([("name", Some(d.name.as_str().into()))]);
            (
                "stateEnteredEventDetails",
                with_data(name, "input", &d.input),
            )
        }
        E::StateExited(_, d) => {
            let name = members([("name", Some(d.name.as_str().into()))]);
            (
                "stateExitedEventDetails",
                with_data(name, "output", &d.output),
            )
        }
        E::MapStateStarted(d) => ("mapStateStartedEventDetails", json!({"length": d.length})),
        E::MapIterationStarted(d) => ("mapIterationStartedEventDetails", iteration(d)),
        E::MapIterationSucceeded(d) => ("mapIterationSucceededEventDetails", iteration(d)),
        E::MapIterationFailed(d) => ("mapIterationFailedEventDetails", iteration(d)),
        E::TaskScheduled(d) => {
            let mut content = integration(&d.resource_type, &d.resource);
            content.insert("region".into(), Value::from(d.region.as_str()));
            content.insert("parameters".into(), text(&d.parameters));
            content.extend(limits(d.timeout_in_seconds, d.heartbeat_in_seconds));
            ("taskScheduledEventDetails", Value::Object(content))
        }
        E::TaskStarted(d) => (
            "taskStartedEventDetails",
            Value::Object(integration(&d.resource_type, &d.resource)),
        ),
        E::TaskSubmitted(d) | E::TaskSucceeded(d) => {
            let member = match event {
                E::TaskSubmitted(_) => "taskSubmittedEventDetails",
                _ => "taskSucceededEventDetails",
            };
            let content = integration(&d.resource_type, &d.resource);
            (member, with_data(content, "output", &d.output))
        }
        E::TaskFailed(d) | E::TaskTimedOut(d) => {
            let member = match event {
                E::TaskTimedOut(_) => "taskTimedOutEventDetails",
                _ => "taskFailedEventDetails",
            };
            let mut content = integration(&d.resource_type, &d.resource);
            content.extend(error_cause(&d.error, &d.cause));
            (member, Value::Object(content))
        }
        E::LambdaFunctionScheduled(d) => {
            let mut content = members([("resource", Some(d.resource.as_str().into()))]);
            content.extend(limits(d.timeout_in_seconds, None));
            (
                "lambdaFunctionScheduledEventDetails",
                with_data(content, "input", &d.input),
            )
        }
        E::LambdaFunctionSucceeded(d) => ("lambdaFunctionSucceededEventDetails", output(&d.output)),
        E::LambdaFunctionFailed(d) => ("lambdaFunctionFailedEventDetails", errors(d)),
        E::LambdaFunctionTimedOut(d) => ("lambdaFunctionTimedOutEventDetails", errors(d)),
        E::ActivityScheduled(d) => {
            let mut content = members([("resource", Some(d.resource.as_str().into()))]);
            content.extend(limits(d.timeout_in_seconds, d.heartbeat_in_seconds));
            (
                "activityScheduledEventDetails",
                with_data(content, "input", &d.input),
            )
        }
        E::ActivityStarted(d) => (
            "activityStartedEventDetails",
            Value::Object(members([(
                "workerName",
                d.worker_name.clone().map(Value::from),
            )])),
        ),
        E::ActivitySucceeded(d) => ("activitySucceededEventDetails", output(&d.output)),
        E::ActivityFailed(d) => ("activityFailedEventDetails", errors(d)),
        E::ActivityTimedOut(d) => ("activityTimedOutEventDetails", errors(d)),
        E::ActivityScheduleFailed(d) => ("activityScheduleFailedEventDetails", errors(d)),
        E::MapStateSucceeded
        | E::MapStateFailed
        | E::ParallelStateStarted
        | E::ParallelStateSucceeded
        | E::ParallelStateFailed
        | E::LambdaFunctionStarted => return None,
    };
    Some((member, content))
}

/// One event as GetExecutionHistory answers it; without `include_data`, inputs and outputs are
/// left out.
pub fn aws_event(event: &HistoryEvent, abort: &Abort, role_arn: &str, include_data: bool) -> Value {
    let mut out = Map::new();
    out.insert("timestamp".into(), epoch(event.timestamp));
    out.insert("type".into(), Value::from(event.event_type()));
    out.insert("id".into(), Value::from(event.id));
    out.insert(
        "previousEventId".into(),
        Value::from(event.previous_event_id),
    );
    if let Some((member, mut content)) = details(&event.details, abort, role_arn) {
        if !include_data {
            if let Some(fields) = content.as_object_mut() {
                fields.remove("input");
                fields.remove("output");
            }
        }
        out.insert(member.into(), content);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use asl_interpreter::definition::StateType;
    use asl_interpreter::events::{
        OutputEventDetails, StateExitedEventDetails, TaskFailedEventDetails,
        TaskScheduledEventDetails,
    };

    fn event(details: EventDetails) -> HistoryEvent {
        HistoryEvent {
            id: 3,
            previous_event_id: 2,
            timestamp: chrono::Utc::now(),
            details,
        }
    }

    #[test]
    fn task_events_carry_the_integration_and_its_data_as_text() {
        let scheduled = event(EventDetails::TaskScheduled(TaskScheduledEventDetails {
            resource_type: "lambda".into(),
            resource: "invoke".into(),
            region: "eu-west-1".into(),
            parameters: json!({"a": 1}),
            timeout_in_seconds: Some(10),
            heartbeat_in_seconds: None,
        }));
        let e = aws_event(&scheduled, &Abort::default(), "r", true);
        assert_eq!(e["type"], "TaskScheduled");
        assert_eq!(
            e["taskScheduledEventDetails"],
            json!({"resourceType": "lambda", "resource": "invoke", "region": "eu-west-1",
                "parameters": r#"{"a":1}"#, "timeoutInSeconds": 10})
        );
        let failed = event(EventDetails::TaskTimedOut(TaskFailedEventDetails {
            resource_type: "sqs".into(),
            resource: "sendMessage.waitForTaskToken".into(),
            error: Some("States.Timeout".into()),
            cause: None,
        }));
        let e = aws_event(&failed, &Abort::default(), "r", true);
        assert_eq!(
            e["taskTimedOutEventDetails"],
            json!({"resourceType": "sqs", "resource": "sendMessage.waitForTaskToken", "error": "States.Timeout"})
        );
    }

    #[test]
    fn states_exits_and_the_execution_data_can_be_left_out() {
        let exited = event(EventDetails::StateExited(
            StateType::Pass,
            StateExitedEventDetails {
                name: "P".into(),
                output: json!({"x": [1]}),
            },
        ));
        let with = aws_event(&exited, &Abort::default(), "r", true);
        assert_eq!(with["type"], "PassStateExited");
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
        let e = aws_event(&event(EventDetails::ExecutionAborted), &aborted, "r", true);
        assert_eq!(
            e["executionAbortedEventDetails"],
            json!({"error": "Stopped"})
        );
        let succeeded = event(EventDetails::LambdaFunctionSucceeded(OutputEventDetails {
            output: json!("ok"),
        }));
        let e = aws_event(&succeeded, &Abort::default(), "r", true);
        assert_eq!(
            e["lambdaFunctionSucceededEventDetails"],
            json!({"output": r#""ok""#, "outputDetails": {"truncated": false}})
        );
        let e = aws_event(
            &event(EventDetails::ParallelStateStarted),
            &aborted,
            "r",
            true,
        );
        assert_eq!(
            e.as_object().map(|o| o.len()),
            Some(4),
            "no details member: {e}"
        );
    }
}
