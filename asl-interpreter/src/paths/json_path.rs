//! The JSONPath dialect of Step Functions (Jayway-like): `$.a.b`, `$['a']`, `[0]`, `[-1]`, `[*]`, slices,
//! `..` descent and simple `[?(@.x op v)]` filters, rooted at the input (`$`), the context object (`$$`)
//! or a variable (`$name`).

use serde_json::Value;

use crate::error::EvalError;

#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    Input,
    Context,
    Variable(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Descend(Box<Segment>),
    Filter(Filter),
    /// `.length()` as Jayway offers it.
    Length,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: Vec<Segment>,
    op: Option<(String, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    pub text: String,
    pub root: Root,
    segments: Vec<Segment>,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let trimmed = text.trim();
        let (root, rest) = if let Some(rest) = trimmed.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = trimmed.strip_prefix('$') {
            let name_len = rest.find(['.', '[']).unwrap_or(rest.len());
            if name_len > 0 {
                (
                    Root::Variable(rest[..name_len].to_string()),
                    &rest[name_len..],
                )
            } else {
                (Root::Input, rest)
            }
        } else {
            return Err(format!(
                "The value for the field must be a valid JSONPath: {text}"
            ));
        };
        let segments =
            parse_segments(rest).map_err(|e| format!("Invalid JSONPath '{text}': {e}"))?;
        Ok(JsonPath {
            text: trimmed.to_string(),
            root,
            segments,
        })
    }

    /// A definite path names at most one value; an indefinite one (wildcards, filters) yields a list.
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Key(_) | Segment::Index(_) | Segment::Length))
    }

    /// Evaluates against `root`; `None` when a definite path finds nothing.
    pub fn find(&self, root: &Value) -> Option<Value> {
        if self.is_definite() {
            let mut current = root.clone();
            for seg in &self.segments {
                current = match seg {
                    Segment::Key(k) => current.as_object()?.get(k)?.clone(),
                    Segment::Index(i) => {
                        let arr = current.as_array()?;
                        let idx = if *i < 0 { arr.len() as i64 + i } else { *i };
                        arr.get(usize::try_from(idx).ok()?)?.clone()
                    }
                    Segment::Length => Value::from(current.as_array()?.len()),
                    _ => return None,
                };
            }
            Some(current)
        } else {
            let mut nodes = vec![root.clone()];
            for seg in &self.segments {
                nodes = nodes.iter().flat_map(|n| apply(seg, n)).collect();
            }
            Some(Value::Array(nodes))
        }
    }

    /// The path in Jayway's bracket form, as AWS quotes it in "No results for path" causes.
    pub fn bracket_form(&self) -> String {
        let mut out = String::from("$");
        for seg in &self.segments {
            match seg {
                Segment::Key(k) => out.push_str(&format!("['{k}']")),
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
                Segment::Wildcard => out.push_str("[*]"),
                _ => {}
            }
        }
        out
    }

    /// Writes `value` at this path inside `target`, creating objects on the way (ResultPath semantics).
    pub fn set(&self, target: Value, value: Value) -> Result<Value, EvalError> {
        if self.root != Root::Input {
            return Err(EvalError::runtime(format!(
                "Invalid ResultPath '{}'",
                self.text
            )));
        }
        set_in(target, &self.segments, value, &self.text)
    }
}

fn set_in(
    target: Value,
    segments: &[Segment],
    value: Value,
    text: &str,
) -> Result<Value, EvalError> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(value);
    };
    match first {
        Segment::Key(k) => {
            let mut map = match target {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            let child = map.remove(k).unwrap_or(Value::Null);
            let child = set_in(child, rest, value, text)?;
            map.insert(k.clone(), child);
            Ok(Value::Object(map))
        }
        Segment::Index(i) => {
            let Value::Array(mut arr) = target else {
                return Err(EvalError::runtime(format!("Invalid path '{text}'")));
            };
            let idx = if *i < 0 { arr.len() as i64 + i } else { *i };
            match usize::try_from(idx).ok().filter(|i| *i < arr.len()) {
                Some(idx) => {
                    let child = std::mem::take(&mut arr[idx]);
                    arr[idx] = set_in(child, rest, value, text)?;
                    Ok(Value::Array(arr))
                }
                None => Err(EvalError::runtime(format!("Invalid path '{text}'"))),
            }
        }
        _ => Err(EvalError::runtime(format!("Invalid path '{text}'"))),
    }
}

