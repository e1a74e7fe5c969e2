//! The API's errors, as Step Functions answers them: HTTP 400 with `{"__type", "message"}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The error codes this API answers with, named as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    ActivityDoesNotExist,
    ConflictException,
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    InvalidArn,
    InvalidDefinition,
    InvalidEncryptionConfiguration,
    InvalidExecutionInput,
    InvalidLoggingConfiguration,
    InvalidName,
    InvalidToken,
    InvalidOutput,
    MissingRequiredParameter,
    ResourceNotFound,
    StateMachineAlreadyExists,
    StateMachineDoesNotExist,
    StateMachineTypeNotSupported,
    TaskDoesNotExist,
    TaskTimedOut,
    TooManyTags,
    SerializationException,
    ServiceQuotaExceededException,
    UnknownOperationException,
    ValidationException,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ActivityDoesNotExist => "ActivityDoesNotExist",
            Code::ConflictException => "ConflictException",
            Code::ExecutionAlreadyExists => "ExecutionAlreadyExists",
            Code::ExecutionDoesNotExist => "ExecutionDoesNotExist",
            Code::InvalidArn => "InvalidArn",
            Code::InvalidDefinition => "InvalidDefinition",
            Code::InvalidEncryptionConfiguration => "InvalidEncryptionConfiguration",
            Code::InvalidExecutionInput => "InvalidExecutionInput",
            Code::InvalidLoggingConfiguration => "InvalidLoggingConfiguration",
            Code::InvalidName => "InvalidName",
            Code::InvalidToken => "InvalidToken",
            Code::InvalidOutput => "InvalidOutput",
            Code::MissingRequiredParameter => "MissingRequiredParameter",
            Code::ResourceNotFound => "ResourceNotFound",
            Code::StateMachineAlreadyExists => "StateMachineAlreadyExists",
            Code::StateMachineDoesNotExist => "StateMachineDoesNotExist",
            Code::StateMachineTypeNotSupported => "StateMachineTypeNotSupported",
            Code::TaskDoesNotExist => "TaskDoesNotExist",
            Code::TaskTimedOut => "TaskTimedOut",
            Code::TooManyTags => "TooManyTags",
            Code::SerializationException => "SerializationException",
            Code::ServiceQuotaExceededException => "ServiceQuotaExceededException",
            Code::UnknownOperationException => "UnknownOperationException",
            Code::ValidationException => "ValidationException",
        }
    }
}

/// One refused request: its code and AWS's message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// The resource a ResourceNotFound or TooManyTags names.
    pub resource_name: Option<String>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            resource_name: None,
        }
    }

    /// `code` about the resource `arn`.
    pub fn of_resource(code: Code, message: impl Into<String>, arn: &str) -> Self {
        ApiError {
            resource_name: Some(arn.to_owned()),
            ..ApiError::new(code, message)
        }
    }

    pub fn invalid_arn(arn: &str) -> Self {
        ApiError::new(Code::InvalidArn, format!("Invalid Arn: '{arn}'"))
    }

    pub fn no_state_machine(arn: &str) -> Self {
        ApiError::new(
            Code::StateMachineDoesNotExist,
            format!("State Machine Does Not Exist: '{arn}'"),
        )
    }

    pub fn no_execution(arn: &str) -> Self {
        ApiError::new(
            Code::ExecutionDoesNotExist,
            format!("Execution Does Not Exist: '{arn}'"),
        )
    }

    pub fn invalid_token(why: &str) -> Self {
        ApiError::new(Code::InvalidToken, format!("Invalid Token: '{why}'"))
    }

    /// What AWS's request validation answers for a parameter outside its constraint.
    pub fn validation(field: &str, constraint: &str) -> Self {
        ApiError::new(
            Code::ValidationException,
            format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, super::CONTENT_TYPE)],
            match self.resource_name {
                Some(name) => json!({"__type": self.code.as_str(), "message": self.message, "resourceName": name}),
                None => json!({"__type": self.code.as_str(), "message": self.message}),
            }
            .to_string(),
        )
            .into_response()
    }
}
