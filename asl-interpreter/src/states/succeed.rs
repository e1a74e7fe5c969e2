//! Succeed: ends the branch successfully with its (filtered) input.

use serde_json::Value;

use crate::error::StatesError;
use crate::pipeline::{Next, Outcome, StateCtx};

pub(super) fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let output = if ctx.state.is_jsonata() {
        match ctx.state.field("Output") {
            Some(template) => ctx.jsonata(template, &ctx.jsonata_vars(&input, &[]), "Output")?,
            None => input,
        }
    } else {
        let effective = ctx.input_path(&input)?;
        ctx.output_path(&effective)?
    };
    Ok(Outcome {
        output,
        next: Next::End,
        assign: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use crate::executor::ExecutionStatus;
    use serde_json::json;

    #[test]
    fn succeeds_with_output_path() {
        let r = execute(
            r#"{"StartAt":"S","States":{"S":{"Type":"Succeed","OutputPath":"$.a"}}}"#,
            json!({"a": 3}),
        );
        assert_eq!(
            (r.status, r.output),
            (ExecutionStatus::Succeeded, Some(json!(3)))
        );
    }
}
