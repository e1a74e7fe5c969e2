//! `sfn-local jsonata`: one JSON object on stdout for a result, undefined or an error, exit 0 for all
//! three, and 2 for a usage error.

use std::process::Command;

use serde_json::{json, Value};

fn jsonata(args: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfn-local"))
        .arg("jsonata")
        .args(args)
        .output()
        .expect("the binary runs");
    let printed = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), printed)
}

fn scratch(name: &str, text: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("sfn-local-jsonata-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("scratch file written");
    path.to_string_lossy().into_owned()
}

#[test]
fn prints_the_result_of_an_expression_file_with_input_and_bindings() {
    let expr = scratch("expr", "$sum(orders.(price * qty)) * $rate");
    let input = scratch(
        "input",
        r#"{"orders": [{"price": 2, "qty": 3}, {"price": 1, "qty": 4}]}"#,
    );
    let bindings = scratch("bindings", r#"{"rate": 10}"#);
    let got = jsonata(&[
        "--expr-file",
        &expr,
        "--input",
        &input,
        "--bindings",
        &bindings,
    ]);
    assert_eq!(got, (Some(0), json!({"result": 100})));
}

#[test]
fn prints_undefined_and_errors_with_exit_zero() {
    assert_eq!(
        jsonata(&["--expr", "missing.field", "--no-input"]),
        (Some(0), json!({"undefined": true}))
    );
    assert_eq!(
        jsonata(&["--expr", "'a' + 1", "--no-input"]),
        (
            Some(0),
            json!({"error": {"code": "T2001", "position": 5, "token": "+",
                "message": "The left side of the \"+\" operator must evaluate to a number"}})
        )
    );
}

#[test]
fn a_runaway_expression_stops_at_the_time_limit() {
    let (code, printed) = jsonata(&[
        "--expr",
        "($f := function($x) { $f($x) + 1 }; $f(1))",
        "--timelimit",
        "100",
        "--depth",
        "100000",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(printed["error"]["code"], "U1001", "{printed}");
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(jsonata(&["--no-input"]).0, Some(2));
    assert_eq!(jsonata(&["--expr-file", "/nonexistent/expr"]).0, Some(2));
    let not_object = scratch("list", "[1]");
    assert_eq!(
        jsonata(&["--expr", "1", "--bindings", &not_object]).0,
        Some(2)
    );
}
