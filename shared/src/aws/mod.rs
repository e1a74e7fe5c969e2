//! The AWS adapters of the ports (feature `aws`). Clients are built once by each function's `main`
//! from [`load_sdk_config`] and handed to these adapters.

pub mod bedrock;
pub mod dynamodb;
pub mod s3;
pub mod sfn;
pub mod sns;

pub use bedrock::BedrockGenerator;
pub use dynamodb::{DynamoStore, TableNames, TablesError};
pub use s3::S3Archive;
pub use sfn::StepFunctionsControl;
pub use sns::SnsNotifier;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::{DomainError, ErrorCode};

/// A setting the function's environment lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct ConfigError(pub String);

/// A required environment variable.
pub fn env(name: &str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigError(name.to_owned()))
}

/// The SDK configuration from the environment (region, credentials, and `AWS_ENDPOINT_URL` when
/// set, which is how tests point the adapters at a local server).
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Codes every AWS service uses for "slow down" or "try again".
const THROTTLING: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Statuses of a passing fault whatever code, if any, the answer names: throttling, and what a
/// service or a gateway in front of it answers while briefly unwell (the SDKs' own retry rule).
const TRANSIENT_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

/// Maps an SDK failure to the taxonomy: network trouble, timeouts, throttling and 5xx are
/// transient; the rest is permanent unless `classify` says otherwise for a service code.
pub(crate) fn sdk_error<E>(
    service: &str,
    e: SdkError<E, HttpResponse>,
    classify: impl Fn(&str) -> Option<DomainError>,
) -> DomainError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = format!(
        "{service}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(&e)
    );
    match &e {
        SdkError::TimeoutError(_) => DomainError::transient(ErrorCode::DeadlineExceeded, message),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            DomainError::transient(ErrorCode::Unavailable, message)
        }
        _ => match e.code() {
            Some(code) if THROTTLING.contains(&code) => {
                DomainError::transient(ErrorCode::Throttled, message)
            }
            Some(code) if code.starts_with("Internal") => {
                DomainError::transient(ErrorCode::Unavailable, message)
            }
            code => code.and_then(classify).unwrap_or_else(|| {
                match e.raw_response().map(|r| r.status().as_u16()) {
                    Some(429) => DomainError::transient(ErrorCode::Throttled, message),
                    Some(status) if TRANSIENT_STATUSES.contains(&status) => {
                        DomainError::transient(ErrorCode::Unavailable, message)
                    }
                    _ => DomainError::permanent(ErrorCode::Internal, message),
                }
            }),
        },
    }
}
