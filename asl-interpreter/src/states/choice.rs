//! Choice: the first matching rule picks the next state; else Default; else States.NoChoiceMatched.

use serde_json::Value;

use crate::error::{ErrorName, EvalError, StatesError};
use crate::pipeline::{Next, Outcome, StateCtx};
use crate::query::truthy;

pub(super) fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let state = &ctx.state;
    let rules = state
        .field("Choices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let matched = if state.is_jsonata() {
        jsonata_match(ctx, &input, rules)?
    } else {
        jsonpath_match(ctx, &input, rules)?
    };
    if let Some(outcome) = matched {
        return Ok(outcome);
    }
    let Some(default) = state.field("Default").and_then(Value::as_str) else {
        return Err(no_match(ctx));
    };
    Ok(Outcome {
        next: Next::State(default.to_string()),
        ..ctx.finish(input, None)?
    })
}

/// The first rule whose Condition holds, with its own Output and Assign.
fn jsonata_match(
    ctx: &StateCtx,
    input: &Value,
    rules: &[Value],
) -> Result<Option<Outcome>, StatesError> {
    let vars = ctx.jsonata_vars(input, &[]);
    for (i, rule) in rules.iter().enumerate() {
        let condition = rule.get("Condition").cloned().unwrap_or(Value::Bool(false));
        let holds = ctx.jsonata(&condition, &vars, &format!("Choices[{i}]/Condition"))?;
        if !truthy(&holds) {
            continue;
        }
        let output = match rule.get("Output") {
            Some(t) => ctx.jsonata(t, &vars, "Output")?,
            None => input.clone(),
        };
        let assign = ctx.assign(rule.get("Assign"), input, Some(&vars))?;
        return Ok(Some(Outcome {
            output,
            next: next(rule),
            assign,
        }));
    }
    Ok(None)
}

/// The first rule that matches the effective input, with its own Assign and the state's OutputPath.
fn jsonpath_match(
    ctx: &StateCtx,
    input: &Value,
    rules: &[Value],
) -> Result<Option<Outcome>, StatesError> {
    let effective = ctx.input_path(input)?;
    let scope = ctx.scope(&effective);
    for rule in rules {
        if crate::choice::evaluate(rule, &scope).map_err(|e| ctx.fail(e))? {
            let assign = ctx.assign(rule.get("Assign"), &effective, None)?;
            let output = ctx.output_path(&effective)?;
            return Ok(Some(Outcome {
                output,
                next: next(rule),
                assign,
            }));
        }
    }
    Ok(None)
}

fn next(rule: &Value) -> Next {
    let next = rule.get("Next").and_then(Value::as_str).unwrap_or_default();
    Next::State(next.to_string())
}

fn no_match(ctx: &StateCtx) -> StatesError {
    let e = ctx.fail(EvalError::new(
        ErrorName::NoChoiceMatched,
        "No Matching Choice Rule",
    ));
    StatesError {
        error: e.error,
        cause: Some(format!(
            "No Matching Choice Rule in state '{}'",
            ctx.state.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use crate::executor::ExecutionStatus;
    use serde_json::json;

    const DEF: &str = r#"{"StartAt":"C","States":{
        "C":{"Type":"Choice","Choices":[{"Variable":"$.v","NumericGreaterThan":1,"Next":"Big"}],"Default":"Small"},
        "Big":{"Type":"Pass","Result":"big","End":true},
        "Small":{"Type":"Pass","Result":"small","End":true}}}"#;

    #[test]
    fn picks_rule_or_default() {
        assert_eq!(execute(DEF, json!({"v": 2})).output, Some(json!("big")));
        assert_eq!(execute(DEF, json!({"v": 0})).output, Some(json!("small")));
    }

    #[test]
    fn no_match_without_default() {
        let r = execute(
            r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.v","IsNull":true,"Next":"E"}]},
               "E":{"Type":"Succeed"}}}"#,
            json!({"v": 1}),
        );
        assert_eq!(
            (r.status, r.error.as_deref()),
            (ExecutionStatus::Failed, Some("States.NoChoiceMatched"))
        );
    }

    #[test]
    fn jsonata_condition() {
        let r = execute(
            r#"{"QueryLanguage":"JSONata","StartAt":"C","States":{
               "C":{"Type":"Choice","Choices":[{"Condition":"{% $states.input.t = 'x' %}","Next":"E"}],"Default":"F"},
               "E":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"No"}}}"#,
            json!({"t": "x"}),
        );
        assert_eq!(r.status, ExecutionStatus::Succeeded);
    }
}
