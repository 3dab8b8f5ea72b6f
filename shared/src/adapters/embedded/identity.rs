//! The laptop's identity provider: logins kept in the item store (argon2id hashes), and
//! tokens from the local issuer, shaped like Cognito's so one verifier serves both.
//!
//! A tenant's pool is a record in its partition; each login is an item of the tenant's
//! login partition, keyed by the normalized email (Cognito's "email as username").

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::adapters::embedded::LocalIssuer;
use crate::model::ids::TenantId;
use crate::ports::{
    Condition, Identity, IdentityError, Item, ItemStore, NewLogin, Pool, StoreError, Tokens,
};
use crate::service::passwords;
use crate::service::tokens::Claims;
use crate::store::keys;

/// Lifetime of the tokens it issues (Cognito's default for id and access tokens).
const TOKEN_SECONDS: i64 = 3600;

pub struct EmbeddedIdentity {
    store: Arc<dyn ItemStore>,
    issuer: Arc<LocalIssuer>,
}

#[derive(Serialize, Deserialize)]
struct Login {
    subject: String,
    username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_hash: Option<String>,
    enabled: bool,
}

fn unavailable(e: impl Into<anyhow::Error>) -> IdentityError {
    IdentityError::Unavailable(e.into())
}

fn body<T: Serialize>(value: &T) -> Result<Map<String, Value>, IdentityError> {
    match serde_json::to_value(value).map_err(unavailable)? {
        Value::Object(m) => Ok(m),
        _ => Err(unavailable(anyhow::anyhow!("a record must be an object"))),
    }
}

fn read<T: for<'de> Deserialize<'de>>(item: &Item) -> Result<T, IdentityError> {
    serde_json::from_value(Value::Object(item.data.clone())).map_err(unavailable)
}

/// The id of the local staff pool.
const STAFF_POOL: &str = "local_staff";

/// Where a local pool keeps the login of `username`: the staff pool in a platform
/// partition, a tenant's pool (id `local_<tenant>`) in the tenant's login partition.
fn login_key(pool: &Pool, username: &str) -> Result<crate::ports::Key, IdentityError> {
    if pool.id == STAFF_POOL {
        return Ok(keys::local_staff_login(username));
    }
    let tenant = pool
        .id
        .strip_prefix("local_")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unavailable(anyhow::anyhow!("not a local pool: {}", pool.id)))?;
    Ok(keys::local_login(&TenantId::from_record(tenant), username))
}

impl EmbeddedIdentity {
    pub fn new(store: Arc<dyn ItemStore>, issuer: Arc<LocalIssuer>) -> Self {
        Self { store, issuer }
    }

    async fn login(
        &self,
        pool: &Pool,
        username: &str,
    ) -> Result<Option<(Login, Item)>, IdentityError> {
        match self
            .store
            .get(&login_key(pool, username)?)
            .await
            .map_err(unavailable)?
        {
            Some(item) => Ok(Some((read(&item)?, item))),
            None => Ok(None),
        }
    }

