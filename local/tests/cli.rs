//! The command line's contract: `exec` exits 0 whatever the execution's status and non-zero only for
//! an unusable definition or usage; `run --json` reports the whole goal.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn sfn_local(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sfn-local"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn exec(dir: &Path, definition: &Value, input: &Value) -> Output {
    let definition_file = dir.join("definition.json");
    let input_file = dir.join("input.json");
    std::fs::write(&definition_file, definition.to_string()).expect("definition written");
    std::fs::write(&input_file, input.to_string()).expect("input written");
    sfn_local(&[
        "exec",
        "--definition",
        definition_file.to_str().expect("utf-8 path"),
        "--input",
        input_file.to_str().expect("utf-8 path"),
        "--clock",
        "virtual",
    ])
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sfn-local-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn exec_prints_a_failed_execution_and_exits_zero() {
    let dir = scratch("failed");
    let definition = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "Next": "F"},
        "F": {"Type": "Fail", "Error": "Custom.Error", "Cause": "it had to fail"}}});
    let out = exec(&dir, &definition, &json!({}));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert_eq!(
        result,
        json!({"status": "FAILED", "output": null, "error": "Custom.Error", "cause": "it had to fail"})
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn exec_prints_a_succeeded_execution_with_its_output() {
    let dir = scratch("succeeded");
    let definition = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "End": true}}});
    let out = exec(&dir, &definition, &json!({"a": 2, "b": 3}));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(result["output"], json!({"sum": 5}));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn exec_refuses_an_unusable_definition_naming_the_state_and_field() {
    let dir = scratch("unusable");
    let definition = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Next": "Nowhere"}}});
    let out = exec(&dir, &definition, &json!({}));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("state 'P': field 'Next'"), "{message}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn usage_errors_exit_non_zero() {
    let out = sfn_local(&["exec", "--definition", "only-a-definition.json"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn run_json_reports_the_whole_goal() {
    let out = sfn_local(&["run", "--json", "--fail", "3", "--flaky", "2"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report as JSON");
    assert_eq!(report["status"], "SUCCEEDED");
    assert_eq!(report["goalStatus"], "partial");
    assert_eq!(report["totalActions"], 64);
    assert_eq!(report["actionsSucceeded"], 61);
    assert_eq!(report["actionsFailed"], 3);
    assert_eq!(report["failedActionIds"].as_array().map(Vec::len), Some(3));
    // 94 transitions for the run, one per retry of a throttled call, one per caught failure.
    assert_eq!(report["stateTransitions"], 94 + 2 + 3);
    assert!(report["tasksWritten"].as_u64().is_some_and(|n| n > 0));
    assert!(report["simulatedMakespanSeconds"]
        .as_f64()
        .is_some_and(|s| s > 0.0));
    assert!(report["estimatedCostUsd"].as_f64().is_some_and(|c| c > 0.0));
}

#[test]
fn numeric_options_refuse_non_finite_and_out_of_range_values() {
    for (option, value) in [
        ("--ai-latency", "1e300"),
        ("--ai-latency", "NaN"),
        ("--ai-latency", "inf"),
        ("--ai-latency", "-1"),
        ("--ai-latency-sigma", "1e308"),
    ] {
        let out = sfn_local(&[
            "run",
            "--json",
            "--actions",
            "1",
            &format!("{option}={value}"),
        ]);
        assert_eq!(out.status.code(), Some(2), "{option} {value}: {out:?}");
        let message = String::from_utf8_lossy(&out.stderr);
        assert!(message.contains(option), "{option} {value}: {message}");
    }
    let out = sfn_local(&["serve", "--ai-latency", "1e300", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn serve_refuses_a_virtual_api_clock_for_the_product_over_its_own_api() {
    let out = sfn_local(&[
        "serve",
        "--port",
        "0",
        "--api-clock",
        "virtual",
        "--aws-endpoint",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("--api-clock virtual"), "{message}");
}

#[test]
fn a_retrier_with_a_huge_backoff_runs_to_its_end_on_the_virtual_clock() {
    let dir = scratch("backoff");
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:111111111111:function:missing",
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1e308,
                   "MaxAttempts": 99_999_999}],
        "End": true}}});
    let definition_file = dir.join("definition.json");
    std::fs::write(&definition_file, definition.to_string()).expect("definition written");
    // Nothing listens on port 9 of loopback: every attempt fails fast as Lambda.SdkClientException.
    let out = sfn_local(&[
        "exec",
        "--definition",
        definition_file.to_str().expect("utf-8 path"),
        "--lambda-endpoint",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    // The third retry would wait past the execution's one-year limit.
    assert_eq!(result["status"], "TIMED_OUT", "{result}");
}

#[test]
fn exec_refuses_a_backoff_rate_below_one_at_load() {
    let dir = scratch("slow-backoff");
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:111111111111:function:f",
        "Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 0.5}], "End": true}}});
    let out = exec(&dir, &definition, &json!({}));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("Retry[0].BackoffRate"), "{message}");
}

#[test]
fn load_starts_serve_and_checks_every_run_it_starts_over_http() {
    let out = sfn_local(&[
        "load",
        "--users",
        "3",
        "--goals-per-user",
        "2",
        "--ai-latency",
        "0.05",
        "--poll",
        "0.1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: Value = serde_json::from_slice(&out.stdout).expect("JSON figures");
    assert_eq!(
        (
            &figures["runs"],
            &figures["runsExact"],
            &figures["serverErrors"]
        ),
        (&json!(6), &json!(6), &json!(0)),
        "{figures}"
    );
    assert!(figures["statusReads"].as_u64() >= Some(6), "{figures}");
    assert!(figures["servePeakMib"].as_f64() > Some(0.0), "{figures}");
}

#[cfg(unix)]
#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfn-local"))
        .args(["jsonata", "--no-input", "--expr", "[1..200000]"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sfn-local starts");
    let mut start = [0u8; 16];
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_exact(&mut start)
        .expect("the answer begins");
    let out = child.wait_with_output().expect("sfn-local ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
}
