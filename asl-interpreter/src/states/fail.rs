//! Fail: ends the execution with an error and cause (literal, from paths, or JSONata).

use serde_json::Value;

use super::setting::{plain, Setting, Source};
use crate::error::StatesError;
use crate::pipeline::StateCtx;

pub(super) fn execute(ctx: &StateCtx, input: Value) -> StatesError {
    error_and_cause(ctx, &input).unwrap_or_else(|e| e)
}

fn error_and_cause(ctx: &StateCtx, input: &Value) -> Result<StatesError, StatesError> {
    let vars = ctx.jsonata_vars(input, &[]);
    let text = |setting: Option<Setting>| {
        let Setting { value, source } = setting?;
        // A JSONPath state's literal Error or Cause counts only when it is a string.
        let literal = source == Source::Field && !ctx.state.is_jsonata();
        (value.is_string() || !literal).then(|| plain(&value))
    };
    let error = text(ctx.setting("Error", input, &vars)?);
    let cause = text(ctx.setting("Cause", input, &vars)?);
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
