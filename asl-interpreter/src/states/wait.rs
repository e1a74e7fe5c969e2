//! Wait: sleeps on the executor's clock for Seconds, until Timestamp, or their Path/JSONata forms.

use std::time::Duration;

use serde_json::{Map, Value};

use super::setting::{plain, Setting, Source};
use crate::choice::operators::timestamp;
use crate::error::{EvalError, StatesError};
use crate::pipeline::{Outcome, StateCtx};

enum Until {
    Seconds(u64),
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
}

pub(super) async fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let until = if ctx.state.is_jsonata() {
        until(ctx, &input, &ctx.jsonata_vars(&input, &[]))?
    } else {
        until(ctx, &ctx.input_path(&input)?, &Map::new())?
    };
    let outcome = ctx.finish(input, None)?;
    let duration = match until {
        Until::Seconds(s) => Duration::from_secs(s),
        Until::Timestamp(t) => t
            .with_timezone(&chrono::Utc)
            .signed_duration_since(ctx.execution.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    };
    ctx.execution.clock.sleep(duration).await;
    Ok(outcome)
}

/// Seconds or SecondsPath, else Timestamp or TimestampPath: the definition gives one of them.
fn until(ctx: &StateCtx, input: &Value, vars: &Map<String, Value>) -> Result<Until, StatesError> {
    if let Some(seconds) = ctx.setting("Seconds", input, vars)? {
        return until_seconds(ctx, seconds);
    }
    if let Some(timestamp) = ctx.setting("Timestamp", input, vars)? {
        return until_timestamp(ctx, timestamp);
    }
    Ok(Until::Seconds(0))
}

fn until_seconds(ctx: &StateCtx, Setting { value, source }: Setting) -> Result<Until, StatesError> {
    let problem = match (value.as_u64(), value.as_i64()) {
        (Some(s), _) => return Ok(Until::Seconds(s)),
        (None, Some(_)) => "references a negative value",
        (None, None) => "cannot be parsed as a long value",
    };
    let error = match source {
        Source::Path(path) => EvalError::runtime(format!(
            "The SecondsPath parameter {problem}: {path} == {}",
            plain(&value)
        )),
        Source::Field if ctx.state.is_jsonata() => EvalError::query(format!(
            "The Seconds field must be a positive integer, but was: {value}"
        )),
        Source::Field => EvalError::runtime("Seconds must be a positive integer"),
    };
    Err(ctx.fail(error))
}

fn until_timestamp(
    ctx: &StateCtx,
    Setting { value, source }: Setting,
) -> Result<Until, StatesError> {
    if let Some(t) = value.as_str().and_then(timestamp) {
        return Ok(Until::Timestamp(t));
    }
    let error = match source {
        Source::Path(path) => EvalError::runtime(format!(
            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {path} == {}",
            plain(&value)
        )),
        Source::Field if ctx.state.is_jsonata() => EvalError::query(format!(
            "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {}",
            plain(&value)
        )),
        Source::Field => EvalError::runtime("Timestamp is not a valid ISO-8601 date-time"),
    };
    Err(ctx.fail(error))
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
            crate::limits::MAX_EXECUTION_SECONDS as i64
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
