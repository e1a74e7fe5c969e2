//! Step Functions' layer over JSONata: `$states` (input, result, errorOutput, context), variables from
//! `Assign`, AWS's added functions, the run's clock, and the errors a failed expression raises.

use std::sync::Arc;

use asl_interpreter::{Definition, Executor, FunctionError, LambdaInvoker, VirtualClock};
use async_trait::async_trait;
use serde_json::{json, Value};

/// Fails for functions named `fail`, answers `{"echo": payload}` otherwise.
struct Stub;

#[async_trait]
impl LambdaInvoker for Stub {
    async fn invoke(&self, name: &str, payload: Value) -> Result<Value, FunctionError> {
        if name.ends_with(":fail") {
            return Err(FunctionError::unhandled("Flaky", "failed on purpose"));
        }
        Ok(json!({ "echo": payload }))
    }
}

fn run(definition: Value, input: Value) -> Value {
    let definition = Definition::parse(&definition.to_string()).expect("the definition loads");
    let executor = Executor::new(
        definition,
        Arc::new(Stub),
        Arc::new(VirtualClock::default()),
    );
    executor
        .execute_blocking(input)
        .expect("the runtime starts")
        .summary()
}

fn task(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:111111111111:function:{name}")
}

#[test]
fn states_input_result_and_variables_flow_through_a_run() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": task("echo"),
            "Arguments": {"n": "{% $states.input.n * 2 %}"},
            "Assign": {"doubled": "{% $states.result.echo.n %}", "seen": "{% $states.input.n %}"},
            "Output": "{% $states.result %}", "Next": "Sum"},
        "Sum": {"Type": "Pass",
            "Output": {"sum": "{% $doubled + $seen %}", "from": "{% $keys($states.input) %}",
                "execution": "{% $type($states.context.Execution.Id) %}"},
            "End": true}}});
    let got = run(definition, json!({"n": 21}));
    assert_eq!(got["status"], "SUCCEEDED", "{got}");
    assert_eq!(
        got["output"],
        json!({"sum": 63, "from": "echo", "execution": "string"})
    );
}

#[test]
fn a_catcher_sees_the_error_output() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": task("fail"), "Next": "Done",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled",
                "Output": "{% $states.errorOutput.Error & ': ' & $parse($states.errorOutput.Cause).errorMessage %}"}]},
        "Handled": {"Type": "Succeed"},
        "Done": {"Type": "Succeed"}}});
    let got = run(definition, json!({}));
    assert_eq!(got["output"], json!("Flaky: failed on purpose"), "{got}");
}

#[test]
fn aws_functions_and_the_virtual_clock() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": true, "Output": {
            "chunks": "{% $partition($range(1, 5, 1), 2) %}",
            "parsed": "{% $parse('{\"a\": [1, 2]}').a %}",
            "hash": "{% $hash('input data', 'SHA-256') %}",
            "seeded": "{% $random(42) = $random(42) %}",
            "uuid": "{% $length($uuid()) %}",
            "clock": "{% $now() = $states.context.State.EnteredTime %}",
            "millis": "{% $millis() = $toMillis($states.context.State.EnteredTime) %}"}}}});
    let got = run(definition, json!({}));
    assert_eq!(
        got["output"],
        json!({"chunks": [[1, 2], [3, 4], [5]], "parsed": [1, 2],
            "hash": "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
            "seeded": true, "uuid": 36, "clock": true, "millis": true}),
        "{got}"
    );
}

#[test]
fn a_failed_expression_is_a_query_evaluation_error_with_aws_cause() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": true, "Output": {"x": "{% $states.input.s + 1 %}"}}}});
    let got = run(definition, json!({"s": "text"}));
    assert_eq!(got["error"], "States.QueryEvaluationError");
    assert_eq!(
        got["cause"],
        "An error occurred while executing the state 'P' (entered at the event id #2). The JSONata \
         expression '$states.input.s + 1' specified for the field 'Output/x' threw an error during \
         evaluation. T2001: The left side of the \"+\" operator must evaluate to a number"
    );
}

#[test]
fn an_expression_with_a_syntax_error_refuses_the_definition() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": true, "Output": "{% 1 + %}"}}});
    let refused = Definition::parse(&definition.to_string())
        .err()
        .map(|e| e.to_string());
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("S0207")),
        "{refused:?}"
    );
}
