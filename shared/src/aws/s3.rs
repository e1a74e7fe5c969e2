//! The [`Archive`] on S3.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::error::DomainError;
use crate::ports::Archive;

pub struct S3Archive {
    client: Client,
    bucket: String,
}

impl S3Archive {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket `ARCHIVE_BUCKET` names.
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Self, super::ConfigError> {
        Ok(Self::new(
            Client::new(sdk_config),
            super::env("ARCHIVE_BUCKET")?,
        ))
    }
}

#[async_trait]
impl Archive for S3Archive {
    async fn exists(&self, key: &str) -> Result<bool, DomainError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(super::sdk_error("S3 HeadObject", e, |_| None)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), DomainError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| super::sdk_error("S3 PutObject", e, |_| None))?;
        Ok(())
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}
