//! TestState: one state run once on its own, as Step Functions' TestState runs it. It reports the
//! state's output and the state it goes to next, whether its error was caught or would be retried,
//! and what its data looked like on the way through the pipeline.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::catch;
use crate::definition::State;
use crate::error::{ErrorName, StatesError};
use crate::execution::{Execution, Frame};
use crate::limits::check_payload;
pub use crate::pipeline::Inspection;
use crate::pipeline::{Next, Outcome, StateCtx};
use crate::retry::RetryState;
use crate::run::{context_for, entered};
use crate::states;

/// How the tested state ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    /// It ended without an error.
    Succeeded,
    /// It failed, and no retrier of its would retry the error.
    Failed,
    /// It failed and one of its catchers caught the error.
    CaughtError,
    /// It failed, and one of its retriers would retry the error.
    Retriable,
}

impl TestStatus {
    /// The status as TestState names it.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Succeeded => "SUCCEEDED",
            TestStatus::Failed => "FAILED",
            TestStatus::CaughtError => "CAUGHT_ERROR",
            TestStatus::Retriable => "RETRIABLE",
        }
    }
}

/// What TestState answers for one state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTest {
    pub status: TestStatus,
    /// The state's output (for a caught error, its catcher's), unless the state failed.
    pub output: Option<Value>,
    /// Where the state goes next: its Next, the chosen state or the catcher's Next; none when it
    /// ends its branch or fails.
    pub next_state: Option<String>,
    /// The error, unless the state succeeded; an empty error name is none.
    pub error: Option<String>,
    pub cause: Option<String>,
    pub inspection: Inspection,
}

impl StateTest {
    fn ended(status: TestStatus, outcome: Outcome, inspection: Inspection) -> StateTest {
        let next_state = match outcome.next {
            Next::State(name) => Some(name),
            Next::End => None,
        };
        StateTest {
            status,
            output: Some(outcome.output),
            next_state,
            error: None,
            cause: None,
            inspection,
        }
    }

    /// The answer for a state the definition does not have.
    pub(crate) fn missing(state: &str) -> StateTest {
        StateTest {
            status: TestStatus::Failed,
            output: None,
            next_state: None,
            error: None,
            cause: None,
            inspection: Inspection::default(),
        }
        .with_error(StatesError::named(
            ErrorName::Runtime,
            format!("State '{state}' does not exist"),
        ))
    }

    fn with_error(mut self, err: StatesError) -> StateTest {
        self.error = (!err.error.is_empty()).then_some(err.error);
        self.cause = err.cause;
        self
    }
}

