//! TestState: one state run on its own, with `input`, `variables` and an optional `mock` of its
//! task, answering its output, next state and status (SUCCEEDED, FAILED, CAUGHT_ERROR,
//! RETRIABLE), and at DEBUG and TRACE what it saw on the way.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::{ApiError, Code};
use super::machines::parse_definition;
use asl_interpreter::clock::VirtualClock;
use asl_interpreter::executor::{ExecutionResult, ExecutionStatus, Executor};
use asl_interpreter::history::HistoryEvent;
use asl_interpreter::invoker::{FunctionError, Invocation, LambdaInvoker};
use asl_interpreter::paths;
use asl_interpreter::retry::RetryState;

/// The state that sets the request's `variables` before the tested state runs.
const VARIABLES_STATE: &str = "sfn-local.variables";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MockError {
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mock {
    result: Option<String>,
    error_output: Option<MockError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestStateRequest {
    definition: String,
    input: Option<String>,
    inspection_level: Option<String>,
    variables: Option<String>,
    state_name: Option<String>,
    mock: Option<Mock>,
}

/// Answers the tested task with the request's mock, and calls Lambda otherwise.
struct Mocked {
    state: String,
    answer: Option<Result<Value, FunctionError>>,
    lambda: Arc<dyn LambdaInvoker>,
}

#[async_trait]
impl LambdaInvoker for Mocked {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError> {
        self.lambda.invoke(function_name, payload).await
    }

    async fn invoke_logged(
        &self,
        function_name: &str,
        payload: Value,
        tail: bool,
    ) -> Result<Invocation, FunctionError> {
        self.lambda
            .invoke_logged(function_name, payload, tail)
            .await
    }

    async fn answer_task(
        &self,
        state: &str,
        resource: &str,
        parameters: &Value,
    ) -> Option<Result<Value, FunctionError>> {
        if state == self.state && self.answer.is_some() {
            return self.answer.clone();
        }
        self.lambda.answer_task(state, resource, parameters).await
    }
}

fn invalid(what: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        Code::InvalidDefinition,
        format!("Invalid State Machine Definition: '{what}'"),
    )
}

fn json_field(text: Option<&str>, field: &str) -> Result<Option<Value>, ApiError> {
    text.map(|t| {
        serde_json::from_str(t).map_err(|e| {
            ApiError::new(
                Code::InvalidExecutionInput,
                format!("Invalid {field}: '{e}'"),
            )
        })
    })
    .transpose()
}

/// The states a state names as where to go next.
fn targets(state: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = ["Next", "Default"]
        .iter()
        .filter_map(|f| state.get(*f).and_then(Value::as_str))
        .map(String::from)
        .collect();
    for list in ["Choices", "Catch"] {
        let rules = state
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        names.extend(
            rules
                .filter_map(|r| r.get("Next").and_then(Value::as_str))
                .map(String::from),
        );
    }
    names
}

/// The tested state's name, its fields and the query language of the machine it is in.
type Tested = (String, Map<String, Value>, Option<Value>);

/// The tested state and its name, from a state's definition or a state machine's and `stateName`.
fn tested(request: &TestStateRequest) -> Result<Tested, ApiError> {
    let parsed: Value = serde_json::from_str(&request.definition).map_err(invalid)?;
    let Some(name) = &request.state_name else {
        let Value::Object(state) = parsed else {
            return Err(invalid("the definition must be a state's JSON object"));
        };
        return Ok(("TestState".to_owned(), state, None));
    };
    let language = parsed.get("QueryLanguage").cloned();
    match parsed.get("States").and_then(|s| s.get(name)) {
        Some(Value::Object(state)) => Ok((name.clone(), state.clone(), language)),
        _ => Err(ApiError::new(
            Code::ValidationException,
            format!("The state '{name}' is not in the definition's States"),
        )),
    }
}

/// A state machine of the tested state (without its retriers: TestState answers RETRIABLE
/// instead), a Succeed state for each state it names, and one setting the variables first.
fn machine(
    name: &str,
    state: &Map<String, Value>,
    language: Option<Value>,
    variables: Option<Value>,
) -> Result<String, ApiError> {
    let mut states = Map::new();
    for target in targets(state) {
        if target != name {
            states.insert(target, json!({"Type": "Succeed"}));
        }
    }
    let mut tested = state.clone();
    tested.remove("Retry");
    states.insert(name.to_owned(), Value::Object(tested));
    let mut start = name.to_owned();
    if let Some(variables) = variables {
        if !variables.is_object() {
            return Err(ApiError::new(
                Code::InvalidExecutionInput,
                "Invalid variables: 'not a JSON object'",
            ));
        }
        states.insert(
            VARIABLES_STATE.to_owned(),
            json!({"Type": "Pass", "Assign": variables, "Next": name}),
        );
        start = VARIABLES_STATE.to_owned();
    }
    let mut machine = json!({"StartAt": start, "States": states});
    if let Some(language) = language {
        machine["QueryLanguage"] = language;
    }
    Ok(machine.to_string())
}

fn events_named<'a>(
    history: &'a [HistoryEvent],
    suffix: &'a str,
) -> impl Iterator<Item = &'a HistoryEvent> {
    history
        .iter()
        .filter(move |e| e.event_type.ends_with(suffix))
}

