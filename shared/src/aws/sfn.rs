//! [`ExecutionControl`] on Step Functions.

use async_trait::async_trait;
use aws_sdk_sfn::primitives::DateTime as SmithyDateTime;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use aws_sdk_sfn::Client;
use chrono::{DateTime, Utc};

use crate::error::{DomainError, ErrorCode};
use crate::naming;
use crate::ports::{ExecutionControl, ExecutionDescription, StartOutcome};
use crate::records::ExecutionStatus;

pub struct StepFunctionsControl {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctionsControl {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// The state machine `STATE_MACHINE_ARN` names.
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Self, super::ConfigError> {
        Ok(Self::new(
            Client::new(sdk_config),
            super::env("STATE_MACHINE_ARN")?,
        ))
    }
}

fn to_chrono(t: &SmithyDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

fn status(s: &SfnStatus) -> ExecutionStatus {
    match s {
        SfnStatus::Running | SfnStatus::PendingRedrive => ExecutionStatus::Running,
        SfnStatus::Succeeded => ExecutionStatus::Succeeded,
        SfnStatus::TimedOut => ExecutionStatus::TimedOut,
        SfnStatus::Aborted => ExecutionStatus::Aborted,
        _ => ExecutionStatus::Failed,
    }
}

fn validation(code: &str) -> Option<DomainError> {
    matches!(
        code,
        "InvalidArn"
            | "InvalidName"
            | "InvalidExecutionInput"
            | "StateMachineDoesNotExist"
            | "StateMachineDeleting"
    )
    .then(|| {
        DomainError::permanent(
            ErrorCode::Internal,
            format!("Step Functions refused the request: {code}"),
        )
    })
}

#[async_trait]
impl ExecutionControl for StepFunctionsControl {
    fn execution_arn(&self, name: &str) -> String {
        naming::execution_arn(&self.state_machine_arn, name)
    }

    async fn start_execution(&self, name: &str, input: &str) -> Result<StartOutcome, DomainError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(out) => Ok(StartOutcome::Started {
                execution_arn: out.execution_arn,
                start_date: to_chrono(&out.start_date),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                Ok(StartOutcome::AlreadyExists {
                    execution_arn: self.execution_arn(name),
                })
            }
            Err(e) => Err(super::sdk_error(
                "Step Functions StartExecution",
                e,
                validation,
            )),
        }
    }

    async fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDescription>, DomainError> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(ExecutionDescription {
                execution_arn: out.execution_arn,
                status: status(&out.status),
                start_date: to_chrono(&out.start_date),
                stop_date: out.stop_date.as_ref().map(to_chrono),
                error: out.error,
                cause: out.cause,
                output: out.output,
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                Ok(None)
            }
            Err(e) => Err(super::sdk_error(
                "Step Functions DescribeExecution",
                e,
                validation,
            )),
        }
    }

    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> Result<(), DomainError> {
        let result = self
            .client
            .stop_execution()
            .execution_arn(execution_arn)
            .error("Cancelled")
            .cause(cause)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                Ok(())
            }
            Err(e) => Err(super::sdk_error(
                "Step Functions StopExecution",
                e,
                validation,
            )),
        }
    }
}
