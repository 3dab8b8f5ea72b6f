//! API keys: a random secret shown once, stored only as its SHA-256 hash.

use crate::model::ids::{ApiKeyId, TenantId};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::access::StaffRole;

/// Every secret starts with this, so leaked keys are easy to scan for.
pub const SECRET_PREFIX: &str = "tk_";

/// Tenant-scoped key metadata (the secret itself is never stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub role: StaffRole,
    /// The first characters of the secret, to tell keys apart in a list.
    pub hint: String,
    #[serde(skip_serializing)]
    #[serde(default)]
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A fresh secret: 32 random bytes, hex, after the prefix.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// A high-entropy secret needs no slow hash: SHA-256 is enough and keeps lookups fast.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn hint(secret: &str) -> String {
    secret.chars().take(SECRET_PREFIX.len() + 6).collect()
}

/// The lookup record found by hash when a request presents a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyLookup {
    pub key_id: ApiKeyId,
    /// None for an operator (platform) key.
    pub tenant_id: Option<TenantId>,
    pub role: Option<StaffRole>,
    pub secret_hash: String,
}
