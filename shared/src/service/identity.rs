//! Logins in the identity provider: the trusted issuers of the tenants' pools, and each
//! customer user's login, made, mirrored and removed alongside our own records.

use crate::error::ProblemKind;
use sha2::{Digest, Sha256};

use super::from_item;
use crate::Deps;
use crate::error::Error;
use crate::model::customer::LoginRecord;
use crate::model::ids::{TenantId, UserId};
use crate::ports::{IdentityError, NewLogin, Pool};
use crate::service::tokens::{Issuer, Realm};
use crate::store::keys;

/// The key of an issuer's item: SHA-256 (hex) of its `iss`.
pub fn issuer_key(iss: &str) -> crate::ports::Key {
    keys::issuer(&hex::encode(Sha256::digest(iss.as_bytes())))
}

/// The trusted issuer of a tenant's customer pool, as its `P#ISSUER#` item records it.
pub fn customer_issuer(tenant_id: &TenantId, pool: &Pool) -> Issuer {
    Issuer {
        iss: pool.issuer.clone(),
        audience: pool.client_id.clone(),
        realm: Realm::Customers {
            tenant_id: tenant_id.clone(),
        },
    }
}

/// The tenant a trusted issuer belongs to, from its `P#ISSUER#` item.
pub async fn trusted_issuer(deps: &Deps, iss: &str) -> Result<Option<Issuer>, Error> {
    match deps.store.get(&issuer_key(iss)).await? {
        Some(item) => Ok(Some(from_item(&item)?)),
        None => Ok(None),
    }
}

/// Pools of active tenants, by tenant: a pool never changes once recorded.
static POOLS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<TenantId, Pool>>> =
    std::sync::LazyLock::new(Default::default);

/// The tenant's customer pool (one read the first time per process, then none), or
/// None while the tenant is still provisioning.
pub async fn customer_pool(deps: &Deps, tenant_id: &TenantId) -> Result<Option<Pool>, Error> {
    if let Some(p) = POOLS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(tenant_id)
    {
        return Ok(Some(p.clone()));
    }
    let (tenant, _) = super::directory::load(deps, tenant_id).await?;
    if let Some(pool) = &tenant.customer_pool {
        let mut cache = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(tenant_id.clone(), pool.clone());
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
        IdentityError::Conflict => Error::concurrent_update(),
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
    tenant_id: &TenantId,
    email: &str,
    user_id: &UserId,
    password: Option<&str>,
) -> Result<Option<(Pool, String)>, Error> {
    let Some(identity) = deps.identity()? else {
        return Ok(None);
    };
    let Some(pool) = customer_pool(deps, tenant_id).await? else {
        return Err(Error::conflict(
            ProblemKind::TenantProvisioning,
            format!(
                "the tenant's login pool is not ready yet; the operator finishes it with POST /v1/tenants/{tenant_id}/provision"
            ),
        ));
    };
    let login = NewLogin {
        username: email.to_owned(),
        subject: user_id.to_string(),
        password: password.map(str::to_owned),
    };
    match identity.create_user(&pool, &login).await {
        Ok(sub) => Ok(Some((pool, sub))),
        Err(IdentityError::UserExists) => {
            tracing::warn!(
                %tenant_id,
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
pub async fn mirror_enabled(deps: &Deps, tenant_id: &TenantId, email: &str, subject: &str) {
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
            tracing::warn!(error = ?e, %tenant_id, enabled, "the login's state was not mirrored to the identity provider");
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
pub async fn delete_login(deps: &Deps, tenant_id: &TenantId, email: &str) -> Result<(), Error> {
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
