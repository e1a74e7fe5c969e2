//! Choice rules of JSONPath states: the shape AWS requires of them, the boolean combinators (And, Or,
//! Not) and the dispatch to the comparison operators in `operators`.

pub mod operators;

use serde_json::Value;

use crate::error::EvalError;
use crate::paths::json_path::JsonPath;
use crate::paths::Scope;

/// A choice rule AWS refuses when the state machine is created: the field, as
/// `Choices[0].And[1].Variable`, and why.
#[derive(Debug, PartialEq)]
pub struct InvalidRule {
    pub field: String,
    pub message: String,
}

fn invalid(field: String, message: impl Into<String>) -> InvalidRule {
    InvalidRule {
        field,
        message: message.into(),
    }
}

/// Checks the shape of a top-level rule (named `field`) and of the rules nested in it: one
/// comparison operator with its Variable, or one of And, Or, Not. Its Next is the caller's concern.
pub fn check_rule(rule: &Value, field: &str) -> Result<(), InvalidRule> {
    let Some(obj) = rule.as_object() else {
        return Err(invalid(field.to_string(), "must be an object"));
    };
    let found: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| matches!(*k, "And" | "Or" | "Not") || operators::is_operator(k))
        .collect();
    let op = match found[..] {
        [op] => op,
        [] => {
            return Err(invalid(
                field.to_string(),
                "needs a comparison operator, or And, Or or Not",
            ))
        }
        [first, second, ..] => {
            return Err(invalid(
                format!("{field}.{second}"),
                format!("cannot be combined with {first}: a rule has one operator"),
            ))
        }
    };
    let operand = obj.get(op).unwrap_or(&Value::Null);
    match op {
        "And" | "Or" => {
            let rules = operand
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    invalid(
                        format!("{field}.{op}"),
                        "must be a non-empty array of rules",
                    )
                })?;
            for (i, r) in rules.iter().enumerate() {
                check_nested(r, &format!("{field}.{op}[{i}]"))?;
            }
            Ok(())
        }
        "Not" => check_nested(operand, &format!("{field}.Not")),
        _ if !obj.get("Variable").is_some_and(Value::is_string) => Err(invalid(
            format!("{field}.Variable"),
            format!("is required with {op} and must be a string"),
        )),
        _ => Ok(()),
    }
}

/// Only a top-level rule chooses the next state.
fn check_nested(rule: &Value, field: &str) -> Result<(), InvalidRule> {
    if rule.get("Next").is_some() {
        return Err(invalid(
            format!("{field}.Next"),
            "is only allowed in a top-level rule",
        ));
    }
    check_rule(rule, field)
}

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

    fn refusal(rule: Value) -> Option<InvalidRule> {
        check_rule(&rule, "Choices[0]").err()
    }

    #[test]
    fn a_rule_has_exactly_one_operator() {
        let two = refusal(json!({"Variable": "$.a", "IsNull": true, "IsString": true}));
        assert_eq!(
            two.map(|e| e.field),
            Some("Choices[0].IsString".to_string())
        );
        let none = refusal(json!({"Variable": "$.a"}));
        assert_eq!(none.map(|e| e.field), Some("Choices[0]".to_string()));
        let mixed = refusal(
            json!({"Variable": "$.a", "IsNull": true, "Not": {"Variable": "$.a", "IsNull": true}}),
        );
        assert!(mixed.is_some());
    }

    #[test]
    fn a_comparison_needs_a_variable() {
        let e = refusal(json!({"NumericEquals": 1}));
        assert_eq!(e.map(|e| e.field), Some("Choices[0].Variable".to_string()));
        let nested =
            refusal(json!({"And": [{"Variable": "$.a", "IsNull": true}, {"IsNull": true}]}));
        assert_eq!(
            nested.map(|e| e.field),
            Some("Choices[0].And[1].Variable".to_string())
        );
    }

    #[test]
    fn nested_rules_have_no_next() {
        let e = refusal(json!({"Not": {"Variable": "$.a", "IsNull": true, "Next": "X"}}));
        assert_eq!(e.map(|e| e.field), Some("Choices[0].Not.Next".to_string()));
    }

    #[test]
    fn and_or_hold_rules() {
        assert!(refusal(json!({"And": []})).is_some());
        assert!(refusal(json!({"Or": {"Variable": "$.a", "IsNull": true}})).is_some());
        let fine = json!({"And": [
            {"Variable": "$.a", "NumericEquals": 1},
            {"Not": {"Variable": "$.b", "StringEquals": "y"}},
            {"Or": [{"Variable": "$.a", "NumericGreaterThanPath": "$.b"}]}
        ], "Comment": "fine"});
        assert_eq!(refusal(fine), None);
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
