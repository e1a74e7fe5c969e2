//! TestState: one state run on its own, with `input`, `variables` and an optional `mock` of its
//! task, answering its output, next state and status (SUCCEEDED, FAILED, CAUGHT_ERROR,
//! RETRIABLE), and at DEBUG and TRACE what it saw on the way.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::{ApiError, Code};
use super::machines::parse_definition;
use asl_interpreter::clock::{runtime, VirtualClock};
use asl_interpreter::executor::Executor;
use asl_interpreter::invoker::{FunctionError, Invocation, LambdaInvoker};
use asl_interpreter::{Inspection, StateTest, TestStatus};

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

/// A state machine of the tested state and a Succeed state for each state it names.
fn machine(name: &str, state: &Map<String, Value>, language: Option<Value>) -> String {
    let mut states = Map::new();
    for target in targets(state) {
        if target != name {
            states.insert(target, json!({"Type": "Succeed"}));
        }
    }
    states.insert(name.to_owned(), Value::Object(state.clone()));
    let mut machine = json!({"StartAt": name, "States": states});
    if let Some(language) = language {
        machine["QueryLanguage"] = language;
    }
    machine.to_string()
}

/// The request's variables: a JSON object, or none.
fn variables(text: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    match json_field(text, "variables")? {
        None => Ok(Map::new()),
        Some(Value::Object(variables)) => Ok(variables),
        Some(_) => Err(ApiError::new(
            Code::InvalidExecutionInput,
            "Invalid variables: 'not a JSON object'",
        )),
    }
}

/// TestState's answer: at DEBUG and TRACE with what the state's data looked like on the way.
fn answer(test: StateTest, level: &str) -> Value {
    let mut answer = Map::new();
    answer.insert("status".into(), Value::from(test.status.as_str()));
    if let Some(output) = &test.output {
        answer.insert("output".into(), Value::from(output.to_string()));
    }
    if let Some(next) = test.next_state {
        answer.insert("nextState".into(), Value::from(next));
    }
    if test.status != TestStatus::Succeeded {
        for (key, value) in [("error", test.error), ("cause", test.cause)] {
            if let Some(value) = value {
                answer.insert(key.into(), Value::from(value));
            }
        }
    }
    if level != "INFO" {
        answer.insert("inspectionData".into(), inspection_data(test.inspection));
    }
    Value::Object(answer)
}

/// InspectionData: each step the state took, as JSON text.
fn inspection_data(inspection: Inspection) -> Value {
    let steps = [
        ("input", Some(inspection.input)),
        ("afterInputPath", inspection.after_input_path),
        ("afterParameters", inspection.after_parameters),
        ("result", inspection.result),
        ("afterResultSelector", inspection.after_result_selector),
        ("afterResultPath", inspection.after_result_path),
    ];
    let data: Map<String, Value> = steps
        .into_iter()
        .filter_map(|(key, step)| Some((key.to_owned(), Value::from(step?.to_string()))))
        .collect();
    Value::Object(data)
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
    let variables = variables(request.variables.as_deref())?;
    let (name, state, language) = tested(&request)?;
    let definition = parse_definition(&machine(&name, &state, language))?;
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
    let clock = Arc::new(VirtualClock::default());
    let executor = Executor::new(definition, invoker, clock.clone());
    let could_not_run = |e: &dyn std::fmt::Display| {
        ApiError::new(
            Code::ValidationException,
            format!("The state could not run: {e}"),
        )
    };
    let test = tokio::task::spawn_blocking(move || {
        runtime(clock.as_ref()).map(|rt| rt.block_on(executor.test_state(&name, input, variables)))
    })
    .await
    .map_err(|e| could_not_run(&e))?
    .map_err(|e| could_not_run(&e))?;
    Ok(answer(test, &level))
}
