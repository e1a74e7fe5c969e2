//! The calls a deployed function makes through the ports that do not reach the AWS-API server in
//! the end-to-end run (Step Functions through the in-process executions, the model through the
//! offline generator), written down as the IAM action and resource the real adapter's request
//! needs: one JSON line each in the file `RECORDED_PORT_CALLS` names, for scripts/iam_check.py.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;
use shared::ports::{
    ExecutionControl, ExecutionDescription, GeneratedTask, StartOutcome, TaskGenerator,
};
use shared::records::Action;
use shared::{DomainError, ErrorCode};

/// Where the calls go: nowhere when `RECORDED_PORT_CALLS` is not set.
pub struct PortCalls(Option<Mutex<File>>);

impl PortCalls {
    pub fn from_env() -> Arc<Self> {
        let file = std::env::var("RECORDED_PORT_CALLS").ok().map(|path| {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            Mutex::new(file)
        });
        Arc::new(PortCalls(file))
    }

    fn record(&self, principal: &str, action: &str, resource: &str, api: &str) {
        if let Some(file) = &self.0 {
            let line = json!({"principal": principal, "action": action,
                              "resources": [resource], "api": api});
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            writeln!(file, "{line}").expect("the port calls file");
        }
    }
}

/// What the real adapter of a function whose environment lacks `variable` does: it never starts.
fn unconfigured(principal: &str, variable: &str) -> DomainError {
    DomainError::permanent(
        ErrorCode::Internal,
        format!("{principal} has no {variable}"),
    )
}

/// A function's Step Functions control, as [`shared::aws::StepFunctionsControl`] would call the
/// service: StartExecution on the state machine its environment names (`STATE_MACHINE_ARN`),
/// DescribeExecution and StopExecution on the execution.
pub struct RecordingControl {
    pub principal: String,
    pub state_machine_arn: Option<String>,
    pub inner: Arc<dyn ExecutionControl>,
    pub calls: Arc<PortCalls>,
}

#[async_trait]
impl ExecutionControl for RecordingControl {
    fn execution_arn(&self, name: &str) -> String {
        self.inner.execution_arn(name)
    }

    async fn start_execution(&self, name: &str, input: &str) -> Result<StartOutcome, DomainError> {
        let Some(state_machine_arn) = &self.state_machine_arn else {
            return Err(unconfigured(&self.principal, "STATE_MACHINE_ARN"));
        };
        self.calls.record(
            &self.principal,
            "states:StartExecution",
            state_machine_arn,
            "Step Functions StartExecution",
        );
        self.inner.start_execution(name, input).await
    }

    async fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDescription>, DomainError> {
        if self.state_machine_arn.is_none() {
            return Err(unconfigured(&self.principal, "STATE_MACHINE_ARN"));
        }
        self.calls.record(
            &self.principal,
            "states:DescribeExecution",
            execution_arn,
            "Step Functions DescribeExecution",
        );
        self.inner.describe_execution(execution_arn).await
    }

    async fn stop_execution(&self, execution_arn: &str, cause: &str) -> Result<(), DomainError> {
        if self.state_machine_arn.is_none() {
            return Err(unconfigured(&self.principal, "STATE_MACHINE_ARN"));
        }
        self.calls.record(
            &self.principal,
            "states:StopExecution",
            execution_arn,
            "Step Functions StopExecution",
        );
        self.inner.stop_execution(execution_arn, cause).await
    }
}

/// A function's task generator, as [`shared::aws::BedrockGenerator`] would call the model:
/// Converse, which IAM authorises as bedrock:InvokeModel on the foundation model its environment
/// names (`BEDROCK_MODEL_ID`).
pub struct RecordingGenerator {
    pub principal: String,
    pub model_arn: Option<String>,
    pub inner: Arc<dyn TaskGenerator>,
    pub calls: Arc<PortCalls>,
}

#[async_trait]
impl TaskGenerator for RecordingGenerator {
    async fn generate(
        &self,
        goal_title: &str,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        let Some(model_arn) = &self.model_arn else {
            return Err(unconfigured(&self.principal, "BEDROCK_MODEL_ID"));
        };
        self.calls.record(
            &self.principal,
            "bedrock:InvokeModel",
            model_arn,
            "Bedrock Converse",
        );
        self.inner.generate(goal_title, action).await
    }
}
