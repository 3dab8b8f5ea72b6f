//! `authenticate()`: turns a bearer credential into a `Principal`, from our own records.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq;

use crate::Deps;
use crate::access::Principal;
use crate::error::Error;
use crate::model::api_key::{self, KeyLookup, SECRET_PREFIX};
use crate::model::customer::LoginRecord;
use crate::model::ids::ApiKeyId;
use crate::ports::{Condition, Item};
use crate::service::tokens::{self, Issuer, Realm, TokenError, Verifier};
use crate::store::keys;

/// How stale `last_used_at` may get before a request refreshes it (one write at most
/// this often per key and process, not one per request).
const LAST_USED_GRANULARITY_MINUTES: i64 = 5;

/// The credential of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Longest bearer token looked at (Cognito's tokens are 1-2 KB).
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// A bearer credential to a principal: an API key (`tk_...`: one store read, its lookup
/// item found by the hash of the secret) or, with a token verifier configured, a JWT of
/// a tenant's customer pool (two reads: its login record and its customer's status) or
/// of the staff pool (two reads: its subject's item and its member). The issuer ->
/// realm item is read once per issuer and process.
pub async fn authenticate(deps: &Deps, token: Option<&str>) -> Result<Principal, Error> {
    let Some(secret) = token else {
        return Err(Error::Unauthenticated);
    };
    if secret.len() > MAX_TOKEN_LEN {
        return Err(Error::Unauthenticated);
    }
    // A support session's token: found by its hash, checked against the session now.
    if secret.starts_with(super::support::TOKEN_PREFIX) {
        return super::support::principal(deps, secret).await;
    }
    if !secret.starts_with(SECRET_PREFIX) {
        return match &deps.tokens {
            Some(verifier) => token_principal(deps, verifier, secret).await,
            None => Err(Error::Unauthenticated),
        };
    }
    if secret.len() > 256 {
        return Err(Error::Unauthenticated);
    }
    let hash = api_key::hash_secret(secret);
    let Some(item) = deps.store.get(&keys::api_key_lookup(&hash)).await? else {
        return Err(Error::Unauthenticated);
    };
    let lookup: KeyLookup = super::from_item(&item)?;
    // The item was found by this hash; compare anyway, in constant time, so a store
    // that returned the wrong item can never authenticate someone.
    if !bool::from(lookup.secret_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(Error::Unauthenticated);
    }
    touch(deps, &lookup).await;
    match (lookup.tenant_id, lookup.role) {
        (None, _) => Ok(Principal::Operator {
            key_id: lookup.key_id.to_string(),
        }),
        (Some(tenant_id), Some(role)) => Ok(Principal::Staff {
            billing_only: super::directory::tenant_gate(deps, &tenant_id).await?,
            tenant_id,
            role,
            actor: lookup.key_id.to_string(),
        }),
        (Some(_), None) => Err(Error::Unauthenticated),
    }
}

/// Trusted issuers by `iss`, as their `P#ISSUER#` items say: written once when a pool is
/// provisioned and never changed, so a process keeps what it has read.
static ISSUERS: LazyLock<Mutex<HashMap<String, Issuer>>> = LazyLock::new(Mutex::default);

async fn token_principal(
    deps: &Deps,
    verifier: &Verifier,
    token: &str,
) -> Result<Principal, Error> {
    let Some(iss) = tokens::claimed_issuer(token).filter(|i| !i.is_empty() && i.len() <= 512)
    else {
        return Err(Error::Unauthenticated);
    };
    let cached = ISSUERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&iss)
        .cloned();
    let issuer = match cached {
        Some(i) => i,
        None => {
            let Some(i) = super::identity::trusted_issuer(deps, &iss).await? else {
                return Err(Error::Unauthenticated);
            };
            let mut cache = ISSUERS.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(iss, i.clone());
            i
        }
    };
    let verified = match verifier.verify(token, &issuer).await {
        Ok(v) => v,
        Err(TokenError::Keys(e)) => {
            // The identity provider's keys could not be fetched: a service that failed,
            // not a bad token, so 503 and a retry rather than a 401 or a 500.
            tracing::error!(
                error = format!("{e:#}"),
                "the issuer's keys are unavailable"
            );
            return Err(Error::Unavailable(
                "the identity provider's keys could not be fetched; retry".into(),
            ));
        }
        Err(_) => return Err(Error::Unauthenticated),
    };
    match verified.realm {
        Realm::Customers { tenant_id } => {
            let key = keys::login_subject(&tenant_id, &verified.subject);
            let Some(item) = deps.store.get(&key).await? else {
                return Err(Error::Unauthenticated);
            };
            let login: LoginRecord = super::from_item(&item)?;
            if !login.enabled
                || !super::customers::logins_open(deps, &tenant_id, &login.customer_id).await?
            {
                return Err(Error::Unauthenticated);
            }
            Ok(Principal::Customer {
                tenant_id,
                customer_id: login.customer_id,
                user_id: login.user_id,
                role: login.role,
            })
        }
        Realm::Staff => super::staff::principal(deps, &verified.subject).await,
    }
}

