//! The platform operator's API keys: listed and revoked (`/v1/operator-keys`). A key is
//! registered by the deployment (`TENANTRY_ADMIN_KEY` on the local server); its secret
//! is looked up by hash, and its entry here (under `P#OPKEYS`) lists it.

use crate::error::ProblemKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Log};
use super::{from_item, page};
use crate::Deps;
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::ids::ApiKeyId;
use crate::ports::{Condition, StoreError, WriteOp};
use crate::store::keys;

/// An operator key as listed (its secret is never stored; its hash finds its lookup).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorKey {
    pub id: ApiKeyId,
    /// The first characters of the secret, to tell keys apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
}

/// The stored entry: the listed key and the hash that finds its lookup.
#[derive(Serialize, Deserialize)]
pub(crate) struct Entry {
    #[serde(flatten)]
    pub key: OperatorKey,
    #[serde(default)]
    pub secret_hash: String,
}

pub async fn list(
    deps: &Deps,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<OperatorKey>, Error> {
    page::list_prefix(
        deps,
        "operator-keys",
        keys::operator_keys_partition(),
        "key_",
        limit,
        cursor,
        from_item::<OperatorKey>,
    )
    .await
}

/// Revokes an operator key: its entry and its lookup go, so its next request is 401.
/// Not the key the request itself is made with: revoke it with another, so nobody locks
/// the platform out by mistake; and the caller's own key must still be listed when the
/// revocation commits, so two operators revoking each other's keys at once cannot leave
/// none.
pub async fn delete(deps: &Deps, caller: &str, key_id: &ApiKeyId) -> Result<(), Error> {
    if key_id.as_str() == caller {
        return Err(Error::conflict(
            ProblemKind::KeyInUse,
            "this is the key the request is made with; revoke it with another operator key",
        ));
    }
    let entry = keys::operator_key(key_id);
    let item = deps
        .store
        .get(&entry)
        .await?
        .ok_or(Error::NotFound("operator key"))?;
    let hash = from_item::<Entry>(&item)?.secret_hash;
    // Without its hash the lookup cannot be found: the answer would say revoked while
    // the key still works.
    if hash.is_empty() {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "operator key {key_id}: its entry holds no secret hash, so its lookup cannot be found; remove both by hand"
        )));
    }
    let mut ops = vec![
        WriteOp::Delete {
            key: entry,
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::delete(keys::api_key_lookup(&hash)),
    ];
    let caller_at = ops.len();
    ops.push(WriteOp::Check {
        key: keys::operator_key(&ApiKeyId::from_record(caller)),
        condition: Condition::Exists,
    });
    ops.push(
        audit::op(
            deps,
            Log::Platform,
            audit::Entry::new("operator_key.revoked", Target::new("operator_key", key_id)),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&caller_at) => {
            Err(Error::conflict(
                ProblemKind::KeyInUse,
                "the key this request is made with is no longer listed (revoked meanwhile, or registered before keys were listed); use a listed operator key",
            ))
        }
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::NotFound("operator key")),
        Err(e) => Err(e.into()),
    }
}