/// Enters `state` once with `input` and the variables `vars`, inspecting its pipeline: an error is
/// caught by the state's catchers (as in an execution, only a Task's, Parallel's or Map's); an
/// error no catcher takes is RETRIABLE when a retrier of the state would retry it, without
/// retrying.
pub(crate) async fn test_state(
    execution: Arc<Execution>,
    state: Arc<State>,
    input: Value,
    vars: Map<String, Value>,
) -> StateTest {
    let entered_id = execution.event(entered(&state, &input));
    let frame = Frame {
        vars,
        map_item: None,
    };
    let ctx = StateCtx {
        context: context_for(&execution, &frame, &state, execution.clock.now(), 0),
        execution,
        state: state.clone(),
        entered_id,
        frame,
        inspection: Some(Mutex::new(Inspection {
            input: input.clone(),
            ..Inspection::default()
        })),
    };
    if !state.is_jsonata() {
        let after_input_path = ctx.input_path(&input).ok();
        ctx.inspect(|i| i.after_input_path = after_input_path);
    }
    let ran = states::execute(&ctx, input.clone()).await;
    // Its output is held to the payload limits, as the run loop holds every state's.
    let ended = match ran {
        Ok(outcome) => Ok((TestStatus::Succeeded, outcome, None)),
        Err(err) => caught(&ctx, &input, err),
    }
    .and_then(|(status, outcome, err)| {
        check_payload(&outcome.output, &state.name)?;
        Ok((status, outcome, err))
    });
    let inspection = ctx
        .inspection
        .map(|i| i.into_inner().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_default();
    match ended {
        Ok((status, outcome, err)) => {
            let test = StateTest::ended(status, outcome, inspection);
            match err {
                Some(err) => test.with_error(err),
                None => test,
            }
        }
        Err(err) => {
            let retriable = RetryState::from_field(state.field("Retry"))
                .next_delay(&err.error, 0.0)
                .is_some();
            let status = if retriable {
                TestStatus::Retriable
            } else {
                TestStatus::Failed
            };
            StateTest {
                status,
                output: None,
                next_state: None,
                error: None,
                cause: None,
                inspection,
            }
            .with_error(err)
        }
    }
}

/// The outcome of a state that failed with `err` when one of its catchers catches the error,
/// with the error; else the error.
fn caught(
    ctx: &StateCtx,
    input: &Value,
    err: StatesError,
) -> Result<(TestStatus, Outcome, Option<StatesError>), StatesError> {
    let state = &ctx.state;
    let catcher = match catch::find(state.field("Catch"), &err.error) {
        Some(catcher) if state.kind.does_work() => catcher,
        _ => return Err(err),
    };
    let outcome = ctx.caught(input, &err, catcher)?;
    Ok((TestStatus::CaughtError, outcome, Some(err)))
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::clock::{runtime, VirtualClock};
    use crate::invoker::{FunctionError, LambdaInvoker};
    use crate::{Definition, Executor};

    /// Answers every task itself: `{"Item": …}` for `dynamodb:getItem`, a throttling error for
    /// `dynamodb:putItem`.
    struct Table;

    #[async_trait]
    impl LambdaInvoker for Table {
        async fn invoke(&self, _: &str, payload: Value) -> Result<Value, FunctionError> {
            Ok(payload)
        }

        async fn answer_task(
            &self,
            _state: &str,
            resource: &str,
            parameters: &Value,
        ) -> Option<Result<Value, FunctionError>> {
            if resource.ends_with(":putItem") {
                return Some(Err(FunctionError::unhandled(
                    "DynamoDB.Throttled",
                    "slow down",
                )));
            }
            Some(Ok(
                json!({"Item": {"name": {"S": parameters["Key"]["id"]}}}),
            ))
        }
    }

    fn test(states: Value, state: &str, input: Value, vars: Value) -> StateTest {
        let text = json!({"StartAt": state, "States": states}).to_string();
        let definition = Definition::parse_any_resource(&text).unwrap_or_else(|e| panic!("{e}"));
        let executor = Executor::new(
            definition,
            Arc::new(Table),
            Arc::new(VirtualClock::default()),
        );
        let Value::Object(vars) = vars else {
            panic!("variables are an object")
        };
        runtime(executor.clock().as_ref())
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(executor.test_state(state, input, vars))
    }

    fn get_item(extra: Value) -> Value {
        let mut state = json!({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
            "InputPath": "$.in", "Parameters": {"Key": {"id.$": "$.id"}},
            "ResultSelector": {"name.$": "$.Item.name.S"}, "ResultPath": "$.found",
            "OutputPath": "$.found", "Next": "After"});
        if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
            state.extend(extra);
        }
        let mut states = json!({"T": state, "After": {"Type": "Succeed"}});
        if state_has_catch(&states["T"]) {
            states["Handle"] = json!({"Type": "Succeed"});
        }
        states
    }

    fn state_has_catch(state: &Value) -> bool {
        state.get("Catch").is_some()
    }

    #[test]
    fn a_task_shows_each_step_of_its_pipeline() {
        let input = json!({"in": {"id": "7"}, "other": 1});
        let r = test(get_item(json!({})), "T", input.clone(), json!({}));
        assert_eq!(r.status, TestStatus::Succeeded);
        assert_eq!(r.output, Some(json!({"name": "7"})));
        assert_eq!(r.next_state.as_deref(), Some("After"));
        let i = r.inspection;
        assert_eq!(i.input, input);
        assert_eq!(i.after_input_path, Some(json!({"id": "7"})));
        assert_eq!(i.after_parameters, Some(json!({"Key": {"id": "7"}})));
        assert_eq!(i.result, Some(json!({"Item": {"name": {"S": "7"}}})));
        assert_eq!(i.after_result_selector, Some(json!({"name": "7"})));
        // ResultPath puts the selected result in the raw input, which InputPath did not change.
        assert_eq!(
            i.after_result_path,
            Some(json!({"in": {"id": "7"}, "other": 1, "found": {"name": "7"}}))
        );
    }

    #[test]
    fn an_error_is_caught_else_retriable_else_failed() {
        let put = |extra: Value| {
            let mut states = get_item(extra);
            states["T"]["Resource"] = json!("arn:aws:states:::dynamodb:putItem");
            test(states, "T", json!({"in": {"id": "7"}}), json!({}))
        };
        let failed = put(json!({}));
        assert_eq!(failed.status, TestStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("DynamoDB.Throttled"));
        assert_eq!((failed.output, failed.next_state), (None, None));
        assert_eq!(failed.inspection.result, None);

        let retry = json!([{"ErrorEquals": ["DynamoDB.Throttled"], "MaxAttempts": 2}]);
        let retriable = put(json!({"Retry": retry}));
        assert_eq!(retriable.status, TestStatus::Retriable);
        assert_eq!(retriable.error.as_deref(), Some("DynamoDB.Throttled"));
        let other = json!([{"ErrorEquals": ["Other"]}]);
        assert_eq!(put(json!({"Retry": other})).status, TestStatus::Failed);

        let catch =
            json!([{"ErrorEquals": ["States.ALL"], "Next": "Handle", "ResultPath": "$.error"}]);
        let caught = put(json!({"Catch": catch}));
        assert_eq!(caught.status, TestStatus::CaughtError);
        assert_eq!(caught.next_state.as_deref(), Some("Handle"));
        assert_eq!(
            (caught.error.as_deref(), caught.cause.as_deref()),
            (Some("DynamoDB.Throttled"), Some("slow down"))
        );
        let output = caught.output.unwrap_or_default();
        assert_eq!(output["error"]["Error"], json!("DynamoDB.Throttled"));
        assert_eq!(output["in"], json!({"id": "7"}));
    }

    #[test]
    fn variables_are_in_scope_and_a_choice_names_the_state_it_chose() {
        let states = json!({
            "C": {"Type": "Choice", "QueryLanguage": "JSONata", "Choices": [
                {"Condition": "{% $limit < $states.input.n %}", "Next": "Big",
                 "Output": "{% $states.input.n - $limit %}"}], "Default": "Small"},
            "Big": {"Type": "Succeed"}, "Small": {"Type": "Succeed"}});
        let r = test(states.clone(), "C", json!({"n": 12}), json!({"limit": 10}));
        assert_eq!(
            (r.status, r.next_state.as_deref(), r.output),
            (TestStatus::Succeeded, Some("Big"), Some(json!(2)))
        );
        // A JSONata state has no InputPath.
        assert_eq!(r.inspection.after_input_path, None);
        let r = test(states, "C", json!({"n": 8}), json!({"limit": 10}));
        assert_eq!(r.next_state.as_deref(), Some("Small"));
    }

    #[test]
    fn a_state_the_definition_lacks_fails() {
        let definition =
            Definition::parse(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        let executor = Executor::new(
            definition,
            Arc::new(Table),
            Arc::new(VirtualClock::default()),
        );
        let r = runtime(executor.clock().as_ref())
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(executor.test_state("Q", json!({}), Map::new()));
        assert_eq!(
            (r.status, r.error.as_deref()),
            (TestStatus::Failed, Some("States.Runtime"))
        );
    }
}
