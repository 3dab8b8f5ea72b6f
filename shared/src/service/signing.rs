//! An endpoint's signing secrets, both directions: made and sealed through the vault
//! (bound to the tenant, the endpoint's kind and its id), opened to sign or verify, and
//! rotated with an overlap. The secret's text is shown once, when it is made.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::error::Error;
use crate::model::ids::TenantId;
use crate::ports::{Sealed, VaultContext, VaultError};
use crate::webhooks::SigningSecret;

/// Secrets an endpoint accepts (or signs with) at once: the current one and two still
/// in an overlap.
const MAX_SECRETS: usize = 3;
/// How long the previous secret stays valid after a rotation, unless asked otherwise.
pub const DEFAULT_OVERLAP_HOURS: i64 = 24;
pub const MAX_OVERLAP_HOURS: i64 = 7 * 24;

/// One signing secret as stored: sealed, and when it stops working (the previous secret
/// after a rotation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredSecret {
    sealed: Sealed,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl StoredSecret {
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// A secret as the API shows it: never the secret itself.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SecretInfo {
    pub created_at: DateTime<Utc>,
    /// When it stops being used (a previous secret during a rotation's overlap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The live secrets, as the API shows them, the current one first.
pub fn infos(secrets: &[StoredSecret], now: DateTime<Utc>) -> Vec<SecretInfo> {
    secrets
        .iter()
        .filter(|s| s.live(now))
        .map(|s| SecretInfo {
            created_at: s.created_at,
            expires_at: s.expires_at,
        })
        .collect()
}

/// What a secret is sealed under: its tenant, its endpoint's kind and its endpoint.
pub fn context<'a>(tenant_id: &'a TenantId, purpose: &'a str, id: &'a str) -> VaultContext<'a> {
    VaultContext::of_tenant(tenant_id, purpose, id)
}

pub fn vault_failed(e: VaultError) -> Error {
    match e {
        VaultError::Unavailable(e) => {
            tracing::error!(error = format!("{e:#}"), "the vault failed");
            Error::Unavailable("the key service failed; nothing was stored, retry".into())
        }
        VaultError::Refused => Error::Unexpected(anyhow::anyhow!(
            "a stored signing secret does not open under its own context"
        )),
    }
}

/// A new secret, sealed under `cx`, and its text to show once.
pub async fn new_secret(
    deps: &Deps,
    cx: &VaultContext<'_>,
    now: DateTime<Utc>,
) -> Result<(StoredSecret, String), Error> {
    let secret = SigningSecret::generate();
    let sealed = deps
        .vault()?
        .seal(cx, secret.expose_bytes())
        .await
        .map_err(vault_failed)?;
    Ok((
        StoredSecret {
            sealed,
            created_at: now,
            expires_at: None,
        },
        secret.expose_text(),
    ))
}

/// The live secrets, opened (one vault call each, at once).
pub async fn open_live(
    deps: &Deps,
    cx: &VaultContext<'_>,
    secrets: &[StoredSecret],
    now: DateTime<Utc>,
) -> Result<Vec<SigningSecret>, Error> {
    let vault = deps.vault()?;
    let live: Vec<&StoredSecret> = secrets.iter().filter(|s| s.live(now)).collect();
    let opened = futures::future::join_all(live.iter().map(|s| vault.open(cx, &s.sealed))).await;
    opened
        .into_iter()
        .map(|o| o.map(SigningSecret::from_bytes).map_err(vault_failed))
        .collect()
}

/// The overlap of a rotation, checked.
pub fn overlap(hours: Option<i64>) -> Result<i64, Error> {
    let overlap = hours.unwrap_or(DEFAULT_OVERLAP_HOURS);
    if (0..=MAX_OVERLAP_HOURS).contains(&overlap) {
        Ok(overlap)
    } else {
        Err(Error::invalid(
            "overlap_hours",
            format!("must be a whole number of hours from 0 to {MAX_OVERLAP_HOURS}"),
        ))
    }
}

/// The secrets after a rotation: the new one first, then every secret still live,
/// valid until the overlap ends (or its own end, if sooner), so a second rotation does
/// not cut off a sender still on the first secret; the newest few only.
pub fn rotated(
    secrets: &[StoredSecret],
    new: StoredSecret,
    overlap_hours: i64,
    now: DateTime<Utc>,
) -> Vec<StoredSecret> {
    let until = now + Duration::hours(overlap_hours);
    let previous = secrets
        .iter()
        .filter(|s| overlap_hours > 0 && s.live(now))
        .take(MAX_SECRETS - 1)
        .cloned()
        .map(|mut s| {
            s.expires_at = Some(s.expires_at.map_or(until, |t| t.min(until)));
            s
        });
    std::iter::once(new).chain(previous).collect()
}
