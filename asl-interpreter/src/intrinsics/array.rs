//! States.ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem, ArrayLength, ArrayUnique.

use serde_json::Value;

use super::{arity, as_array, as_int};
use crate::error::EvalError;

pub fn partition(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.ArrayPartition", args, 2, 2)?;
    let items = as_array("States.ArrayPartition", &args[0])?;
    let size = as_int("States.ArrayPartition", &args[1])?;
    if size <= 0 {
        return Err(EvalError::intrinsic(
            "States.ArrayPartition: the chunk size must be positive",
        ));
    }
    Ok(Value::Array(
        items
            .chunks(size as usize)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

pub fn contains(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.ArrayContains", args, 2, 2)?;
    let items = as_array("States.ArrayContains", &args[0])?;
    Ok(Value::Bool(
        items.iter().any(|v| crate::paths::json_eq(v, &args[1])),
    ))
}

pub fn range(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.ArrayRange", args, 3, 3)?;
    let start = as_int("States.ArrayRange", &args[0])?;
    let end = as_int("States.ArrayRange", &args[1])?;
    let step = as_int("States.ArrayRange", &args[2])?;
    if step == 0 {
        return Err(EvalError::intrinsic(
            "States.ArrayRange: the step must not be zero",
        ));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        out.push(Value::from(i));
        if out.len() > 1000 {
            return Err(EvalError::intrinsic(
                "States.ArrayRange: the result may hold at most 1000 items",
            ));
        }
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(Value::Array(out))
}

pub fn get_item(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.ArrayGetItem", args, 2, 2)?;
    let items = as_array("States.ArrayGetItem", &args[0])?;
    let idx = as_int("States.ArrayGetItem", &args[1])?;
    usize::try_from(idx)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| {
            EvalError::intrinsic(format!("States.ArrayGetItem: index {idx} out of bounds"))
        })
}

pub fn length(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.ArrayLength", args, 1, 1)?;
    Ok(Value::from(as_array("States.ArrayLength", &args[0])?.len()))
}

pub fn unique(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.ArrayUnique", args, 1, 1)?;
    let mut out: Vec<Value> = Vec::new();
    for v in as_array("States.ArrayUnique", &args[0])? {
        if !out.iter().any(|o| crate::paths::json_eq(o, v)) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::super::tests::evaluate_text;
    use serde_json::json;

    #[test]
    fn array_family() {
        assert_eq!(
            evaluate_text("States.ArrayPartition(States.Array(1,2,3), 2)", json!({})),
            Ok(json!([[1, 2], [3]]))
        );
        assert_eq!(
            evaluate_text("States.ArrayContains(States.Array(1,2), 2)", json!({})),
            Ok(json!(true))
        );
        assert_eq!(
            evaluate_text("States.ArrayRange(0, 9, 3)", json!({})),
            Ok(json!([0, 3, 6, 9]))
        );
        assert_eq!(
            evaluate_text("States.ArrayGetItem(States.Array(1,2), 1)", json!({})),
            Ok(json!(2))
        );
        assert_eq!(
            evaluate_text("States.ArrayUnique(States.Array(1,2,1))", json!({})),
            Ok(json!([1, 2]))
        );
        assert!(evaluate_text("States.ArrayGetItem(States.Array(1), 5)", json!({})).is_err());
    }
}
