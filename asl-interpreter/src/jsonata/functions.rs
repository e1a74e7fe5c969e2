//! The JSONata function library as far as definitions use it, with AWS's Step Functions additions.

use serde_json::{Map, Value};

use super::{number, truthy, JsonataError};

fn num(v: &Option<Value>, f: &str) -> Result<f64, JsonataError> {
    v.as_ref()
        .and_then(|v| v.as_f64().filter(|_| v.is_number()))
        .ok_or_else(|| {
            JsonataError(format!(
                "T0410: Argument 1 of function \"{f}\" does not match function signature"
            ))
        })
}

fn to_array(v: Option<Value>) -> Vec<Value> {
    match v {
        None => vec![],
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
    }
}

fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn now(vars: &Map<String, Value>) -> chrono::DateTime<chrono::Utc> {
    vars.get(super::NOW_MILLIS)
        .and_then(Value::as_i64)
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_else(chrono::Utc::now)
}

pub fn call(
    name: &str,
    args: Vec<Option<Value>>,
    vars: &Map<String, Value>,
) -> Result<Option<Value>, JsonataError> {
    let arg = |i: usize| args.get(i).cloned().flatten();
    Ok(match name {
        "sum" => number(to_array(arg(0)).iter().filter_map(Value::as_f64).sum()),
        "count" => Some(Value::from(to_array(arg(0)).len())),
        "max" => to_array(arg(0))
            .iter()
            .filter_map(Value::as_f64)
            .reduce(f64::max)
            .and_then(number),
        "min" => to_array(arg(0))
            .iter()
            .filter_map(Value::as_f64)
            .reduce(f64::min)
            .and_then(number),
        "average" => {
            let xs: Vec<f64> = to_array(arg(0)).iter().filter_map(Value::as_f64).collect();
            if xs.is_empty() {
                None
            } else {
                number(xs.iter().sum::<f64>() / xs.len() as f64)
            }
        }
        "string" => arg(0).map(|v| Value::String(string_of(&v))),
        "number" => match arg(0) {
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(number)
                    .ok_or_else(|| {
                        JsonataError("D3030: Unable to cast value to a number".into())
                    })?,
            ),
            other => other,
        },
        "boolean" => arg(0).map(|v| Value::Bool(truthy(&v))),
        "not" => arg(0).map(|v| Value::Bool(!truthy(&v))),
        "exists" => Some(Value::Bool(arg(0).is_some())),
        "length" => arg(0).and_then(|v| v.as_str().map(|s| Value::from(s.chars().count()))),
        "uppercase" => arg(0).and_then(|v| v.as_str().map(|s| Value::String(s.to_uppercase()))),
        "lowercase" => arg(0).and_then(|v| v.as_str().map(|s| Value::String(s.to_lowercase()))),
        "join" => {
            let sep = arg(1).as_ref().map(string_of).unwrap_or_default();
            Some(Value::String(
                to_array(arg(0))
                    .iter()
                    .map(string_of)
                    .collect::<Vec<_>>()
                    .join(&sep),
            ))
        }
        "split" => {
            let s = arg(0).as_ref().map(string_of).unwrap_or_default();
            let sep = arg(1).as_ref().map(string_of).unwrap_or_default();
            Some(Value::Array(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect(),
            ))
        }
        "substring" => {
            let s: Vec<char> = arg(0)
                .as_ref()
                .map(string_of)
                .unwrap_or_default()
                .chars()
                .collect();
            let len = s.len() as i64;
            let start = num(&arg(1), name)? as i64;
            let start = if start < 0 {
                (len + start).max(0)
            } else {
                start.min(len)
            } as usize;
            let take = match arg(2) {
                Some(_) => num(&arg(2), name)?.max(0.0) as usize,
                None => s.len(),
            };
            Some(Value::String(s.iter().skip(start).take(take).collect()))
        }
        "substringBefore" | "substringAfter" => {
            let s = arg(0).as_ref().map(string_of).unwrap_or_default();
            let pat = arg(1).as_ref().map(string_of).unwrap_or_default();
            Some(Value::String(match s.find(&pat) {
                Some(i) if name == "substringBefore" => s[..i].to_string(),
                Some(i) => s[i + pat.len()..].to_string(),
                None => s,
            }))
        }
        "contains" => {
            let s = arg(0).as_ref().map(string_of).unwrap_or_default();
            let pat = arg(1).as_ref().map(string_of).unwrap_or_default();
            Some(Value::Bool(s.contains(&pat)))
        }
        "trim" => arg(0).map(|v| {
            Value::String(
                string_of(&v)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }),
        "replace" => {
            let s = arg(0).as_ref().map(string_of).unwrap_or_default();
            let pat = arg(1).as_ref().map(string_of).unwrap_or_default();
            let rep = arg(2).as_ref().map(string_of).unwrap_or_default();
            if pat.is_empty() {
                return Err(JsonataError(
                    "D3010: Second argument of replace function cannot be an empty string".into(),
                ));
            }
            Some(Value::String(s.replace(&pat, &rep)))
        }
        "type" => arg(0).map(|v| {
            Value::String(
                match v {
                    Value::Null => "null",
                    Value::Bool(_) => "boolean",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                }
                .into(),
            )
        }),
        "reverse" => arg(0).map(|v| {
            let mut a = to_array(Some(v));
            a.reverse();
            Value::Array(a)
        }),
        "distinct" => arg(0).map(|v| {
            let mut out: Vec<Value> = Vec::new();
            for item in to_array(Some(v)) {
                if !out.iter().any(|o| crate::paths::json_eq(o, &item)) {
                    out.push(item);
                }
            }
            Value::Array(out)
        }),
        "sort" => arg(0).map(|v| {
            let mut a = to_array(Some(v));
            a.sort_by(|x, y| match (x, y) {
                (Value::Number(p), Value::Number(q)) => p
                    .as_f64()
                    .partial_cmp(&q.as_f64())
                    .unwrap_or(std::cmp::Ordering::Equal),
                (Value::String(p), Value::String(q)) => p.cmp(q),
                _ => std::cmp::Ordering::Equal,
            });
            Value::Array(a)
        }),
        "lookup" => match (arg(0), arg(1)) {
            (Some(Value::Object(m)), Some(Value::String(k))) => m.get(&k).cloned(),
            _ => None,
        },
        "values" => arg(0).and_then(|v| {
            v.as_object()
                .map(|m| Value::Array(m.values().cloned().collect()))
        }),
        "power" => number(num(&arg(0), name)?.powf(num(&arg(1), name)?)),
        "sqrt" => number(num(&arg(0), name)?.sqrt()),
        "append" => {
            let mut a = to_array(arg(0));
            a.extend(to_array(arg(1)));
            Some(Value::Array(a))
        }
        "keys" => arg(0).and_then(|v| {
            v.as_object()
                .map(|m| Value::Array(m.keys().cloned().map(Value::String).collect()))
        }),
        "merge" => {
            let mut out = Map::new();
            for item in to_array(arg(0)) {
                if let Value::Object(m) = item {
                    out.extend(m);
                }
            }
            Some(Value::Object(out))
        }
        "floor" => number(num(&arg(0), name)?.floor()),
        "ceil" => number(num(&arg(0), name)?.ceil()),
        "round" => number(num(&arg(0), name)?.round()),
        "abs" => number(num(&arg(0), name)?.abs()),
        "now" => Some(Value::String(
            now(vars).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )),
        "millis" => Some(Value::from(now(vars).timestamp_millis())),
        // Step Functions' additions to the library.
        "parse" => {
            let s = arg(0).as_ref().map(string_of).unwrap_or_default();
            Some(
                serde_json::from_str(&s)
                    .map_err(|e| JsonataError(format!("D3140: Malformed JSON: {e}")))?,
            )
        }
        "partition" => {
            let items = to_array(arg(0));
            let size = num(&arg(1), name)?;
            if size < 1.0 {
                return Err(JsonataError(
                    "States.Runtime: the chunk size must be positive".into(),
                ));
            }
            Some(Value::Array(
                items
                    .chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        "range" => {
            let (start, end, step) = (
                num(&arg(0), name)?,
                num(&arg(1), name)?,
                num(&arg(2), name)?,
            );
            if step == 0.0 {
                return Err(JsonataError(
                    "States.Runtime: the step must not be zero".into(),
                ));
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0.0 && i <= end) || (step < 0.0 && i >= end) {
                out.extend(number(i));
                i += step;
            }
            // A one-item sequence is the item itself in JSONata.
            if out.len() == 1 {
                out.pop()
            } else {
                Some(Value::Array(out))
            }
        }
        "hash" => {
            let args: Vec<Value> = args
                .iter()
                .map(|a| a.clone().unwrap_or(Value::Null))
                .collect();
            let call = crate::intrinsics::Call {
                name: "States.Hash".into(),
                args: args
                    .into_iter()
                    .map(crate::intrinsics::Arg::Literal)
                    .collect(),
            };
            Some(
                crate::intrinsics::evaluate(&call, &|_| Ok(Value::Null))
                    .map_err(|e| JsonataError(e.message))?,
            )
        }
        "random" => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            number(f64::from(nanos % 1_000_000) / 1_000_000.0)
        }
        "uuid" => Some(Value::String(uuid::Uuid::new_v4().to_string())),
        _ => {
            return Err(JsonataError(
                "T1006: Attempted to invoke a non-function".into(),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call1(name: &str, args: Vec<Value>) -> Option<Value> {
        call(name, args.into_iter().map(Some).collect(), &Map::new())
            .ok()
            .flatten()
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            call1("substring", vec![json!("hello"), json!(1), json!(3)]),
            Some(json!("ell"))
        );
        assert_eq!(
            call1("substringAfter", vec![json!("a-b"), json!("-")]),
            Some(json!("b"))
        );
        assert_eq!(call1("trim", vec![json!("  a   b ")]), Some(json!("a b")));
        assert_eq!(
            call1("contains", vec![json!("abc"), json!("b")]),
            Some(json!(true))
        );
    }

    #[test]
    fn aws_additions() {
        assert_eq!(
            call1("partition", vec![json!([1, 2, 3]), json!(2)]),
            Some(json!([[1, 2], [3]]))
        );
        assert_eq!(
            call1("range", vec![json!(0), json!(4), json!(2)]),
            Some(json!([0, 2, 4]))
        );
        assert_eq!(
            call1("parse", vec![json!("{\"a\":1}")]),
            Some(json!({"a": 1}))
        );
        assert_eq!(
            call1("merge", vec![json!([{"a": 1}, {"b": 2}])]),
            Some(json!({"a": 1, "b": 2}))
        );
    }
}
