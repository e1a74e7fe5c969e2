//! `--aws-endpoint` checks its endpoint and tables before the run: an endpoint nothing listens on,
//! and a moto server without the tables, are each one clear line on stderr and a non-zero exit.

#[path = "../../shared/tests/support/mod.rs"]
mod support;

use std::net::TcpListener;
use std::process::{Command, Output};

/// `sfn-local run --aws-endpoint endpoint` with credentials, region and table variables as `env`
/// sets them and nothing else from the environment that would point the SDK elsewhere.
fn run_against(endpoint: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfn-local"));
    command
        .args(["run", "--aws-endpoint", endpoint, "--actions", "1"])
        .env_remove("GOALS_TABLE")
        .env_remove("ACTIONS_TABLE")
        .env_remove("TASKS_TABLE")
        .env_remove("EXECUTIONS_TABLE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("sfn-local runs")
}

/// The one line the binary printed, after checking it failed without a panic or a Debug dump.
fn failure_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && out.status.code().is_some(),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("DispatchFailure") && !stderr.contains("ServiceError"),
        "a Debug dump: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn an_endpoint_nothing_listens_on_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port");
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = run_against(&endpoint, &[]);
    let stderr = failure_line(&out);
    assert!(
        stderr.starts_with(&format!(
            "sfn-local: cannot reach the AWS endpoint {endpoint}: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "the cause: {stderr}");
}

#[test]
fn a_missing_table_is_named_with_how_to_create_it() {
    let moto = support::start();
    let out = run_against(&moto.endpoint, &[]);
    let stderr = failure_line(&out);
    for expected in [
        format!("table GoalsTable does not exist at {}", moto.endpoint),
        "GOALS_TABLE names it".to_owned(),
        "python3 scripts/deploy-local.py --serve dev".to_owned(),
        format!("python3 scripts/seed_moto.py {}", moto.endpoint),
    ] {
        assert!(stderr.contains(&expected), "{expected:?} in {stderr}");
    }
}

#[test]
fn a_missing_table_named_by_a_variable_is_named_with_its_variable() {
    let moto = support::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = runtime.block_on(moto.sdk_config());
    let tables = runtime.block_on(support::create_tables(&config, "check"));
    let out = run_against(
        &moto.endpoint,
        &[
            ("GOALS_TABLE", &tables.goals),
            ("ACTIONS_TABLE", &tables.actions),
            ("TASKS_TABLE", "check-NoSuchTable"),
            ("EXECUTIONS_TABLE", &tables.executions),
        ],
    );
    let stderr = failure_line(&out);
    assert!(
        stderr.contains(&format!(
            "table check-NoSuchTable, named by TASKS_TABLE, does not exist at {}",
            moto.endpoint
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("unset GOALS_TABLE, ACTIONS_TABLE, TASKS_TABLE and EXECUTIONS_TABLE"),
        "{stderr}"
    );
}
