//! Parsing and validating a definition into a tree of state machines (the top level, Parallel branches
//! and Map item processors). States keep their JSON fields; the validation here catches what makes a
//! definition unusable and names the state and field.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::choice::operators::timestamp;
pub use crate::error::DefinitionError;
use crate::query::Expressions;
pub use crate::query::QueryLanguage;
use crate::validate::{self, field_error};

/// The `QueryLanguage` field at `path`, or `default` (the enclosing machine's) without one.
fn query_language(
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

impl StateType {
    /// Task, Parallel and Map: the states whose work has a result of its own, which ResultSelector
    /// shapes, and which Retry and Catch apply to.
    pub fn does_work(self) -> bool {
        matches!(self, StateType::Task | StateType::Parallel | StateType::Map)
    }
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

/// Which Task resources a definition may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resources {
    /// Lambda, directly or through `lambda:invoke`: what the interpreter calls itself.
    Lambda,
    /// Any: the host answers the others.
    Any,
}

#[derive(Debug, Clone)]
pub struct Definition {
    pub root: Arc<StateMachine>,
    pub timeout_seconds: Option<u64>,
    pub comment: Option<String>,
    /// Every JSONata expression of the definition, parsed.
    pub expressions: Arc<Expressions>,
}

impl Definition {
    pub fn parse(text: &str) -> Result<Definition, DefinitionError> {
        Definition::parse_with(text, &HashMap::new())
    }

    /// Parses a definition whose Task states may name any resource, for a host that answers
    /// tasks itself ([`crate::LambdaInvoker::answer_task`], e.g. with mocked responses).
    pub fn parse_any_resource(text: &str) -> Result<Definition, DefinitionError> {
        Definition::parse_as(text, &HashMap::new(), Resources::Any)
    }

    /// Parses after replacing `${Name}` placeholders in string values with `substitutions`.
    pub fn parse_with(
        text: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<Definition, DefinitionError> {
        Definition::parse_as(text, substitutions, Resources::Lambda)
    }

    fn parse_as(
        text: &str,
        substitutions: &HashMap<String, String>,
        resources: Resources,
    ) -> Result<Definition, DefinitionError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| DefinitionError::Json(e.to_string()))?;
        let value = substitute(value, substitutions);
        let Value::Object(obj) = value else {
            return Err(DefinitionError::NotAnObject);
        };
        let ql = query_language(
            obj.get("QueryLanguage"),
            QueryLanguage::JsonPath,
            "definition",
        )?;
        let timeout_seconds = validate::literal_seconds(
            &obj,
            QueryLanguage::JsonPath,
            "TimeoutSeconds",
            1,
            "definition",
        )?;
        let mut expressions = Expressions::default();
        let root = parse_machine(&obj, ql, "definition", None, &mut expressions, resources)?;
        Ok(Definition {
            root: Arc::new(root),
            timeout_seconds,
            comment: obj.get("Comment").and_then(Value::as_str).map(String::from),
            expressions: Arc::new(expressions),
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

/// Where a state is, for error messages: its name, after the states that contain it.
fn state_path(parent: Option<&str>, name: &str) -> String {
    match parent {
        None => format!("state '{name}'"),
        Some(parent) => format!("{parent} > '{name}'"),
    }
}

/// `path` names the machine in its own errors; `parent` is the path of the state holding it, if any.
fn parse_machine(
    obj: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
    parent: Option<&str>,
    expressions: &mut Expressions,
    resources: Resources,
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
        let state = parse_state(
            name,
            raw,
            ql,
            &state_path(parent, name),
            expressions,
            resources,
        )?;
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
        for (field, target) in transitions(state) {
            if !states.contains_key(target) {
                return Err(field_error(
                    &state_path(parent, &state.name),
                    field,
                    format!("refers to state '{target}' which does not exist"),
                ));
            }
        }
    }
    // AWS refuses states that no path from StartAt leads to.
    let mut reached = HashSet::from([start_at.as_str()]);
    let mut pending = vec![start_at.as_str()];
    while let Some(name) = pending.pop() {
        for (_, target) in states.get(name).map(|s| transitions(s)).unwrap_or_default() {
            if reached.insert(target) {
                pending.push(target);
            }
        }
    }
    let mut unreachable: Vec<&String> = states
        .keys()
        .filter(|n| !reached.contains(n.as_str()))
        .collect();
    unreachable.sort();
    if let Some(name) = unreachable.first() {
        return Err(DefinitionError::Unreachable {
            path: state_path(parent, name),
        });
    }
    Ok(StateMachine {
        start_at,
        states,
        query_language: ql,
    })
}

/// The states a state can go to, with the field that names each.
fn transitions(state: &State) -> Vec<(&'static str, &str)> {
    let mut targets: Vec<(&'static str, &str)> =
        state.next.iter().map(|n| ("Next", n.as_str())).collect();
    if state.kind == StateType::Choice {
        if let Some(d) = state.field("Default").and_then(Value::as_str) {
            targets.push(("Default", d));
        }
        let rules = state.field("Choices").and_then(Value::as_array);
        for rule in rules.into_iter().flatten() {
            if let Some(n) = rule.get("Next").and_then(Value::as_str) {
                targets.push(("Choices", n));
            }
        }
    }
    let catchers = state.field("Catch").and_then(Value::as_array);
    for catcher in catchers.into_iter().flatten() {
        if let Some(n) = catcher.get("Next").and_then(Value::as_str) {
            targets.push(("Catch", n));
        }
    }
    targets
}

fn parse_state(
    name: &str,
    raw: &Value,
    machine_ql: QueryLanguage,
    path: &str,
    expressions: &mut Expressions,
    resources: Resources,
) -> Result<State, DefinitionError> {
    let fields = raw
        .as_object()
        .ok_or_else(|| field_error(path, "Type", "the state must be an object"))?
        .clone();
    let kind = state_type(&fields, path)?;
    let ql = query_language(fields.get("QueryLanguage"), machine_ql, path)?;
    refuse_foreign_fields(&fields, ql, path)?;
    let (next, end) = transition(&fields, kind, path)?;
    match kind {
        StateType::Wait => check_wait(&fields, ql, path)?,
        StateType::Task => check_task(&fields, ql, path, resources)?,
        StateType::Choice => check_choice(&fields, ql, path)?,
        StateType::Map => validate::map(&fields, ql, path)?,
        _ => {}
    }
    validate::retriers(&fields, path)?;
    validate::expressions(&fields, ql, path, expressions)?;
    check_error_lists(&fields, path)?;
    let children = child_machines(&fields, kind, ql, path, expressions, resources)?;
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

fn state_type(fields: &Map<String, Value>, path: &str) -> Result<StateType, DefinitionError> {
    match fields.get("Type").and_then(Value::as_str) {
        Some("Pass") => Ok(StateType::Pass),
        Some("Task") => Ok(StateType::Task),
        Some("Choice") => Ok(StateType::Choice),
        Some("Wait") => Ok(StateType::Wait),
        Some("Succeed") => Ok(StateType::Succeed),
        Some("Fail") => Ok(StateType::Fail),
        Some("Parallel") => Ok(StateType::Parallel),
        Some("Map") => Ok(StateType::Map),
        Some(other) => Err(field_error(
            path,
            "Type",
            format!("unknown state type '{other}'"),
        )),
        None => Err(field_error(path, "Type", "is required")),
    }
}

/// Each query language has its own fields; AWS rejects the other language's at creation.
fn refuse_foreign_fields(
    fields: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
) -> Result<(), DefinitionError> {
    let (foreign, language): (&[&str], _) = match ql {
        QueryLanguage::Jsonata => (
            &[
                "InputPath",
                "Parameters",
                "ResultSelector",
                "ResultPath",
                "OutputPath",
                "ItemsPath",
            ],
            "JSONata",
        ),
        QueryLanguage::JsonPath => (&["Arguments", "Output", "Items"], "JSONPath"),
    };
    match foreign.iter().find(|f| fields.contains_key(**f)) {
        Some(field) => Err(field_error(
            path,
            field,
            format!("is not supported in a {language} state"),
        )),
        None => Ok(()),
    }
}

/// The state's Next and End: a state that does not end the machine by its type needs exactly one.
fn transition(
    fields: &Map<String, Value>,
    kind: StateType,
    path: &str,
) -> Result<(Option<String>, bool), DefinitionError> {
    let next = fields.get("Next").and_then(Value::as_str).map(String::from);
    let end = fields.get("End").and_then(Value::as_bool).unwrap_or(false);
    let terminal = matches!(
        kind,
        StateType::Choice | StateType::Succeed | StateType::Fail
    );
    if !terminal && next.is_none() && !end {
        return Err(field_error(
            path,
            "Next",
            "a non-terminal state needs Next or End: true",
        ));
    }
    if next.is_some() && end {
        return Err(field_error(
            path,
            "End",
            "a state cannot have both Next and End",
        ));
    }
    Ok((next, end))
}

/// Retry and Catch: arrays of entries with a non-empty ErrorEquals, States.ALL alone and last, and
/// a Next for each catcher.
fn check_error_lists(fields: &Map<String, Value>, path: &str) -> Result<(), DefinitionError> {
    for list in ["Retry", "Catch"] {
        let Some(entries) = fields.get(list) else {
            continue;
        };
        let entries = entries
            .as_array()
            .ok_or_else(|| field_error(path, list, "must be an array"))?;
        for (i, entry) in entries.iter().enumerate() {
            let errors = entry
                .get("ErrorEquals")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    field_error(
                        path,
                        &format!("{list}[{i}].ErrorEquals"),
                        "must be a non-empty array",
                    )
                })?;
            let has_all = errors.iter().any(|e| e == "States.ALL");
            if has_all && (errors.len() > 1 || i + 1 != entries.len()) {
                return Err(field_error(
                    path,
                    &format!("{list}[{i}].ErrorEquals"),
                    "States.ALL must appear alone and in the last retrier or catcher",
                ));
            }
            if list == "Catch" && entry.get("Next").and_then(Value::as_str).is_none() {
                return Err(field_error(
                    path,
                    &format!("Catch[{i}].Next"),
                    "is required",
                ));
            }
        }
    }
    Ok(())
}

/// The machines a Parallel (its Branches) or a Map (its ItemProcessor, or the older Iterator) runs.
fn child_machines(
    fields: &Map<String, Value>,
    kind: StateType,
    ql: QueryLanguage,
    path: &str,
    expressions: &mut Expressions,
    resources: Resources,
) -> Result<Vec<Arc<StateMachine>>, DefinitionError> {
    let named: Vec<(String, &Value)> = match kind {
        StateType::Parallel => fields
            .get("Branches")
            .and_then(Value::as_array)
            .ok_or_else(|| field_error(path, "Branches", "is required and must be an array"))?
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("Branches[{i}]"), b))
            .collect(),
        StateType::Map => match (fields.get("ItemProcessor"), fields.get("Iterator")) {
            (Some(p), _) => vec![("ItemProcessor".to_string(), p)],
            (None, Some(p)) => vec![("Iterator".to_string(), p)],
            (None, None) => {
                return Err(field_error(
                    path,
                    "ItemProcessor",
                    "is required for a Map state",
                ))
            }
        },
        _ => return Ok(Vec::new()),
    };
    named
        .into_iter()
        .map(|(field, machine)| {
            let obj = machine
                .as_object()
                .ok_or_else(|| field_error(path, &field, "must be an object"))?;
            let machine = parse_machine(
                obj,
                ql,
                &format!("{path} {field}"),
                Some(path),
                expressions,
                resources,
            )?;
            Ok(Arc::new(machine))
        })
        .collect()
}

/// A Wait without a duration would not wait at all, and one with two would have to pick one.
fn check_wait(
    fields: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
) -> Result<(), DefinitionError> {
    let (durations, needed): (&[&str], _) = match ql {
        QueryLanguage::JsonPath => (
            &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
            "a Wait state needs one of Seconds, Timestamp, SecondsPath or TimestampPath",
        ),
        QueryLanguage::Jsonata => (
            &["Seconds", "Timestamp"],
            "a Wait state needs Seconds or Timestamp",
        ),
    };
    let given: Vec<(&str, &Value)> = durations
        .iter()
        .filter_map(|f| fields.get(*f).map(|v| (*f, v)))
        .collect();
    let (field, value) = match given[..] {
        [one] => one,
        [] => return Err(field_error(path, "Seconds", needed)),
        [(first, _), (second, _), ..] => {
            return Err(field_error(
                path,
                second,
                format!("cannot be combined with {first}"),
            ))
        }
    };
    // A JSONata string is an expression, evaluated and checked at run time.
    let expression = ql == QueryLanguage::Jsonata && value.is_string();
    match field {
        "Seconds" => validate::literal_seconds(fields, ql, field, 0, path).map(drop),
        _ if !value.is_string() => Err(field_error(path, field, "must be a string")),
        "Timestamp" if !expression => match value.as_str().and_then(timestamp) {
            Some(_) => Ok(()),
            None => Err(field_error(
                path,
                field,
                "must be an ISO-8601 extended offset date-time",
            )),
        },
        _ => Ok(()),
    }
}

/// Literal limits are checked here; the `...Path` and JSONata forms only have values at run time.
fn check_task(
    fields: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
    resources: Resources,
) -> Result<(), DefinitionError> {
    let Some(resource) = fields.get("Resource").and_then(Value::as_str) else {
        return Err(field_error(
            path,
            "Resource",
            "is required for a Task state and must be a string",
        ));
    };
    if resources == Resources::Lambda {
        validate::task_resource(resource, path)?;
    }
    let timeout = validate::literal_seconds(fields, ql, "TimeoutSeconds", 1, path)?;
    let heartbeat = validate::literal_seconds(fields, ql, "HeartbeatSeconds", 1, path)?;
    match (heartbeat, timeout) {
        (Some(h), Some(t)) if h >= t => Err(field_error(
            path,
            "HeartbeatSeconds",
            format!("must be smaller than TimeoutSeconds ({t})"),
        )),
        _ => Ok(()),
    }
}

/// Every top-level rule leads somewhere; the shape of JSONPath rules is checked in `choice`.
fn check_choice(
    fields: &Map<String, Value>,
    ql: QueryLanguage,
    path: &str,
) -> Result<(), DefinitionError> {
    let rules = fields
        .get("Choices")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| field_error(path, "Choices", "must be a non-empty array"))?;
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("Choices[{i}]");
        let Some(obj) = rule.as_object() else {
            return Err(field_error(path, &at, "must be an object"));
        };
        if !obj.get("Next").is_some_and(Value::is_string) {
            return Err(field_error(
                path,
                &format!("{at}.Next"),
                "is required and must be a string",
            ));
        }
        match ql {
            QueryLanguage::Jsonata if !obj.contains_key("Condition") => {
                return Err(field_error(
                    path,
                    &format!("{at}.Condition"),
                    "is required in a JSONata state",
                ))
            }
            QueryLanguage::Jsonata => {}
            QueryLanguage::JsonPath => crate::choice::check_rule(rule, &at)
                .map_err(|e| field_error(path, &e.field, e.message))?,
        }
    }
    Ok(())
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

    /// The error text of a definition that must be refused.
    fn refusal(def: &str) -> String {
        match Definition::parse(def) {
            Ok(_) => panic!("accepted: {def}"),
            Err(e) => e.to_string(),
        }
    }

    fn wait(fields: &str) -> String {
        format!(r#"{{"StartAt":"W","States":{{"W":{{"Type":"Wait",{fields}"End":true}}}}}}"#)
    }

    fn task(fields: &str) -> String {
        format!(r#"{{"StartAt":"T","States":{{"T":{{"Type":"Task",{fields}"End":true}}}}}}"#)
    }

    #[test]
    fn a_wait_needs_exactly_one_duration() {
        assert_eq!(
            refusal(&wait("")),
            "state 'W': field 'Seconds': a Wait state needs one of Seconds, Timestamp, \
             SecondsPath or TimestampPath"
        );
        assert_eq!(
            refusal(&wait(r#""Seconds":1,"SecondsPath":"$.s","#)),
            "state 'W': field 'SecondsPath': cannot be combined with Seconds"
        );
        let jsonata = wait(r#""QueryLanguage":"JSONata","#);
        assert!(refusal(&jsonata).contains("needs Seconds or Timestamp"));
        assert!(Definition::parse(&wait(r#""SecondsPath":"$.s","#)).is_ok());
    }

    #[test]
    fn literal_wait_durations_have_their_types() {
        for seconds in ["-1", "1.5", r#""5""#] {
            let text = refusal(&wait(&format!(r#""Seconds":{seconds},"#)));
            assert!(
                text.contains("'Seconds': must be a non-negative integer"),
                "{text}"
            );
        }
        assert!(refusal(&wait(r#""Timestamp":5,"#)).contains("'Timestamp': must be a string"));
        assert!(refusal(&wait(r#""SecondsPath":5,"#)).contains("'SecondsPath': must be a string"));
        let expression = wait(r#""QueryLanguage":"JSONata","Seconds":"{% $states.input.s %}","#);
        assert!(Definition::parse(&expression).is_ok());
        assert!(Definition::parse(&wait(r#""Seconds":0,"#)).is_ok());
    }

    #[test]
    fn a_task_resource_is_a_string() {
        assert!(refusal(&task("")).contains("field 'Resource'"));
        assert!(refusal(&task(r#""Resource":5,"#)).contains("field 'Resource'"));
    }

    #[test]
    fn literal_task_limits_are_positive_integers() {
        for field in ["TimeoutSeconds", "HeartbeatSeconds"] {
            for value in ["0", "1.5", r#""10""#] {
                let text = refusal(&task(&format!(
                    r#""Resource":"arn:aws:lambda:us-east-1:1:function:f","{field}":{value},"#
                )));
                assert_eq!(
                    text,
                    format!(
                        "state 'T': field '{field}': must be a positive integer no greater than \
                         99999999"
                    )
                );
            }
        }
        let expression = task(
            r#""QueryLanguage":"JSONata","Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":"{% 5 %}","#,
        );
        assert!(Definition::parse(&expression).is_ok());
    }

    #[test]
    fn a_literal_heartbeat_is_below_a_literal_timeout() {
        let text = refusal(&task(
            r#""Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":10,"HeartbeatSeconds":10,"#,
        ));
        assert!(
            text.contains("'HeartbeatSeconds': must be smaller"),
            "{text}"
        );
        let below = task(
            r#""Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":10,"HeartbeatSeconds":9,"#,
        );
        assert!(Definition::parse(&below).is_ok());
        // A path's value is only known at run time, where it is checked.
        let path = task(
            r#""Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":10,"HeartbeatSecondsPath":"$.h","#,
        );
        assert!(Definition::parse(&path).is_ok());
    }

    #[test]
    fn choices_is_a_non_empty_array() {
        let def = r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[],"Default":"E"},
            "E":{"Type":"Succeed"}}}"#;
        assert!(refusal(def).contains("field 'Choices'"));
    }

    #[test]
    fn every_top_level_choice_rule_has_next() {
        let def = r#"{"StartAt":"C","States":{"C":{"Type":"Choice",
            "Choices":[{"Variable":"$.a","IsNull":true}],"Default":"E"},"E":{"Type":"Succeed"}}}"#;
        assert_eq!(
            refusal(def),
            "state 'C': field 'Choices[0].Next': is required and must be a string"
        );
    }

    #[test]
    fn jsonpath_choice_rules_are_checked() {
        let def = r#"{"StartAt":"C","States":{"C":{"Type":"Choice",
            "Choices":[{"NumericEquals":1,"Next":"E"}]},"E":{"Type":"Succeed"}}}"#;
        assert!(refusal(def).starts_with("state 'C': field 'Choices[0].Variable'"));
    }

    #[test]
    fn jsonata_choice_rules_need_a_condition() {
        let def = r#"{"QueryLanguage":"JSONata","StartAt":"C","States":{"C":{"Type":"Choice",
            "Choices":[{"Next":"E"}]},"E":{"Type":"Succeed"}}}"#;
        assert_eq!(
            refusal(def),
            "state 'C': field 'Choices[0].Condition': is required in a JSONata state"
        );
    }

    #[test]
    fn nested_states_are_named_by_their_path() {
        let def = r#"{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{
            "StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{
                "StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","TimeoutSeconds":0,"End":true}}}]}}}}}}"#;
        assert_eq!(
            refusal(def),
            "state 'M' > 'P' > 'T': field 'TimeoutSeconds': must be a positive integer no \
             greater than 99999999"
        );
        let def = r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{
            "StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}]}}}"#;
        assert_eq!(
            refusal(def),
            "state 'P' > 'A': field 'Next': refers to state 'Nowhere' which does not exist"
        );
    }

    #[test]
    fn states_all_must_be_last() {
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true,
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
        subs.insert(
            "Fn".to_string(),
            "arn:aws:lambda:us-east-1:1:function:x".to_string(),
        );
        let def = r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${Fn}","End":true}}}"#;
        let parsed = Definition::parse_with(def, &subs).ok();
        let resource = parsed.and_then(|d| d.root.states["A"].field("Resource").cloned());
        assert_eq!(
            resource,
            Some(Value::String(
                "arn:aws:lambda:us-east-1:1:function:x".into()
            ))
        );
    }
}