/// When this process last refreshed each key's `last_used_at`.
static REFRESHED: LazyLock<Mutex<HashMap<ApiKeyId, DateTime<Utc>>>> = LazyLock::new(Mutex::default);

/// Refreshes a tenant key's `last_used_at` (its item in the tenant's partition) when this
/// process has not done so for a while: one read and one write per key every few
/// minutes, never a write to the platform's lookup item, which stays read-only here.
/// Best effort: a failure is logged, never fails the request.
async fn touch(deps: &Deps, lookup: &KeyLookup) {
    let Some(tenant_id) = &lookup.tenant_id else {
        return;
    };
    let now = deps.clock.now();
    {
        let mut seen = REFRESHED.lock().unwrap_or_else(|e| e.into_inner());
        if seen
            .get(&lookup.key_id)
            .is_some_and(|t| now - *t < Duration::minutes(LAST_USED_GRANULARITY_MINUTES))
        {
            return;
        }
        if seen.len() > 10_000 {
            seen.clear();
        }
        seen.insert(lookup.key_id.clone(), now);
    }
    let result: Result<(), Error> = async {
        let meta_key = keys::api_key(tenant_id, &lookup.key_id);
        if let Some(meta) = deps.store.get(&meta_key).await? {
            let mut data = meta.data.clone();
            data.insert("last_used_at".into(), serde_json::json!(now));
            let item = Item {
                data,
                version: meta.version + 1,
                ..meta.clone()
            };
            deps.store
                .put(item, Condition::VersionIs(meta.version))
                .await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = format!("{e:#}"), key_id = %lookup.key_id, "last_used_at not refreshed");
    }
}

/// Registers an operator key with this secret (idempotent): the local server does this
/// for `TENANTRY_ADMIN_KEY`. Its lookup (by hash) and its entry in the operator's key
/// list are written together; a key registered before the list existed gets its entry.
pub async fn register_operator_key(deps: &Deps, secret: &str) -> Result<String, Error> {
    if !secret.starts_with(SECRET_PREFIX) || secret.len() < SECRET_PREFIX.len() + 16 {
        return Err(Error::invalid(
            "TENANTRY_ADMIN_KEY",
            format!("must start with {SECRET_PREFIX} and carry at least 16 more characters"),
        ));
    }
    let hash = api_key::hash_secret(secret);
    let key = keys::api_key_lookup(&hash);
    let now = deps.clock.now();
    let entry = |id: &ApiKeyId| -> Result<Item, Error> {
        let listed = super::operator_keys::Entry {
            key: super::operator_keys::OperatorKey {
                id: id.clone(),
                hint: api_key::hint(secret),
                created_at: now,
            },
            secret_hash: hash.clone(),
        };
        Ok(Item::new(keys::operator_key(id), super::to_data(&listed)?))
    };
    if let Some(item) = deps.store.get(&key).await? {
        let existing: KeyLookup = super::from_item(&item)?;
        if existing.tenant_id.is_some() {
            return Err(Error::invalid(
                "TENANTRY_ADMIN_KEY",
                "is a tenant's API key, not an operator key; use another secret",
            ));
        }
        if deps
            .store
            .get(&keys::operator_key(&existing.key_id))
            .await?
            .is_none()
        {
            deps.store
                .put(entry(&existing.key_id)?, Condition::NotExists)
                .await
                .or_else(|e| match e {
                    crate::ports::StoreError::ConditionFailed => Ok(()),
                    e => Err(e),
                })?;
        }
        return Ok(existing.key_id.to_string());
    }
    let lookup = KeyLookup {
        key_id: ApiKeyId::generate(),
        tenant_id: None,
        role: None,
        secret_hash: hash.clone(),
    };
    deps.store
        .transact(vec![
            crate::ports::WriteOp::create(Item::new(key, super::to_data(&lookup)?)),
            crate::ports::WriteOp::create(entry(&lookup.key_id)?),
        ])
        .await?;
    Ok(lookup.key_id.to_string())
}
