//! States.Format, StringSplit and UUID.

use serde_json::Value;

use super::{arity, as_str};
use crate::error::EvalError;

pub fn format(args: &[Value]) -> Result<Value, EvalError> {
    let Some((template, rest)) = args.split_first() else {
        return Err(EvalError::intrinsic("States.Format needs a template"));
    };
    let template = as_str("States.Format", template)?;
    let mut values = rest.iter();
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let v = values.next().ok_or_else(|| {
                    EvalError::intrinsic("States.Format: more placeholders than arguments")
                })?;
                out.push_str(&java_text(v));
            }
            c => out.push(c),
        }
    }
    if values.next().is_some() {
        return Err(EvalError::intrinsic(
            "States.Format: more arguments than placeholders",
        ));
    }
    Ok(Value::String(out))
}

/// How the service (a Java program) prints a value into a string: maps as `{k=v, ...}`, lists as `[a, b]`.
fn java_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(java_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            let fields: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", java_text(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

pub fn split(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.StringSplit", args, 2, 2)?;
    let s = as_str("States.StringSplit", &args[0])?;
    let delimiters: Vec<char> = as_str("States.StringSplit", &args[1])?.chars().collect();
    Ok(Value::Array(
        s.split(|c| delimiters.contains(&c))
            .filter(|p| !p.is_empty())
            .map(|p| Value::String(p.to_string()))
            .collect(),
    ))
}

pub fn uuid(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.UUID", args, 0, 0)?;
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::evaluate_text;
    use serde_json::json;

    #[test]
    fn format_inserts_strings_raw_and_values_as_json() {
        assert_eq!(
            evaluate_text("States.Format('a={} b={}', 'x', $.n)", json!({"n": [1]})),
            Ok(json!("a=x b=[1]"))
        );
        assert_eq!(
            evaluate_text(
                "States.Format('{}', $.o)",
                json!({"o": {"a": 1, "b": [2, "c"]}})
            ),
            Ok(json!("{a=1, b=[2, c]}"))
        );
        assert_eq!(
            evaluate_text("States.Format('\\{}')", json!({})),
            Ok(json!("{}"))
        );
        assert!(evaluate_text("States.Format('{}')", json!({})).is_err());
    }

    #[test]
    fn split_on_any_delimiter() {
        assert_eq!(
            evaluate_text("States.StringSplit('1,2;3', ',;')", json!({})),
            Ok(json!(["1", "2", "3"]))
        );
    }

    #[test]
    fn uuid_is_v4() {
        let v = evaluate_text("States.UUID()", json!({})).ok();
        assert_eq!(v.and_then(|v| v.as_str().map(|s| s.len())), Some(36));
    }
}
