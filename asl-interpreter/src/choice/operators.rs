//! The comparison operators of choice rules, by family: string, numeric, boolean, timestamp and type tests.
//! A comparison whose operands have the wrong type is false, as AWS evaluates it.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

pub fn is_operator(key: &str) -> bool {
    let base = key.strip_suffix("Path").unwrap_or(key);
    OPERATORS.contains(&base)
}

/// Applies operator `op` (without its `Path` suffix) to the variable's value and the operand.
pub fn compare(op: &str, value: &Value, operand: &Value) -> bool {
    let ordering_holds = |ord: Option<Ordering>, family: &str| {
        let Some(ord) = ord else { return false };
        match &op[family.len()..] {
            "Equals" => ord.is_eq(),
            "LessThan" => ord.is_lt(),
            "GreaterThan" => ord.is_gt(),
            "LessThanEquals" => ord.is_le(),
            "GreaterThanEquals" => ord.is_ge(),
            _ => false,
        }
    };
    if op == "StringMatches" {
        return match (value, operand) {
            (Value::String(s), Value::String(p)) => string_matches(s, p),
            _ => false,
        };
    }
    if op.starts_with("String") {
        return match (value, operand) {
            (Value::String(a), Value::String(b)) => ordering_holds(Some(a.cmp(b)), "String"),
            _ => false,
        };
    }
    if op.starts_with("Numeric") {
        return match (value.as_f64(), operand.as_f64()) {
            (Some(a), Some(b)) if value.is_number() => ordering_holds(a.partial_cmp(&b), "Numeric"),
            _ => false,
        };
    }
    if op == "BooleanEquals" {
        return match (value, operand) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            _ => false,
        };
    }
    if op.starts_with("Timestamp") {
        return match (
            value.as_str().and_then(timestamp),
            operand.as_str().and_then(timestamp),
        ) {
            (Some(a), Some(b)) => ordering_holds(Some(a.cmp(&b)), "Timestamp"),
            _ => false,
        };
    }
    let expected = operand == &Value::Bool(true);
    let actual = match op {
        "IsNull" => value.is_null(),
        "IsNumeric" => value.is_number(),
        "IsString" => value.is_string(),
        "IsBoolean" => value.is_boolean(),
        "IsTimestamp" => value.as_str().and_then(timestamp).is_some(),
        _ => return false,
    };
    actual == expected
}

/// ISO-8601 extended offset date-time as AWS accepts it: a `T` separator and an offset or `Z`.
pub fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// `*` matches any run of characters; `\*` and `\\` are literal.
fn string_matches(s: &str, pattern: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Lit(char),
        Star,
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Lit(chars.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Lit(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Classic wildcard matching with backtracking to the last star.
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(j) {
            Some(Tok::Lit(c)) if *c == s[i] => {
                i += 1;
                j += 1;
            }
            Some(Tok::Star) => {
                star = Some((j, i));
                j += 1;
            }
            _ => match star {
                Some((sj, si)) => {
                    j = sj + 1;
                    i = si + 1;
                    star = Some((sj, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[j..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_family() {
        assert!(compare("StringEquals", &json!("a"), &json!("a")));
        assert!(compare("StringLessThan", &json!("a"), &json!("b")));
        assert!(!compare("StringEquals", &json!(1), &json!("1")));
        assert!(compare(
            "StringMatches",
            &json!("log-2024.txt"),
            &json!("log-*.txt")
        ));
        assert!(compare("StringMatches", &json!("a*b"), &json!("a\\*b")));
        assert!(!compare("StringMatches", &json!("axb"), &json!("a\\*b")));
    }

    #[test]
    fn numeric_family() {
        assert!(compare("NumericEquals", &json!(1), &json!(1.0)));
        assert!(compare("NumericGreaterThanEquals", &json!(2), &json!(1)));
        assert!(!compare("NumericEquals", &json!("1"), &json!(1)));
    }

    #[test]
    fn boolean_and_types() {
        assert!(compare("BooleanEquals", &json!(true), &json!(true)));
        assert!(!compare("BooleanEquals", &json!(null), &json!(true)));
        assert!(compare("IsNull", &json!(null), &json!(true)));
        assert!(compare("IsString", &json!(1), &json!(false)));
        assert!(compare(
            "IsTimestamp",
            &json!("2016-03-14T01:59:00Z"),
            &json!(true)
        ));
        assert!(!compare(
            "IsTimestamp",
            &json!("2016-03-14 01:59:00Z"),
            &json!(true)
        ));
    }

    #[test]
    fn timestamp_family() {
        let a = json!("2016-03-14T01:59:00Z");
        let b = json!("2016-03-14T02:59:00+01:00");
        assert!(compare("TimestampEquals", &a, &b));
        assert!(compare(
            "TimestampLessThan",
            &a,
            &json!("2016-03-15T01:59:00Z")
        ));
    }
}
