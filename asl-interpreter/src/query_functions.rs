//! The functions Step Functions adds to JSONata's library: `$partition`, `$range`, `$hash`,
//! `$random`, `$uuid` and `$parse`.

use jsonata_engine::{Error, Function};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// AWS's additions, for [`jsonata_engine::Options::functions`].
pub static AWS_FUNCTIONS: &[Function] = &[
    Function {
        name: "partition",
        signature: "<an:a>",
        call: partition,
    },
    Function {
        name: "range",
        signature: "<nnn:a>",
        call: range,
    },
    Function {
        name: "hash",
        signature: "<ss:s>",
        call: hash,
    },
    Function {
        name: "random",
        signature: "<x?:n>",
        call: random,
    },
    Function {
        name: "uuid",
        signature: "<:s>",
        call: uuid,
    },
    Function {
        name: "parse",
        signature: "<s:x>",
        call: parse,
    },
];

fn runtime(message: &str) -> Error {
    Error::new("States.Runtime", message)
}

fn arg(args: &[Option<Value>], i: usize) -> Option<&Value> {
    args.get(i).and_then(Option::as_ref)
}

fn number_arg(args: &[Option<Value>], i: usize) -> Result<f64, Error> {
    arg(args, i)
        .and_then(Value::as_f64)
        .ok_or_else(|| runtime("the argument must be a number"))
}

/// A whole `f` as an integer JSON number, otherwise a float.
fn number(f: f64) -> Option<Value> {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(Value::from(f as i64))
    } else {
        serde_json::Number::from_f64(f).map(Value::Number)
    }
}

/// `$partition(array, size)`: the array in chunks of `size`, the last one shorter.
fn partition(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let items = match arg(args, 0) {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
        None => return Ok(None),
    };
    let size = number_arg(args, 1)?;
    if size < 1.0 || size.fract() != 0.0 {
        return Err(runtime("the chunk size must be a positive integer"));
    }
    let chunks = items
        .chunks(size as usize)
        .map(|c| Value::Array(c.to_vec()));
    Ok(Some(Value::Array(chunks.collect())))
}

/// `$range(start, end, step)`: the numbers from `start` to `end` inclusive, `step` apart.
fn range(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let (start, end, step) = (
        number_arg(args, 0)?,
        number_arg(args, 1)?,
        number_arg(args, 2)?,
    );
    if step == 0.0 {
        return Err(runtime("the step must not be zero"));
    }
    let count = ((end - start) / step).floor();
    if count > 1000.0 {
        return Err(runtime("the range holds more than 1000 items"));
    }
    let mut out: Vec<Value> = (0..=count.max(-1.0) as i64)
        .filter_map(|i| number(start + i as f64 * step))
        .collect();
    // A one-item sequence is the item itself in JSONata.
    Ok(Some(if out.len() == 1 {
        out.remove(0)
    } else {
        Value::Array(out)
    }))
}

/// `$hash(text, algorithm)`, as `States.Hash` computes it.
fn hash(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let literal = |i| crate::intrinsics::Arg::Literal(arg(args, i).cloned().unwrap_or(Value::Null));
    let call = crate::intrinsics::Call {
        name: "States.Hash".into(),
        args: vec![literal(0), literal(1)],
    };
    crate::intrinsics::evaluate(&call, &|_| Ok(Value::Null))
        .map(Some)
        .map_err(|e| runtime(&e.message))
}

/// `$random([seed])`: a number from 0 up to 1; the same seed answers the same number.
fn random(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let bits = match arg(args, 0) {
        Some(seed) => {
            let digest = Sha256::digest(seed.to_string().as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            u64::from_be_bytes(first)
        }
        None => (uuid::Uuid::new_v4().as_u128() >> 64) as u64,
    };
    // The top 53 bits, the precision of a double.
    Ok(number((bits >> 11) as f64 / (1u64 << 53) as f64))
}

/// `$uuid()`: a random (version 4) UUID.
fn uuid(_: &[Option<Value>]) -> Result<Option<Value>, Error> {
    Ok(Some(Value::String(uuid::Uuid::new_v4().to_string())))
}

/// `$parse(text)`: the JSON value `text` holds.
fn parse(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let Some(text) = arg(args, 0).and_then(Value::as_str) else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| Error::new("D3140", format!("Malformed JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonata_engine::{Expression, Options};
    use serde_json::{json, Map};

    fn eval(text: &str) -> Result<Option<Value>, Error> {
        let options = Options {
            functions: AWS_FUNCTIONS,
            ..Options::default()
        };
        Expression::compile(text)?.evaluate_with(None, &Map::new(), &options)
    }

    #[test]
    fn partition_range_and_parse() {
        assert_eq!(
            eval("$partition([1, 2, 3], 2)"),
            Ok(Some(json!([[1, 2], [3]])))
        );
        assert_eq!(eval("$range(0, 9, 3)"), Ok(Some(json!([0, 3, 6, 9]))));
        assert_eq!(eval("$range(5, 1, -2)"), Ok(Some(json!([5, 3, 1]))));
        assert_eq!(eval("$parse('{\"a\": [1, 2]}').a[1]"), Ok(Some(json!(2))));
        assert_eq!(eval("$parse('{').code").ok(), None);
    }

    #[test]
    fn hash_random_and_uuid() {
        assert_eq!(
            eval("$hash('input data', 'SHA-1')"),
            Ok(Some(json!("aaff4a450a104cd177d28d18d74485e8cae074b7")))
        );
        assert_eq!(eval("$random(7) = $random(7)"), Ok(Some(json!(true))));
        assert_eq!(eval("$random(7) = $random(8)"), Ok(Some(json!(false))));
        assert_eq!(
            eval("$random() >= 0 and $random() < 1"),
            Ok(Some(json!(true)))
        );
        assert_eq!(eval("$length($uuid())"), Ok(Some(json!(36))));
        assert_eq!(eval("$uuid() = $uuid()"), Ok(Some(json!(false))));
    }

    #[test]
    fn a_wrong_argument_fails_the_signature() {
        assert_eq!(
            eval("$range('a', 2, 1)").map_err(|e| e.code),
            Err("T0410".into())
        );
    }
}
