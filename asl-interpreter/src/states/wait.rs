//! Wait: sleeps on the executor's clock for Seconds, until Timestamp, or their Path/JSONata forms.

use std::time::Duration;

use serde_json::Value;

use crate::choice::operators::timestamp;
use crate::error::{ErrorName, EvalError, StatesError};
use crate::executor::{Outcome, StateCtx};
use crate::paths::json_path::JsonPath;

enum Until {
    Seconds(u64),
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
}

pub(super) async fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let state = &ctx.state;
    let (until, output, assign) = if state.is_jsonata() {
        let vars = ctx.jsonata_vars(&input, &[]);
        let until = if let Some(t) = state.field("Seconds") {
            match ctx.jsonata(t, &vars, "Seconds")? {
                Value::Number(n) if n.as_u64().is_some() => Until::Seconds(n.as_u64().unwrap_or(0)),
                other => {
                    return Err(ctx.fail(EvalError::query(format!(
                        "The Seconds field must be a positive integer, but was: {other}"
                    ))))
                }
            }
        } else if let Some(t) = state.field("Timestamp") {
            let v = ctx.jsonata(t, &vars, "Timestamp")?;
            let s = v.as_str().unwrap_or_default();
            Until::Timestamp(timestamp(s).ok_or_else(|| {
                ctx.fail(EvalError::query(format!(
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {}",
                    v.as_str().map(String::from).unwrap_or_else(|| v.to_string())
                )))
            })?)
        } else {
            Until::Seconds(0)
        };
        let output = super::jsonata_output(ctx, &vars, input.clone())?;
        (
            until,
            output,
            ctx.assign(state.field("Assign"), &input, Some(&vars))?,
        )
    } else {
        let effective = ctx.input_path(&input)?;
        let until = jsonpath_until(ctx, &effective)?;
        let assign = ctx.assign(state.field("Assign"), &effective, None)?;
        (until, ctx.output_path(&effective)?, assign)
    };
    let duration = match until {
        Until::Seconds(s) => Duration::from_secs(s),
        Until::Timestamp(t) => t
            .with_timezone(&chrono::Utc)
            .signed_duration_since(ctx.execution.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    };
    ctx.execution.clock.sleep(duration).await;
    Ok(Outcome::follow(state, output, assign))
}

fn jsonpath_until(ctx: &StateCtx, effective: &Value) -> Result<Until, StatesError> {
    let state = &ctx.state;
    if let Some(s) = state.field("Seconds") {
        return s
            .as_u64()
            .map(Until::Seconds)
            .ok_or_else(|| ctx.fail(EvalError::runtime("Seconds must be a positive integer")));
    }
    if let Some(t) = state.field("Timestamp").and_then(Value::as_str) {
        return timestamp(t).map(Until::Timestamp).ok_or_else(|| {
            ctx.fail(EvalError::runtime(
                "Timestamp is not a valid ISO-8601 date-time",
            ))
        });
    }
    let resolve = |field: &str| -> Result<Option<(String, Value)>, StatesError> {
        let Some(p) = state.field(field).and_then(Value::as_str) else {
            return Ok(None);
        };
        let path = JsonPath::parse(p).map_err(|e| ctx.fail(EvalError::runtime(e)))?;
        let v = ctx
            .scope(effective)
            .resolve(&path, field)
            .map_err(|e| ctx.fail(e))?;
        Ok(Some((p.to_string(), v)))
    };
    if let Some((path, v)) = resolve("SecondsPath")? {
        let problem = match (v.as_u64(), v.as_i64()) {
            (Some(s), _) => return Ok(Until::Seconds(s)),
            (None, Some(_)) => "references a negative value",
            (None, None) => "cannot be parsed as a long value",
        };
        return Err(ctx.fail(EvalError::new(
            ErrorName::Runtime,
            format!(
                "The SecondsPath parameter {problem}: {path} == {}",
                plain(&v)
            ),
        )));
    }
    if let Some((path, v)) = resolve("TimestampPath")? {
        return match v.as_str().and_then(timestamp) {
            Some(t) => Ok(Until::Timestamp(t)),
            None => Err(ctx.fail(EvalError::runtime(format!(
                "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {path} == {}",
                plain(&v)
            )))),
        };
    }
    Ok(Until::Seconds(0))
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use crate::executor::ExecutionStatus;
    use serde_json::json;

    #[test]
    fn long_waits_elapse_on_the_virtual_clock() {
        let r = execute(
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":86400,"End":true}}}"#,
            json!({}),
        );
        assert_eq!(r.status, ExecutionStatus::Succeeded);
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 86400);
    }

    #[test]
    fn a_negative_seconds_path_names_the_path_and_value() {
        let r = execute(
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#,
            json!({"s": -1}),
        );
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
        assert_eq!(
            r.cause.as_deref(),
            Some(
                "An error occurred while executing the state 'W' (entered at the event id #2). \
                 The SecondsPath parameter references a negative value: $.s == -1"
            )
        );
    }

    #[test]
    fn far_timestamps_and_long_waits_end_with_the_execution_limit() {
        let r = execute(
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"9999-12-31T23:59:59Z","End":true}}}"#,
            json!({}),
        );
        assert_eq!(r.status, ExecutionStatus::TimedOut);
        assert_eq!(
            (r.stopped_at - r.started_at).num_seconds(),
            crate::executor::MAX_EXECUTION_SECONDS as i64
        );
    }

    #[test]
    fn seconds_path_must_be_an_integer() {
        let r = execute(
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#,
            json!({"s": 1.5}),
        );
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
    }
}
