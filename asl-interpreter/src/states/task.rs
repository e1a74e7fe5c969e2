//! Task: invokes a Lambda function, directly (`arn:aws:lambda:...:function:NAME`) or through the
//! `arn:aws:states:::lambda:invoke` integration, under TimeoutSeconds and HeartbeatSeconds.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::setting::Setting;
use crate::error::{ErrorName, EvalError, StatesError};
use crate::events::{
    ActivityScheduledEventDetails, ActivityStartedEventDetails, ErrorEventDetails, EventDetails,
    OutputEventDetails, TaskEvents,
};
use crate::invoker::{ActivityProgress, FunctionError, Invocation};
use crate::limits::check_payload;
use crate::pipeline::{Outcome, StateCtx};
use crate::resource::{integration, Integration, CALLBACK};

/// AWS's default task timeout, in seconds.
const DEFAULT_TIMEOUT_SECONDS: u64 = 99_999_999;

pub(super) async fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let state = &ctx.state;
    let resource = state
        .field("Resource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let vars = ctx.jsonata_vars(&input, &[]);
    let (effective, parameters) = if state.is_jsonata() {
        let args = match state.field("Arguments") {
            Some(t) => ctx.jsonata(t, &vars, "Arguments")?,
            None => input.clone(),
        };
        (input.clone(), args)
    } else {
        let effective = ctx.input_path(&input)?;
        let params = match state.field("Parameters") {
            Some(p) => ctx.scope(&effective).template(p).map_err(|e| ctx.fail(e))?,
            None => effective.clone(),
        };
        (effective, params)
    };
    let timeout =
        seconds_field(ctx, &vars, &effective, "TimeoutSeconds")?.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let heartbeat = seconds_field(ctx, &vars, &effective, "HeartbeatSeconds")?;
    ctx.inspect(|i| i.after_parameters = Some(parameters.clone()));
    let answered = ctx
        .execution
        .invoker
        .answer_task(&state.name, resource, &parameters)
        .await;
    let result = match answered {
        Some(answer) => host_answer(ctx, resource, parameters, answer)?,
        None if resource.ends_with(CALLBACK) => {
            callback(ctx, resource, parameters, timeout, heartbeat).await?
        }
        None if crate::invoker::is_activity(resource) => {
            activity(ctx, resource, parameters, timeout, heartbeat).await?
        }
        None => invoke(ctx, resource, parameters, timeout, heartbeat).await?,
    };
    ctx.inspect(|i| i.result = Some(result.clone()));
    ctx.finish(input, Some(result))
}

/// The task's result as the host answered it (a mocked response): its events, then the result.
fn host_answer(
    ctx: &StateCtx,
    resource: &str,
    parameters: Value,
    answer: Result<Value, FunctionError>,
) -> Result<Value, StatesError> {
    let events = TaskEvents::of(resource);
    let execution = &ctx.execution;
    execution.event(events.scheduled(parameters, &execution.region, None, None));
    execution.event(events.started());
    let result = answer.map_err(|e| {
        let err = StatesError::new(
            e.error_type.clone(),
            e.service_cause.clone().unwrap_or(e.error_message.clone()),
        );
        execution.event(events.failed(&err, false));
        err
    })?;
    check_payload(&result, &ctx.state.name)?;
    execution.event(events.succeeded(result.clone(), false));
    Ok(result)
}