/// The answer from the one-state execution's result and history.
fn answer(
    state: &Map<String, Value>,
    jsonata: bool,
    result: &ExecutionResult,
    level: &str,
) -> Value {
    let entered: Vec<&HistoryEvent> = events_named(&result.history, "StateEntered")
        .filter(|e| e.details["name"] != VARIABLES_STATE)
        .collect();
    let input = entered.first().map(|e| e.details["input"].clone());
    let next = entered.get(1).map(|e| e.details["name"].clone());
    let mut answer = Map::new();
    let (status, output) = match (result.status, &next) {
        (ExecutionStatus::Succeeded, Some(_)) => {
            let output = entered.get(1).map(|e| e.details["input"].clone());
            let caught = failed_event(result).is_some();
            (if caught { "CAUGHT_ERROR" } else { "SUCCEEDED" }, output)
        }
        (ExecutionStatus::Succeeded, None) => ("SUCCEEDED", result.output.clone()),
        _ => {
            let error = result.error.clone().unwrap_or_default();
            let retriable = RetryState::from_field(state.get("Retry"))
                .next_delay(&error, 0.0)
                .is_some();
            (if retriable { "RETRIABLE" } else { "FAILED" }, None)
        }
    };
    answer.insert("status".into(), Value::from(status));
    if let Some(output) = output {
        answer.insert("output".into(), Value::from(output.to_string()));
    }
    if let Some(next) = next.filter(|_| status != "FAILED") {
        answer.insert("nextState".into(), next);
    }
    let failure = failure(result);
    if status != "SUCCEEDED" {
        for (key, value) in [("error", failure.0), ("cause", failure.1)] {
            if let Some(value) = value {
                answer.insert(key.into(), Value::from(value));
            }
        }
    }
    if level != "INFO" {
        answer.insert(
            "inspectionData".into(),
            inspection(state, jsonata, result, input),
        );
    }
    Value::Object(answer)
}

/// The error and cause of a failed or caught state: the task's, or the execution's.
fn failure(result: &ExecutionResult) -> (Option<String>, Option<String>) {
    let failed = failed_event(result);
    let text = |v: &Value| v.as_str().map(String::from);
    match failed {
        Some(e) => (text(&e.details["error"]), text(&e.details["cause"])),
        None => (result.error.clone(), result.cause.clone()),
    }
}

/// The last event of a task, Map or Parallel failing, if one did.
fn failed_event(result: &ExecutionResult) -> Option<&HistoryEvent> {
    result
        .history
        .iter()
        .rev()
        .filter(|e| !e.event_type.starts_with("Execution"))
        .find(|e| e.event_type.ends_with("Failed") || e.event_type.ends_with("TimedOut"))
}

