//! JSONata-mode fields: a value whose strings may hold `{% expression %}`, evaluated with `$states` and
//! the variables in scope.

use serde_json::{Map, Value};

use crate::error::EvalError;
use crate::jsonata;

/// The expression inside `{% ... %}`, if `s` is one.
pub fn expression(s: &str) -> Option<&str> {
    // Only a string that starts and ends with the delimiters is an expression; " {% x %} " is a literal.
    s.strip_prefix("{%")?.strip_suffix("%}").map(str::trim)
}

/// Evaluates `template`; `field` names the field in causes, nested keys joined with `/` as AWS does.
pub fn evaluate(
    template: &Value,
    vars: &Map<String, Value>,
    field: &str,
) -> Result<Value, EvalError> {
    match template {
        Value::String(s) => match expression(s) {
            Some(expr) => evaluate_expression(expr, vars, field),
            None => Ok(template.clone()),
        },
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), evaluate(v, vars, &format!("{field}/{k}"))?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, v) in items.iter().enumerate() {
                out.push(evaluate(v, vars, &format!("{field}[{i}]"))?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}

pub fn evaluate_expression(
    expr: &str,
    vars: &Map<String, Value>,
    field: &str,
) -> Result<Value, EvalError> {
    let threw = |e: jsonata::JsonataError| {
        EvalError::query(format!(
            "The JSONata expression '{expr}' specified for the field '{field}' threw an error during evaluation. {e}"
        ))
    };
    let parsed = jsonata::parse(expr).map_err(threw)?;
    match jsonata::evaluate(&parsed, vars).map_err(threw)? {
        Some(v) => Ok(v),
        None => Err(EvalError::query(format!(
            "The JSONata expression '{expr}' specified for the field '{field}' returned nothing (undefined)."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_nested_templates() {
        let mut vars = Map::new();
        vars.insert("states".into(), json!({"input": {"a": 2}}));
        let out = evaluate(
            &json!({"x": "{% $states.input.a * 2 %}", "y": "plain"}),
            &vars,
            "Output",
        );
        assert_eq!(out, Ok(json!({"x": 4, "y": "plain"})));
    }

    #[test]
    fn undefined_names_the_field() {
        let vars = Map::new();
        let err = evaluate(&json!({"result": "{% $doesNotExist %}"}), &vars, "Output").err();
        assert_eq!(
            err.map(|e| e.message),
            Some("The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined).".into())
        );
    }
}
