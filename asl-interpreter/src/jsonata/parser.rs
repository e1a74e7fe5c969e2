//! Tokeniser and precedence-climbing parser for the JSONata subset.

use serde_json::Value;

use super::JsonataError;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// `$`: the context value.
    Context,
    Variable(String),
    Field(String),
    Path(Box<Expr>, Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Array(Vec<Expr>),
    Object(Vec<(Expr, Expr)>),
    Neg(Box<Expr>),
    Condition(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    Binary(String, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Name(String),
    Var(String),
    Op(String),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, JsonataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let rest: String = chars[i..].iter().collect();
            let end = rest
                .find("*/")
                .ok_or_else(|| JsonataError("S0106: Comment has no closing tag".into()))?;
            i += rest[..end + 2].chars().count();
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || chars[i] == 'e'
                    || chars[i] == 'E')
            {
                if chars[i] == '.' && chars.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            toks.push(Tok::Num(s.parse().map_err(|_| {
                JsonataError(format!("S0102: Number out of range: {s}"))
            })?));
        } else if c == '"' || c == '\'' {
            i += 1;
            let mut s = String::new();
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                    s.push(match chars[i] {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                } else {
                    s.push(chars[i]);
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err(JsonataError(
                    "S0101: String literal must be terminated by a matching quote".into(),
                ));
            }
            i += 1;
            toks.push(Tok::Str(s));
        } else if c == '$' || c.is_alphabetic() || c == '_' || c == '`' {
            if c == '`' {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                toks.push(Tok::Name(chars[start..i].iter().collect()));
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            match s.strip_prefix('$') {
                Some(name) => toks.push(Tok::Var(name.to_string())),
                None if s == "and" || s == "or" => toks.push(Tok::Op(s)),
                None => toks.push(Tok::Name(s)),
            }
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["!=", "<=", ">=", ".."].contains(&two.as_str()) {
                toks.push(Tok::Op(two));
                i += 2;
            } else {
                toks.push(Tok::Op(c.to_string()));
                i += 1;
            }
        }
    }
    Ok(toks)
}

pub fn parse(text: &str) -> Result<Expr, JsonataError> {
    let toks = tokenize(text)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr(0)?;
    if p.pos != p.toks.len() {
        return Err(JsonataError(format!(
            "S0201: Syntax error: {:?}",
            p.toks[p.pos]
        )));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn precedence(op: &str) -> Option<u8> {
    Some(match op {
        "?" => 10,
        "or" => 25,
        "and" => 30,
        "=" | "!=" | "<" | "<=" | ">" | ">=" => 40,
        "&" | "+" | "-" => 50,
        "*" | "/" | "%" => 60,
        "." => 75,
        "[" | "(" => 80,
        _ => return None,
    })
}

impl Parser {
    fn peek_op(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), JsonataError> {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(JsonataError(format!("S0202: Expected \"{op}\"")))
        }
    }

    fn list(&mut self, close: &str) -> Result<Vec<Expr>, JsonataError> {
        let mut items = Vec::new();
        if self.peek_op() == Some(close) {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.expr(0)?);
            if self.peek_op() == Some(",") {
                self.pos += 1;
                continue;
            }
            self.expect(close)?;
            return Ok(items);
        }
    }

    fn expr(&mut self, min: u8) -> Result<Expr, JsonataError> {
        let mut lhs = self.primary()?;
        while let Some(op) = self.peek_op().map(str::to_string) {
            let Some(prec) = precedence(&op) else { break };
            if prec <= min && !(op == "?" && min < 10) {
                break;
            }
            self.pos += 1;
            lhs = match op.as_str() {
                "." => Expr::Path(Box::new(lhs), Box::new(self.expr(prec)?)),
                "[" => {
                    let idx = self.expr(0)?;
                    self.expect("]")?;
                    Expr::Index(Box::new(lhs), Box::new(idx))
                }
                "(" => {
                    let args = self.list(")")?;
                    match lhs {
                        Expr::Variable(name) => Expr::Call(name, args),
                        _ => {
                            return Err(JsonataError(
                                "T1006: Attempted to invoke a non-function".into(),
                            ))
                        }
                    }
                }
                "?" => {
                    let then = self.expr(0)?;
                    let other = if self.peek_op() == Some(":") {
                        self.pos += 1;
                        Some(Box::new(self.expr(0)?))
                    } else {
                        None
                    };
                    Expr::Condition(Box::new(lhs), Box::new(then), other)
                }
                _ => Expr::Binary(op, Box::new(lhs), Box::new(self.expr(prec)?)),
            };
        }
        Ok(lhs)
    }

    fn primary(&mut self) -> Result<Expr, JsonataError> {
        let Some(tok) = self.toks.get(self.pos).cloned() else {
            return Err(JsonataError("S0207: Unexpected end of expression".into()));
        };
        self.pos += 1;
        Ok(match tok {
            Tok::Num(n) => Expr::Literal(super::number(n).unwrap_or(Value::Null)),
            Tok::Str(s) => Expr::Literal(Value::String(s)),
            Tok::Var(v) if v.is_empty() => Expr::Context,
            Tok::Var(v) => Expr::Variable(v),
            Tok::Name(n) => match n.as_str() {
                "true" => Expr::Literal(Value::Bool(true)),
                "false" => Expr::Literal(Value::Bool(false)),
                "null" => Expr::Literal(Value::Null),
                _ => Expr::Field(n),
            },
            Tok::Op(op) => match op.as_str() {
                "(" => {
                    let e = self.expr(0)?;
                    self.expect(")")?;
                    e
                }
                "[" => Expr::Array(self.list("]")?),
                "{" => {
                    let mut pairs = Vec::new();
                    if self.peek_op() == Some("}") {
                        self.pos += 1;
                    } else {
                        loop {
                            let k = self.expr(0)?;
                            self.expect(":")?;
                            let v = self.expr(0)?;
                            pairs.push((k, v));
                            if self.peek_op() == Some(",") {
                                self.pos += 1;
                                continue;
                            }
                            self.expect("}")?;
                            break;
                        }
                    }
                    Expr::Object(pairs)
                }
                "-" => Expr::Neg(Box::new(self.expr(70)?)),
                "*" => Expr::Field("*".into()),
                other => {
                    return Err(JsonataError(format!(
                        "S0211: The symbol {other} cannot be used as a unary operator"
                    )))
                }
            },
        })
    }
}
