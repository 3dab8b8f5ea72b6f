//! An identity provider that counts the calls made to it: whether a route uses the one
//! it declares (`functions::routes::Needs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tenantry::ports::{Identity, IdentityError, NewLogin, Pool, Tokens};

pub struct CountedIdentity {
    inner: Arc<dyn Identity>,
    calls: AtomicUsize,
}

impl CountedIdentity {
    pub fn new(inner: Arc<dyn Identity>) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
        }
    }
    /// The calls since the last `take`.
    pub fn take(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Identity for CountedIdentity {
    async fn ensure_customer_pool(
        &self,
        tenant_id: &tenantry::model::ids::TenantId,
    ) -> Result<Pool, IdentityError> {
        self.count();
        self.inner.ensure_customer_pool(tenant_id).await
    }
    async fn staff_pool(&self) -> Result<Pool, IdentityError> {
        self.count();
        self.inner.staff_pool().await
    }
    async fn create_user(&self, pool: &Pool, login: &NewLogin) -> Result<String, IdentityError> {
        self.count();
        self.inner.create_user(pool, login).await
    }
    async fn set_enabled(&self, pool: &Pool, user: &str, on: bool) -> Result<(), IdentityError> {
        self.count();
        self.inner.set_enabled(pool, user, on).await
    }
    async fn set_password(&self, pool: &Pool, user: &str, pw: &str) -> Result<(), IdentityError> {
        self.count();
        self.inner.set_password(pool, user, pw).await
    }
    async fn delete_user(&self, pool: &Pool, username: &str) -> Result<(), IdentityError> {
        self.count();
        self.inner.delete_user(pool, username).await
    }
    async fn change_email(&self, pool: &Pool, user: &str, to: &str) -> Result<(), IdentityError> {
        self.count();
        self.inner.change_email(pool, user, to).await
    }
    async fn authenticate(
        &self,
        pool: &Pool,
        user: &str,
        pw: &str,
    ) -> Result<Tokens, IdentityError> {
        self.count();
        self.inner.authenticate(pool, user, pw).await
    }
}
