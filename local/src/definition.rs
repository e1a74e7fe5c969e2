//! Parsing and validating a definition into a tree of state machines (the top level, Parallel branches
//! and Map item processors). States keep their JSON fields; the validation here catches what makes a
//! definition unusable and names the state and field.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DefinitionError {
    #[error("the definition is not valid JSON: {0}")]
    Json(String),
    #[error("the definition must be a JSON object")]
    NotAnObject,
    #[error("{path}: field '{field}': {message}")]
    Field {
        path: String,
        field: String,
        message: String,
    },
}

fn field_error(path: &str, field: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError::Field {
        path: path.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    Jsonata,
}

impl QueryLanguage {
    fn parse(
        v: Option<&Value>,
        default: QueryLanguage,
        path: &str,
    ) -> Result<QueryLanguage, DefinitionError> {
        match v.and_then(Value::as_str) {
            None => Ok(default),
            Some("JSONPath") => Ok(QueryLanguage::JsonPath),
            Some("JSONata") => Ok(QueryLanguage::Jsonata),
            Some(other) => Err(field_error(
                path,
                "QueryLanguage",
                format!("unknown query language '{other}'"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateType {
    Pass,
    Task,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
}

#[derive(Debug)]
pub struct State {
    pub name: String,
    pub kind: StateType,
    pub fields: Map<String, Value>,
    pub query_language: QueryLanguage,
    pub next: Option<String>,
    pub end: bool,
    /// Parallel branches, or the Map item processor as the only element.
    pub children: Vec<Arc<StateMachine>>,
}

impl State {
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
    pub fn is_jsonata(&self) -> bool {
        self.query_language == QueryLanguage::Jsonata
    }
}

#[derive(Debug)]
pub struct StateMachine {
    pub start_at: String,
    pub states: HashMap<String, Arc<State>>,
    pub query_language: QueryLanguage,
}

#[derive(Debug, Clone)]
pub struct Definition {
    pub root: Arc<StateMachine>,
    pub timeout_seconds: Option<u64>,
    pub comment: Option<String>,
}

impl Definition {
    pub fn parse(text: &str) -> Result<Definition, DefinitionError> {
        Definition::parse_with(text, &HashMap::new())
    }

    /// Parses after replacing `${Name}` placeholders in string values with `substitutions`.
    pub fn parse_with(
        text: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<Definition, DefinitionError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| DefinitionError::Json(e.to_string()))?;
        let value = substitute(value, substitutions);
        let Value::Object(obj) = value else {
            return Err(DefinitionError::NotAnObject);
        };
        let ql = QueryLanguage::parse(
            obj.get("QueryLanguage"),
            QueryLanguage::JsonPath,
            "definition",
        )?;
        let timeout_seconds = match obj.get("TimeoutSeconds") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                field_error("definition", "TimeoutSeconds", "must be a positive integer")
            })?),
        };
        Ok(Definition {
            root: Arc::new(parse_machine(&obj, ql, "definition")?),
            timeout_seconds,
            comment: obj.get("Comment").and_then(Value::as_str).map(String::from),
        })
    }
}

fn substitute(value: Value, subs: &HashMap<String, String>) -> Value {
    if subs.is_empty() {
        return value;
    }
    match value {
        Value::String(mut s) => {
            for (k, v) in subs {
                s = s.replace(&format!("${{{k}}}"), v);
            }
            Value::String(s)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| substitute(v, subs)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, substitute(v, subs)))
                .collect(),
        ),
        other => other,
    }
}

fn parse_machine(
    obj: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
) -> Result<StateMachine, DefinitionError> {
    let start_at = obj
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or_else(|| field_error(path, "StartAt", "is required and must be a string"))?
        .to_string();
    let states_obj = obj
        .get("States")
        .and_then(Value::as_object)
        .ok_or_else(|| field_error(path, "States", "is required and must be an object"))?;
    let mut states = HashMap::new();
    for (name, raw) in states_obj {
        let state = parse_state(name, raw, ql)?;
        states.insert(name.clone(), Arc::new(state));
    }
    if !states.contains_key(&start_at) {
        return Err(field_error(
            path,
            "StartAt",
            format!("state '{start_at}' does not exist"),
        ));
    }
    for state in states.values() {
        let mut targets: Vec<(&str, &str)> =
            state.next.iter().map(|n| ("Next", n.as_str())).collect();
        if state.kind == StateType::Choice {
            if let Some(d) = state.field("Default").and_then(Value::as_str) {
                targets.push(("Default", d));
            }
            for rule in state
                .field("Choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = rule.get("Next").and_then(Value::as_str) {
                    targets.push(("Choices", n));
                }
            }
        }
        for catcher in state
            .field("Catch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = catcher.get("Next").and_then(Value::as_str) {
                targets.push(("Catch", n));
            }
        }
        for (field, target) in targets {
            if !states.contains_key(target) {
                return Err(field_error(
                    &format!("state '{}'", state.name),
                    field,
                    format!("refers to state '{target}' which does not exist"),
                ));
            }
        }
    }
    Ok(StateMachine {
        start_at,
        states,
        query_language: ql,
    })
}

