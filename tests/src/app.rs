//! `spawn_app()`: the real local server on a free loopback port over a fresh redb file.

use std::sync::Arc;

use functions::api::App;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::Deps;
use tenantry::adapters::embedded::{EmbeddedIdentity, EmbeddedStore, LocalIssuer};
use tenantry::model::api_key;
use tenantry::ports::{Item, ItemStore};
use tenantry::service::auth;
use tenantry::service::tokens::Verifier;

/// The embedded identity provider over `store`, its local issuer keeping its key in
/// `<dir>/identity`, and the verifier of its tokens: the identity of `tenantry serve`.
pub fn embedded_identity(
    store: Arc<dyn ItemStore>,
    dir: &std::path::Path,
) -> (EmbeddedIdentity, Arc<Verifier>) {
    let issuer = Arc::new(
        LocalIssuer::open(dir.join("identity"), "http://127.0.0.1:3000/identity")
            .expect("a local issuer"),
    );
    (
        EmbeddedIdentity::new(store, issuer.clone()),
        Arc::new(Verifier::new(issuer)),
    )
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub admin_key: String,
    /// Set when the app runs on the embedded store (the default).
    pub embedded: Option<Arc<EmbeddedStore>>,
    pub deps: Deps,
    _dir: tempfile::TempDir,
}

/// A tenant made through the API, with an owner key and a member key.
pub struct TestTenant {
    pub id: String,
    pub slug: String,
    pub owner_key: String,
    pub member_key: String,
}

/// The app on a fresh embedded store.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("tenantry.redb")).expect("store"));
    let mut app = spawn_app_on(store.clone()).await;
    app.embedded = Some(store);
    app._dir = dir;
    app
}

/// The app on any store (the DynamoDB tests pass theirs).
pub async fn spawn_app_on(store: Arc<dyn ItemStore>) -> TestApp {
    spawn_app_with(Deps::new(store)).await
}

/// The local server over these dependencies (e.g. with an identity provider).
pub async fn spawn_app_with(deps: Deps) -> TestApp {
    spawn_app_routed(deps, None).await
}

/// The local server with `extra` routes merged in (the test clock's).
pub async fn spawn_app_routed(deps: Deps, extra: Option<axum::Router>) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    // Final documents land in the app's folder unless the test chose a store for them.
    let deps = if deps.documents().is_ok() {
        deps
    } else {
        let files = tenantry::adapters::embedded::FileDocuments::new(dir.path().join("documents"))
            .expect("a documents folder");
        deps.with_documents(Arc::new(files))
    };
    // Signing secrets under a key file in the app's folder, unless the test chose a vault.
    let deps = if deps.vault().is_ok() {
        deps
    } else {
        let vault = tenantry::adapters::embedded::FileVault::open(dir.path().join("vault.key"))
            .expect("a vault key");
        deps.with_vault(Arc::new(vault))
    };
    // Outbound requests may reach the tests' local servers.
    let deps = if deps.outbound().is_ok() {
        deps
    } else {
        deps.with_outbound(Arc::new(
            tenantry::adapters::http::HttpSender::allowing_loopback(),
        ))
    };
    let admin_key = api_key::new_secret();
    auth::register_operator_key(&deps, &admin_key)
        .await
        .expect("operator key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Arc::new(App::all(deps.clone()));
    let mut router = functions::server::router(app);
    if let Some(extra) = extra {
        router = router.merge(extra);
    }
    tokio::spawn(async move {
        let _ = functions::server::serve_router(listener, router).await;
    });
    TestApp {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
        admin_key,
        embedded: None,
        deps,
        _dir: dir,
    }
}

/// A response: status, body as JSON (Null when empty or not JSON), and headers.
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    /// The body as sent (a PDF, a page).
    pub raw: bytes::Bytes,
}

