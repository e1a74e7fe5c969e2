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

/// Maps an SDK failure to the taxonomy: network trouble, timeouts, throttling and 5xx are
/// transient; the rest is permanent unless `classify` says otherwise for a service code.
pub(crate) fn sdk_error<E, R>(
    service: &str,
    e: SdkError<E, R>,
    classify: impl Fn(&str) -> Option<DomainError>,
) -> DomainError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
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
            Some(code) => classify(code)
                .unwrap_or_else(|| DomainError::permanent(ErrorCode::Internal, message)),
            None => DomainError::permanent(ErrorCode::Internal, message),
        },
    }
}
