//! States.MathRandom and MathAdd.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{arity, as_int};
use crate::error::EvalError;

pub fn add(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.MathAdd", args, 2, 2)?;
    let a = as_int("States.MathAdd", &args[0])?;
    let b = as_int("States.MathAdd", &args[1])?;
    Ok(Value::from(a.saturating_add(b)))
}

pub fn random(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.MathRandom", args, 2, 3)?;
    let start = as_int("States.MathRandom", &args[0])?;
    let end = as_int("States.MathRandom", &args[1])?;
    if end <= start {
        return Err(EvalError::intrinsic(
            "States.MathRandom: the end must be greater than the start",
        ));
    }
    let seed = match args.get(2) {
        Some(v) => as_int("States.MathRandom", v)? as u64,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7),
    };
    // splitmix64: deterministic for a given seed, which is all the seeded form promises.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let span = (i128::from(end) - i128::from(start)) as u128;
    Ok(Value::from(
        (i128::from(start) + (u128::from(z) % span) as i128) as i64,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::evaluate_text;
    use serde_json::json;

    #[test]
    fn add_rounds_like_java() {
        assert_eq!(
            evaluate_text("States.MathAdd(-1.5, 0)", json!({})),
            Ok(json!(-1))
        );
        assert_eq!(
            evaluate_text("States.MathAdd(-1.51, 0)", json!({})),
            Ok(json!(-2))
        );
        assert_eq!(
            evaluate_text("States.MathAdd(-9, 3)", json!({})),
            Ok(json!(-6))
        );
    }

    #[test]
    fn random_is_in_range_and_seeded() {
        let a = evaluate_text("States.MathRandom(1, 10, 42)", json!({}));
        assert_eq!(a, evaluate_text("States.MathRandom(1, 10, 42)", json!({})));
        let n = a.ok().and_then(|v| v.as_i64()).unwrap_or(-1);
        assert!((1..10).contains(&n));
    }
}
