//! A tenant's customer login pool: created with the tenant, resumable after a failure
//! (`POST /v1/tenants/{id}/provision`), never twice; its issuer -> tenant item is what
//! `authenticate()` will trust. Embedded identity always; Cognito against moto.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::Deps;
use tenantry::adapters::embedded::{EmbeddedIdentity, EmbeddedStore};
use tenantry::ports::{Identity, IdentityError, NewLogin, Pool, Tokens};
use tenantry::service::identity;
use tenantry::service::tokens::Realm;
use tenantry_tests::app::{TestApp, embedded_identity, spawn_app_with};

/// The real embedded identity provider, made to fail pool creation while `down` is set
/// (an outage of Cognito, which moto cannot stage).
struct Flaky {
    inner: EmbeddedIdentity,
    down: AtomicBool,
}

#[async_trait]
impl Identity for Flaky {
    async fn ensure_customer_pool(
        &self,
        tenant_id: &tenantry::model::ids::TenantId,
    ) -> Result<Pool, IdentityError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(IdentityError::Unavailable(anyhow::anyhow!(
                "LimitExceededException: too many pools"
            )));
        }
        self.inner.ensure_customer_pool(tenant_id).await
    }
    async fn staff_pool(&self) -> Result<Pool, IdentityError> {
        self.inner.staff_pool().await
    }
    async fn create_user(&self, p: &Pool, l: &NewLogin) -> Result<String, IdentityError> {
        self.inner.create_user(p, l).await
    }
    async fn set_enabled(&self, p: &Pool, u: &str, e: bool) -> Result<(), IdentityError> {
        self.inner.set_enabled(p, u, e).await
    }
    async fn set_password(&self, p: &Pool, u: &str, pw: &str) -> Result<(), IdentityError> {
        self.inner.set_password(p, u, pw).await
    }
    async fn delete_user(&self, p: &Pool, u: &str) -> Result<(), IdentityError> {
        self.inner.delete_user(p, u).await
    }
    async fn change_email(&self, p: &Pool, u: &str, e: &str) -> Result<(), IdentityError> {
        self.inner.change_email(p, u, e).await
    }
    async fn authenticate(&self, p: &Pool, u: &str, pw: &str) -> Result<Tokens, IdentityError> {
        self.inner.authenticate(p, u, pw).await
    }
}

fn tenant_body(slug: &str) -> Value {
    json!({"name": "Northwind", "slug": slug, "kind": "partner",
        "owner": {"email": "owner@northwind.example.com", "first_name": "Nora", "last_name": "North"}})
}

async fn embedded_app() -> (TestApp, Arc<Flaky>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("p.redb")).expect("a store"));
    let (inner, verifier) = embedded_identity(store.clone(), dir.path());
    let flaky = Arc::new(Flaky {
        inner,
        down: AtomicBool::new(false),
    });
    let deps = Deps::new(store).with_identity(flaky.clone(), verifier);
    (spawn_app_with(deps).await, flaky, dir)
}