/// The callback pattern: invokes the function (its answer is the task's submission), then waits
/// for the task token under TimeoutSeconds and HeartbeatSeconds.
async fn callback(
    ctx: &StateCtx,
    resource: &str,
    parameters: Value,
    timeout: u64,
    heartbeat: Option<u64>,
) -> Result<Value, StatesError> {
    let base = resource.trim_end_matches(CALLBACK);
    let events = TaskEvents::of(resource);
    invoke_as(ctx, base, &events, parameters, timeout, heartbeat, true).await?;
    let token = ctx.context["Task"]["Token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let wait = ctx
        .execution
        .invoker
        .wait_for_task_token(&token, heartbeat.map(Duration::from_secs));
    let outcome = answer_within(timeout, wait).await;
    match outcome {
        Ok(output) => {
            check_payload(&output, &ctx.state.name)?;
            ctx.execution.event(events.succeeded(output.clone(), false));
            Ok(output)
        }
        Err(mut err) => {
            if err.is(ErrorName::Timeout) {
                err.cause = None;
            }
            ctx.execution.event(events.failed(&err, timed_out(&err)));
            Err(err)
        }
    }
}

/// Whether `err` is a task's time-out: States.Timeout or States.HeartbeatTimeout.
fn timed_out(err: &StatesError) -> bool {
    err.is(ErrorName::Timeout) || err.is(ErrorName::HeartbeatTimeout)
}

/// The answer a task waits for, as the task's result or error; States.Timeout when it does not
/// come within `timeout` seconds.
async fn answer_within(
    timeout: u64,
    answer: impl std::future::Future<Output = Result<Value, FunctionError>>,
) -> Result<Value, StatesError> {
    match tokio::time::timeout(Duration::from_secs(timeout), answer).await {
        Err(_) => Err(StatesError::named(ErrorName::Timeout, "")),
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(StatesError::new(
            e.error_type.clone(),
            e.service_cause.clone().unwrap_or(e.error_message.clone()),
        )),
    }
}

/// An activity task: scheduled for the activity's workers, started when one takes it, ended by
/// its answer under TimeoutSeconds (from the schedule) and HeartbeatSeconds (from the start).
async fn activity(
    ctx: &StateCtx,
    resource: &str,
    input: Value,
    timeout: u64,
    heartbeat: Option<u64>,
) -> Result<Value, StatesError> {
    let token = ctx.context["Task"]["Token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let scheduled = std::sync::atomic::AtomicBool::new(false);
    let progress = |step: ActivityProgress<'_>| match step {
        ActivityProgress::Scheduled => {
            scheduled.store(true, std::sync::atomic::Ordering::Relaxed);
            ctx.execution.event(EventDetails::ActivityScheduled(
                ActivityScheduledEventDetails {
                    resource: resource.to_owned(),
                    input: input.clone(),
                    timeout_in_seconds: Some(timeout),
                    heartbeat_in_seconds: heartbeat,
                },
            ));
        }
        ActivityProgress::Started(worker) => {
            let worker_name = (!worker.is_empty()).then(|| worker.to_owned());
            ctx.execution
                .event(EventDetails::ActivityStarted(ActivityStartedEventDetails {
                    worker_name,
                }));
        }
    };
    let run = ctx.execution.invoker.run_activity(
        resource,
        &token,
        &input,
        heartbeat.map(Duration::from_secs),
        &progress,
    );
    let outcome = answer_within(timeout, run).await;
    match outcome {
        Ok(output) => {
            check_payload(&output, &ctx.state.name)?;
            ctx.execution
                .event(EventDetails::ActivitySucceeded(OutputEventDetails {
                    output: output.clone(),
                }));
            Ok(output)
        }
        Err(mut err) => {
            let timed_out = timed_out(&err);
            if timed_out {
                err.cause = None;
            }
            let details = ErrorEventDetails::from(&err);
            ctx.execution
                .event(if !scheduled.load(std::sync::atomic::Ordering::Relaxed) {
                    EventDetails::ActivityScheduleFailed(details)
                } else if timed_out {
                    EventDetails::ActivityTimedOut(details)
                } else {
                    EventDetails::ActivityFailed(details)
                });
            Err(err)
        }
    }
}

/// The function and payload a Lambda task invokes.
fn lambda_call(
    ctx: &StateCtx,
    kind: &Integration,
    parameters: Value,
) -> Result<(String, Value), StatesError> {
    match kind {
        Integration::Direct(arn) => Ok((arn.clone(), parameters)),
        Integration::Invoke => {
            let name = parameters
                .get("FunctionName")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ctx.fail(EvalError::runtime(
                        "The field 'FunctionName' is required for lambda:invoke",
                    ))
                })?;
            let payload = match parameters.get("Payload") {
                None | Some(Value::Null) => json!({}),
                // The API takes the payload as JSON text, so a string holding JSON is that JSON.
                Some(Value::String(s)) => {
                    serde_json::from_str(s.as_str()).unwrap_or_else(|_| Value::String(s.clone()))
                }
                Some(v) => v.clone(),
            };
            Ok((name.to_string(), payload))
        }
    }
}

