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
use crate::ports::{Condition, IdentityError, Item, NewLogin, Pool, WriteOp};
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

/// Pools of active tenants, by tenant: a pool never changes once recorded.
static POOLS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Pool>>> =
    std::sync::LazyLock::new(Default::default);

/// The tenant's customer pool (one read the first time per process, then none), or
/// None while the tenant is still provisioning.
pub async fn customer_pool(deps: &Deps, tenant_id: &str) -> Result<Option<Pool>, Error> {
    if let Some(p) = POOLS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(tenant_id)
    {
        return Ok(Some(p.clone()));
    }
    let (tenant, _) = tenants::load(deps, tenant_id).await?;
    if let Some(pool) = &tenant.customer_pool {
        let mut cache = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(tenant_id.to_owned(), pool.clone());
    }
    Ok(tenant.customer_pool)
}

fn identity_error(e: IdentityError) -> Error {
    match e {
        IdentityError::WeakPassword => Error::invalid(
            "admin.password",
            "is refused by the login pool's password policy: at least 8 characters with upper, lower, digit and special",
        ),
        other => {
            tracing::warn!(error = ?other, "the identity provider failed");
            Error::Unavailable(
                "the login provider is unavailable; nothing was created, retry the request".into(),
            )
        }
    }
}

/// The pool and login of a new customer user, made before the records that point at
/// it. `Ok(None)` without an identity provider (passwords then stay as our own hashes).
///
/// A login already in the pool under this email is either another user's (the email
/// marker exists: 409, untouched) or an orphan of a creation that died after making it
/// (no marker: replaced). `undo_login` removes a login whose records were not written.
pub async fn create_login(
    deps: &Deps,
    tenant_id: &str,
    email: &str,
    user_id: &str,
    password: Option<&str>,
    email_marker: &crate::ports::Key,
) -> Result<Option<(Pool, String)>, Error> {
    let Some(identity) = &deps.identity else {
        return Ok(None);
    };
    let Some(pool) = customer_pool(deps, tenant_id).await? else {
        return Err(Error::conflict(
            "tenant-provisioning",
            format!(
                "the tenant's login pool is not ready yet; the operator finishes it with POST /v1/tenants/{tenant_id}/provision"
            ),
        ));
    };
    let login = NewLogin {
        username: email.to_owned(),
        subject: user_id.to_owned(),
        password: password.map(str::to_owned),
    };
    match identity.create_user(&pool, &login).await {
        Ok(sub) => Ok(Some((pool, sub))),
        Err(IdentityError::UserExists) => {
            if deps.store.get(email_marker).await?.is_some() {
                return Err(Error::conflict(
                    "duplicate-email",
                    format!("a customer user with the email {email} already exists in this tenant"),
                ));
            }
            tracing::warn!(
                tenant_id,
                "replacing an orphaned login left by an unfinished creation"
            );
            identity
                .delete_user(&pool, email)
                .await
                .map_err(identity_error)?;
            let sub = identity
                .create_user(&pool, &login)
                .await
                .map_err(identity_error)?;
            Ok(Some((pool, sub)))
        }
        Err(e) => Err(identity_error(e)),
    }
}

/// Removes a login whose records could not be written (best effort: an orphan left
/// here is replaced by the next creation with its email).
pub async fn undo_login(deps: &Deps, pool: &Pool, email: &str) {
    if let Some(identity) = &deps.identity
        && let Err(e) = identity.delete_user(pool, email).await
    {
        tracing::warn!(error = ?e, "an unused login was left in the pool");
    }
}

/// Mirrors a login's enabled state to the identity provider, so it stops (or resumes)
/// issuing tokens. Best effort: our `LoginRecord` is what authentication trusts.
pub async fn mirror_enabled(deps: &Deps, tenant_id: &str, email: &str, enabled: bool) {
    let Some(identity) = &deps.identity else {
        return;
    };
    let pool = match customer_pool(deps, tenant_id).await {
        Ok(Some(p)) => p,
        _ => return,
    };
    if let Err(e) = identity.set_enabled(&pool, email, enabled).await {
        tracing::warn!(error = ?e, tenant_id, enabled, "the login's state was not mirrored to the identity provider");
    }
}

/// Deletes a purged user's login from the identity provider (best effort).
pub async fn delete_login(deps: &Deps, tenant_id: &str, email: &str) {
    let Some(identity) = &deps.identity else {
        return;
    };
    if let Ok(Some(pool)) = customer_pool(deps, tenant_id).await
        && let Err(e) = identity.delete_user(&pool, email).await
        && !matches!(e, IdentityError::NoSuchUser)
    {
        tracing::warn!(error = ?e, tenant_id, "a purged user's login was not deleted");
    }
}
