//! Provisioning a tenant's customer login pool, resumably.
//!
//! A tenant is created `provisioning` (when an identity provider is configured). Its pool
//! is then created (the adapter finds an existing one by name, so a retry never makes a
//! second), the issuer -> tenant item (`P#ISSUER#...`) is written and the tenant becomes
//! `active` with its pool recorded, in one transaction. A failure is recorded on the
//! tenant (`provisioning_error`) and `POST /v1/tenants/{id}/provision` continues.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{from_item, tenants, to_data};
use crate::Deps;
use crate::error::Error;
use crate::model::tenant::{Tenant, TenantStatus};
use crate::ports::{Condition, Item, Pool, WriteOp};
use crate::service::tokens::{Issuer, Realm};
use crate::store::keys;

/// The key of an issuer's item: SHA-256 (hex) of its `iss`.
pub fn issuer_key(iss: &str) -> crate::ports::Key {
    keys::issuer(&hex::encode(Sha256::digest(iss.as_bytes())))
}

/// The trusted issuer of a tenant's customer pool, as its `P#ISSUER#` item records it.
pub fn customer_issuer(tenant_id: &str, pool: &Pool) -> Issuer {
    Issuer {
        iss: pool.issuer.clone(),
        audience: pool.client_id.clone(),
        realm: Realm::Customers {
            tenant_id: tenant_id.to_owned(),
        },
    }
}

/// Provisions the tenant's customer pool if it is still `provisioning`; returns the
/// tenant. `Error::Unavailable` (the reason, also recorded on the tenant) when the
/// identity provider failed.
pub async fn provision(deps: &Deps, tenant_id: &str) -> Result<Value, Error> {
    let (tenant, item) = tenants::load(deps, tenant_id).await?;
    if tenant.status != TenantStatus::Provisioning {
        return Ok(tenants::view(&tenant, item.version));
    }
    let Some(identity) = &deps.identity else {
        return Err(Error::Unavailable(
            "no identity provider is configured; the tenant stays provisioning".into(),
        ));
    };
    let now = deps.clock.now();
    let pool = match identity.ensure_customer_pool(tenant_id).await {
        Ok(pool) => pool,
        Err(e) => {
            // The provider's own message (error chain included), for the operator.
            let cause = match &e {
                crate::ports::IdentityError::Unavailable(source) => format!("{source:#}"),
                other => other.to_string(),
            };
            let reason = format!("creating the customer login pool failed: {cause}");
            tracing::warn!(tenant_id, error = ?e, "provisioning failed");
            let failed = Tenant {
                provisioning_error: Some(reason.clone()),
                updated_at: now,
                ..tenant
            };
            let record = Item {
                data: to_data(&failed)?,
                version: item.version + 1,
                ..item.clone()
            };
            // Best effort: a concurrent change keeps its own state.
            if let Err(e) = deps
                .store
                .put(record, Condition::VersionIs(item.version))
                .await
            {
                tracing::debug!(error = %e, "provisioning failure not recorded");
            }
            return Err(Error::Unavailable(format!(
                "{reason}; retry with POST /v1/tenants/{tenant_id}/provision"
            )));
        }
    };
    let issuer = customer_issuer(tenant_id, &pool);
    let active = Tenant {
        status: TenantStatus::Active,
        customer_pool: Some(pool),
        provisioning_error: None,
        updated_at: now,
        ..tenant
    };
    let version = item.version + 1;
    let ops = vec![
        // Written whole each time: the same pool gives the same item.
        WriteOp::Put {
            item: Item::new(issuer_key(&issuer.iss), to_data(&issuer)?),
            condition: Condition::None,
        },
        WriteOp::Put {
            item: Item {
                data: to_data(&active)?,
                version,
                ..item.clone()
            },
            condition: Condition::VersionIs(item.version),
        },
    ];
    deps.store.transact(ops).await?;
    Ok(tenants::view(&active, version))
}

/// The tenant a trusted issuer belongs to, from its `P#ISSUER#` item.
pub async fn trusted_issuer(deps: &Deps, iss: &str) -> Result<Option<Issuer>, Error> {
    match deps.store.get(&issuer_key(iss)).await? {
        Some(item) => Ok(Some(from_item(&item)?)),
        None => Ok(None),
    }
}