/// Invokes the task's Lambda function under TimeoutSeconds, recording its events.
async fn invoke(
    ctx: &StateCtx,
    resource: &str,
    parameters: Value,
    timeout: u64,
    heartbeat: Option<u64>,
) -> Result<Value, StatesError> {
    let events = TaskEvents::of(resource);
    invoke_as(
        ctx, resource, &events, parameters, timeout, heartbeat, false,
    )
    .await
}

/// Invokes `resource` for the task whose events are `events`; a successful invocation is the
/// task's submission when `submits` (the callback pattern), else its success.
async fn invoke_as(
    ctx: &StateCtx,
    resource: &str,
    events: &TaskEvents,
    parameters: Value,
    timeout: u64,
    heartbeat: Option<u64>,
    submits: bool,
) -> Result<Value, StatesError> {
    let Some(kind) = integration(resource) else {
        return Err(ctx.fail(EvalError::runtime(format!(
            "The resource '{resource}' is not supported by sfn-local"
        ))));
    };
    // `LogType: Tail` asks Lambda for the end of the function's log, which the envelope carries.
    let tail =
        matches!(kind, Integration::Invoke) && parameters.get("LogType") == Some(&json!("Tail"));
    let scheduled = parameters.clone();
    let (function, payload) = lambda_call(ctx, &kind, parameters)?;
    let execution = &ctx.execution;
    let shown_timeout = (timeout != DEFAULT_TIMEOUT_SECONDS).then_some(timeout);
    execution.event(events.scheduled(scheduled, &execution.region, shown_timeout, heartbeat));
    execution.event(events.started());

    // Heartbeats concern activities and callback or .sync integrations; a request-response Lambda
    // invocation sends none, so only TimeoutSeconds bounds it. The field is still evaluated and checked.
    if heartbeat.is_some_and(|h| h >= timeout) {
        return Err(ctx.fail(EvalError::runtime(
            "HeartbeatSeconds must be smaller than TimeoutSeconds",
        )));
    }
    let invoked = tokio::time::timeout(
        Duration::from_secs(timeout),
        ctx.execution
            .invoker
            .invoke_logged(&function, payload, tail),
    )
    .await;
    let result = match invoked {
        Err(_) => {
            let err = StatesError {
                error: ErrorName::Timeout.as_str().to_string(),
                cause: None,
            };
            execution.event(events.failed(&err, true));
            return Err(err);
        }
        Ok(Err(e)) => {
            let err = function_failure(&e, &kind);
            execution.event(events.failed(&err, false));
            return Err(err);
        }
        Ok(Ok(invocation)) => match kind {
            Integration::Direct(_) => invocation.payload,
            Integration::Invoke => envelope(invocation, ctx.execution.clock.now()),
        },
    };
    check_payload(&result, &ctx.state.name)?;
    execution.event(events.succeeded(result.clone(), submits));
    Ok(result)
}

/// TimeoutSeconds and HeartbeatSeconds.
fn seconds_field(
    ctx: &StateCtx,
    vars: &Map<String, Value>,
    effective: &Value,
    field: &str,
) -> Result<Option<u64>, StatesError> {
    let Some(Setting { value, .. }) = ctx.setting(field, effective, vars)? else {
        return Ok(None);
    };
    match value.as_u64() {
        Some(n) if n > 0 => Ok(Some(n)),
        _ => Err(ctx.fail(EvalError::runtime(format!(
            "The {field} value must be a positive integer, but was: {value}"
        )))),
    }
}