impl Resp {
    pub fn field(&self, name: &str) -> &str {
        self.body
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// The field names of a problem's `errors` list.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn problem_type(&self) -> &str {
        self.body
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

impl TestApp {
    /// Every stored item (embedded store only: the domain never scans).
    pub fn all_items(&self) -> Vec<Item> {
        self.embedded
            .as_ref()
            .expect("an embedded store")
            .all_items()
            .expect("walk the store")
    }

    /// The events written for a tenant's webhook endpoints (its outbox), oldest first:
    /// `(type, data)` (embedded store only).
    pub fn events_of(&self, tenant_id: &str) -> Vec<(String, Value)> {
        let mut out: Vec<(Option<chrono::DateTime<chrono::FixedOffset>>, String, Value)> = self
            .all_items()
            .into_iter()
            .filter(|i| {
                tenantry::store::keys::webhook_message_target(&i.pk)
                    .is_some_and(|(t, _)| t.as_str() == tenant_id)
            })
            .map(|i| {
                let payload = &i.data["payload"];
                (
                    i.data["created_at"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
                    payload["type"].as_str().unwrap_or_default().to_owned(),
                    payload["data"].clone(),
                )
            })
            .collect();
        out.sort_by_key(|e| e.0);
        out.into_iter().map(|(_, t, d)| (t, d)).collect()
    }

    /// How many events of `event_type` were written for the tenant.
    pub fn count_events(&self, tenant_id: &str, event_type: &str) -> usize {
        self.events_of(tenant_id)
            .iter()
            .filter(|(t, _)| t == event_type)
            .count()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body read");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            headers,
            raw: bytes,
        }
    }

    pub async fn get(&self, key: &str, path: &str) -> Resp {
        self.send(reqwest::Method::GET, key, path, None, &[]).await
    }
    pub async fn post(&self, key: &str, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, key, path, Some(body), &[])
            .await
    }
    pub async fn patch(&self, key: &str, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PATCH, key, path, Some(body), &[])
            .await
    }
    pub async fn put(&self, key: &str, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, key, path, Some(body), &[])
            .await
    }
    pub async fn delete(&self, key: &str, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, key, path, None, &[])
            .await
    }

    /// A new tenant with an owner key and a member key.
    pub async fn new_tenant(&self, slug: &str) -> TestTenant {
        let t = self
            .post(&self.admin_key, "/v1/tenants", json!({
                "name": format!("{slug} partners"), "slug": slug, "kind": "partner",
                "owner": {"email": format!("owner@{slug}.example.com"), "first_name": "Olive", "last_name": "Owner"}
            }))
            .await;
        assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
        let id = t.field("id").to_owned();
        let mut keys = Vec::new();
        for role in ["owner", "member"] {
            let k = self
                .post(
                    &self.admin_key,
                    &format!("/v1/tenants/{id}/api-keys"),
                    json!({"name": role, "role": role}),
                )
                .await;
            assert_eq!(k.status, StatusCode::CREATED, "{}", k.body);
            keys.push(k.field("secret").to_owned());
        }
        TestTenant {
            id,
            slug: slug.to_owned(),
            member_key: keys.pop().unwrap_or_default(),
            owner_key: keys.pop().unwrap_or_default(),
        }
    }

    /// A staff member's access token: its pending invitation's link sets `password`,
    /// then it signs in at the tenant's staff login.
    pub async fn staff_token(
        &self,
        tenant_id: &str,
        slug: &str,
        email: &str,
        password: &str,
    ) -> String {
        let link = pending_link_token(&self.deps, tenant_id, email, "staff_invitation")
            .await
            .expect("the staff invitation's link");
        let set = self
            .post(
                "",
                &format!("/t/{slug}/password"),
                json!({"token": link, "password": password}),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        let r = self
            .post(
                "",
                &format!("/t/{slug}/staff/login"),
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.field("access_token").to_owned()
    }

    /// A customer named `name` whose admin (`admin@<name>.example.com`) has `password`
    /// and signs in: (customer id, the admin's user id, the admin's access token).
    pub async fn customer_signed_in(
        &self,
        t: &TestTenant,
        name: &str,
        password: &str,
    ) -> (String, String, String) {
        let email = format!("admin@{}.example.com", name.to_lowercase());
        let mut body = customer_body(name, &email);
        body["admin"]["password"] = json!(password);
        let r = self.post(&t.owner_key, "/v1/customers", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let admin_id = r.body["admin"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(admin_id.starts_with("usr_"), "{}", r.body);
        let s = self
            .post(
                "",
                &format!("/t/{}/login", t.slug),
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        (
            r.field("id").to_owned(),
            admin_id,
            s.field("access_token").to_owned(),
        )
    }

    /// Creates a customer and returns its id.
    pub async fn new_customer(&self, key: &str, name: &str, email: &str) -> String {
        let r = self
            .post(key, "/v1/customers", customer_body(name, email))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.field("id").to_owned()
    }
}

/// A complete, valid customer body.
pub fn customer_body(name: &str, email: &str) -> Value {
    json!({
        "company": {
            "name": name,
            "website": "acme.example.com",
            "phone": "+31 20 123 4567",
            "country": "NL",
            "address": {"line1": "Keizersgracht 1", "city": "Amsterdam", "postal_code": "1015 CJ"},
            "description": "Test company"
        },
        "admin": {"first_name": "Ada", "last_name": "Admin", "email": email},
        "primary_contact": {"name": "Pat Contact", "phone": "+31201234568", "email": "pat@example.com"}
    })
}

/// The code of the newest registration email to `to` still waiting in the tenant's outbox
/// (a code leaves the stored email once the email is sent).
pub async fn pending_registration_code(deps: &Deps, tenant_id: &str, to: &str) -> Option<String> {
    pending_email_value(deps, tenant_id, to, "registration_code", "code").await
}

/// The password link token of the newest invitation or reset email to `to` still waiting in
/// the tenant's outbox.
pub async fn pending_link_token(
    deps: &Deps,
    tenant_id: &str,
    to: &str,
    template: &str,
) -> Option<String> {
    pending_email_value(deps, tenant_id, to, template, "link_token").await
}

/// A value of the newest `template` email to `to` still waiting in the tenant's outbox.
pub async fn pending_email_value(
    deps: &Deps,
    tenant_id: &str,
    to: &str,
    template: &str,
    value: &str,
) -> Option<String> {
    use tenantry::ports::{Query, SortRange};
    let tenant_id = tenantry::model::ids::TenantId::from_record(tenant_id);
    let outbox = tenantry::store::keys::outbox_partition(&tenant_id);
    let page = deps
        .store
        .query(Query::partition(outbox, SortRange::All, 100))
        .await
        .expect("the tenant's outbox");
    // Email ids are time-ordered: the newest last.
    page.items
        .iter()
        .rev()
        .filter(|i| i.data["state"] == "pending")
        .filter(|i| i.data["template"] == template && i.data["to"] == to)
        .find_map(|i| i.data["context"][value].as_str().map(str::to_owned))
}

/// The app as `tenantry serve` runs it: the embedded store and the embedded identity
/// provider (logins, a local issuer). Keep the directory alive as long as the app.
pub async fn spawn_app_with_logins() -> (TestApp, tempfile::TempDir) {
    spawn_app_with_logins_at(None).await
}

/// `spawn_app_with_logins`, on a clock the test moves when it gives one.
pub async fn spawn_app_with_logins_at(
    clock: Option<Arc<TestClock>>,
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("app.redb")).expect("a store"));
    let (idp, verifier) = embedded_identity(store.clone(), dir.path());
    let deps = Deps::new(store.clone()).with_identity(Arc::new(idp), verifier);
    let deps = match clock {
        Some(clock) => deps.with_clock(clock),
        None => deps,
    };
    let mut app = spawn_app_with(deps).await;
    app.embedded = Some(store);
    (app, dir)
}

/// The AWS identity of the route functions over `store`: a Cognito client (moto under
/// `scripts/test`) whose pools are named with a fresh prefix, and the HTTP key source of
/// the authorizer. Returns the dependencies and the Cognito adapter, to look at directly.
pub async fn cognito_deps(
    store: Arc<dyn ItemStore>,
) -> (Deps, Arc<tenantry::adapters::aws::CognitoIdentity>, String) {
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let cognito = Arc::new(tenantry::adapters::aws::CognitoIdentity::new(
        aws_sdk_cognitoidentityprovider::Client::new(&tenantry::adapters::aws::sdk_config().await),
        prefix.clone(),
    ));
    let verifier = Verifier::new(Arc::new(tenantry::adapters::aws::HttpJwks::from_env()));
    let deps = Deps::new(store).with_identity(cognito.clone(), Arc::new(verifier));
    (deps, cognito, prefix)
}

/// A clock the test moves: time-dependent rules (expiries, backoff) without waiting.
pub struct TestClock(pub std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl TestClock {
    /// Starting at this instant.
    pub fn at(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(std::sync::Mutex::new(now))
    }
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock") += by;
    }
}

impl tenantry::ports::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().expect("clock")
    }
}

/// The credentials a connection holds, opened from the store through the vault: for a
/// test that must act on what the API never answers (an OAuth refresh token).
pub async fn stored_credentials(
    app: &TestApp,
    tenant_id: &str,
    connection_id: &str,
) -> std::collections::BTreeMap<String, String> {
    let t = tenantry::model::ids::TenantId::from_record(tenant_id.to_owned());
    let id = tenantry::model::ids::ConnectionId::from_record(connection_id.to_owned());
    let item = app
        .deps
        .store
        .get(&tenantry::store::keys::connection(&t, &id))
        .await
        .expect("read")
        .expect("the connection");
    let c: tenantry::service::connections::Connection =
        serde_json::from_value(serde_json::Value::Object(item.data.clone())).expect("a connection");
    let sealed = c.credentials.expect("sealed tokens");
    let ctx =
        tenantry::ports::VaultContext::of_customer(&t, &c.customer_id, "connection", c.id.as_str());
    let plain = app
        .deps
        .vault()
        .expect("a vault")
        .open(&ctx, &sealed)
        .await
        .expect("opens");
    serde_json::from_slice(&plain).expect("tokens")
}
