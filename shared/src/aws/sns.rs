//! The [`Notifier`] on SNS.

use async_trait::async_trait;
use aws_sdk_sns::Client;

use crate::error::{DomainError, ErrorCode};
use crate::ports::{Alert, Notifier};

/// SNS subjects are at most 100 characters.
const MAX_SUBJECT: usize = 100;

pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// The topic `ALERTS_TOPIC_ARN` names.
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Self, super::ConfigError> {
        Ok(Self::new(
            Client::new(sdk_config),
            super::env("ALERTS_TOPIC_ARN")?,
        ))
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), DomainError> {
        let message = serde_json::to_string_pretty(alert)
            .map_err(|e| DomainError::permanent(ErrorCode::Internal, e.to_string()))?;
        let subject: String = alert
            .subject
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_SUBJECT)
            .collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| super::sdk_error("SNS Publish", e, |_| None))?;
        Ok(())
    }
}
