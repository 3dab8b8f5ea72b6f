//! An identity provider that records the calls made to it: whether a route uses the one
//! it declares (`functions::routes::Needs`), and which Cognito actions, on which kind of
//! pool, those calls are in AWS (the template's policies must allow each).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tenantry::ports::{Identity, IdentityError, NewLogin, Pool, Tokens};

/// Which pool a Cognito action is on, as IAM sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// No resource ARN (listing or creating pools).
    Any,
    /// A tenant's customer pool (tagged with the stage's `pool_prefix`).
    Customers,
    /// The staff pool (named by its ARN in the template).
    Staff,
}

/// One Cognito API call as `CognitoIdentity` makes it for an `Identity` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CognitoCall {
    pub action: &'static str,
    pub pool: PoolKind,
}

pub struct CountedIdentity {
    inner: Arc<dyn Identity>,
    calls: Mutex<Vec<CognitoCall>>,
    identity_calls: Mutex<usize>,
}

/// The embedded provider's staff pool id (`adapters::embedded`); every other pool is a
/// tenant's.
const EMBEDDED_STAFF_POOL: &str = "local_staff";

fn kind(pool: &Pool) -> PoolKind {
    if pool.id == EMBEDDED_STAFF_POOL {
        PoolKind::Staff
    } else {
        PoolKind::Customers
    }
}

impl CountedIdentity {
    pub fn new(inner: Arc<dyn Identity>) -> Self {
        Self {
            inner,
            calls: Mutex::default(),
            identity_calls: Mutex::default(),
        }
    }
    /// The `Identity` calls since the last `take`.
    pub fn take(&self) -> usize {
        self.calls.lock().expect("lock").clear();
        std::mem::take(&mut *self.identity_calls.lock().expect("lock"))
    }
    /// The Cognito actions of the calls since the last `take` or `take_cognito`.
    pub fn take_cognito(&self) -> Vec<CognitoCall> {
        std::mem::take(&mut *self.calls.lock().expect("lock"))
    }
    /// Records one `Identity` call as the Cognito actions `CognitoIdentity` makes for it
    /// (shared/src/adapters/aws/cognito.rs; its happy path).
    fn record(&self, actions: &[(&'static str, PoolKind)]) {
        *self.identity_calls.lock().expect("lock") += 1;
        self.calls
            .lock()
            .expect("lock")
            .extend(actions.iter().map(|(action, pool)| CognitoCall {
                action,
                pool: *pool,
            }));
    }
}

#[async_trait]
impl Identity for CountedIdentity {
    async fn ensure_customer_pool(
        &self,
        tenant_id: &tenantry::model::ids::TenantId,
    ) -> Result<Pool, IdentityError> {
        // Found by name or created (no resource ARN), then its web client, tagged.
        self.record(&[
            ("cognito-idp:ListUserPools", PoolKind::Any),
            ("cognito-idp:CreateUserPool", PoolKind::Any),
            ("cognito-idp:ListUserPoolClients", PoolKind::Customers),
            ("cognito-idp:CreateUserPoolClient", PoolKind::Customers),
        ]);
        self.inner.ensure_customer_pool(tenant_id).await
    }
    async fn staff_pool(&self) -> Result<Pool, IdentityError> {
        // In AWS the template names it (environment): no call.
        self.record(&[]);
        self.inner.staff_pool().await
    }
    async fn create_user(&self, pool: &Pool, login: &NewLogin) -> Result<String, IdentityError> {
        let k = kind(pool);
        match login.password {
            Some(_) => self.record(&[
                ("cognito-idp:AdminCreateUser", k),
                ("cognito-idp:AdminSetUserPassword", k),
            ]),
            None => self.record(&[("cognito-idp:AdminCreateUser", k)]),
        }
        self.inner.create_user(pool, login).await
    }
    async fn set_enabled(&self, pool: &Pool, user: &str, on: bool) -> Result<(), IdentityError> {
        let action = match on {
            true => "cognito-idp:AdminEnableUser",
            false => "cognito-idp:AdminDisableUser",
        };
        self.record(&[(action, kind(pool))]);
        self.inner.set_enabled(pool, user, on).await
    }
    async fn set_password(&self, pool: &Pool, user: &str, pw: &str) -> Result<(), IdentityError> {
        self.record(&[("cognito-idp:AdminSetUserPassword", kind(pool))]);
        self.inner.set_password(pool, user, pw).await
    }
    async fn delete_user(&self, pool: &Pool, username: &str) -> Result<(), IdentityError> {
        self.record(&[("cognito-idp:AdminDeleteUser", kind(pool))]);
        self.inner.delete_user(pool, username).await
    }
    async fn change_email(&self, pool: &Pool, user: &str, to: &str) -> Result<(), IdentityError> {
        self.record(&[("cognito-idp:AdminUpdateUserAttributes", kind(pool))]);
        self.inner.change_email(pool, user, to).await
    }
    async fn authenticate(
        &self,
        pool: &Pool,
        user: &str,
        pw: &str,
    ) -> Result<Tokens, IdentityError> {
        self.record(&[("cognito-idp:AdminInitiateAuth", kind(pool))]);
        self.inner.authenticate(pool, user, pw).await
    }
}
