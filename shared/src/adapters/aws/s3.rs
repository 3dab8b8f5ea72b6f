//! S3 document store: one object per document in the stack's documents bucket
//! (`DOCUMENTS_BUCKET`), encrypted at rest by the bucket's default encryption.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::ports::{DocumentError, Documents, check_document_key};

pub struct S3Documents {
    client: Client,
    bucket: String,
}

impl S3Documents {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// With this AWS configuration and the bucket of `DOCUMENTS_BUCKET`. A custom
    /// endpoint (`AWS_ENDPOINT_URL`, a local S3) is addressed by path, not by host.
    pub fn from_config(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let path_style = config.endpoint_url().is_some();
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build();
        Self::new(Client::from_conf(s3), bucket)
    }
}

fn unavailable(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Unavailable(anyhow::anyhow!("{e}"))
}

#[async_trait]
impl Documents for S3Documents {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), DocumentError> {
        check_document_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(aws_sdk_s3::error::DisplayErrorContext(&e)))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, DocumentError> {
        check_document_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(aws_sdk_s3::error::DisplayErrorContext(&e))),
        };
        let body = out.body.collect().await.map_err(unavailable)?;
        Ok(Some(body.into_bytes().to_vec()))
    }
}