fn function_failure(e: &FunctionError, kind: &Integration) -> StatesError {
    if let Some(cause) = &e.service_cause {
        return StatesError::new(e.error_type.clone(), cause.clone());
    }
    let cause = match (&e.raw_body, kind) {
        // The direct integration re-serialises the error body; lambda:invoke passes it through as sent.
        (Some(body), Integration::Direct(_)) => python_json(body),
        (Some(body), Integration::Invoke) => body.to_string(),
        (None, _) => e.error_message.clone(),
    };
    StatesError::new(e.error_type.clone(), cause)
}

/// The Invoke API response as the lambda:invoke integration returns it.
fn envelope(invocation: Invocation, now: chrono::DateTime<chrono::Utc>) -> Value {
    let payload = invocation.payload;
    let length = payload.to_string().len().to_string();
    let request_id = uuid::Uuid::new_v4().to_string();
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let trace = format!("Root=1-{}", uuid::Uuid::new_v4().simple());
    let mut envelope = json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": request_id,
                "Content-Length": [length],
                "Date": date,
                "X-Amzn-Trace-Id": trace,
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": length,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Trace-Id": trace
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200
    });
    if let Some(log) = invocation.log_result {
        envelope["LogResult"] = json!(log);
        let metadata = &mut envelope["SdkHttpMetadata"];
        metadata["AllHttpHeaders"]["X-Amz-Log-Result"] = json!([log]);
        metadata["HttpHeaders"]["X-Amz-Log-Result"] = json!(log);
    }
    envelope
}

/// JSON with `", "` and `": "` separators and ASCII escapes, as Python's json.dumps writes it.
pub(crate) fn python_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", python_string(k), python_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) => python_string(s),
        other => other.to_string(),
    }
}

