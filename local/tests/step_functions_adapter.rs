//! The Step Functions adapter (`StepFunctionsControl`) against moto's Step Functions and against
//! sfn-local's (`step_functions`).

#[path = "../../shared/tests/support/mod.rs"]
mod support;

mod step_functions;

use shared::aws::StepFunctionsControl;
use shared::naming::execution_name;
use shared::ports::{ExecutionControl, StartOutcome};
use shared::records::ExecutionStatus;
use step_functions::Backend;

crate::on_both_backends!(executions_start_once_per_name_and_stop);

async fn executions_start_once_per_name_and_stop(backend: Backend) {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let step_functions = backend.step_functions(&config);
    let client = step_functions.client.clone();
    let machine = client
        .create_state_machine()
        .name("StartActivity")
        .definition(support::definition())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .expect("state machine");
    let control = StepFunctionsControl::new(client.clone(), machine.state_machine_arn());
    let name = execution_name("goal-1", "key-1");
    let input = r#"{"goalId":"goal-1","userId":"u1","idempotencyKey":"key-1"}"#;

    let first = control.start_execution(&name, input).await.expect("start");
    let StartOutcome::Started { execution_arn, .. } = first.clone() else {
        panic!("a new execution expected, got {first:?}");
    };
    assert_eq!(execution_arn, control.execution_arn(&name));
    let again = control
        .start_execution(&name, input)
        .await
        .expect("start again");
    assert!(
        matches!(&again, StartOutcome::Started { execution_arn: arn, .. } | StartOutcome::AlreadyExists { execution_arn: arn } if *arn == execution_arn),
        "{again:?}"
    );
    let listed = client
        .list_executions()
        .state_machine_arn(machine.state_machine_arn())
        .send()
        .await
        .expect("list");
    assert_eq!(listed.executions().len(), 1, "one execution for one name");

    let described = control
        .describe_execution(&execution_arn)
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(described.status, ExecutionStatus::Running);
    control
        .stop_execution(&execution_arn, "test")
        .await
        .expect("stop");
    control
        .stop_execution(&execution_arn, "test")
        .await
        .expect("stopping again is harmless");
    let stopped = control
        .describe_execution(&execution_arn)
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(stopped.status, ExecutionStatus::Aborted);

    // The name stays taken after the execution closed.
    let after = control
        .start_execution(&name, input)
        .await
        .expect("start after close");
    assert_eq!(
        after,
        StartOutcome::AlreadyExists {
            execution_arn: execution_arn.clone()
        }
    );

    let unknown = control.execution_arn("never-started");
    assert_eq!(
        control
            .describe_execution(&unknown)
            .await
            .expect("describe"),
        None
    );
    control
        .stop_execution(&unknown, "test")
        .await
        .expect("stopping an unknown execution is harmless");
}
