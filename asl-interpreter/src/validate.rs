//! What AWS checks when a state machine is created, beyond the shape `definition` reads: retrier
//! fields, literal limits, the syntax of every path, intrinsic and JSONata expression, and the
//! features this interpreter does not implement, refused rather than run as something else.

use serde_json::{Map, Value};

use crate::error::DefinitionError;
use crate::paths::json_path::JsonPath;
use crate::query::{Expressions, QueryLanguage};
use crate::retry::Retrier;

/// The largest Seconds, TimeoutSeconds and HeartbeatSeconds AWS accepts.
pub const MAX_SECONDS: u64 = 99_999_999;

pub(crate) fn field_error(path: &str, field: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError::Field {
        path: path.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// Every retrier in `Retry` as AWS checks it.
pub(crate) fn retriers(fields: &Map<String, Value>, path: &str) -> Result<(), DefinitionError> {
    let entries = fields.get("Retry").and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        Retrier::parse(entry)
            .map_err(|e| field_error(path, &format!("Retry[{i}].{}", e.field), e.message))?;
    }
    Ok(())
}

/// A literal number of seconds: an integer within `min..=MAX_SECONDS`.
pub(crate) fn literal_seconds(
    fields: &Map<String, Value>,
    ql: QueryLanguage,
    field: &str,
    min: u64,
    path: &str,
) -> Result<Option<u64>, DefinitionError> {
    let what = if min == 0 {
        "must be a non-negative integer no greater than 99999999"
    } else {
        "must be a positive integer no greater than 99999999"
    };
    match fields.get(field) {
        None => Ok(None),
        // A JSONata string is an expression, evaluated and checked at run time.
        Some(Value::String(_)) if ql == QueryLanguage::Jsonata => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (min..=MAX_SECONDS).contains(n))
            .map(Some)
            .ok_or_else(|| field_error(path, field, what)),
    }
}

/// Task resources this interpreter runs: Lambda, directly or through `lambda:invoke`.
pub(crate) fn task_resource(resource: &str, path: &str) -> Result<(), DefinitionError> {
    let refuse = |what: &str| {
        Err(field_error(
            path,
            "Resource",
            format!("{what} is not supported"),
        ))
    };
    if resource.ends_with(".waitForTaskToken") {
        return refuse("the callback pattern (.waitForTaskToken)");
    }
    if resource.contains(":activity:") {
        return refuse("an activity");
    }
    if crate::resource::integration(resource).is_none() {
        return refuse(&format!("the resource '{resource}'"));
    }
    Ok(())
}

/// The fields of a distributed Map that read, batch or write items elsewhere than in the state's
/// input and output (S3, mostly), and the literal limits of a Map. A distributed Map over its input
/// runs its iterations here as an inline one does, which gives AWS's results.
pub(crate) fn map(
    fields: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
) -> Result<(), DefinitionError> {
    for field in ["ItemReader", "ItemBatcher", "ResultWriter"] {
        if fields.contains_key(field) {
            return Err(field_error(
                path,
                field,
                "is not supported: a Map state here reads its items from its input and \
                 returns its results in its output",
            ));
        }
    }
    let literal = |field: &str| match fields.get(field) {
        Some(Value::String(_)) if ql == QueryLanguage::Jsonata => None,
        other => other,
    };
    for field in ["MaxConcurrency", "ToleratedFailureCount"] {
        if literal(field).is_some_and(|v| v.as_u64().is_none()) {
            return Err(field_error(path, field, "must be a non-negative integer"));
        }
    }
    let percentage = literal("ToleratedFailurePercentage");
    if percentage.is_some_and(|v| !v.as_f64().is_some_and(|p| (0.0..=100.0).contains(&p))) {
        return Err(field_error(
            path,
            "ToleratedFailurePercentage",
            "must be a number between 0 and 100",
        ));
    }
    Ok(())
}

/// Fields whose value is a reference path in a JSONPath state.
const PATH_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "ResultPath",
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
];

/// Fields that hold payload templates with `.$` keys.
const TEMPLATE_FIELDS: &[&str] = &["Parameters", "ResultSelector", "ItemSelector", "Assign"];

