//! The error taxonomy. Every error that leaves a handler carries one of these kinds, and its
//! `errorType` is what the state machine's Retry and Catch clauses match on.

use serde::{Deserialize, Serialize};

/// How an error must be treated by the caller: the API maps it to an HTTP status, the state
/// machine to a retry or a recorded failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request or the data it names is wrong; retrying cannot help (4xx).
    Validation,
    /// A passing fault (throttling, timeout, a dependency briefly unavailable); retried.
    Transient,
    /// A fault that will recur (malformed model output, a missing record); never retried.
    Permanent,
    /// The run finished but some actions failed.
    Partial,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::Validation,
        ErrorKind::Transient,
        ErrorKind::Permanent,
        ErrorKind::Partial,
    ];

    /// The `errorType` the Lambda runtime reports, and so the name Step Functions matches.
    pub const fn error_type(self) -> &'static str {
        match self {
            ErrorKind::Validation => "ValidationError",
            ErrorKind::Transient => "TransientError",
            ErrorKind::Permanent => "PermanentError",
            ErrorKind::Partial => "PartialFailure",
        }
    }

    pub fn from_error_type(name: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.error_type() == name)
    }

    pub const fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Transient)
    }
}

/// Names of the errors the Lambda service itself raises around an invocation (AWS's recommended
/// Lambda retrier): they are transient and the state machine retries them alongside
/// `TransientError`.
pub const LAMBDA_SERVICE_ERRORS: [&str; 6] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
];

/// The error of an invocation that ran past the function's own timeout (or ran out of memory).
/// Every step's handler is idempotent (keyed writes, counts kept once per action, alerts sent
/// once per run), so repeating one is safe and the state machine retries it too.
pub const LAMBDA_SANDBOX_TIMEOUT: &str = "Sandbox.Timedout";

/// A domain failure: its kind decides retry and HTTP mapping, `code` is a stable machine-readable
/// reason and `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DomainError {
    pub kind: ErrorKind,
    pub code: ErrorCode,
    pub message: String,
    /// When the caller may try again, in seconds (an API answer's `Retry-After`).
    pub retry_after_seconds: Option<u32>,
}

/// Why a request or step failed, finer than the kind; API responses carry it as `error.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    DeadlineExceeded,
    InvalidModelOutput,
    Throttled,
    Unavailable,
    Internal,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::DeadlineExceeded,
        ErrorCode::InvalidModelOutput,
        ErrorCode::Throttled,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The HTTP status an API handler answers with.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Throttled => 429,
            ErrorCode::Unavailable | ErrorCode::DeadlineExceeded => 503,
            ErrorCode::InvalidModelOutput | ErrorCode::Internal => 500,
        }
    }
}

impl DomainError {
    pub fn new(kind: ErrorKind, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// The model quota cannot take another run now; `retry_after_seconds` from now it can.
    pub fn at_capacity(retry_after_seconds: u32) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds),
            ..Self::transient(
                ErrorCode::Throttled,
                format!(
                    "the runs in progress use the model quota; retry in {retry_after_seconds} s"
                ),
            )
        }
    }

    pub fn validation(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, code, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::validation(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::validation(ErrorCode::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::validation(ErrorCode::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::validation(ErrorCode::Conflict, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::validation(ErrorCode::Unauthorized, message)
    }

    pub fn transient(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, code, message)
    }

    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, code, message)
    }

    pub fn error_type(&self) -> &'static str {
        self.kind.error_type()
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// A storage adapter's failure, before the domain decides what it means.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the item in another state than it required.
    #[error("condition failed: {0}")]
    ConditionFailed(String),
    /// A reservation the quota it draws on has no room for now.
    #[error("quota full: {0}")]
    QuotaFull(String),
    /// Throttling, timeouts, service unavailable: worth retrying.
    #[error("storage temporarily unavailable: {0}")]
    Unavailable(String),
    /// A write larger than one atomic write can hold; refused before anything is sent.
    #[error("too large for one atomic write: {0}")]
    TooLarge(String),
    /// Anything else: bad data, missing table, permissions.
    #[error("storage error: {0}")]
    Other(String),
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed(m) => DomainError::conflict(m),
            StoreError::QuotaFull(m) => DomainError::transient(ErrorCode::Throttled, m),
            StoreError::Unavailable(m) => DomainError::transient(ErrorCode::Unavailable, m),
            StoreError::TooLarge(m) => DomainError::permanent(ErrorCode::PayloadTooLarge, m),
            StoreError::Other(m) => DomainError::permanent(ErrorCode::Internal, m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_names_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_error_type(kind.error_type()), Some(kind));
        }
        assert_eq!(ErrorKind::from_error_type("States.ALL"), None);
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        let retryable: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|k| k.is_retryable())
            .collect();
        assert_eq!(retryable, vec![ErrorKind::Transient]);
    }

    #[test]
    fn codes_display_as_their_wire_names() {
        assert_eq!(ErrorCode::NotFound.to_string(), "NOT_FOUND");
        assert_eq!(
            ErrorCode::InvalidModelOutput.to_string(),
            "INVALID_MODEL_OUTPUT"
        );
    }

    #[test]
    fn store_errors_map_to_kinds() {
        let e: DomainError = StoreError::Unavailable("throttled".into()).into();
        assert!(e.is_retryable());
        let e: DomainError = StoreError::ConditionFailed("x".into()).into();
        assert_eq!(e.code, ErrorCode::Conflict);
        let e: DomainError = StoreError::QuotaFull("x".into()).into();
        assert_eq!((e.code, e.is_retryable()), (ErrorCode::Throttled, true));
    }
}
