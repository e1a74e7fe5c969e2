//! Input and output processing of JSONPath states: InputPath, Parameters, ResultSelector, ResultPath,
//! OutputPath, and the payload templates with `.$` keys that Parameters, ResultSelector, ItemSelector and
//! Assign share.

pub mod json_path;

use serde_json::{Map, Value};

use crate::error::{ErrorName, EvalError};
use crate::intrinsics;
use json_path::{JsonPath, Root};

/// What a path or intrinsic can read: the effective input, the context object and the variables in scope.
pub struct Scope<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub vars: &'a Map<String, Value>,
}

impl Scope<'_> {
    /// Resolves a path for a `.$` field; `field` names the field in the error AWS reports.
    pub fn resolve(&self, path: &JsonPath, field: &str) -> Result<Value, EvalError> {
        if let Some(error) = path.evaluation_error() {
            return Err(EvalError::runtime(error));
        }
        let (root, what) = match &path.root {
            Root::Input => (self.input, "input"),
            Root::Context => (self.context, "context object"),
            Root::Variable(name) => match self.vars.get(name) {
                Some(v) => (v, "variable"),
                None => {
                    return Err(EvalError::runtime(format!(
                        "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                        path.text,
                        compact(self.input)
                    )))
                }
            },
        };
        path.find(root).ok_or_else(|| {
            let _ = what;
            EvalError::runtime(format!(
                "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                path.text,
                compact(root)
            ))
        })
    }

    /// Evaluates a `.$` value: an intrinsic call or a path.
    pub fn dynamic(&self, text: &str, field: &str) -> Result<Value, EvalError> {
        if intrinsics::is_intrinsic(text) {
            let call = intrinsics::parse(text)?;
            intrinsics::evaluate(&call, &|p: &JsonPath| self.resolve(p, field))
        } else {
            let path = JsonPath::parse(text).map_err(EvalError::runtime)?;
            self.resolve(&path, field)
        }
    }

    /// Expands a payload template (Parameters, ResultSelector, ItemSelector, Assign).
    pub fn template(&self, template: &Value) -> Result<Value, EvalError> {
        match template {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, value) in map {
                    if let Some(name) = key.strip_suffix(".$") {
                        let text = value.as_str().ok_or_else(|| {
                            EvalError::runtime(format!(
                                "The value of the field '{key}' must be a string"
                            ))
                        })?;
                        out.insert(name.to_string(), self.dynamic(text, key)?);
                    } else {
                        out.insert(key.clone(), self.template(value)?);
                    }
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|v| self.template(v))
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(other.clone()),
        }
    }
}

/// InputPath and OutputPath: `None` in the definition keeps the value, JSON `null` yields `{}`.
pub fn select(path: Option<&Value>, value: &Value, scope_vars: &Scope) -> Result<Value, EvalError> {
    match path {
        None => Ok(value.clone()),
        Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(text)) => {
            let path = JsonPath::parse(text).map_err(EvalError::runtime)?;
            if let Some(error) = path.evaluation_error() {
                return Err(EvalError::runtime(error));
            }
            let root = match &path.root {
                Root::Input => value,
                Root::Context => scope_vars.context,
                Root::Variable(name) => scope_vars.vars.get(name).unwrap_or(&Value::Null),
            };
            path.find(root).ok_or_else(|| {
                EvalError::runtime(format!(
                    "Invalid path '{}' : No results for path: {}",
                    path.text,
                    path.bracket_form()
                ))
            })
        }
        Some(other) => Err(EvalError::runtime(format!("Invalid path {other}"))),
    }
}

/// ResultPath: where the result goes in the state input; `null` discards the result.
pub fn merge_result(
    result_path: Option<&Value>,
    input: Value,
    result: Value,
) -> Result<Value, EvalError> {
    match result_path {
        None => Ok(result),
        Some(Value::Null) => Ok(input),
        Some(Value::String(text)) => {
            let path = JsonPath::parse(text).map_err(EvalError::runtime)?;
            path.set(input, result)
                .map_err(|e| EvalError::new(ErrorName::ResultPathMatchFailure, e.message))
        }
        Some(other) => Err(EvalError::runtime(format!("Invalid ResultPath {other}"))),
    }
}

/// JSON equality with numbers compared by value (1 == 1.0).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// JSON text without spaces, as AWS quotes inputs in its causes.
pub fn compact(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_resolves_dynamic_keys() {
        let input = json!({"a": 1});
        let ctx = json!({"State": {"Name": "S"}});
        let vars = Map::new();
        let scope = Scope {
            input: &input,
            context: &ctx,
            vars: &vars,
        };
        let out = scope.template(&json!({"x.$": "$.a", "n": {"s.$": "$$.State.Name"}, "l": [1]}));
        assert_eq!(out, Ok(json!({"x": 1, "n": {"s": "S"}, "l": [1]})));
        assert!(scope.template(&json!({"x.$": "$.missing"})).is_err());
    }

    #[test]
    fn input_and_result_paths() {
        let vars = Map::new();
        let ctx = json!({});
        let input = json!({"a": {"b": 1}});
        let scope = Scope {
            input: &input,
            context: &ctx,
            vars: &vars,
        };
        assert_eq!(
            select(Some(&json!("$.a")), &input, &scope),
            Ok(json!({"b": 1}))
        );
        assert_eq!(select(Some(&Value::Null), &input, &scope), Ok(json!({})));
        assert!(select(Some(&json!("$.x")), &input, &scope).is_err());
        assert_eq!(
            merge_result(Some(&json!("$.r")), json!({}), json!(2)),
            Ok(json!({"r": 2}))
        );
        assert_eq!(
            merge_result(Some(&Value::Null), json!({"k": 1}), json!(2)),
            Ok(json!({"k": 1}))
        );
    }
}
