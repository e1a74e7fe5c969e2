//! The JSONPath forms real definitions use, loaded and run as Step Functions does: Jayway's dialect
//! (`.[0]`, filters with `&&`, `||` and `$` references, bracket unions) with AWS's documented limits
//! ("Using JSONPath paths" in the Step Functions developer guide).

use std::sync::Arc;

use asl_interpreter::{Definition, Executor, FunctionError, LambdaInvoker, VirtualClock};
use async_trait::async_trait;
use serde_json::{json, Value};

struct NoLambda;

#[async_trait]
impl LambdaInvoker for NoLambda {
    async fn invoke(&self, name: &str, _payload: Value) -> Result<Value, FunctionError> {
        Err(FunctionError::unhandled("NoLambda", name))
    }
}

fn pass(fields: Value) -> Value {
    let mut state = json!({"Type": "Pass", "End": true});
    if let (Some(state), Some(fields)) = (state.as_object_mut(), fields.as_object()) {
        state.extend(fields.clone());
    }
    json!({"StartAt": "P", "States": {"P": state}})
}

fn run(definition: Value, input: Value) -> Value {
    let definition = Definition::parse(&definition.to_string()).expect("the definition loads");
    let executor = Executor::new(
        definition,
        Arc::new(NoLambda),
        Arc::new(VirtualClock::default()),
    );
    executor
        .execute_blocking(input)
        .expect("the runtime starts")
        .summary()
}

#[test]
fn a_dot_before_a_bracket_reads_as_the_bracket() {
    // aws-samples: `$.Snapshots.[0].State` (ResultSelector), `$.[0].body` (Parameters).
    let got = run(
        pass(
            json!({"Parameters": {"state.$": "$.Snapshots.[0].State", "body.$": "$.list.[0].body"}}),
        ),
        json!({"Snapshots": [{"State": "completed"}], "list": [{"body": "b"}]}),
    );
    assert_eq!(got["output"], json!({"state": "completed", "body": "b"}));
    let got = run(pass(json!({"OutputPath": "$.[1]"})), json!(["a", "b"]));
    assert_eq!(got["output"], json!("b"));
}

#[test]
fn filters_with_and_or_and_a_document_reference() {
    let input = json!({
        "agent_id": "w2",
        "approaches": [{"workerId": "w1", "approach": "x"}, {"workerId": "w2", "approach": "y"}],
        "pets": [
            {"species": "cat", "age": 3}, {"species": "cat", "age": 8},
            {"species": "dog", "age": 1}
        ]
    });
    let got = run(
        pass(json!({"Parameters": {
            "winning.$": "$.approaches[?(@.workerId == $.agent_id)].approach",
            "young_cats.$": "$.pets[?(@.species == 'cat' && @.age<5)]",
            "cat_or_young.$": "$.pets[?(@.species == 'cat' || @.age < 2)].age",
            "none.$": "$.pets[?(@.species == 'bird')]"
        }})),
        input,
    );
    assert_eq!(got["status"], "SUCCEEDED", "{got}");
    assert_eq!(
        got["output"],
        json!({
            "winning": ["y"],
            "young_cats": [{"species": "cat", "age": 3}],
            "cat_or_young": [3, 8, 1],
            "none": []
        })
    );
}

#[test]
fn a_bracket_union_selects_several_names() {
    let got = run(
        pass(json!({"Parameters": {"objects.$": "$.Records[*]['bucket','key']"}})),
        json!({"Records": [{"bucket": "b", "key": "k1", "etag": "e"}, {"bucket": "b", "key": "k2"}]}),
    );
    assert_eq!(
        got["output"],
        json!({"objects": [{"bucket": "b", "key": "k1"}, {"bucket": "b", "key": "k2"}]})
    );
}

/// A bare word in a filter is not a literal to Jayway: AWS accepts the definition (AWS's own
/// samples deploy with `[?(@.Name==Receipt)]`), and the state fails with States.Runtime when it
/// reads the path (aws-samples/aws-batch-runtime-monitoring#7: "would lead to failed states").
#[test]
fn an_unquoted_filter_word_loads_and_fails_the_state() {
    let definition = pass(json!({"Parameters": {"receipt.$": "$.Labels[?(@.Name==Receipt)]"}}));
    let got = run(definition, json!({"Labels": [{"Name": "Receipt"}]}));
    assert_eq!(got["status"], "FAILED", "{got}");
    assert_eq!(got["error"], "States.Runtime");
    let cause = got["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("Invalid path '$.Labels[?(@.Name==Receipt)]'")
            && cause.contains("'Receipt'"),
        "{cause}"
    );
    let got = run(
        pass(json!({"InputPath": "$[?(@.Code==es)]"})),
        json!([{"Code": "es"}]),
    );
    assert_eq!(got["error"], "States.Runtime", "{got}");
}

/// AWS's cause for a definite path that finds nothing (recorded in the conformance pack), with the
/// path in Jayway's bracket form, is unchanged by the dialect.
#[test]
fn a_definite_path_that_finds_nothing_is_a_runtime_error() {
    let got = run(
        pass(json!({"OutputPath": "$.list.[5]"})),
        json!({"list": [1]}),
    );
    assert_eq!(got["error"], "States.Runtime");
    assert!(got["cause"].as_str().is_some_and(
        |c| c.ends_with("Invalid path '$.list.[5]' : No results for path: $['list'][5]")
    ));
}

#[test]
fn malformed_or_unsupported_paths_refuse_the_definition() {
    for path in [
        "$.a[?(@.x == 1]",
        "$.a[?(@.x =~ /a.*/)]",
        "$.a[?(@.x in ['a'])]",
        "$.a.",
        "$['a',]",
    ] {
        let definition = pass(json!({"Parameters": {"v.$": path}}));
        let refused = Definition::parse(&definition.to_string());
        assert!(
            refused.is_err_and(|e| e
                .to_string()
                .starts_with("state 'P': field 'Parameters.v.$'")),
            "{path}"
        );
    }
}
