//! JSONata-mode fields: a value whose strings may hold `{% expression %}`, evaluated with `$states` and
//! the variables in scope. This is the interpreter's only door to the JSONata engine
//! (`jsonata-engine`): expressions are compiled once, when the definition is loaded, and evaluated
//! with bindings, the run's clock and AWS's added functions.

use std::collections::HashMap;

use jsonata_engine::{Expression, Options};
use serde_json::{Map, Value};

use crate::error::EvalError;
use crate::query_functions::AWS_FUNCTIONS;

/// The language of a state's paths and templates: JSONPath (the default) or JSONata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    Jsonata,
}

/// The variable holding the evaluation's current instant (milliseconds since the epoch) that
/// `$now()` and `$millis()` answer, set from the executor's clock so they follow a virtual clock.
/// No variable of a definition can have this name.
pub const NOW_MILLIS: &str = "\u{0}now";

/// The JSONata expressions of a definition, compiled at load, by their text.
#[derive(Debug, Default)]
pub struct Expressions(HashMap<String, Expression>);

impl Expressions {
    /// Compiles `expr` (the text inside `{% %}`) unless it already is, and keeps it.
    pub fn add(&mut self, expr: &str) -> Result<(), EvalError> {
        if !self.0.contains_key(expr) {
            self.0.insert(expr.to_string(), parse(expr)?);
        }
        Ok(())
    }

    /// The compiled form of `expr`; one the definition did not hold is compiled now.
    fn get(&self, expr: &str) -> Result<Expression, EvalError> {
        match self.0.get(expr) {
            Some(compiled) => Ok(compiled.clone()),
            None => parse(expr),
        }
    }
}

/// Compiles the text of an expression, with AWS's wording for a syntax error.
pub fn parse(expr: &str) -> Result<Expression, EvalError> {
    Expression::compile(expr).map_err(|e| {
        EvalError::query(format!(
            "The JSONata expression '{expr}' cannot be parsed. {e}"
        ))
    })
}

/// JSONata's truth of a value (`$boolean`): false for null, false, 0, "", empty arrays and objects,
/// and arrays of no true item.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(truthy),
        Value::Object(m) => !m.is_empty(),
    }
}

/// The expression inside `{% ... %}`, if `s` is one.
pub fn expression(s: &str) -> Option<&str> {
    // Only a string that starts and ends with the delimiters is an expression; " {% x %} " is a literal.
    s.strip_prefix("{%")?.strip_suffix("%}").map(str::trim)
}

/// Evaluates `template`; `field` names the field in causes, nested keys joined with `/` as AWS does.
pub fn evaluate(
    expressions: &Expressions,
    template: &Value,
    vars: &Map<String, Value>,
    field: &str,
) -> Result<Value, EvalError> {
    match template {
        Value::String(s) => match expression(s) {
            Some(expr) => evaluate_expression(expressions, expr, vars, field),
            None => Ok(template.clone()),
        },
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(
                    k.clone(),
                    evaluate(expressions, v, vars, &format!("{field}/{k}"))?,
                );
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, v) in items.iter().enumerate() {
                out.push(evaluate(expressions, v, vars, &format!("{field}[{i}]"))?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}

pub fn evaluate_expression(
    expressions: &Expressions,
    expr: &str,
    vars: &Map<String, Value>,
    field: &str,
) -> Result<Value, EvalError> {
    let threw = |e: jsonata_engine::Error| {
        EvalError::query(format!(
            "The JSONata expression '{expr}' specified for the field '{field}' threw an error during evaluation. {e}"
        ))
    };
    let parsed = expressions.get(expr)?;
    let options = Options {
        functions: AWS_FUNCTIONS,
        now_millis: vars.get(NOW_MILLIS).and_then(Value::as_i64),
        ..Options::default()
    };
    // Expressions reach the state's data through `$states` and variables; the context `$` is null.
    let evaluated = parsed.evaluate_with(Some(&Value::Null), vars, &options);
    match evaluated.map_err(threw)? {
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
            &Expressions::default(),
            &json!({"x": "{% $states.input.a * 2 %}", "y": "plain"}),
            &vars,
            "Output",
        );
        assert_eq!(out, Ok(json!({"x": 4, "y": "plain"})));
    }

    #[test]
    fn undefined_names_the_field() {
        let vars = Map::new();
        let err = evaluate(
            &Expressions::default(),
            &json!({"result": "{% $doesNotExist %}"}),
            &vars,
            "Output",
        )
        .err();
        assert_eq!(
            err.map(|e| e.message),
            Some("The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined).".into())
        );
    }
}
