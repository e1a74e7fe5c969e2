//! Intrinsic functions (`States.Format(...)` and friends) usable in JSONPath payload templates.
//! The parser lives here; each family of functions has its own module.

mod array;
mod encoding;
mod json;
mod math;
mod string;

use serde_json::Value;

use crate::error::EvalError;
use crate::paths::json_path::JsonPath;

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Literal(Value),
    Path(JsonPath),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

/// Whether a `.$` value is an intrinsic call rather than a path.
pub fn is_intrinsic(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

pub fn parse(text: &str) -> Result<Call, EvalError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let call = p.call()?;
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Err(EvalError::intrinsic(format!(
            "Unexpected text after intrinsic function: {text}"
        )));
    }
    Ok(call)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn call(&mut self) -> Result<Call, EvalError> {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '.') {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(EvalError::intrinsic(format!("Expected '(' after {name}")));
        }
        self.pos += 1;
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(')') {
                self.pos += 1;
                break;
            }
            args.push(self.arg()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    return Err(EvalError::intrinsic(format!(
                        "Malformed arguments to {name}"
                    )))
                }
            }
        }
        Ok(Call { name, args })
    }

    fn arg(&mut self) -> Result<Arg, EvalError> {
        match self.peek() {
            Some('\'') => self.string().map(|s| Arg::Literal(Value::String(s))),
            Some('$') => self.path(),
            Some(c) if c.is_ascii_digit() || c == '-' => self.number(),
            _ => {
                let rest: String = self.chars[self.pos..].iter().collect();
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if rest.starts_with(word) {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                Ok(Arg::Call(self.call()?))
            }
        }
    }

    /// A quoted string literal, from its opening quote.
    fn string(&mut self) -> Result<String, EvalError> {
        let unterminated = || EvalError::intrinsic("Unterminated string literal");
        self.pos += 1;
        let mut s = String::new();
        loop {
            let c = self.peek().ok_or_else(unterminated)?;
            self.pos += 1;
            match c {
                '\'' => return Ok(s),
                '\\' => {
                    match self.peek().ok_or_else(unterminated)? {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        // Braces stay escaped so that States.Format can tell them from placeholders.
                        c @ ('{' | '}') => {
                            s.push('\\');
                            s.push(c)
                        }
                        c => s.push(c),
                    }
                    self.pos += 1;
                }
                c => s.push(c),
            }
        }
    }

    /// A path argument: up to the comma or parenthesis that ends it, outside brackets and quotes.
    fn path(&mut self) -> Result<Arg, EvalError> {
        let start = self.pos;
        let mut depth = 0i32;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '[' | '(') => depth += 1,
                (None, ']') => depth -= 1,
                (None, ')') if depth == 0 => break,
                (None, ')') => depth -= 1,
                (None, ',') if depth == 0 => break,
                (None, c) if c.is_whitespace() && depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        JsonPath::parse(&text)
            .map(Arg::Path)
            .map_err(EvalError::intrinsic)
    }

    fn number(&mut self) -> Result<Arg, EvalError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        serde_json::from_str(&text)
            .map(Arg::Literal)
            .map_err(|_| EvalError::intrinsic(format!("Invalid number {text}")))
    }
}

/// Evaluates a parsed call; `resolve` turns a path argument into its value.
pub fn evaluate(
    call: &Call,
    resolve: &dyn Fn(&JsonPath) -> Result<Value, EvalError>,
) -> Result<Value, EvalError> {
    let args = call
        .args
        .iter()
        .map(|a| match a {
            Arg::Literal(v) => Ok(v.clone()),
            Arg::Path(p) => resolve(p),
            Arg::Call(c) => evaluate(c, resolve),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let name = call.name.as_str();
    match name {
        "States.Format" => string::format(&args),
        "States.StringSplit" => string::split(&args),
        "States.UUID" => string::uuid(&args),
        "States.StringToJson" => json::string_to_json(&args),
        "States.JsonToString" => json::json_to_string(&args),
        "States.JsonMerge" => json::merge(&args),
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => array::partition(&args),
        "States.ArrayContains" => array::contains(&args),
        "States.ArrayRange" => array::range(&args),
        "States.ArrayGetItem" => array::get_item(&args),
        "States.ArrayLength" => array::length(&args),
        "States.ArrayUnique" => array::unique(&args),
        "States.Base64Encode" => encoding::base64_encode(&args),
        "States.Base64Decode" => encoding::base64_decode(&args),
        "States.Hash" => encoding::hash(&args),
        "States.MathRandom" => math::random(&args),
        "States.MathAdd" => math::add(&args),
        other => Err(EvalError::intrinsic(format!(
            "Unknown intrinsic function: {other}"
        ))),
    }
}

/// Checks the argument count for `name`.
fn arity(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), EvalError> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            min.to_string()
        } else {
            format!("{min} to {max}")
        };
        return Err(EvalError::intrinsic(format!(
            "Invalid number of arguments for {name}: expected {expected}, got {}",
            args.len()
        )));
    }
    Ok(())
}

fn as_str<'a>(name: &str, v: &'a Value) -> Result<&'a str, EvalError> {
    v.as_str()
        .ok_or_else(|| EvalError::intrinsic(format!("{name}: expected a string argument, got {v}")))
}

fn as_array<'a>(name: &str, v: &'a Value) -> Result<&'a Vec<Value>, EvalError> {
    v.as_array()
        .ok_or_else(|| EvalError::intrinsic(format!("{name}: expected an array argument, got {v}")))
}

/// Intrinsics take integers; AWS accepts integral floats and rounds others like Java's Math.round.
fn as_int(name: &str, v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| (f + 0.5).floor() as i64))
            .ok_or_else(|| EvalError::intrinsic(format!("{name}: expected an integer, got {v}"))),
        _ => Err(EvalError::intrinsic(format!(
            "{name}: expected an integer, got {v}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn evaluate_text(text: &str, input: Value) -> Result<Value, EvalError> {
        let call = parse(text)?;
        super::evaluate(&call, &|p: &JsonPath| {
            p.find(&input).ok_or_else(|| EvalError::runtime("missing"))
        })
    }

    #[test]
    fn parses_nested_calls_and_literals() {
        let out = evaluate_text(
            "States.Array(1, 'a', true, null, States.ArrayLength($.xs))",
            json!({"xs": [1, 2]}),
        );
        assert_eq!(out, Ok(json!([1, "a", true, null, 2])));
    }

    #[test]
    fn escaped_quotes_in_literals() {
        assert_eq!(
            evaluate_text("States.Format('it\\'s {}', 'x')", json!({})),
            Ok(json!("it's x"))
        );
    }
}
