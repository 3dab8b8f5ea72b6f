//! The AWS vault: envelope encryption with KMS. Each secret gets its own data key
//! (GenerateDataKey, AES-256) under the stack's key, with an encryption context naming
//! the tenant, the purpose and the id; the secret is sealed locally with AES-256-GCM
//! under that data key (the same context as associated data), and only the wrapped data
//! key is stored. Opening asks KMS to unwrap it under the same context: KMS refuses
//! any other, and every unwrap is in CloudTrail.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::adapters::aead;
use crate::ports::{Sealed, Vault, VaultContext, VaultError};

const SCHEME: &str = "kms-aes256gcm-v1";

pub struct KmsVault {
    client: Client,
    key_id: String,
}

impl KmsVault {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }

    /// With this AWS configuration and the key `key_id` (`KMS_KEY_ID`: an id, ARN or
    /// alias).
    pub fn from_config(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self::new(Client::new(config), key_id)
    }
}

/// The encryption context: `tenant_id` (absent for a platform secret), `customer_id`
/// (a customer's secret only), `purpose`, `id`.
fn encryption_context(context: &VaultContext<'_>) -> std::collections::HashMap<String, String> {
    [
        context.tenant_id.map(|t| ("tenant_id", t.as_str())),
        context.customer_id.map(|c| ("customer_id", c.as_str())),
        Some(("purpose", context.purpose)),
        Some(("id", context.id)),
    ]
    .into_iter()
    .flatten()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn unavailable(e: impl std::fmt::Display) -> VaultError {
    VaultError::Unavailable(anyhow::anyhow!("{e}"))
}

fn data_key(bytes: &[u8]) -> Result<[u8; 32], VaultError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| unavailable("KMS answered a data key that is not 32 bytes"))
}

#[async_trait]
impl Vault for KmsVault {
    async fn seal(&self, context: &VaultContext<'_>, secret: &[u8]) -> Result<Sealed, VaultError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(encryption_context(context)))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_kms::error::DisplayErrorContext(&e)))?;
        let (Some(plain), Some(wrapped)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(unavailable("KMS answered no data key"));
        };
        let key = data_key(plain.as_ref())?;
        aead::seal(
            SCHEME,
            STANDARD.encode(wrapped.as_ref()),
            &key,
            context,
            secret,
        )
    }

    async fn open(
        &self,
        context: &VaultContext<'_>,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, VaultError> {
        if sealed.scheme != SCHEME {
            return Err(VaultError::Refused);
        }
        let wrapped = STANDARD
            .decode(&sealed.key)
            .map_err(|_| VaultError::Refused)?;
        if wrapped.is_empty() {
            return Err(VaultError::Refused);
        }
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(encryption_context(context)))
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_kms::error::ProvideErrorMetadata;
                match e.as_service_error() {
                    // Not this key's ciphertext, or not under this context: KMS answers
                    // one of these, or access denied where a key policy or IAM
                    // condition names the context.
                    Some(s)
                        if s.is_invalid_ciphertext_exception()
                            || s.is_incorrect_key_exception()
                            || s.code() == Some("AccessDeniedException") =>
                    {
                        VaultError::Refused
                    }
                    _ => unavailable(aws_sdk_kms::error::DisplayErrorContext(&e)),
                }
            })?;
        let plain = out
            .plaintext()
            .ok_or_else(|| unavailable("KMS answered no plaintext"))?;
        let key = data_key(plain.as_ref())?;
        aead::open(&key, context, sealed)
    }
}