#[tokio::test]
async fn a_new_tenant_gets_its_pool_and_its_issuer_is_trusted_as_that_tenant() {
    let (app, _, _dir) = embedded_app().await;
    let r = app
        .post(&app.admin_key, "/v1/tenants", tenant_body("northwind"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.field("status"), "active");
    let pool: Pool = serde_json::from_value(r.body["customer_pool"].clone()).expect("a pool");
    let tenant_id = tenantry::model::ids::TenantId::parse(r.field("id")).expect("an id");
    let trusted = identity::trusted_issuer(&app.deps, &pool.issuer)
        .await
        .expect("read")
        .expect("the pool's issuer is trusted");
    assert_eq!(
        trusted.realm,
        Realm::Customers {
            tenant_id: tenant_id.clone()
        }
    );
    assert_eq!(trusted.audience, pool.client_id);
    // Provisioning an active tenant again changes nothing.
    let again = app
        .post(
            &app.admin_key,
            &format!("/v1/tenants/{tenant_id}/provision"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["customer_pool"], r.body["customer_pool"]);
    assert_eq!(again.body["version"], r.body["version"]);
}

#[tokio::test]
async fn a_failed_pool_leaves_the_tenant_provisioning_with_the_reason_and_a_retry_finishes_it() {
    let (app, flaky, _dir) = embedded_app().await;
    flaky.down.store(true, Ordering::SeqCst);
    let r = app
        .post(&app.admin_key, "/v1/tenants", tenant_body("southwind"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "the tenant is created: {}",
        r.body
    );
    assert_eq!(r.field("status"), "provisioning");
    assert!(r.body.get("customer_pool").is_none());
    assert!(
        r.field("provisioning_error")
            .contains("LimitExceededException"),
        "{}",
        r.body
    );
    let id = r.field("id").to_owned();
    let path = format!("/v1/tenants/{id}");

    // Nobody skips provisioning by PATCHing the status.
    let p = app
        .patch(&app.admin_key, &path, json!({"status": "active"}))
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert!(
        p.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("/provision")
    );
    // Other fields still change.
    let p = app
        .patch(&app.admin_key, &path, json!({"name": "Southwind Ltd"}))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);

    // Still down: 503 naming the reason and the retry; still provisioning.
    let retry = app
        .post(&app.admin_key, &format!("{path}/provision"), json!({}))
        .await;
    assert_eq!(
        retry.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        retry.body
    );
    assert_eq!(retry.headers["content-type"], "application/problem+json");
    assert!(
        retry.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("/provision")
    );
    assert_eq!(
        app.get(&app.admin_key, &path).await.field("status"),
        "provisioning"
    );

    // Back up: the retry finishes it, and the reason is gone.
    flaky.down.store(false, Ordering::SeqCst);
    let done = app
        .post(&app.admin_key, &format!("{path}/provision"), json!({}))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.field("status"), "active");
    assert_eq!(done.field("name"), "Southwind Ltd");
    assert!(done.body.get("provisioning_error").is_none());
    let pool: Pool = serde_json::from_value(done.body["customer_pool"].clone()).expect("a pool");
    assert!(
        identity::trusted_issuer(&app.deps, &pool.issuer)
            .await
            .expect("read")
            .is_some()
    );
    // And it cannot go back.
    let p = app
        .patch(&app.admin_key, &path, json!({"status": "provisioning"}))
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    // Tenant keys may not provision (operator only).
    let key = app
        .post(
            &app.admin_key,
            &format!("{path}/api-keys"),
            json!({"name": "k", "role": "owner"}),
        )
        .await;
    let r = app
        .post(key.field("secret"), &format!("{path}/provision"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

/// Against moto: the tenant's pool exists in Cognito, and provisioning again (as after a
/// crash between the pool and the record) finds it instead of creating a second.
#[tokio::test]
async fn cognito_provisioning_resumes_without_a_second_pool() {
    if std::env::var("AWS_ENDPOINT_URL").map_or(true, |v| v.trim().is_empty()) {
        assert!(
            std::env::var("CI").is_err(),
            "CI without AWS_ENDPOINT_URL: use scripts/test"
        );
        eprintln!("skipped: run scripts/test to provision against moto's Cognito");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("c.redb")).expect("a store"));
    let (deps, cognito, prefix) = tenantry_tests::app::cognito_deps(store).await;
    let app = spawn_app_with(deps).await;
    let r = app
        .post(&app.admin_key, "/v1/tenants", tenant_body("eastwind"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.field("status"), "active");
    let id = tenantry::model::ids::TenantId::parse(r.field("id")).expect("an id");
    let pool: Pool = serde_json::from_value(r.body["customer_pool"].clone()).expect("a pool");
    assert!(
        pool.issuer.starts_with("https://cognito-idp."),
        "{}",
        pool.issuer
    );

    // The adapter, asked again (a retry after a crash), answers the same pool and client.
    let again = cognito.ensure_customer_pool(&id).await.expect("again");
    assert_eq!(again, pool);
    let client =
        aws_sdk_cognitoidentityprovider::Client::new(&tenantry::adapters::aws::sdk_config().await);
    let mut named = 0;
    let mut next = None;
    loop {
        let page = client
            .list_user_pools()
            .max_results(60)
            .set_next_token(next)
            .send()
            .await
            .expect("list pools");
        named += page
            .user_pools()
            .iter()
            .filter(|p| p.name() == Some(&format!("{prefix}-customers-{id}")))
            .count();
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => break,
        }
    }
    assert_eq!(named, 1, "one pool for the tenant");
}