fn python_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use super::*;
    use crate::definition::StateType;
    use crate::executor::ExecutionStatus;

    /// Answers `sqs:*` tasks itself: `Q` with its parameters, `Bad` with an error.
    struct Host;

    #[async_trait::async_trait]
    impl crate::invoker::LambdaInvoker for Host {
        async fn invoke(&self, _: &str, payload: Value) -> Result<Value, FunctionError> {
            Ok(payload)
        }

        async fn answer_task(
            &self,
            state: &str,
            resource: &str,
            parameters: &Value,
        ) -> Option<Result<Value, FunctionError>> {
            match (state, resource.contains(":sqs:")) {
                ("Bad", true) => Some(Err(FunctionError::unhandled("SQS.Nope", "refused"))),
                (_, true) => Some(Ok(json!({"sent": parameters}))),
                _ => None,
            }
        }
    }

    #[test]
    fn a_host_answers_the_tasks_it_runs_and_any_resource_parses_for_it() {
        let text = r#"{"StartAt":"Q","States":{
            "Q":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Parameters":{"m.$":"$.m"},"ResultPath":"$.q","Next":"L"},
            "L":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Next":"Bad"},
            "Bad":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}}"#;
        assert!(crate::Definition::parse(text).is_err());
        let definition = crate::Definition::parse_any_resource(text).expect("any resource");
        let executor = crate::Executor::new(
            definition,
            std::sync::Arc::new(Host),
            std::sync::Arc::new(crate::VirtualClock::default()),
        );
        let r = executor
            .execute_blocking(json!({"m": 1}))
            .expect("a runtime");
        assert_eq!(r.status, ExecutionStatus::Failed);
        assert_eq!(r.error.as_deref(), Some("SQS.Nope"));
        let exited: Vec<&Value> = r
            .history
            .iter()
            .filter_map(|e| match &e.details {
                EventDetails::StateExited(StateType::Task, d) => Some(&d.output),
                _ => None,
            })
            .collect();
        assert_eq!(exited, [&json!({"m": 1, "q": {"sent": {"m": 1}}}); 2]);
        let kinds: Vec<_> = r.history.iter().map(|e| e.event_type()).collect();
        assert!(kinds.contains(&"TaskFailed".into()));
        assert!(kinds.contains(&"LambdaFunctionSucceeded".into()));
    }

    #[test]
    fn python_json_spacing() {
        assert_eq!(
            python_json(&json!({"a": [1, "é"]})),
            r#"{"a": [1, "\u00e9"]}"#
        );
    }

    #[test]
    fn direct_invoke_with_result_path() {
        let r = execute(
            r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:echo",
                "Parameters":{"v.$":"$.x"},"ResultPath":"$.r","End":true}}}"#,
            json!({"x": 1}),
        );
        assert_eq!(r.output, Some(json!({"x": 1, "r": {"v": 1}})));
    }

    #[test]
    fn result_selector_shapes_the_result_before_result_path_and_output_path() {
        let r = execute(
            r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
                "InputPath":"$.in","Parameters":{"FunctionName":"echo","Payload.$":"$"},
                "ResultSelector":{"got.$":"$.Payload.v","status.$":"$.StatusCode","ctx.$":"$$.State.Name"},
                "ResultPath":"$.r","OutputPath":"$.r","End":true}}}"#,
            json!({"in": {"v": 7}, "other": true}),
        );
        assert_eq!(r.output, Some(json!({"got": 7, "status": 200, "ctx": "T"})));
    }

    /// Answers with a log tail when one is asked for.
    struct Logged;

    #[async_trait::async_trait]
    impl crate::invoker::LambdaInvoker for Logged {
        async fn invoke(&self, _name: &str, payload: Value) -> Result<Value, FunctionError> {
            Ok(payload)
        }

        async fn invoke_logged(
            &self,
            _name: &str,
            payload: Value,
            tail: bool,
        ) -> Result<Invocation, FunctionError> {
            let log_result = tail.then(|| "U1RBUlQ=".to_string());
            Ok(Invocation {
                payload,
                log_result,
            })
        }
    }

    #[test]
    fn log_type_tail_puts_the_log_in_the_envelope() {
        let def = |log_type: &str| {
            format!(
                r#"{{"StartAt":"T","States":{{"T":{{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
                "Parameters":{{"FunctionName":"f","Payload":{{}},"LogType":"{log_type}"}},"End":true}}}}}}"#
            )
        };
        let output = |text: String| {
            let definition =
                crate::definition::Definition::parse(&text).unwrap_or_else(|e| panic!("{e}"));
            crate::executor::Executor::new(
                definition,
                std::sync::Arc::new(Logged),
                std::sync::Arc::new(crate::clock::VirtualClock::default()),
            )
            .execute_blocking(json!({}))
            .unwrap_or_else(|e| panic!("{e}"))
            .output
            .unwrap_or_default()
        };
        let tail = output(def("Tail"));
        assert_eq!(tail["LogResult"], json!("U1RBUlQ="));
        let headers = &tail["SdkHttpMetadata"];
        assert_eq!(
            headers["AllHttpHeaders"]["X-Amz-Log-Result"],
            json!(["U1RBUlQ="])
        );
        assert_eq!(
            headers["HttpHeaders"]["X-Amz-Log-Result"],
            json!("U1RBUlQ=")
        );
        let none = output(def("None"));
        assert!(none.get("LogResult").is_none(), "{none}");
    }

    #[test]
    fn retry_then_catch() {
        let r = execute(
            r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:fail",
                "Retry":[{"ErrorEquals":["CustomError"],"MaxAttempts":2,"IntervalSeconds":10}],
                "Catch":[{"ErrorEquals":["States.ALL"],"Next":"H"}],"End":true},
                "H":{"Type":"Pass","End":true}}}"#,
            json!({}),
        );
        assert_eq!(r.status, ExecutionStatus::Succeeded);
        assert_eq!(
            r.output.as_ref().and_then(|o| o.get("Error")),
            Some(&json!("CustomError"))
        );
        // Two retries of 10 s and 20 s on the virtual clock; T entered once, retried twice, then H.
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 30);
        assert_eq!(r.transitions, 4);
    }
}