fn parse_state(
    name: &str,
    raw: &Value,
    machine_ql: QueryLanguage,
) -> Result<State, DefinitionError> {
    let path = format!("state '{name}'");
    let fields = raw
        .as_object()
        .ok_or_else(|| field_error(&path, "Type", "the state must be an object"))?
        .clone();
    let kind = match fields.get("Type").and_then(Value::as_str) {
        Some("Pass") => StateType::Pass,
        Some("Task") => StateType::Task,
        Some("Choice") => StateType::Choice,
        Some("Wait") => StateType::Wait,
        Some("Succeed") => StateType::Succeed,
        Some("Fail") => StateType::Fail,
        Some("Parallel") => StateType::Parallel,
        Some("Map") => StateType::Map,
        Some(other) => {
            return Err(field_error(
                &path,
                "Type",
                format!("unknown state type '{other}'"),
            ))
        }
        None => return Err(field_error(&path, "Type", "is required")),
    };
    let ql = QueryLanguage::parse(fields.get("QueryLanguage"), machine_ql, &path)?;
    // Each query language has its own fields; AWS rejects the other language's at creation.
    let foreign: &[&str] = match ql {
        QueryLanguage::Jsonata => &[
            "InputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "OutputPath",
            "ItemsPath",
        ],
        QueryLanguage::JsonPath => &["Arguments", "Output", "Items"],
    };
    if let Some(field) = foreign.iter().find(|f| fields.contains_key(**f)) {
        let language = if ql == QueryLanguage::Jsonata {
            "JSONata"
        } else {
            "JSONPath"
        };
        return Err(field_error(
            &path,
            field,
            format!("is not supported in a {language} state"),
        ));
    }
    let next = fields.get("Next").and_then(Value::as_str).map(String::from);
    let end = fields.get("End").and_then(Value::as_bool).unwrap_or(false);
    let terminal = matches!(
        kind,
        StateType::Choice | StateType::Succeed | StateType::Fail
    );
    if !terminal && next.is_none() && !end {
        return Err(field_error(
            &path,
            "Next",
            "a non-terminal state needs Next or End: true",
        ));
    }
    if next.is_some() && end {
        return Err(field_error(
            &path,
            "End",
            "a state cannot have both Next and End",
        ));
    }
    if kind == StateType::Task && !fields.contains_key("Resource") {
        return Err(field_error(
            &path,
            "Resource",
            "is required for a Task state",
        ));
    }
    if kind == StateType::Choice
        && fields
            .get("Choices")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty())
    {
        return Err(field_error(&path, "Choices", "must be a non-empty array"));
    }
    for list in ["Retry", "Catch"] {
        let Some(entries) = fields.get(list) else {
            continue;
        };
        let entries = entries
            .as_array()
            .ok_or_else(|| field_error(&path, list, "must be an array"))?;
        for (i, entry) in entries.iter().enumerate() {
            let errors = entry
                .get("ErrorEquals")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    field_error(
                        &path,
                        &format!("{list}[{i}].ErrorEquals"),
                        "must be a non-empty array",
                    )
                })?;
            let has_all = errors.iter().any(|e| e == "States.ALL");
            if has_all && (errors.len() > 1 || i + 1 != entries.len()) {
                return Err(field_error(
                    &path,
                    &format!("{list}[{i}].ErrorEquals"),
                    "States.ALL must appear alone and in the last retrier or catcher",
                ));
            }
            if list == "Catch" && entry.get("Next").and_then(Value::as_str).is_none() {
                return Err(field_error(
                    &path,
                    &format!("Catch[{i}].Next"),
                    "is required",
                ));
            }
        }
    }
    let mut children = Vec::new();
    match kind {
        StateType::Parallel => {
            let branches = fields
                .get("Branches")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    field_error(&path, "Branches", "is required and must be an array")
                })?;
            for (i, b) in branches.iter().enumerate() {
                let obj = b.as_object().ok_or_else(|| {
                    field_error(&path, &format!("Branches[{i}]"), "must be an object")
                })?;
                children.push(Arc::new(parse_machine(
                    obj,
                    ql,
                    &format!("{path} Branches[{i}]"),
                )?));
            }
        }
        StateType::Map => {
            let (field, processor) = match (fields.get("ItemProcessor"), fields.get("Iterator")) {
                (Some(p), _) => ("ItemProcessor", p),
                (None, Some(p)) => ("Iterator", p),
                (None, None) => {
                    return Err(field_error(
                        &path,
                        "ItemProcessor",
                        "is required for a Map state",
                    ))
                }
            };
            let obj = processor
                .as_object()
                .ok_or_else(|| field_error(&path, field, "must be an object"))?;
            children.push(Arc::new(parse_machine(
                obj,
                ql,
                &format!("{path} {field}"),
            )?));
        }
        _ => {}
    }
    Ok(State {
        name: name.to_string(),
        kind,
        fields,
        query_language: ql,
        next,
        end,
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_state_and_field_on_bad_next() {
        let err =
            Definition::parse(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("state 'A'") && text.contains("Next"),
            "{text}"
        );
    }

    #[test]
    fn states_all_must_be_last() {
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"x","End":true,
            "Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["E"]}]}}}"#;
        assert!(Definition::parse(def).is_err());
    }

    #[test]
    fn rejects_fields_of_the_other_query_language() {
        let def = r#"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$","End":true}}}"#;
        let text = Definition::parse(def)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            text.contains("InputPath") && text.contains("JSONata"),
            "{text}"
        );
    }

    #[test]
    fn substitutions_apply_to_strings() {
        let mut subs = HashMap::new();
        subs.insert("Fn".to_string(), "arn:x".to_string());
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${Fn}","End":true}}}"#;
        let parsed = Definition::parse_with(def, &subs).ok();
        let resource = parsed.and_then(|d| d.root.states["A"].field("Resource").cloned());
        assert_eq!(resource, Some(Value::String("arn:x".into())));
    }
}
