//! Verifying identity tokens (JWTs): the staff pool's and every tenant's customer pool's.
//!
//! Cognito and the local issuer sign RS256 tokens and publish their public keys as a JWKS.
//! A token is accepted only when all of these hold:
//!
//! - its header says RS256 (any other algorithm, `none` and HMAC included, is refused
//!   before a key is looked at) and names a key id the issuer publishes;
//! - the signature verifies with that key;
//! - `iss` is the issuer the caller resolved (issuer -> realm comes from our records,
//!   never from the token), `exp` is in the future (30 s leeway for clock skew);
//! - `token_use` is `id` (then `aud` is the issuer's app client) or `access` (then
//!   `client_id` is).
//!
//! Each issuer's JWKS is fetched once and cached; an unknown key id refetches it at most
//! once a minute (key rotation), so a flood of forged key ids cannot hammer the issuer;
//! a failed fetch is remembered for that minute too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

/// Who a verified token's subject is, as far as the token can say: which pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "realm", rename_all = "snake_case")]
pub enum Realm {
    /// The staff pool shared by every tenant's staff.
    Staff,
    /// One tenant's customer pool.
    Customers {
        tenant_id: crate::model::ids::TenantId,
    },
}

/// A trusted issuer: its `iss`, the app client its tokens are for, and its realm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    pub iss: String,
    pub audience: String,
    pub realm: Realm,
}

/// The claims Tenantry reads (Cognito's names).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    pub token_use: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What a verified token establishes. Roles and permissions come from our records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub realm: Realm,
    pub subject: String,
    pub email: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not signed with RS256")]
    Algorithm,
    #[error("the token's key is not one its issuer publishes")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token is for another client")]
    Audience,
    #[error("the token is neither an id nor an access token")]
    TokenUse,
    /// The issuer's keys could not be fetched: not the client's fault.
    #[error("the issuer's keys are unavailable")]
    Keys(#[source] anyhow::Error),
}

/// Where an issuer's public keys come from: Cognito's
/// `<iss>/.well-known/jwks.json` in AWS, the local issuer itself on a laptop.
#[async_trait]
pub trait JwksSource: Send + Sync {
    async fn jwks(&self, iss: &str) -> Result<JwkSet, anyhow::Error>;
}

#[derive(Deserialize)]
struct Unverified {
    iss: String,
    #[serde(default)]
    sub: String,
}

fn unverified(token: &str) -> Option<Unverified> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Unverified>(&bytes).ok()
}

/// The `iss` a token claims, read without verifying anything, so the caller can look up
/// whether (and as what) it trusts that issuer. Never use it for anything else.
pub fn claimed_issuer(token: &str) -> Option<String> {
    unverified(token).map(|c| c.iss)
}

/// The `sub` of a token this process has just received from the identity provider
/// itself (a sign-in), read without verifying: only for such a token.
pub fn subject_of_issued(token: &str) -> Option<String> {
    unverified(token).map(|c| c.sub).filter(|s| !s.is_empty())
}

struct CachedKeys {
    keys: JwkSet,
    fetched: Instant,
    /// The last fetch failed (`keys` are from before, or empty).
    failed: bool,
}

/// Verifies tokens; keeps each issuer's keys. Share one per process.
pub struct Verifier {
    source: Arc<dyn JwksSource>,
    cache: RwLock<HashMap<String, CachedKeys>>,
}

/// Least time between two fetches of one issuer's keys for an unknown key id.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
const LEEWAY_SECONDS: u64 = 30;

impl Verifier {
    pub fn new(source: Arc<dyn JwksSource>) -> Self {
        Self {
            source,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Verifies `token` as one of `issuer`'s.
    pub async fn verify(&self, token: &str, issuer: &Issuer) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.key(&issuer.iss, &kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&issuer.iss]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_aud = false; // access tokens carry client_id instead; checked below
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidIssuer => TokenError::Issuer,
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        let client = match claims.token_use.as_str() {
            "id" => claims.aud.as_deref(),
            "access" => claims.client_id.as_deref(),
            _ => return Err(TokenError::TokenUse),
        };
        if client != Some(issuer.audience.as_str()) {
            return Err(TokenError::Audience);
        }
        Ok(Verified {
            realm: issuer.realm.clone(),
            subject: claims.sub,
            email: claims.email,
        })
    }

    async fn key(&self, iss: &str, kid: &str) -> Result<DecodingKey, TokenError> {
        {
            let cache = self.cache.read().await;
            if let Some(c) = cache.get(iss) {
                if let Some(key) = find(&c.keys, kid) {
                    return key;
                }
                if c.fetched.elapsed() < REFETCH_AFTER {
                    return Err(if c.failed {
                        TokenError::Keys(anyhow::anyhow!("the last fetch of {iss}'s keys failed"))
                    } else {
                        TokenError::UnknownKey
                    });
                }
            }
        }
        // Fetched without holding the cache: one slow issuer does not hold up the others.
        // (Concurrent first requests for one issuer may each fetch once.)
        let fetched = self.source.jwks(iss).await;
        let mut cache = self.cache.write().await;
        match fetched {
            Ok(keys) => {
                let found = find(&keys, kid);
                cache.insert(
                    iss.to_owned(),
                    CachedKeys {
                        keys,
                        fetched: Instant::now(),
                        failed: false,
                    },
                );
                found.unwrap_or(Err(TokenError::UnknownKey))
            }
            Err(e) => {
                // Remembered, so a down issuer is asked again only after REFETCH_AFTER;
                // keys fetched earlier stay usable.
                let entry = cache.entry(iss.to_owned()).or_insert_with(|| CachedKeys {
                    keys: JwkSet { keys: Vec::new() },
                    fetched: Instant::now(),
                    failed: true,
                });
                entry.fetched = Instant::now();
                entry.failed = true;
                Err(TokenError::Keys(e))
            }
        }
    }
}

/// The RS256 key `kid` of a key set, if it has one.
fn find(keys: &JwkSet, kid: &str) -> Option<Result<DecodingKey, TokenError>> {
    let jwk = keys.find(kid)?;
    Some(DecodingKey::from_jwk(jwk).map_err(|_| TokenError::UnknownKey))
}