/// Fields of a state that hold nested state machines, checked on their own.
const NESTED_FIELDS: &[&str] = &["ItemProcessor", "Iterator", "Branches"];

/// Parses every path, intrinsic and JSONata expression of a state once, so that a definition with
/// a syntax error is refused at load rather than failing when the expression is reached.
pub(crate) fn expressions(
    fields: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
    parsed: &mut Expressions,
) -> Result<(), DefinitionError> {
    match ql {
        QueryLanguage::Jsonata => {
            for (field, value) in fields {
                if !NESTED_FIELDS.contains(&field.as_str()) && field != "Comment" {
                    jsonata_strings(value, path, field, parsed)?;
                }
            }
            Ok(())
        }
        QueryLanguage::JsonPath => jsonpath_fields(fields, path),
    }
}

fn jsonpath_fields(fields: &Map<String, Value>, path: &str) -> Result<(), DefinitionError> {
    for field in PATH_FIELDS {
        match fields.get(*field) {
            None | Some(Value::Null) => {}
            Some(Value::String(p)) => reference_path(p, path, field)?,
            Some(_) => return Err(field_error(path, field, "must be a string or null")),
        }
    }
    for field in ["ErrorPath", "CausePath"] {
        if let Some(v) = fields.get(field) {
            let text = v
                .as_str()
                .ok_or_else(|| field_error(path, field, "must be a string"))?;
            dynamic(text, path, field)?;
        }
    }
    for field in TEMPLATE_FIELDS {
        if let Some(template) = fields.get(*field) {
            payload_template(template, path, field)?;
        }
    }
    for list in ["Catch", "Choices"] {
        let entries = fields.get(list).and_then(Value::as_array);
        for (i, entry) in entries.into_iter().flatten().enumerate() {
            if let Some(assign) = entry.get("Assign") {
                payload_template(assign, path, &format!("{list}[{i}].Assign"))?;
            }
            if list == "Catch" {
                if let Some(Value::String(p)) = entry.get("ResultPath") {
                    reference_path(p, path, &format!("Catch[{i}].ResultPath"))?;
                }
            } else {
                choice_rule_paths(entry, path, &format!("Choices[{i}]"))?;
            }
        }
    }
    Ok(())
}

fn reference_path(text: &str, path: &str, field: &str) -> Result<(), DefinitionError> {
    JsonPath::parse(text)
        .map(drop)
        .map_err(|e| field_error(path, field, e))
}

/// A `.$` value: an intrinsic function call or a path.
fn dynamic(text: &str, path: &str, field: &str) -> Result<(), DefinitionError> {
    if crate::intrinsics::is_intrinsic(text) {
        return crate::intrinsics::parse(text)
            .map(drop)
            .map_err(|e| field_error(path, field, e.message));
    }
    reference_path(text, path, field)
}

