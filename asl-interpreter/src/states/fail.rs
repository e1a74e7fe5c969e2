//! Fail: ends the execution with an error and cause (literal, from paths, or JSONata).

use serde_json::Value;

use crate::error::{EvalError, StatesError};
use crate::executor::StateCtx;
use crate::paths::json_path::JsonPath;

pub(super) fn execute(ctx: &StateCtx, input: Value) -> StatesError {
    match evaluate(ctx, &input) {
        Ok(e) => e,
        Err(e) => e,
    }
}

fn evaluate(ctx: &StateCtx, input: &Value) -> Result<StatesError, StatesError> {
    let state = &ctx.state;
    let text = |v: Value| match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let (error, cause) = if state.is_jsonata() {
        let vars = ctx.jsonata_vars(input, &[]);
        let error = state
            .field("Error")
            .map(|t| ctx.jsonata(t, &vars, "Error"))
            .transpose()?;
        let cause = state
            .field("Cause")
            .map(|t| ctx.jsonata(t, &vars, "Cause"))
            .transpose()?;
        (error.map(text), cause.map(text))
    } else {
        let from_path = |field: &str| -> Result<Option<String>, StatesError> {
            let Some(p) = state.field(field).and_then(Value::as_str) else {
                return Ok(None);
            };
            let scope = ctx.scope(input);
            let value = if crate::intrinsics::is_intrinsic(p) {
                scope.dynamic(p, field)
            } else {
                let path = JsonPath::parse(p)
                    .map_err(EvalError::runtime)
                    .map_err(|e| ctx.fail(e))?;
                scope.resolve(&path, field)
            }
            .map_err(|e| ctx.fail(e))?;
            Ok(Some(text(value)))
        };
        let error = match from_path("ErrorPath")? {
            Some(e) => Some(e),
            None => state
                .field("Error")
                .and_then(Value::as_str)
                .map(String::from),
        };
        let cause = match from_path("CausePath")? {
            Some(c) => Some(c),
            None => state
                .field("Cause")
                .and_then(Value::as_str)
                .map(String::from),
        };
        (error, cause)
    };
    Ok(StatesError {
        error: error.unwrap_or_default(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use crate::executor::ExecutionStatus;
    use serde_json::json;

    #[test]
    fn error_and_cause_from_paths() {
        let r = execute(
            r#"{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"$.c"}}}"#,
            json!({"e": "E", "c": "C"}),
        );
        assert_eq!(
            (r.status, r.error, r.cause),
            (ExecutionStatus::Failed, Some("E".into()), Some("C".into()))
        );
    }

    #[test]
    fn empty_fail_has_no_error() {
        let r = execute(
            r#"{"StartAt":"F","States":{"F":{"Type":"Fail"}}}"#,
            json!({}),
        );
        assert_eq!((r.error, r.cause), (None, None));
    }
}
