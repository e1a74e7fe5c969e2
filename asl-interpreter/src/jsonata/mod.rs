//! The subset of JSONata that Step Functions definitions use: paths over `$states` and variables,
//! literals, array and object constructors, arithmetic, comparison, boolean and string concatenation,
//! the conditional operator and the common function library plus AWS's additions ($partition, $range,
//! $hash, $random, $uuid, $parse).

mod functions;
mod parser;

use serde_json::{Map, Value};

pub use parser::Expr;

/// An evaluation failure, with JSONata's error code as AWS quotes it (`T1006: ...`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct JsonataError(pub String);

/// The variable holding the evaluation's current instant (milliseconds since the epoch) that
/// `$now()` and `$millis()` answer, set from the executor's clock so they follow a virtual clock.
/// No variable of a definition can have this name.
pub const NOW_MILLIS: &str = "\u{0}now";

pub fn parse(text: &str) -> Result<Expr, JsonataError> {
    parser::parse(text)
}

/// Evaluates `expr` with the variables in scope (`states` among them); `None` is JSONata's undefined.
pub fn evaluate(expr: &Expr, vars: &Map<String, Value>) -> Result<Option<Value>, JsonataError> {
    eval(expr, &Value::Null, vars)
}

fn eval(
    expr: &Expr,
    ctx: &Value,
    vars: &Map<String, Value>,
) -> Result<Option<Value>, JsonataError> {
    Ok(match expr {
        Expr::Literal(v) => Some(v.clone()),
        Expr::Context => Some(ctx.clone()),
        Expr::Variable(name) => vars.get(name).cloned(),
        Expr::Field(name) => field(ctx, name),
        Expr::Path(base, step) => {
            let Some(base) = eval(base, ctx, vars)? else {
                return Ok(None);
            };
            match base {
                Value::Array(items) => {
                    let mut out = Vec::new();
                    for item in items {
                        match eval(step, &item, vars)? {
                            Some(Value::Array(inner)) => out.extend(inner),
                            Some(v) => out.push(v),
                            None => {}
                        }
                    }
                    singleton(out)
                }
                other => eval(step, &other, vars)?,
            }
        }
        Expr::Index(base, index) => {
            let Some(base) = eval(base, ctx, vars)? else {
                return Ok(None);
            };
            let items = match base {
                Value::Array(items) => items,
                other => vec![other],
            };
            match eval(index, ctx, vars)? {
                Some(Value::Number(n)) => {
                    let i = n.as_f64().unwrap_or(0.0).floor() as i64;
                    let i = if i < 0 { items.len() as i64 + i } else { i };
                    usize::try_from(i).ok().and_then(|i| items.get(i)).cloned()
                }
                _ => {
                    let mut out = Vec::new();
                    for item in items {
                        if eval(index, &item, vars)?.is_some_and(|v| truthy(&v)) {
                            out.push(item);
                        }
                    }
                    singleton(out)
                }
            }
        }
        Expr::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match eval(item, ctx, vars)? {
                    Some(Value::Array(inner)) if !matches!(item, Expr::Array(_)) => {
                        out.extend(inner)
                    }
                    Some(v) => out.push(v),
                    None => {}
                }
            }
            Some(Value::Array(out))
        }
        Expr::Object(pairs) => {
            let mut out = Map::new();
            for (k, v) in pairs {
                let key = match eval(k, ctx, vars)? {
                    Some(Value::String(s)) => s,
                    _ => {
                        return Err(JsonataError(
                            "T1003: Key in object structure must evaluate to a string".into(),
                        ))
                    }
                };
                if let Some(v) = eval(v, ctx, vars)? {
                    out.insert(key, v);
                }
            }
            Some(Value::Object(out))
        }
        Expr::Neg(inner) => match eval(inner, ctx, vars)? {
            Some(Value::Number(n)) => number(-n.as_f64().unwrap_or(0.0)),
            None => None,
            Some(_) => {
                return Err(JsonataError(
                    "D1002: Cannot negate a non-numeric value".into(),
                ))
            }
        },
        Expr::Condition(c, then, other) => {
            if eval(c, ctx, vars)?.is_some_and(|v| truthy(&v)) {
                eval(then, ctx, vars)?
            } else if let Some(other) = other {
                eval(other, ctx, vars)?
            } else {
                None
            }
        }
        Expr::Binary(op, lhs, rhs) => binary(op, lhs, rhs, ctx, vars)?,
        Expr::Call(name, args) => {
            let mut values = Vec::new();
            for a in args {
                values.push(eval(a, ctx, vars)?);
            }
            functions::call(name, values, vars)?
        }
    })
}

