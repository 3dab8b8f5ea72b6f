//! API keys of a tenant: issued (secret shown once), listed, revoked.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::audit::{self, Entry, Log};
use super::{from_item, page, to_data};
use crate::Deps;
use crate::access::{StaffRole, TenantScope};
use crate::error::Error;
use crate::model::api_key::{self, ApiKey, KeyLookup};
use crate::model::audit::Target;
use crate::model::ids::{ApiKeyId, TenantId};
use crate::model::input::Checks;
use crate::model::{fields, member};
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::store::keys;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyDraft {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(value_type = Option<StaffRole>)]
    pub role: Option<String>,
}

/// A key just issued: its metadata and, this once, its secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key itself, shown this once. A replay of the same `Idempotency-Key`
    /// (`Idempotent-Replayed: true`) answers the metadata without it: the secret is
    /// never stored anywhere.
    #[schema(required = false)]
    pub secret: String,
}

/// Issues a key for the scope's tenant. The transaction also checks the tenant exists,
/// so an operator naming an unknown tenant gets 404 without a separate read.
pub async fn create(
    deps: &Deps,
    scope: &TenantScope,
    draft: &ApiKeyDraft,
) -> Result<IssuedApiKey, Error> {
    let tenant_id = scope.tenant_id();
    let mut c = Checks::new();
    let name = c.required("name", draft.name.as_deref(), |s| fields::text(s, 100));
    let role: Option<StaffRole> = c.required("role", draft.role.as_deref(), member::role);
    c.finish()?;
    let (Some(name), Some(role)) = (name, role) else {
        return Err(Error::invalid("body", "is incomplete"));
    };
    let secret = api_key::new_secret();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        name,
        role,
        hint: api_key::hint(&secret),
        secret_hash: api_key::hash_secret(&secret),
        created_at: deps.clock.now(),
        last_used_at: None,
    };
    let lookup = KeyLookup {
        key_id: key.id.clone(),
        tenant_id: Some(TenantId::clone(tenant_id)),
        role: Some(role),
        secret_hash: key.secret_hash.clone(),
    };
    let mut meta = to_data(&key)?;
    meta.insert("secret_hash".into(), json!(key.secret_hash));
    let ops = vec![
        WriteOp::Check {
            key: keys::tenant(tenant_id),
            condition: Condition::Exists,
        },
        WriteOp::create(Item::new(keys::api_key(tenant_id, &key.id), meta)),
        WriteOp::create(Item::new(
            keys::api_key_lookup(&key.secret_hash),
            to_data(&lookup)?,
        )),
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new("api_key.created", Target::new("api_key", &key.id))
                .value("role", role)
                .fields(["name"]),
        )
        .await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            return Err(Error::NotFound("tenant"));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(IssuedApiKey { key, secret })
}

pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<ApiKey>, Error> {
    page::list_prefix(
        deps,
        "api-keys",
        keys::tenant_partition(scope.tenant_id()),
        keys::api_keys_prefix(),
        limit,
        cursor,
        from_item::<ApiKey>,
    )
    .await
}

/// Revokes a key: its lookup item goes, so the next request with it is 401.
pub async fn delete(deps: &Deps, scope: &TenantScope, key_id: &ApiKeyId) -> Result<(), Error> {
    let meta_key = keys::api_key(scope.tenant_id(), key_id);
    let item = deps
        .store
        .get(&meta_key)
        .await?
        .ok_or(Error::NotFound("api key"))?;
    let hash = item
        .data
        .get("secret_hash")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut ops = vec![WriteOp::Delete {
        key: meta_key,
        condition: Condition::Exists,
    }];
    if !hash.is_empty() {
        ops.push(WriteOp::delete(keys::api_key_lookup(&hash)));
    }
    ops.push(
        audit::op(
            deps,
            Log::Tenant(scope.tenant_id()),
            Entry::new("api_key.revoked", Target::new("api_key", key_id)),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::NotFound("api key")),
        Err(e) => Err(e.into()),
    }
}