    async fn update(
        &self,
        pool: &Pool,
        username: &str,
        change: impl FnOnce(&mut Login),
    ) -> Result<(), IdentityError> {
        let (mut login, item) = self
            .login(pool, username)
            .await?
            .ok_or(IdentityError::NoSuchUser)?;
        change(&mut login);
        let mut next = Item::new(login_key(pool, username)?, body(&login)?);
        next.version = item.version + 1;
        match self
            .store
            .put(next, Condition::VersionIs(item.version))
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(IdentityError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl Identity for EmbeddedIdentity {
    async fn ensure_customer_pool(&self, tenant_id: &TenantId) -> Result<Pool, IdentityError> {
        let key = keys::local_pool(tenant_id);
        if let Some(item) = self.store.get(&key).await.map_err(unavailable)? {
            return read(&item);
        }
        let pool = Pool {
            id: format!("local_{tenant_id}"),
            issuer: format!("{}/{tenant_id}", self.issuer.iss()),
            client_id: format!("local-{tenant_id}"),
        };
        match self
            .store
            .put(Item::new(key.clone(), body(&pool)?), Condition::NotExists)
            .await
        {
            Ok(()) => Ok(pool),
            // Created meanwhile by another call: the same pool.
            Err(StoreError::ConditionFailed) => {
                match self.store.get(&key).await.map_err(unavailable)? {
                    Some(item) => read(&item),
                    None => Err(unavailable(anyhow::anyhow!("the pool vanished"))),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn staff_pool(&self) -> Result<Pool, IdentityError> {
        Ok(Pool {
            id: STAFF_POOL.into(),
            issuer: format!("{}/staff", self.issuer.iss()),
            client_id: "local-staff".into(),
        })
    }

    async fn create_user(&self, pool: &Pool, login: &NewLogin) -> Result<String, IdentityError> {
        let password_hash = match &login.password {
            Some(p) => Some(
                passwords::hash(p.clone())
                    .await
                    .map_err(|e| unavailable(anyhow::anyhow!("{e}")))?,
            ),
            None => None,
        };
        let record = Login {
            subject: login.subject.clone(),
            username: login.username.clone(),
            password_hash,
            enabled: true,
        };
        let item = Item::new(login_key(pool, &login.username)?, body(&record)?);
        match self.store.put(item, Condition::NotExists).await {
            Ok(()) => Ok(login.subject.clone()),
            Err(StoreError::ConditionFailed) => Err(IdentityError::UserExists),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn set_enabled(
        &self,
        pool: &Pool,
        username: &str,
        enabled: bool,
    ) -> Result<(), IdentityError> {
        self.update(pool, username, |l| l.enabled = enabled).await
    }

    async fn set_password(
        &self,
        pool: &Pool,
        username: &str,
        password: &str,
    ) -> Result<(), IdentityError> {
        let hash = passwords::hash(password.to_owned())
            .await
            .map_err(|e| unavailable(anyhow::anyhow!("{e}")))?;
        self.update(pool, username, |l| l.password_hash = Some(hash))
            .await
    }

    async fn delete_user(&self, pool: &Pool, username: &str) -> Result<(), IdentityError> {
        match self
            .store
            .delete(&login_key(pool, username)?, Condition::Exists)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(IdentityError::NoSuchUser),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn change_email(
        &self,
        pool: &Pool,
        username: &str,
        new_email: &str,
    ) -> Result<(), IdentityError> {
        let (mut login, item) = self
            .login(pool, username)
            .await?
            .ok_or(IdentityError::NoSuchUser)?;
        login.username = new_email.to_owned();
        let moved = Item::new(login_key(pool, new_email)?, body(&login)?);
        match self
            .store
            .transact(vec![
                crate::ports::WriteOp::create(moved),
                crate::ports::WriteOp::Delete {
                    key: item.key(),
                    condition: Condition::VersionIs(item.version),
                },
            ])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
                Err(IdentityError::UserExists)
            }
            Err(StoreError::TransactionCanceled { .. }) => Err(IdentityError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn authenticate(
        &self,
        pool: &Pool,
        username: &str,
        password: &str,
    ) -> Result<Tokens, IdentityError> {
        let login = self.login(pool, username).await?.map(|(l, _)| l);
        // Unknown, disabled and passwordless logins cost one (decoy) hash check too.
        let hash = login
            .as_ref()
            .filter(|l| l.enabled)
            .and_then(|l| l.password_hash.clone());
        if !passwords::verify(password.to_owned(), hash).await {
            return Err(IdentityError::InvalidCredentials);
        }
        let Some(login) = login else {
            return Err(IdentityError::InvalidCredentials);
        };
        let now = Utc::now().timestamp();
        let claims = |token_use: &str| Claims {
            iss: pool.issuer.clone(),
            sub: login.subject.clone(),
            exp: now + TOKEN_SECONDS,
            iat: now,
            token_use: token_use.to_owned(),
            aud: (token_use == "id").then(|| pool.client_id.clone()),
            client_id: (token_use == "access").then(|| pool.client_id.clone()),
            // A customer login's name is its email; a staff login's is its member id,
            // which is no email: staff id tokens carry none.
            email: (token_use == "id" && pool.id != STAFF_POOL).then(|| login.username.clone()),
        };
        Ok(Tokens {
            id_token: self.issuer.sign(&claims("id")).map_err(unavailable)?,
            access_token: self.issuer.sign(&claims("access")).map_err(unavailable)?,
            expires_in: TOKEN_SECONDS as u64,
        })
    }
}
