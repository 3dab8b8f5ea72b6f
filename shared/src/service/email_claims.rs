//! Claims on an email: a customer user's email is unique in its tenant (its marker), and
//! a creation that makes a login first claims the email (the marker, written pending),
//! so no other creation touches a login under it meanwhile.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::Deps;
use crate::error::Error;
use crate::ports::{Condition, Item, Key, StoreError};
use crate::service::to_data;

pub(crate) fn duplicate(kind: &'static str, field: &str, detail: String) -> Error {
    let mut e = Error::conflict(kind, detail);
    if let Error::Conflict { extra, .. } = &mut e {
        extra.insert("field".into(), json!(field));
    }
    e
}

pub(crate) fn duplicate_email(email: &str) -> Error {
    duplicate(
        "duplicate-email",
        "admin.email",
        format!("a customer user with the email {email} already exists in this tenant"),
    )
}

/// How long a claim on an email may stay pending before another creation may take it
/// over (the creation that made it died).
const CLAIM_MINUTES: i64 = 10;

/// Claims an admin email for a creation: its marker, written pending. Taken by a
/// finished user: 409. A pending claim older than `CLAIM_MINUTES` is taken over.
/// Returns the claim's version.
pub(crate) async fn claim_email(deps: &Deps, marker: &Key, email: &str) -> Result<u64, Error> {
    let now = deps.clock.now();
    let pending = |version: u64| -> Result<Item, Error> {
        let mut item = Item::new(marker.clone(), to_data(&json!({ "pending_since": now }))?);
        item.version = version;
        Ok(item)
    };
    match deps.store.put(pending(1)?, Condition::NotExists).await {
        Ok(()) => return Ok(1),
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(existing) = deps.store.get(marker).await? else {
        return Err(Error::concurrent_update());
    };
    let stale = existing
        .data
        .get("pending_since")
        .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
        .is_some_and(|since| now - since > chrono::Duration::minutes(CLAIM_MINUTES));
    if !stale {
        return Err(duplicate_email(email));
    }
    let version = existing.version + 1;
    match deps
        .store
        .put(pending(version)?, Condition::VersionIs(existing.version))
        .await
    {
        Ok(()) => Ok(version),
        Err(StoreError::ConditionFailed) => Err(duplicate_email(email)),
        Err(e) => Err(e.into()),
    }
}

/// Gives a claim back (best effort: a claim left behind goes stale).
pub(crate) async fn release_claim(deps: &Deps, marker: &Key, version: u64) {
    if let Err(e) = deps
        .store
        .delete(marker, Condition::VersionIs(version))
        .await
    {
        tracing::debug!(error = format!("{e:#}"), "an email claim was not released");
    }
}
