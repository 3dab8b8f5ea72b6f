//! Signing a customer user in at its tenant's login (`POST /t/{slug}/login`): email and
//! password in, the tenant pool's tokens out.
//!
//! A wrong password, an unknown email and a disabled login get the same answer. Failures
//! are counted per tenant and email: after `MAX_FAILURES` within `WINDOW`, that email is
//! refused (429, `Retry-After`) until the window has passed, whatever the password; a
//! success clears the count.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{from_item, identity, to_data};
use crate::Deps;
use crate::error::Error;
use crate::model::{fields, tenant};
use crate::ports::{Condition, IdentityError, Item, Tokens};
use crate::store::keys;

/// Failed sign-ins of one email that start the refusal.
pub const MAX_FAILURES: u32 = 5;
/// How long failures count, and how long a refusal lasts after the last one counted.
pub const WINDOW_MINUTES: i64 = 15;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Failures {
    count: u32,
    since: DateTime<Utc>,
    last: DateTime<Utc>,
}

fn wrong() -> Error {
    Error::InvalidLogin
}

/// The tenant a login page's slug names, if it is a tenant with a login pool.
pub(crate) async fn tenant_of_slug(deps: &Deps, slug: &str) -> Result<String, Error> {
    if tenant::slug(slug).is_err() {
        return Err(Error::NotFound("login page"));
    }
    let marker = deps
        .store
        .get(&keys::slug_marker(slug))
        .await?
        .ok_or(Error::NotFound("login page"))?;
    marker
        .data
        .get("tenant_id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or(Error::NotFound("login page"))
}

pub async fn sign_in(deps: &Deps, slug: &str, body: &SignIn) -> Result<Tokens, Error> {
    let mut missing = Vec::new();
    let email = body.email.as_deref().map(str::trim).unwrap_or_default();
    let password = body.password.as_deref().unwrap_or_default();
    if email.is_empty() {
        missing.push(crate::FieldError::new("email", "is required"));
    }
    if password.is_empty() {
        missing.push(crate::FieldError::new("password", "is required"));
    }
    if !missing.is_empty() {
        return Err(Error::Invalid(missing));
    }
    if email.len() > 254 || password.len() > 256 {
        return Err(wrong());
    }
    let tenant_id = tenant_of_slug(deps, slug).await?;
    let (Some(idp), Some(pool)) = (
        &deps.identity,
        identity::customer_pool(deps, &tenant_id).await?,
    ) else {
        return Err(Error::NotFound("login page"));
    };
    // An address that is no email cannot have a login: the same answer.
    let Ok(email) = fields::email(email) else {
        return Err(wrong());
    };
    let now = deps.clock.now();
    let key = keys::sign_in_failures(
        &tenant_id,
        &hex::encode(Sha256::digest(fields::email_key(&email).as_bytes())),
    );
    let window = Duration::minutes(WINDOW_MINUTES);
    let existing = deps.store.get(&key).await?;
    let failures = match &existing {
        Some(item) => Some((from_item::<Failures>(item)?, item.version)),
        None => None,
    };
    let current = failures.as_ref().filter(|(f, _)| now - f.last < window);
    if let Some((f, _)) = current
        && f.count >= MAX_FAILURES
    {
        let retry = (f.last + window - now).num_seconds().max(1);
        return Err(Error::Throttled {
            retry_after_seconds: retry as u64,
        });
    }
    match idp.authenticate(&pool, &email, password).await {
        Ok(tokens) => {
            if let Some(item) = existing
                && let Err(e) = deps
                    .store
                    .delete(&item.key(), Condition::VersionIs(item.version))
                    .await
            {
                tracing::debug!(error = %e, "sign-in failures not cleared");
            }
            Ok(tokens)
        }
        Err(IdentityError::InvalidCredentials) => {
            let next = match current {
                Some((f, _)) => Failures {
                    count: f.count + 1,
                    since: f.since,
                    last: now,
                },
                None => Failures {
                    count: 1,
                    since: now,
                    last: now,
                },
            };
            let mut item = Item::new(key, to_data(&next)?);
            item.expires_at = Some((now + window).timestamp());
            let condition = match &failures {
                Some((_, version)) => {
                    item.version = version + 1;
                    Condition::VersionIs(*version)
                }
                None => Condition::NotExists,
            };
            // A concurrent failure may win the write: the count is a bound, not a ledger.
            if let Err(e) = deps.store.put(item, condition).await {
                tracing::debug!(error = %e, "a sign-in failure was not counted");
            }
            Err(wrong())
        }
        Err(e) => {
            tracing::warn!(error = ?e, "sign-in: the identity provider failed");
            Err(Error::Unavailable(
                "signing in is unavailable right now; try again in a moment".into(),
            ))
        }
    }
}
