//! States.StringToJson, JsonToString and JsonMerge.

use serde_json::Value;

use super::{arity, as_str};
use crate::error::EvalError;

pub fn string_to_json(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.StringToJson", args, 1, 1)?;
    let s = as_str("States.StringToJson", &args[0])?;
    if s.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(s).map_err(|e| EvalError::intrinsic(format!("States.StringToJson: {e}")))
}

pub fn json_to_string(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.JsonToString", args, 1, 1)?;
    Ok(Value::String(args[0].to_string()))
}

pub fn merge(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.JsonMerge", args, 3, 3)?;
    let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
        return Err(EvalError::intrinsic(
            "States.JsonMerge: both inputs must be JSON objects",
        ));
    };
    if args[2] != Value::Bool(false) {
        return Err(EvalError::intrinsic(
            "States.JsonMerge: deep merging is not supported; pass false",
        ));
    }
    let mut out = a.clone();
    for (k, v) in b {
        out.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::super::tests::evaluate_text;
    use serde_json::json;

    #[test]
    fn json_family() {
        assert_eq!(
            evaluate_text("States.StringToJson('{\"a\":1}')", json!({})),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            evaluate_text("States.JsonToString($.x)", json!({"x": {"a": [1]}})),
            Ok(json!("{\"a\":[1]}"))
        );
        assert_eq!(
            evaluate_text(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})
            ),
            Ok(json!({"x": 1, "y": 2}))
        );
    }
}