/// What DEBUG and TRACE show: the input, the task's parameters and result and, in a JSONPath
/// state, the input after InputPath and the result after ResultSelector and ResultPath.
fn inspection(
    state: &Map<String, Value>,
    jsonata: bool,
    result: &ExecutionResult,
    input: Option<Value>,
) -> Value {
    let mut data = Map::new();
    let mut task_result = None;
    for event in &result.history {
        if event.event_type.ends_with("Scheduled") {
            data.insert(
                "afterParameters".into(),
                Value::from(event.details["parameters"].to_string()),
            );
        }
        if event.event_type.ends_with("Succeeded") && event.details.get("resource").is_some() {
            task_result = Some(event.details["output"].clone());
        }
    }
    if let (Some(input), false) = (&input, jsonata) {
        for (key, value) in jsonpath_steps(state, input, task_result.as_ref()) {
            data.insert(key.into(), Value::from(value.to_string()));
        }
    }
    if let Some(input) = input {
        data.insert("input".into(), Value::from(input.to_string()));
    }
    if let Some(task_result) = task_result {
        data.insert("result".into(), Value::from(task_result.to_string()));
    }
    Value::Object(data)
}

/// A JSONPath state's input after InputPath and, given the task's result, the result after
/// ResultSelector and after ResultPath; a step that cannot be evaluated here is left out.
fn jsonpath_steps(
    state: &Map<String, Value>,
    input: &Value,
    task_result: Option<&Value>,
) -> Vec<(&'static str, Value)> {
    let (context, vars) = (Value::Object(Map::new()), Map::new());
    let scope = |input| paths::Scope {
        input,
        context: &context,
        vars: &vars,
    };
    let mut steps = Vec::new();
    if let Ok(effective) = paths::select(state.get("InputPath"), input, &scope(input)) {
        steps.push(("afterInputPath", effective));
    }
    let Some(task_result) = task_result else {
        return steps;
    };
    let selected = match state.get("ResultSelector") {
        Some(selector) => scope(task_result).template(selector),
        None => Ok(task_result.clone()),
    };
    let Ok(selected) = selected else {
        return steps;
    };
    steps.push(("afterResultSelector", selected.clone()));
    if let Ok(merged) = paths::merge_result(state.get("ResultPath"), input.clone(), selected) {
        steps.push(("afterResultPath", merged));
    }
    steps
}

/// Runs TestState on the virtual clock, so Wait states and retry intervals take no time.
pub async fn test_state(
    request: TestStateRequest,
    lambda: Arc<dyn LambdaInvoker>,
) -> Result<Value, ApiError> {
    let level = request
        .inspection_level
        .clone()
        .unwrap_or_else(|| "INFO".into());
    if !["INFO", "DEBUG", "TRACE"].contains(&level.as_str()) {
        return Err(ApiError::validation(
            "inspectionLevel",
            "Member must satisfy enum value set: [INFO, DEBUG, TRACE]",
        ));
    }
    let input = json_field(request.input.as_deref(), "input")?.unwrap_or_else(|| json!({}));
    let variables = json_field(request.variables.as_deref(), "variables")?;
    let (name, state, language) = tested(&request)?;
    let jsonata = state.get("QueryLanguage").or(language.as_ref()) == Some(&json!("JSONata"));
    let text = machine(&name, &state, language, variables)?;
    let definition = parse_definition(&text)?;
    let mocked = match request.mock {
        Some(Mock {
            result: Some(r), ..
        }) => Some(Ok(json_field(Some(&r), "mock result")?.unwrap_or_default())),
        Some(Mock {
            error_output: Some(e),
            ..
        }) => Some(Err(FunctionError {
            error_type: e.error.unwrap_or_default(),
            error_message: e.cause.clone().unwrap_or_default(),
            raw_body: None,
            service_cause: e.cause,
        })),
        _ => None,
    };
    let invoker = Arc::new(Mocked {
        state: name.clone(),
        answer: mocked,
        lambda,
    });
    let executor = Executor::new(definition, invoker, Arc::new(VirtualClock::default()));
    let result = tokio::task::spawn_blocking(move || executor.execute_blocking(input))
        .await
        .map_err(|e| {
            ApiError::new(
                Code::ValidationException,
                format!("The state could not run: {e}"),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                Code::ValidationException,
                format!("The state could not run: {e}"),
            )
        })?;
    Ok(answer(&state, jsonata, &result, &level))
}