fn payload_template(template: &Value, path: &str, field: &str) -> Result<(), DefinitionError> {
    match template {
        Value::Object(map) => {
            for (key, value) in map {
                let at = format!("{field}.{key}");
                if key.ends_with(".$") {
                    let text = value
                        .as_str()
                        .ok_or_else(|| field_error(path, &at, "must be a string"))?;
                    dynamic(text, path, &at)?;
                } else {
                    payload_template(value, path, &at)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| payload_template(v, path, &format!("{field}[{i}]"))),
        _ => Ok(()),
    }
}

/// The Variable of a rule and the `...Path` operands of its comparisons, nested rules included.
fn choice_rule_paths(rule: &Value, path: &str, field: &str) -> Result<(), DefinitionError> {
    let Some(obj) = rule.as_object() else {
        return Ok(());
    };
    for (key, value) in obj {
        let at = format!("{field}.{key}");
        match (key.as_str(), value) {
            ("Variable", Value::String(p)) => reference_path(p, path, &at)?,
            (k, Value::String(p)) if k.ends_with("Path") => reference_path(p, path, &at)?,
            ("And" | "Or", Value::Array(rules)) => {
                for (i, r) in rules.iter().enumerate() {
                    choice_rule_paths(r, path, &format!("{at}[{i}]"))?;
                }
            }
            ("Not", r) => choice_rule_paths(r, path, &at)?,
            _ => {}
        }
    }
    Ok(())
}

/// Every `{% ... %}` string in a JSONata state's field, nested keys joined with `/` as AWS names them.
fn jsonata_strings(
    value: &Value,
    path: &str,
    field: &str,
    parsed: &mut Expressions,
) -> Result<(), DefinitionError> {
    match value {
        Value::String(s) => match crate::query::expression(s) {
            Some(expr) => parsed
                .add(expr)
                .map_err(|e| field_error(path, field, e.message)),
            None => Ok(()),
        },
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| jsonata_strings(v, path, &format!("{field}/{k}"), parsed)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| jsonata_strings(v, path, &format!("{field}[{i}]"), parsed)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::definition::Definition;

    fn refusal(def: &str) -> String {
        match Definition::parse(def) {
            Ok(_) => panic!("accepted: {def}"),
            Err(e) => e.to_string(),
        }
    }

    fn task(fields: &str) -> String {
        format!(
            r#"{{"StartAt":"T","States":{{"T":{{"Type":"Task","End":true,
                "Resource":"arn:aws:lambda:us-east-1:1:function:f",{fields}}}}}}}"#
        )
    }

    #[test]
    fn retriers_are_checked_at_load() {
        assert_eq!(
            refusal(&task(r#""Retry":[{"ErrorEquals":["E"],"BackoffRate":0.5}]"#)),
            "state 'T': field 'Retry[0].BackoffRate': must be a number greater than or equal to 1.0"
        );
        assert_eq!(
            refusal(&task(
                r#""Retry":[{"ErrorEquals":["E"],"IntervalSeconds":0}]"#
            )),
            "state 'T': field 'Retry[0].IntervalSeconds': must be a positive integer no greater \
             than 99999999"
        );
    }

    #[test]
    fn unsupported_features_name_the_state_and_field() {
        let callback = r#"{"StartAt":"T","States":{"T":{"Type":"Task","End":true,
            "Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken"}}}"#;
        assert_eq!(
            refusal(callback),
            "state 'T': field 'Resource': the callback pattern (.waitForTaskToken) is not supported"
        );
        let activity = r#"{"StartAt":"T","States":{"T":{"Type":"Task","End":true,
            "Resource":"arn:aws:states:us-east-1:1:activity:a"}}}"#;
        assert!(refusal(activity).contains("an activity is not supported"));
        let reader = r#"{"StartAt":"M","States":{"M":{"Type":"Map","End":true,
            "ItemReader":{"Resource":"arn:aws:states:::s3:getObject"},
            "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}}}"#;
        assert!(refusal(reader).starts_with("state 'M': field 'ItemReader': is not supported"));
        for field in ["ItemBatcher", "ResultWriter"] {
            let def = format!(
                r#"{{"StartAt":"M","States":{{"M":{{"Type":"Map","End":true,"{field}":{{}},
                "ItemProcessor":{{"ProcessorConfig":{{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"}},
                "StartAt":"P","States":{{"P":{{"Type":"Pass","End":true}}}}}}}}}}}}"#
            );
            assert!(
                refusal(&def).starts_with(&format!("state 'M': field '{field}': is not supported"))
            );
        }
    }

    #[test]
    fn syntax_errors_are_refused_at_load() {
        let path = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"a.b","End":true}}}"#;
        assert!(refusal(path).starts_with("state 'P': field 'InputPath'"));
        let intrinsic = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,
            "Parameters":{"x":{"y.$":"States.Format('{}', $.a"}}}}}"#;
        assert!(refusal(intrinsic).starts_with("state 'P': field 'Parameters.x.y.$'"));
        let jsonata = r#"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass",
            "End":true,"Output":{"x":"{% $states.input. %}"}}}}"#;
        assert!(refusal(jsonata).starts_with("state 'P': field 'Output/x'"));
    }

    #[test]
    fn literal_limits() {
        let wait =
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100000000,"End":true}}}"#;
        assert!(refusal(wait).contains("'Seconds': must be a non-negative integer"));
        let map = r#"{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ToleratedFailureCount":-1,
            "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}}}"#;
        assert!(refusal(map).contains("'ToleratedFailureCount': must be a non-negative integer"));
    }
}
