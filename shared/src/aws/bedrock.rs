//! The [`TaskGenerator`] on Amazon Bedrock's Converse API.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message,
    SystemContentBlock,
};
use aws_sdk_bedrockruntime::Client;

use crate::deadlines::AI_CLIENT_TIMEOUT_SECONDS;
use crate::error::{DomainError, ErrorCode};
use crate::model_output::{parse_model_output, TASK_SCHEMA};
use crate::ports::{GeneratedTask, TaskGenerator};
use crate::records::Action;

const MAX_TOKENS: i32 = 2_000;

pub struct BedrockGenerator {
    client: Client,
    model_id: String,
}

impl BedrockGenerator {
    /// A client that gives up before the state's 120 s timeout, so a slow model is reported as a
    /// transient error rather than the function being cut off.
    pub fn client(sdk_config: &aws_config::SdkConfig) -> Client {
        let config = aws_sdk_bedrockruntime::config::Builder::from(sdk_config)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(AI_CLIENT_TIMEOUT_SECONDS))
                    .build(),
            )
            .build();
        Client::from_conf(config)
    }

    pub fn new(client: Client, model_id: impl Into<String>) -> Self {
        Self {
            client,
            model_id: model_id.into(),
        }
    }

    /// The model `BEDROCK_MODEL_ID` names.
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Self, super::ConfigError> {
        Ok(Self::new(
            Self::client(sdk_config),
            super::env("BEDROCK_MODEL_ID")?,
        ))
    }
}

fn instructions() -> String {
    format!(
        "You turn one action of a personal goal into 3 to 6 concrete, small tasks a person can do. \
         Answer with one JSON object and nothing else, valid against this JSON Schema:\n{TASK_SCHEMA}"
    )
}

fn classify(code: &str) -> Option<DomainError> {
    let transient = [
        "ModelTimeoutException",
        "ModelNotReadyException",
        "ServiceUnavailableException",
        "InternalServerException",
    ];
    if transient.contains(&code) {
        return Some(DomainError::transient(
            ErrorCode::Unavailable,
            format!("Bedrock: {code}"),
        ));
    }
    None
}

#[async_trait]
impl TaskGenerator for BedrockGenerator {
    async fn generate(
        &self,
        goal_title: Option<&str>,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        let prompt = format!(
            "Goal: {}\nAction: {}\nDetails: {}",
            goal_title.unwrap_or("(untitled)"),
            action.title,
            if action.description.is_empty() {
                "none"
            } else {
                &action.description
            },
        );
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt))
            .build()
            .map_err(|e| DomainError::permanent(ErrorCode::Internal, e.to_string()))?;
        let out = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(instructions()))
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(MAX_TOKENS)
                    .temperature(0.2)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| super::sdk_error("Bedrock Converse", e, classify))?;
        let text: String = match out.output {
            Some(ConverseOutput::Message(m)) => m
                .content
                .into_iter()
                .filter_map(|block| match block {
                    ContentBlock::Text(t) => Some(t),
                    _ => None,
                })
                .collect(),
            _ => String::new(),
        };
        parse_model_output(&text)
    }
}
