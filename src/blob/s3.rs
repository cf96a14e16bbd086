use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{BlobError, BlobKey, BlobResult};

#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

fn unavailable(e: impl std::error::Error) -> BlobError {
    BlobError::Unavailable(DisplayErrorContext(e).to_string())
}

impl S3Store {
    /// Endpoint, region and credentials come from the AWS variables as the SDK reads them
    /// (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, …). With no region set we use London:
    /// NHS patient data stays in the UK.
    pub async fn from_env(bucket: &str, prefix: &str, force_path_style: bool) -> Self {
        Self::build(None, bucket, prefix, force_path_style).await
    }

    /// Like `from_env` but with an explicit endpoint (for operations scripts and tests).
    pub async fn with_endpoint(
        endpoint: &str,
        bucket: &str,
        prefix: &str,
        force_path_style: bool,
    ) -> Self {
        Self::build(Some(endpoint), bucket, prefix, force_path_style).await
    }

    async fn build(
        endpoint: Option<&str>,
        bucket: &str,
        prefix: &str,
        force_path_style: bool,
    ) -> Self {
        let region = RegionProviderChain::default_provider().or_else("eu-west-2");
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(region)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        let config = config
            .force_path_style(force_path_style)
            // Only where S3 demands it: many self-hosted servers reject the newer checksum
            // headers, and every object's SHA-256 is recorded in the database anyway.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    fn key(&self, key: &BlobKey) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.prefix, key)
        }
    }

    pub async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> BlobResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_object(
        &self,
        key: &BlobKey,
    ) -> BlobResult<aws_sdk_s3::operation::get_object::GetObjectOutput> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await
            .map_err(|e| match e.into_service_error() {
                e if e.is_no_such_key() => BlobError::NotFound(key.to_string()),
                e => unavailable(e),
            })
    }

    pub async fn get(&self, key: &BlobKey) -> BlobResult<Bytes> {
        let out = self.get_object(key).await?;
        let body = out.body.collect().await.map_err(unavailable)?;
        Ok(body.into_bytes())
    }

    pub async fn read_stream(&self, key: &BlobKey) -> BlobResult<super::BlobStream> {
        let out = self.get_object(key).await?;
        let length = out.content_length.and_then(|n| u64::try_from(n).ok());
        Ok(super::BlobStream {
            length,
            chunks: Box::pin(tokio_util::io::ReaderStream::new(
                out.body.into_async_read(),
            )),
        })
    }

    pub async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn exists(&self, key: &BlobKey) -> BlobResult<bool> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                e if e.is_not_found() => Ok(false),
                e => Err(unavailable(e)),
            },
        }
    }

    pub async fn health_check(&self) -> BlobResult<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
