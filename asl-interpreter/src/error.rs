//! Error names as AWS Step Functions reports them, and the error value that flows through Retry and Catch.

use std::fmt;

/// The `States.*` error names the service itself raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorName {
    All,
    Runtime,
    TaskFailed,
    Timeout,
    HeartbeatTimeout,
    NoChoiceMatched,
    BranchFailed,
    ExceedToleratedFailureThreshold,
    QueryEvaluationError,
    IntrinsicFailure,
    ResultPathMatchFailure,
    ParameterPathFailure,
    DataLimitExceeded,
    Permissions,
}

impl ErrorName {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::All => "States.ALL",
            ErrorName::Runtime => "States.Runtime",
            ErrorName::TaskFailed => "States.TaskFailed",
            ErrorName::Timeout => "States.Timeout",
            ErrorName::HeartbeatTimeout => "States.HeartbeatTimeout",
            ErrorName::NoChoiceMatched => "States.NoChoiceMatched",
            ErrorName::BranchFailed => "States.BranchFailed",
            ErrorName::ExceedToleratedFailureThreshold => "States.ExceedToleratedFailureThreshold",
            ErrorName::QueryEvaluationError => "States.QueryEvaluationError",
            ErrorName::IntrinsicFailure => "States.IntrinsicFailure",
            ErrorName::ResultPathMatchFailure => "States.ResultPathMatchFailure",
            ErrorName::ParameterPathFailure => "States.ParameterPathFailure",
            ErrorName::DataLimitExceeded => "States.DataLimitExceeded",
            ErrorName::Permissions => "States.Permissions",
        }
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure raised while running a state: what Retry and Catch match on and what ends an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct StatesError {
    pub error: String,
    pub cause: Option<String>,
}

impl StatesError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StatesError {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    pub fn named(name: ErrorName, cause: impl Into<String>) -> Self {
        StatesError::new(name.as_str(), cause)
    }

    pub fn is(&self, name: ErrorName) -> bool {
        self.error == name.as_str()
    }

    /// The `{"Error", "Cause"}` object that Catch hands to its next state.
    pub fn to_output(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("Error".into(), self.error.clone().into());
        if let Some(cause) = &self.cause {
            map.insert("Cause".into(), cause.clone().into());
        }
        serde_json::Value::Object(map)
    }
}

/// Errors of the evaluation helpers (paths, intrinsics, JSONata) before a state gives them their AWS shape.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{message}")]
pub struct EvalError {
    pub name: ErrorName,
    pub message: String,
}

impl EvalError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        EvalError {
            name,
            message: message.into(),
        }
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        EvalError::new(ErrorName::Runtime, message)
    }
    pub fn intrinsic(message: impl Into<String>) -> Self {
        EvalError::new(ErrorName::IntrinsicFailure, message)
    }
    pub fn query(message: impl Into<String>) -> Self {
        EvalError::new(ErrorName::QueryEvaluationError, message)
    }
}

/// Whether an `ErrorEquals` entry matches a raised error, following AWS's wildcard rules.
pub fn error_matches(pattern: &str, error: &str) -> bool {
    // States.Runtime is never retried and always fails the execution, whatever names a retrier or
    // catcher lists.
    if error == ErrorName::Runtime.as_str() {
        return false;
    }
    if pattern == error {
        return true;
    }
    // States.ALL and States.TaskFailed never match the terminal payload-size error either.
    let terminal = error == ErrorName::DataLimitExceeded.as_str();
    if pattern == ErrorName::All.as_str() {
        return !terminal;
    }
    if pattern == ErrorName::TaskFailed.as_str() {
        return !terminal && error != ErrorName::Timeout.as_str() && !error.starts_with("States.");
    }
    false
}

/// A definition Step Functions would refuse when the state machine is created.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DefinitionError {
    #[error("the definition is not valid JSON: {0}")]
    Json(String),
    #[error("the definition must be a JSON object")]
    NotAnObject,
    #[error("{path}: field '{field}': {message}")]
    Field {
        path: String,
        field: String,
        message: String,
    },
    #[error("{path}: is not reachable from StartAt")]
    Unreachable { path: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_matches_custom_errors_but_not_runtime() {
        assert!(error_matches("States.ALL", "CustomError"));
        assert!(error_matches("States.ALL", "States.Timeout"));
        assert!(!error_matches("States.ALL", "States.Runtime"));
        assert!(!error_matches("States.ALL", "States.DataLimitExceeded"));
    }

    #[test]
    fn runtime_errors_are_never_matched_even_by_name() {
        assert!(!error_matches("States.Runtime", "States.Runtime"));
        assert!(error_matches(
            "States.DataLimitExceeded",
            "States.DataLimitExceeded"
        ));
    }

    #[test]
    fn task_failed_does_not_match_timeout() {
        assert!(error_matches("States.TaskFailed", "Exception"));
        assert!(!error_matches("States.TaskFailed", "States.Timeout"));
    }
}
