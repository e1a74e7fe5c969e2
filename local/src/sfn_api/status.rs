//! Execution status changes as Step Functions sends them to EventBridge ("Step Functions Execution
//! Status Change"), and whoever the host has listening for them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Hears of every status change of the API's Standard executions (RUNNING when one starts, its
/// final status when it ends), each as the event EventBridge would deliver.
#[async_trait]
pub trait StatusListener: Send + Sync {
    async fn status_changed(&self, event: Value);
}

/// One execution's status change.
#[derive(Debug, Clone)]
pub struct StatusChange<'a> {
    pub execution_arn: &'a str,
    pub state_machine_arn: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub started: DateTime<Utc>,
    pub stopped: Option<DateTime<Utc>>,
    /// The execution's input and output, as JSON text.
    pub input: Option<&'a str>,
    pub output: Option<String>,
    pub error: Option<&'a str>,
    pub cause: Option<&'a str>,
}

impl StatusChange<'_> {
    /// The EventBridge event: its account and region are the state machine's.
    pub fn event(&self) -> Value {
        let arn_part = |i: usize| self.state_machine_arn.split(':').nth(i).unwrap_or_default();
        let included = |present: bool| present.then(|| json!({"included": true}));
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": arn_part(4),
            "time": self.stopped.unwrap_or(self.started),
            "region": arn_part(3),
            "resources": [self.execution_arn],
            "detail": {
                "executionArn": self.execution_arn,
                "stateMachineArn": self.state_machine_arn,
                "name": self.name,
                "status": self.status,
                "startDate": self.started.timestamp_millis(),
                "stopDate": self.stopped.map(|d| d.timestamp_millis()),
                "input": self.input,
                "inputDetails": included(self.input.is_some()),
                "output": self.output,
                "outputDetails": included(self.output.is_some()),
                "error": self.error,
                "cause": self.cause,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_its_execution_machine_account_and_region() {
        let started = Utc::now();
        let change = StatusChange {
            execution_arn: "arn:aws:states:eu-west-1:111122223333:execution:m:e",
            state_machine_arn: "arn:aws:states:eu-west-1:111122223333:stateMachine:m",
            name: "e",
            status: "ABORTED",
            started,
            stopped: Some(started),
            input: Some("{}"),
            output: None,
            error: Some("Cancelled"),
            cause: None,
        };
        let event = change.event();
        assert_eq!(
            (&event["account"], &event["region"], &event["source"]),
            (
                &json!("111122223333"),
                &json!("eu-west-1"),
                &json!("aws.states")
            )
        );
        assert_eq!(event["resources"], json!([change.execution_arn]));
        let detail = &event["detail"];
        assert_eq!(
            (&detail["status"], &detail["error"], &detail["stopDate"]),
            (
                &json!("ABORTED"),
                &json!("Cancelled"),
                &json!(started.timestamp_millis())
            )
        );
        assert_eq!(
            (&detail["inputDetails"], &detail["outputDetails"]),
            (&json!({"included": true}), &Value::Null)
        );
    }
}