fn apply(seg: &Segment, node: &Value) -> Vec<Value> {
    match seg {
        Segment::Key(k) => node
            .as_object()
            .and_then(|m| m.get(k))
            .cloned()
            .into_iter()
            .collect(),
        Segment::Index(i) => node
            .as_array()
            .and_then(|a| {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                usize::try_from(idx).ok().and_then(|i| a.get(i))
            })
            .cloned()
            .into_iter()
            .collect(),
        Segment::Wildcard => match node {
            Value::Array(a) => a.clone(),
            Value::Object(m) => m.values().cloned().collect(),
            _ => vec![],
        },
        Segment::Slice(start, end, step) => {
            let Some(a) = node.as_array() else {
                return vec![];
            };
            let len = a.len() as i64;
            let norm = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
            let s = start.map(norm).unwrap_or(0);
            let e = end.map(norm).unwrap_or(len);
            let step = step.unwrap_or(1).max(1) as usize;
            (s..e)
                .step_by(step)
                .filter_map(|i| a.get(i as usize).cloned())
                .collect()
        }
        Segment::Descend(inner) => {
            let mut out = Vec::new();
            descend(inner, node, &mut out);
            out
        }
        Segment::Filter(filter) => {
            let items: Vec<Value> = match node {
                Value::Array(a) => a.clone(),
                Value::Object(m) => m.values().cloned().collect(),
                _ => vec![],
            };
            items
                .into_iter()
                .filter(|item| filter_holds(filter, item))
                .collect()
        }
        Segment::Length => node
            .as_array()
            .map(|a| vec![Value::from(a.len())])
            .unwrap_or_default(),
    }
}

fn descend(inner: &Segment, node: &Value, out: &mut Vec<Value>) {
    out.extend(apply(inner, node));
    match node {
        Value::Array(a) => a.iter().for_each(|c| descend(inner, c, out)),
        Value::Object(m) => m.values().for_each(|c| descend(inner, c, out)),
        _ => {}
    }
}

fn filter_holds(filter: &Filter, item: &Value) -> bool {
    let mut nodes = vec![item.clone()];
    for seg in &filter.path {
        nodes = nodes.iter().flat_map(|n| apply(seg, n)).collect();
    }
    let Some(found) = nodes.first() else {
        return false;
    };
    let Some((op, rhs)) = &filter.op else {
        return true;
    };
    let ord = match (found, rhs) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op.as_str() {
        "==" => ord.map(|o| o.is_eq()).unwrap_or(found == rhs),
        "!=" => !ord.map(|o| o.is_eq()).unwrap_or(found == rhs),
        "<" => ord.is_some_and(|o| o.is_lt()),
        "<=" => ord.is_some_and(|o| o.is_le()),
        ">" => ord.is_some_and(|o| o.is_gt()),
        ">=" => ord.is_some_and(|o| o.is_ge()),
        _ => false,
    }
}

fn parse_segments(mut rest: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            let (seg, r2) = if r.starts_with('[') {
                parse_bracket(r)?
            } else {
                parse_name(r)?
            };
            segments.push(Segment::Descend(Box::new(seg)));
            rest = r2;
        } else if let Some(r) = rest.strip_prefix('.') {
            if let Some(r2) = r.strip_prefix("length()") {
                segments.push(Segment::Length);
                rest = r2;
                continue;
            }
            let (seg, r2) = parse_name(r)?;
            segments.push(seg);
            rest = r2;
        } else if rest.starts_with('[') {
            let (seg, r2) = parse_bracket(rest)?;
            segments.push(seg);
            rest = r2;
        } else {
            return Err(format!("unexpected '{rest}'"));
        }
    }
    Ok(segments)
}

fn parse_name(r: &str) -> Result<(Segment, &str), String> {
    let end = r.find(['.', '[']).unwrap_or(r.len());
    let name = &r[..end];
    if name.is_empty() {
        return Err("empty name".into());
    }
    let seg = if name == "*" {
        Segment::Wildcard
    } else {
        Segment::Key(name.to_string())
    };
    Ok((seg, &r[end..]))
}

