//! Claims on an email: a customer user's email is unique in its tenant (its marker), and
//! a creation that makes a login first claims the email (the marker, written pending),
//! so no other creation touches a login under it meanwhile.

use crate::error::ProblemKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Deps;
use crate::error::Error;
use crate::model::fields;
use crate::model::ids::{CustomerId, TenantId, UserId};
use crate::ports::{Condition, Item, Key, StoreError, WriteOp};
use crate::service::{from_item, to_data};
use crate::store::keys;

/// Whose email a finished marker keeps: so the login page's "forgot your password" finds
/// the user by email in one read. (Markers written before they named their user name
/// none: such a user is not found that way.)
#[derive(Serialize, Deserialize)]
struct Owner {
    customer_id: CustomerId,
    user_id: UserId,
}

/// The write that makes `marker` the finished marker of a user's email: over the
/// creation's claim (`claim`: its version), or as a new item.
pub(crate) fn marker_write(
    marker: &Key,
    claim: Option<u64>,
    customer_id: &CustomerId,
    user_id: &UserId,
) -> Result<WriteOp, Error> {
    let owner = Owner {
        customer_id: customer_id.clone(),
        user_id: user_id.clone(),
    };
    let mut item = Item::new(marker.clone(), to_data(&owner)?);
    Ok(match claim {
        Some(version) => {
            item.version = version + 1;
            WriteOp::Put {
                item,
                condition: Condition::VersionIs(version),
            }
        }
        None => WriteOp::create(item),
    })
}

/// The customer user whose email this is in the tenant, if its marker names one.
pub(crate) async fn owner_of(
    deps: &Deps,
    tenant_id: &TenantId,
    email: &str,
) -> Result<Option<(CustomerId, UserId)>, Error> {
    let key = keys::user_email_marker(tenant_id, &fields::email_key(email));
    let Some(item) = deps.store.get(&key).await? else {
        return Ok(None);
    };
    if !item.data.contains_key("user_id") {
        return Ok(None);
    }
    let owner: Owner = from_item(&item)?;
    Ok(Some((owner.customer_id, owner.user_id)))
}

pub(crate) fn duplicate_email(email: &str) -> Error {
    Error::duplicate(
        ProblemKind::DuplicateEmail,
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
