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
use crate::model::customer::LoginRecord;
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

/// Provisions the tenant's customer pool if it has none yet (a `provisioning` tenant,
/// or one created before tenants had pools); returns the tenant. `Error::Unavailable`
/// (the reason, also recorded on the tenant) when the identity provider failed.
pub async fn provision(deps: &Deps, tenant_id: &str) -> Result<Value, Error> {
    let (tenant, item) = tenants::load(deps, tenant_id).await?;
    provision_loaded(deps, tenant, item).await
}

/// `provision` of a tenant already in hand with its stored item (a tenant just created
/// needs no read back).
pub(crate) async fn provision_loaded(
    deps: &Deps,
    tenant: Tenant,
    item: Item,
) -> Result<Value, Error> {
    let tenant_id = tenant.id.clone();
    let tenant_id = tenant_id.as_str();
    if tenant.customer_pool.is_some() {
        return Ok(tenants::view(&tenant, item.version));
    }
    let Some(identity) = deps.identity()? else {
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
                tracing::debug!(
                    error = format!("{e:#}"),
                    "provisioning failure not recorded"
                );
            }
            return Err(Error::Unavailable(format!(
                "{reason}; retry with POST /v1/tenants/{tenant_id}/provision"
            )));
        }
    };
    let issuer = customer_issuer(tenant_id, &pool);
    let slug = tenant.slug.clone();
    let active = Tenant {
        status: match tenant.status {
            TenantStatus::Provisioning => TenantStatus::Active,
            other => other,
        },
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
        // The slug's marker names its tenant (markers of tenants made before it did).
        WriteOp::put(Item::new(
            keys::slug_marker(&slug),
            to_data(&serde_json::json!({ "tenant_id": tenant_id }))?,
        )),
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
        IdentityError::InvalidUsername => Error::invalid(
            "admin.email",
            "is refused by the login pool as a username; use another address",
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
/// The caller holds the claim on the email (its marker, pending), so a login already in
/// the pool under it is an orphan of a creation that died after making it: replaced.
/// `undo_login` removes a login whose records were not written.
pub async fn create_login(
    deps: &Deps,
    tenant_id: &str,
    email: &str,
    user_id: &str,
    password: Option<&str>,
) -> Result<Option<(Pool, String)>, Error> {
    let Some(identity) = deps.identity()? else {
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
    if let Ok(Some(identity)) = deps.identity()
        && let Err(e) = identity.delete_user(pool, email).await
    {
        tracing::warn!(error = ?e, "an unused login was left in the pool");
    }
}

/// Mirrors a login's enabled state to the identity provider, so it stops (or resumes)
/// issuing tokens. The state sent is the record's as read after the change, and it is
/// read again after the call: two changes racing cannot leave the provider on the
/// older one. Best effort: our `LoginRecord` is what authentication and sign-in trust.
pub async fn mirror_enabled(deps: &Deps, tenant_id: &str, email: &str, subject: &str) {
    let Ok(Some(identity)) = deps.identity() else {
        return;
    };
    let pool = match customer_pool(deps, tenant_id).await {
        Ok(Some(p)) => p,
        _ => return,
    };
    let key = keys::login_subject(tenant_id, subject);
    let read = async || -> Option<bool> {
        let item = deps.store.get(&key).await.ok()??;
        from_item::<LoginRecord>(&item).ok().map(|r| r.enabled)
    };
    let Some(mut enabled) = read().await else {
        return;
    };
    for _ in 0..3 {
        if let Err(e) = identity.set_enabled(&pool, email, enabled).await {
            tracing::warn!(error = ?e, tenant_id, enabled, "the login's state was not mirrored to the identity provider");
            return;
        }
        match read().await {
            Some(now) if now != enabled => enabled = now,
            _ => return,
        }
    }
}

/// Deletes a purged user's login from the identity provider. A failure fails this
/// customer's purge, which the next run retries.
pub async fn delete_login(deps: &Deps, tenant_id: &str, email: &str) -> Result<(), Error> {
    let Some(identity) = deps.identity()? else {
        return Ok(());
    };
    let Some(pool) = customer_pool(deps, tenant_id).await? else {
        return Ok(());
    };
    match identity.delete_user(&pool, email).await {
        Ok(()) | Err(IdentityError::NoSuchUser) => Ok(()),
        Err(e) => Err(Error::Unexpected(anyhow::anyhow!(
            "deleting a purged user's login failed: {e}"
        ))),
    }
}
