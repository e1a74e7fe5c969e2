//! Choice rules of JSONPath states: the boolean combinators (And, Or, Not) and the dispatch to the
//! comparison operators in `operators`.

pub mod operators;

use serde_json::Value;

use crate::error::EvalError;
use crate::paths::json_path::JsonPath;
use crate::paths::Scope;

/// Evaluates one choice rule (top-level or nested) against the state input.
pub fn evaluate(rule: &Value, scope: &Scope) -> Result<bool, EvalError> {
    let Some(obj) = rule.as_object() else {
        return Err(EvalError::runtime("A choice rule must be an object"));
    };
    if let Some(Value::Array(rules)) = obj.get("And") {
        for r in rules {
            if !evaluate(r, scope)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(Value::Array(rules)) = obj.get("Or") {
        for r in rules {
            if evaluate(r, scope)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(inner) = obj.get("Not") {
        return Ok(!evaluate(inner, scope)?);
    }
    let variable = obj
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or_else(|| EvalError::runtime("A choice rule needs a Variable"))?;
    let path = JsonPath::parse(variable).map_err(EvalError::runtime)?;
    let (op, operand) = obj
        .iter()
        .find(|(k, _)| operators::is_operator(k))
        .ok_or_else(|| EvalError::runtime("A choice rule needs a comparison operator"))?;
    let value = match scope.resolve(&path, "Variable") {
        Ok(v) => Some(v),
        Err(e) if op == "IsPresent" => {
            let _ = e;
            None
        }
        Err(e) => return Err(e),
    };
    if op == "IsPresent" {
        return Ok(value.is_some() == (operand == &Value::Bool(true)));
    }
    let value = value.unwrap_or(Value::Null);
    let (base, operand) = match op.strip_suffix("Path") {
        Some(base) if op != "IsPresentPath" => {
            let text = operand
                .as_str()
                .ok_or_else(|| EvalError::runtime(format!("{op} must be a path")))?;
            let other_path = JsonPath::parse(text).map_err(EvalError::runtime)?;
            (base, scope.resolve(&other_path, op)?)
        }
        _ => (op.as_str(), operand.clone()),
    };
    Ok(operators::compare(base, &value, &operand))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn check(rule: Value, input: Value) -> Result<bool, EvalError> {
        let vars = Map::new();
        let ctx = json!({});
        evaluate(
            &rule,
            &Scope {
                input: &input,
                context: &ctx,
                vars: &vars,
            },
        )
    }

    #[test]
    fn combinators() {
        let input = json!({"a": 1, "b": "x"});
        let rule = json!({"And": [
            {"Variable": "$.a", "NumericEquals": 1},
            {"Not": {"Variable": "$.b", "StringEquals": "y"}},
            {"Or": [{"Variable": "$.a", "NumericGreaterThan": 5}, {"Variable": "$.b", "IsString": true}]}
        ]});
        assert_eq!(check(rule, input), Ok(true));
    }

    #[test]
    fn is_present_and_missing_variables() {
        assert_eq!(
            check(json!({"Variable": "$.x", "IsPresent": false}), json!({})),
            Ok(true)
        );
        assert!(check(json!({"Variable": "$.x", "IsNull": true}), json!({})).is_err());
    }

    #[test]
    fn path_operands() {
        let input = json!({"a": 2, "b": 2});
        assert_eq!(
            check(
                json!({"Variable": "$.a", "NumericEqualsPath": "$.b"}),
                input
            ),
            Ok(true)
        );
    }
}
