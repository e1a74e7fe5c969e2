//! The configurations a state machine or an activity is created with besides its definition:
//! encryption (state machines and activities) and logging (state machines), checked as AWS
//! checks them and kept as given.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, Code};

/// How a resource's data is encrypted at rest: an AWS owned key unless a customer managed KMS
/// key is named.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    #[serde(rename = "type")]
    kind: KeyType,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_data_key_reuse_period_seconds: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum KeyType {
    AwsOwnedKey,
    CustomerManagedKmsKey,
}

impl Default for Encryption {
    fn default() -> Self {
        Encryption {
            kind: KeyType::AwsOwnedKey,
            kms_key_id: None,
            kms_data_key_reuse_period_seconds: None,
        }
    }
}

impl Encryption {
    /// The request's configuration (the default without one), refused with
    /// InvalidEncryptionConfiguration when a customer managed key is asked for without its id.
    pub fn checked(requested: Option<Encryption>) -> Result<Encryption, ApiError> {
        let encryption = requested.unwrap_or_default();
        if encryption.kind == KeyType::CustomerManagedKmsKey && encryption.kms_key_id.is_none() {
            return Err(ApiError::new(
                Code::InvalidEncryptionConfiguration,
                "Invalid Encryption Configuration: kmsKeyId is required when type is CUSTOMER_MANAGED_KMS_KEY",
            ));
        }
        Ok(encryption)
    }

    /// As Describe operations answer it.
    pub fn describe(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({"type": "AWS_OWNED_KEY"}))
    }
}

/// Refuses a logging configuration above OFF without a log destination, and a destination that
/// is not a CloudWatch Logs log group ARN with the `*` qualifier, as CreateStateMachine and
/// UpdateStateMachine do.
pub fn check_logging(logging: &Value) -> Result<(), ApiError> {
    let invalid = |why: &str| {
        ApiError::new(
            Code::InvalidLoggingConfiguration,
            format!("Invalid Logging Configuration: {why}"),
        )
    };
    let level = logging
        .get("level")
        .and_then(Value::as_str)
        .unwrap_or("OFF");
    let destinations = logging
        .get("destinations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if level != "OFF" && destinations.len() != 1 {
        return Err(invalid("Must specify exactly one Log Destination."));
    }
    for destination in destinations {
        let arn = destination
            .pointer("/cloudWatchLogsLogGroup/logGroupArn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !arn.starts_with("arn:") || !arn.contains(":logs:") || !arn.contains(":log-group:") {
            return Err(invalid(&format!("Invalid Log Group ARN: {arn}")));
        }
        if !arn.ends_with(":*") {
            return Err(invalid(
                "Log Group ARN must be provided with '*' qualifier.",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encryption(value: Value) -> Result<Value, Code> {
        let requested = serde_json::from_value(value).map_err(|_| Code::SerializationException)?;
        Encryption::checked(Some(requested))
            .map(|e| e.describe())
            .map_err(|e| e.code)
    }

    #[test]
    fn an_aws_owned_key_unless_a_customer_key_is_named_with_its_id() {
        assert_eq!(
            Encryption::checked(None).map(|e| e.describe()),
            Ok(json!({"type": "AWS_OWNED_KEY"}))
        );
        let customer = json!({"type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": "alias/k", "kmsDataKeyReusePeriodSeconds": 300});
        assert_eq!(encryption(customer.clone()), Ok(customer));
        assert_eq!(
            encryption(json!({"type": "CUSTOMER_MANAGED_KMS_KEY"})),
            Err(Code::InvalidEncryptionConfiguration)
        );
        assert_eq!(
            encryption(json!({"type": "PLAINTEXT"})),
            Err(Code::SerializationException)
        );
    }

    #[test]
    fn logging_above_off_needs_one_log_group_with_the_star_qualifier() {
        let group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/x:*";
        let to = |arn: &str| json!([{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]);
        assert!(check_logging(&json!({"level": "OFF"})).is_ok());
        assert!(check_logging(&json!({"level": "ALL", "destinations": to(group)})).is_ok());
        for refused in [
            json!({"level": "ERROR"}),
            json!({"level": "ALL", "destinations": []}),
            json!({"level": "FATAL", "destinations": to(group.trim_end_matches(":*"))}),
            json!({"level": "ALL", "destinations": to("arn:aws:s3:::bucket")}),
        ] {
            assert_eq!(
                check_logging(&refused).map_err(|e| e.code),
                Err(Code::InvalidLoggingConfiguration),
                "{refused}"
            );
        }
    }
}