fn binary(
    op: &str,
    lhs: &Expr,
    rhs: &Expr,
    ctx: &Value,
    vars: &Map<String, Value>,
) -> Result<Option<Value>, JsonataError> {
    if op == "and" {
        let l = eval(lhs, ctx, vars)?.is_some_and(|v| truthy(&v));
        return Ok(Some(Value::Bool(
            l && eval(rhs, ctx, vars)?.is_some_and(|v| truthy(&v)),
        )));
    }
    if op == "or" {
        let l = eval(lhs, ctx, vars)?.is_some_and(|v| truthy(&v));
        return Ok(Some(Value::Bool(
            l || eval(rhs, ctx, vars)?.is_some_and(|v| truthy(&v)),
        )));
    }
    let l = eval(lhs, ctx, vars)?;
    let r = eval(rhs, ctx, vars)?;
    match op {
        "&" => {
            let s = |v: Option<Value>| match v {
                None => String::new(),
                Some(Value::String(s)) => s,
                Some(v) => v.to_string(),
            };
            Ok(Some(Value::String(s(l) + &s(r))))
        }
        "=" | "!=" => {
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(Some(Value::Bool(false)));
            };
            let eq = crate::paths::json_eq(&l, &r);
            Ok(Some(Value::Bool(if op == "=" { eq } else { !eq })))
        }
        "<" | "<=" | ">" | ">=" => {
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(None);
            };
            let ord = match (&l, &r) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => return Err(JsonataError("T2010: The expressions on either side of operator must be of the same data type".into())),
            };
            let Some(ord) = ord else {
                return Ok(Some(Value::Bool(false)));
            };
            Ok(Some(Value::Bool(match op {
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            })))
        }
        _ => {
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(None);
            };
            let (Some(a), Some(b)) = (
                l.as_f64().filter(|_| l.is_number()),
                r.as_f64().filter(|_| r.is_number()),
            ) else {
                return Err(JsonataError(format!(
                    "T2001: The left side of the \"{op}\" operator must evaluate to a number"
                )));
            };
            Ok(number(match op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "/" => a / b,
                _ => a % b,
            }))
        }
    }
}

fn field(ctx: &Value, name: &str) -> Option<Value> {
    match ctx {
        Value::Object(m) => m.get(name).cloned(),
        Value::Array(items) => singleton(items.iter().filter_map(|i| field(i, name)).collect()),
        _ => None,
    }
}

/// JSONata collapses a one-item result sequence to the item and an empty one to undefined.
fn singleton(mut items: Vec<Value>) -> Option<Value> {
    match items.len() {
        0 => None,
        1 => items.pop(),
        _ => Some(Value::Array(items)),
    }
}

pub(crate) fn number(f: f64) -> Option<Value> {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(Value::from(f as i64))
    } else {
        serde_json::Number::from_f64(f).map(Value::Number)
    }
}

pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(truthy),
        Value::Object(m) => !m.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(text: &str, states: Value) -> Result<Option<Value>, JsonataError> {
        let mut vars = Map::new();
        vars.insert("states".into(), states);
        vars.insert("k".into(), json!(10));
        evaluate(&parse(text)?, &vars)
    }

    #[test]
    fn paths_and_arithmetic() {
        let s = json!({"input": {"a": [1, 2, 3], "t": "Public"}});
        assert_eq!(
            run("$sum($states.input.a) + $k", s.clone()),
            Ok(Some(json!(16)))
        );
        assert_eq!(
            run("$states.input.t = 'Public'", s.clone()),
            Ok(Some(json!(true)))
        );
        assert_eq!(run("$states.input.a[1]", s.clone()), Ok(Some(json!(2))));
        assert_eq!(run("$states.input.nope", s.clone()), Ok(None));
        assert_eq!(
            run("{'x': [1, 2], \"y\": 1 > 2 ? 'a' : 'b'}", s),
            Ok(Some(json!({"x": [1, 2], "y": "b"})))
        );
    }

    #[test]
    fn unknown_function_is_t1006() {
        let err = run("$nope(1)", json!({})).err().map(|e| e.0);
        assert_eq!(
            err.as_deref(),
            Some("T1006: Attempted to invoke a non-function")
        );
    }
}