fn parse_bracket(r: &str) -> Result<(Segment, &str), String> {
    let inner_start = &r[1..];
    if let Some(q) = inner_start
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
    {
        let body = &inner_start[1..];
        let close = body.find(q).ok_or("unterminated quote")?;
        let name = &body[..close];
        let after = body[close + 1..].strip_prefix(']').ok_or("missing ]")?;
        return Ok((Segment::Key(name.to_string()), after));
    }
    if let Some(f) = inner_start.strip_prefix("?(") {
        let close = f.find(")]").ok_or("unterminated filter")?;
        let filter = parse_filter(&f[..close])?;
        return Ok((Segment::Filter(filter), &f[close + 2..]));
    }
    let close = inner_start.find(']').ok_or("missing ]")?;
    let body = inner_start[..close].trim();
    let after = &inner_start[close + 1..];
    if body == "*" {
        return Ok((Segment::Wildcard, after));
    }
    if body.contains(':') {
        let parts: Vec<Option<i64>> = body.split(':').map(|p| p.trim().parse().ok()).collect();
        return Ok((
            Segment::Slice(
                parts[0],
                parts.get(1).copied().flatten(),
                parts.get(2).copied().flatten(),
            ),
            after,
        ));
    }
    let idx: i64 = body.parse().map_err(|_| format!("bad index '{body}'"))?;
    Ok((Segment::Index(idx), after))
}

fn parse_filter(text: &str) -> Result<Filter, String> {
    let text = text.trim();
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some(pos) = text.find(op) {
            let lhs = text[..pos].trim();
            let rhs = text[pos + op.len()..].trim();
            let path = parse_segments(lhs.strip_prefix('@').ok_or("filter must start with @")?)?;
            let rhs = rhs.replace('\'', "\"");
            let value: Value =
                serde_json::from_str(&rhs).map_err(|_| format!("bad filter value '{rhs}'"))?;
            return Ok(Filter {
                path,
                op: Some((op.to_string(), value)),
            });
        }
    }
    let path = parse_segments(text.strip_prefix('@').ok_or("filter must start with @")?)?;
    Ok(Filter { path, op: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(path: &str, v: Value) -> Option<Value> {
        JsonPath::parse(path).ok()?.find(&v)
    }

    #[test]
    fn definite_paths() {
        let v = json!({"a": {"b": [1, 2, 3]}, "x y": 1});
        assert_eq!(find("$.a.b[1]", v.clone()), Some(json!(2)));
        assert_eq!(find("$.a.b[-1]", v.clone()), Some(json!(3)));
        assert_eq!(find("$['x y']", v.clone()), Some(json!(1)));
        assert_eq!(find("$", v.clone()), Some(v.clone()));
        assert_eq!(find("$.nope", v), None);
    }

    #[test]
    fn indefinite_paths() {
        let v = json!({"users": [{"s": 0, "n": "a"}, {"s": 1, "n": "b"}]});
        assert_eq!(
            find("$.users[?(@.s == 0)]", v.clone()),
            Some(json!([{"s": 0, "n": "a"}]))
        );
        assert_eq!(find("$.users[*].n", v.clone()), Some(json!(["a", "b"])));
        assert_eq!(find("$..n", v.clone()), Some(json!(["a", "b"])));
        assert_eq!(find("$.users[0:1].n", v), Some(json!(["a"])));
    }

    #[test]
    fn roots() {
        assert_eq!(
            JsonPath::parse("$$.Map.Item").map(|p| p.root),
            Ok(Root::Context)
        );
        assert_eq!(
            JsonPath::parse("$var.x").map(|p| p.root),
            Ok(Root::Variable("var".into()))
        );
    }

    #[test]
    fn result_path_creates_objects() {
        let p = JsonPath::parse("$.a.b").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.set(json!({"x": 1}), json!(2)),
            Ok(json!({"x": 1, "a": {"b": 2}}))
        );
        assert_eq!(p.bracket_form(), "$['a']['b']");
    }
}
