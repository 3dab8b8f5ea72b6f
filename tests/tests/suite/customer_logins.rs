//! Customer admins sign in to their tenant's pool, and their tokens authenticate on the
//! API as that customer's user, from our records:
//!
//! - `POST /v1/customers` makes the admin a real login (with the password given);
//! - `GET /v1/me` says who the token is: user, tenant, customer;
//! - the token of a customer user of tenant A reaches nothing else: every other route,
//!   with A's other customer's ids or tenant B's, is 404;
//! - deactivating, suspending or deleting the customer ends its logins at the next
//!   request (401); reactivating restores them; the purge removes them;
//! - in AWS the authorizer does the same from the token.

use std::sync::Arc;

use functions::routes::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::Deps;
use tenantry::adapters::embedded::{EmbeddedIdentity, EmbeddedStore};
use tenantry::ports::{Identity, IdentityError, Pool};
use tenantry_tests::app::{TestApp, TestTenant, customer_body, embedded_identity, spawn_app_with};

const PASSWORD: &str = "Sup3r$ecret!";

struct World {
    app: TestApp,
    idp: Arc<EmbeddedIdentity>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("w.redb")).expect("a store"));
    let (idp, verifier) = embedded_identity(store.clone(), dir.path());
    let idp = Arc::new(idp);
    let deps = Deps::new(store.clone()).with_identity(idp.clone(), verifier);
    let mut app = spawn_app_with(deps).await;
    app.embedded = Some(store);
    World {
        app,
        idp,
        _dir: dir,
    }
}

async fn pool_of(app: &TestApp, tenant: &TestTenant) -> Pool {
    let t = app
        .get(&app.admin_key, &format!("/v1/tenants/{}", tenant.id))
        .await;
    serde_json::from_value(t.body["customer_pool"].clone()).expect("a provisioned pool")
}

/// A customer whose admin has a password; returns (customer id, admin email).
async fn customer_with_login(app: &TestApp, t: &TestTenant, name: &str) -> (String, String) {
    let email = format!("admin@{}.{}.example.com", name.to_lowercase(), t.slug);
    let mut body = customer_body(name, &email);
    body["admin"]["password"] = json!(PASSWORD);
    let r = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(
        !r.body.to_string().contains("login_subject") && !r.body.to_string().contains(PASSWORD),
        "{}",
        r.body
    );
    (r.field("id").to_owned(), email)
}

async fn sign_in(w: &World, pool: &Pool, email: &str) -> String {
    w.idp
        .authenticate(pool, email, PASSWORD)
        .await
        .expect("the admin signs in")
        .access_token
}

fn concrete(path: &str, ids: &[(&str, String)]) -> String {
    let mut p = path.to_owned();
    for (name, id) in ids {
        p = p.replace(&format!("{{{name}}}"), id);
    }
    p
}

#[tokio::test]
async fn a_customer_admin_signs_in_and_sees_itself_and_nothing_else() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("logins-a").await;
    let b = app.new_tenant("logins-b").await;
    let (x, x_email) = customer_with_login(app, &a, "Xylo").await;
    let (y, _) = customer_with_login(app, &a, "Yonder").await;
    let (z, _) = customer_with_login(app, &b, "Zephyr").await;
    let token = sign_in(&w, &pool_of(app, &a).await, &x_email).await;

    let me = app.get(&token, "/v1/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["kind"], "customer_user");
    assert_eq!(me.body["customer"]["id"], x);
    assert_eq!(me.body["tenant"]["id"], a.id);
    assert_eq!(me.body["user"]["email"], x_email);
    assert_eq!(me.body["permission_set"], "full");
    // The id token works the same way.
    let id_token = w
        .idp
        .authenticate(&pool_of(app, &a).await, &x_email, PASSWORD)
        .await
        .expect("signs in")
        .id_token;
    assert_eq!(app.get(&id_token, "/v1/me").await.body["customer"]["id"], x);

    // Every other route, aimed at A's other customer, at A's staff, and at tenant B:
    // 404, and nothing changes.
    let member = app.get(&a.owner_key, "/v1/members").await.body["data"][0]["id"]
        .as_str()
        .expect("a member")
        .to_owned();
    let before_y = app
        .get(&a.owner_key, &format!("/v1/customers/{y}"))
        .await
        .body;
    let y_admin = before_y["admin"]["id"]
        .as_str()
        .expect("y's admin")
        .to_owned();
    let z_admin = app
        .get(&b.owner_key, &format!("/v1/customers/{z}"))
        .await
        .body["admin"]["id"]
        .as_str()
        .expect("z's admin")
        .to_owned();
    let x_admin = me.body["user"]["id"]
        .as_str()
        .expect("x's admin")
        .to_owned();
    let mut walked = 0;
    for route in ROUTES
        .iter()
        // Its own company's routes (`/v1/me/...`) are its own: tests/tests/suite/billing.rs.
        .filter(|r| {
            r.path != "/v1/me" && !r.permission.is_public() && !r.permission.is_own_company()
        })
    {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).expect("a method");
        // (customer, tenant, user) the path names; members and keys are staff things.
        let target = |customer: &str, tenant: &str, user: &str| {
            [
                ("customer_id", customer.to_owned()),
                ("tenant_id", tenant.to_owned()),
                ("member_id", member.clone()),
                ("key_id", "key_x".to_owned()),
                ("user_id", user.to_owned()),
            ]
        };
        let mut targets = vec![target(&y, &a.id, &y_admin), target(&z, &b.id, &z_admin)];
        // Another customer's user under this customer's own path.
        if route.path.contains("{user_id}") {
            targets.push(target(&x, &a.id, &y_admin));
        }
        // The admin manages its own company's users (tests/tests/suite/customer_users.rs); every
        // other route is closed to it even for its own customer.
        if !route.permission.is_customer_users() {
            targets.push(target(&x, &a.id, &x_admin));
        }
        for ids in targets {
            let path = concrete(route.path, &ids);
            let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
            let r = app.send(method.clone(), &token, &path, body, &[]).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{} {path} as a customer user: {}",
                route.method,
                r.body
            );
            walked += 1;
        }
    }
    let walkable = ROUTES
        .iter()
        // Its own company's routes (`/v1/me/...`) are its own: tests/tests/suite/billing.rs.
        .filter(|r| {
            r.path != "/v1/me" && !r.permission.is_public() && !r.permission.is_own_company()
        })
        .count();
    let users_routes = ROUTES
        .iter()
        .filter(|r| r.permission.is_customer_users())
        .count();
    let user_paths = ROUTES
        .iter()
        .filter(|r| r.path.contains("{user_id}"))
        .count();
    assert_eq!(walked, 3 * walkable - users_routes + user_paths);
    // All but /v1/me, its own company's routes, and the tenant's public pages, which take
    // no credential.
    let public: Vec<_> = ROUTES.iter().filter(|r| r.permission.is_public()).collect();
    let own = ROUTES
        .iter()
        .filter(|r| r.permission.is_own_company())
        .count();
    // Pages and sign-ins of a tenant, and the signed webhooks (their signature is
    // their credential).
    assert!(
        public.iter().all(|r| r.path.starts_with("/t/{slug}/")
            || (r.permission == tenantry::access::Permission::Webhook
                && r.path.starts_with("/hooks/"))),
        "{public:?}"
    );
    assert_eq!(walkable, ROUTES.len() - public.len() - own - 1);
    assert_eq!(
        app.get(&a.owner_key, &format!("/v1/customers/{y}"))
            .await
            .body,
        before_y
    );
}

#[tokio::test]
async fn the_customers_status_decides_whether_its_admin_gets_in() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("status-a").await;
    let (x, email) = customer_with_login(app, &a, "Xylo").await;
    let pool = pool_of(app, &a).await;
    let token = sign_in(&w, &pool, &email).await;
    let me = async |t: &str| app.get(t, "/v1/me").await.status;
    assert_eq!(me(&token).await, StatusCode::OK);

    let path = format!("/v1/customers/{x}");
    for (action, after) in [
        ("deactivate", StatusCode::UNAUTHORIZED),
        ("reactivate", StatusCode::OK),
        ("suspend", StatusCode::UNAUTHORIZED),
        ("reactivate", StatusCode::OK),
    ] {
        let r = app
            .post(&a.owner_key, &format!("{path}/{action}"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.body);
        assert_eq!(me(&token).await, after, "the same token after {action}");
    }
    // The provider stops issuing tokens too while the customer is inactive.
    app.post(&a.owner_key, &format!("{path}/deactivate"), json!({}))
        .await;
    let r = w.idp.authenticate(&pool, &email, PASSWORD).await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    app.post(&a.owner_key, &format!("{path}/reactivate"), json!({}))
        .await;

    // Deleted: out. Restored (to active): in again.
    let r = app
        .delete(&a.owner_key, &format!("{path}?confirm=true"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(me(&token).await, StatusCode::UNAUTHORIZED);
    app.post(&a.owner_key, &format!("{path}/restore"), json!({}))
        .await;
    assert_eq!(me(&token).await, StatusCode::OK);

    // An admin email change would move the login: it waits for the new address to
    // confirm (tests/tests/suite/customer_users.rs), and the login is untouched meanwhile.
    let r = app
        .patch(
            &a.owner_key,
            &path,
            json!({"admin": {"email": "new@xylo.example.com"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["admin"]["email"], email.as_str());
    assert_eq!(me(&token).await, StatusCode::OK);

    // Purged: the login and its record are gone.
    app.delete(&a.owner_key, &format!("{path}?confirm=true"))
        .await;
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    let report = tenantry::service::purge::run(&app.deps, later)
        .await
        .expect("purge");
    assert_eq!(report.customers_purged, 1);
    assert_eq!(me(&token).await, StatusCode::UNAUTHORIZED);
    let r = w.idp.authenticate(&pool, &email, PASSWORD).await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    let leftovers: Vec<String> = app
        .all_items()
        .into_iter()
        .filter(|i| i.sk.starts_with("SUB#") || i.sk == email)
        .map(|i| format!("{} {}", i.pk, i.sk))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn an_admin_without_a_password_has_a_login_that_cannot_sign_in_yet_and_emails_stay_unique() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("nopass").await;
    let r = app
        .post(
            &a.owner_key,
            "/v1/customers",
            customer_body("Quiet Co", "q@quiet.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let pool = pool_of(app, &a).await;
    let s = w.idp.authenticate(&pool, "q@quiet.example.com", "").await;
    assert!(matches!(s, Err(IdentityError::InvalidCredentials)), "{s:?}");
    // The same admin email again: 409, and the first login is untouched.
    let again = app
        .post(
            &a.owner_key,
            "/v1/customers",
            customer_body("Other Co", "Q@quiet.example.com"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    w.idp
        .set_password(&pool, "q@quiet.example.com", PASSWORD)
        .await
        .expect("the first login still exists");
    let token = sign_in(&w, &pool, "q@quiet.example.com").await;
    assert_eq!(
        app.get(&token, "/v1/me").await.body["customer"]["id"],
        r.body["id"]
    );
}

#[tokio::test]
async fn the_lambda_authorizer_turns_a_customer_token_into_its_principal() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("authz").await;
    let (x, email) = customer_with_login(app, &a, "Xylo").await;
    let token = sign_in(&w, &pool_of(app, &a).await, &email).await;
    let event = json!({
        "version": "2.0", "routeKey": "GET /v1/me", "rawPath": "/v1/me", "rawQueryString": "",
        "headers": {"authorization": format!("Bearer {token}")},
        "requestContext": {"accountId": "1", "apiId": "api", "domainName": "d", "domainPrefix": "d",
            "http": {"method": "GET", "path": "/v1/me", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "GET /v1/me", "stage": "$default", "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1795000000000u64}
    });
    let context = tenantry_tests::gateway::authorize(&app.deps, &event)
        .await
        .expect("a context");
    assert_eq!(
        context,
        json!({"kind": "customer", "tenant_id": a.id, "customer_id": x, "user_id": context["user_id"], "role": "admin"})
    );
    assert!(
        context["user_id"]
            .as_str()
            .is_some_and(|u| u.starts_with("usr_"))
    );
    let me = functions::api::App::new(app.deps.clone(), &[&functions::routes::ME]);
    let through = tenantry_tests::gateway::through_gateway(&app.deps, &event.to_string()).await;
    let resp = functions::lambda::handle(
        &me,
        lambda_http::request::from_str(&through).expect("event"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).expect("json"),
        other => panic!("{other:?}"),
    };
    assert_eq!(body["customer"]["id"], x);
    // A tampered token is anonymous.
    let mut bad = event.clone();
    bad["headers"]["authorization"] = json!(format!("Bearer {}x", token));
    assert_eq!(
        tenantry_tests::gateway::authorize(&app.deps, &bad).await,
        Some(json!({"kind": "anonymous"}))
    );
}

/// The AWS home end to end against moto: DynamoDB, a Cognito pool per tenant, the
/// admin's login made by `POST /v1/customers`, a token from Cognito's InitiateAuth,
/// verified with the pool's JWKS over HTTP, and the login ended by a deactivation.
#[tokio::test]
async fn on_aws_a_cognito_token_of_a_customer_admin_authenticates() {
    let Some(store) = tenantry_tests::dynamo::store_from_env("cognito logins").await else {
        return;
    };
    let (deps, cognito, _) = tenantry_tests::app::cognito_deps(Arc::new(store)).await;
    let app = spawn_app_with(deps).await;
    let slug = format!("cog{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let a = app.new_tenant(&slug).await;
    let (x, email) = customer_with_login(&app, &a, "Xylo").await;
    let pool = pool_of(&app, &a).await;
    assert!(
        pool.issuer.starts_with("https://cognito-idp."),
        "{}",
        pool.issuer
    );
    let tokens = cognito
        .authenticate(&pool, &email, PASSWORD)
        .await
        .expect("Cognito signs the admin in");
    for token in [&tokens.access_token, &tokens.id_token] {
        let me = app.get(token, "/v1/me").await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["customer"]["id"], x);
    }
    let r = app
        .post(
            &a.owner_key,
            &format!("/v1/customers/{x}/deactivate"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.get(&tokens.access_token, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Cognito itself refuses the disabled login now.
    let r = cognito.authenticate(&pool, &email, PASSWORD).await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
}

#[tokio::test]
async fn signing_in_at_the_tenants_login_gives_tokens_one_answer_for_failures_and_throttles() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("signin").await;
    let (x, email) = customer_with_login(app, &a, "Xylo").await;
    let login = "/t/signin/login";
    let attempt = async |email: &str, password: &str| {
        app.send(
            Method::POST,
            "",
            login,
            Some(json!({"email": email, "password": password})),
            &[],
        )
        .await
    };

    let ok = attempt(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["token_type"], "Bearer");
    let access = ok.field("access_token").to_owned();
    assert!(ok.body["expires_in"].as_u64().is_some_and(|s| s > 0));
    let cookie = ok.headers["set-cookie"].to_str().expect("a cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert_eq!(ok.headers["cache-control"], "no-store");
    assert_eq!(app.get(&access, "/v1/me").await.body["customer"]["id"], x);

    // Wrong password and unknown email: the same answer.
    let strip = |mut v: Value| {
        v.as_object_mut().map(|o| o.remove("request_id"));
        v
    };
    let wrong = attempt(&email, "Wr0ng$password").await;
    let unknown = attempt("nobody@signin.example.com", PASSWORD).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(strip(wrong.body.clone()), strip(unknown.body.clone()));
    assert!(!wrong.body.to_string().contains(&email), "{}", wrong.body);

    // Bad input is 422 naming the fields; an unknown tenant's page is 404.
    let r = app
        .send(Method::POST, "", login, Some(json!({})), &[])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["email", "password"]);
    let r = app
        .send(
            Method::POST,
            "",
            "/t/no-such-tenant/login",
            Some(json!({"email": email, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Five failures in a row: that email is refused for a while, even with the right
    // password; another email of the tenant is not.
    for _ in 0..4 {
        assert_eq!(
            attempt(&email, "Wr0ng$again1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let refused = attempt(&email, PASSWORD).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    let (_, other) = customer_with_login(app, &a, "Other").await;
    assert_eq!(attempt(&other, PASSWORD).await.status, StatusCode::OK);

    // A deactivated customer's admin gets the failure answer.
    let (y, y_email) = customer_with_login(app, &a, "Yonder").await;
    app.post(
        &a.owner_key,
        &format!("/v1/customers/{y}/deactivate"),
        json!({}),
    )
    .await;
    let r = attempt(&y_email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(strip(r.body), strip(unknown.body));
}

#[tokio::test]
async fn the_branded_login_page_signs_in_through_its_form_with_a_csrf_token() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("brand").await;
    let (_, email) = customer_with_login(app, &a, "Xylo").await;

    // Branding is the operator's: 422 naming every bad field, 403 for a tenant key.
    let path = format!("/v1/tenants/{}/branding", a.id);
    let bad = app
        .send(Method::PUT, &app.admin_key, &path, Some(json!({"product_name": "", "primary_color": "teal", "logo_url": "http://x.example.com/l.png"})), &[])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(
        bad.error_fields(),
        vec!["product_name", "logo_url", "primary_color"]
    );
    let brand = json!({"product_name": "Brand Cloud", "logo_url": "https://cdn.brand.example.com/logo.png",
        "primary_color": "#0F766E", "accent_color": "#f59e0b", "support_email": "help@brand.example.com",
        "custom_domain": "login.brand.example.com", "registration_enabled": false});
    let r = app
        .send(Method::PUT, &a.owner_key, &path, Some(brand.clone()), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send(Method::PUT, &app.admin_key, &path, Some(brand), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["primary_color"], "#0f766e");
    assert_eq!(app.get(&app.admin_key, &path).await.body, r.body);

    // The page: the tenant's name, logo and colours, no platform name, strict headers.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let page = http
        .get(format!("{}/t/brand/login", app.base))
        .send()
        .await
        .expect("the page");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    let set_cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let html = page.text().await.expect("html");
    for expected in [
        "Brand Cloud",
        "cdn.brand.example.com",
        "#0f766e",
        "#f59e0b",
        "help@brand.example.com",
        "lang=\"en\"",
        "<label for=\"email\">",
    ] {
        assert!(html.contains(expected), "the page lacks {expected}");
    }
    assert!(
        !html.to_lowercase().contains("tenantry"),
        "no platform branding on the page"
    );
    let csrf_cookie = set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("the csrf cookie");
    let field = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the csrf field")
        .to_owned();
    assert_eq!(field, csrf_cookie);

    let post = async |cookie: Option<&str>, csrf: &str, password: &str| {
        let mut req = http.post(format!("{}/t/brand/login", app.base)).form(&[
            ("email", email.as_str()),
            ("password", password),
            ("csrf", csrf),
        ]);
        if let Some(c) = cookie {
            req = req.header("cookie", format!("tenantry_csrf={c}"));
        }
        req.send().await.expect("posted")
    };
    // Without the cookie, or with another token: refused before the password is looked at.
    let r = post(None, &field, PASSWORD).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().contains("tenantry_session"))
    );
    let r = post(Some(&csrf_cookie), &"0".repeat(64), PASSWORD).await;
    assert_eq!(r.status(), 403);
    // A wrong password: the form again, one message.
    let r = post(Some(&csrf_cookie), &field, "Wr0ng$password").await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The email or password is wrong.")
    );
    // Right: signed in, with the session cookie.
    let r = post(Some(&csrf_cookie), &field, PASSWORD).await;
    assert_eq!(r.status(), 200);
    let session = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        session.starts_with("tenantry_session=")
            && session.contains("HttpOnly")
            && session.contains("Secure"),
        "{session}"
    );
    assert!(r.text().await.unwrap().contains("You are signed in"));
    let token = session
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("the token");
    assert_eq!(app.get(&token, "/v1/me").await.body["user"]["email"], email);

    // An unknown tenant's page is 404.
    let r = http
        .get(format!("{}/t/no-such-tenant/login", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn concurrent_attempts_are_all_counted_and_our_record_overrules_the_provider() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("race").await;
    let (_, email) = customer_with_login(app, &a, "Xylo").await;
    let login = "/t/race/login";
    let attempt = |password: &'static str| {
        let email = email.clone();
        async move {
            app.send(
                Method::POST,
                "",
                login,
                Some(json!({"email": email, "password": password})),
                &[],
            )
            .await
            .status
        }
    };
    // Twenty wrong guesses at once: none gets past the limit unseen, so the right
    // password is refused afterwards.
    let statuses = futures::future::join_all((0..20).map(|_| attempt("Wr0ng$guess1"))).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let mut checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        checked <= 5,
        "at most five guesses reached the password check: {checked}"
    );
    // Guessing on, one at a time: exactly five guesses in all reach the check.
    loop {
        match attempt("Wr0ng$guess2").await {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => break,
            other => panic!("{other}"),
        }
        assert!(checked <= 5, "{checked} guesses reached the password check");
    }
    assert_eq!(checked, 5);
    assert_eq!(attempt(PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);

    // A customer deactivated while its provider login stayed enabled (a lost mirror
    // call): sign-in still refuses it, with the one failure answer.
    let (y, y_email) = customer_with_login(app, &a, "Yonder").await;
    app.post(
        &a.owner_key,
        &format!("/v1/customers/{y}/deactivate"),
        json!({}),
    )
    .await;
    let pool = pool_of(app, &a).await;
    w.idp
        .set_enabled(&pool, &y_email, true)
        .await
        .expect("the provider lets the login in again");
    let r = app
        .send(
            Method::POST,
            "",
            login,
            Some(json!({"email": y_email, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn concurrent_creates_with_one_admin_email_leave_the_winner_with_a_working_login() {
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("twins").await;
    let email = "twin@twins.example.com";
    let creates = (0..10).map(|i| {
        let mut body = customer_body(&format!("Twin {i}"), email);
        body["admin"]["password"] = json!(PASSWORD);
        app.post(&a.owner_key, "/v1/customers", body)
    });
    let results = futures::future::join_all(creates).await;
    let created: Vec<_> = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT)
    );
    let token = sign_in(&w, &pool_of(app, &a).await, email).await;
    assert_eq!(
        app.get(&token, "/v1/me").await.body["customer"]["id"],
        created[0].body["id"]
    );
}

#[tokio::test]
async fn a_tenant_made_before_pools_existed_is_provisioned_in_place() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("old.redb")).expect("a store"));
    // Created without an identity provider, as tenants were before it: active, no pool.
    let old = tenantry::service::tenants::create(
        &Deps::new(store.clone()),
        &serde_json::from_value(
            json!({"name": "Old Co", "slug": "old-co", "kind": "partner",
            "owner": {"email": "o@old.example.com", "first_name": "O", "last_name": "C"}}),
        )
        .expect("draft"),
    )
    .await
    .expect("created");
    assert!(old.tenant.tenant.customer_pool.is_none());
    let (idp, verifier) = embedded_identity(store.clone(), dir.path());
    let deps = Deps::new(store).with_identity(Arc::new(idp), verifier);
    let app = spawn_app_with(deps).await;
    let id = old.tenant.tenant.id.as_str();
    let r = app
        .post(
            &app.admin_key,
            &format!("/v1/tenants/{id}/provision"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.field("status"), "active");
    assert!(r.body["customer_pool"]["issuer"].is_string(), "{}", r.body);
    let page = reqwest::get(format!("{}/t/old-co/login", app.base))
        .await
        .expect("the page");
    assert_eq!(page.status(), 200, "the slug now names its tenant");
}

/// `tenantry serve --demo`: one seeding makes a partner to try everything with, and a
/// second start on the same data seeds nothing again.
#[tokio::test]
async fn the_demo_seeds_a_partner_whose_admin_signs_in_and_whose_key_works() {
    use functions::demo;
    let (app, _dir) = tenantry_tests::app::spawn_app_with_logins().await;
    let seeded = demo::seed(&app.deps)
        .await
        .expect("seeded")
        .expect("a first seeding");
    assert!(demo::seed(&app.deps).await.expect("second").is_none());
    let list = app.get(&seeded.owner_key, "/v1/customers").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let names: Vec<&str> = list.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|c| c["company"]["name"].as_str())
        .collect();
    assert_eq!(names, ["Contoso Ltd", "Fabrikam Inc", "Northwind Traders"]);
    let signed_in = app
        .send(
            Method::POST,
            "",
            &format!("/t/{}/login", demo::SLUG),
            Some(json!({"email": demo::ADMIN_EMAIL, "password": demo::ADMIN_PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.field("access_token").to_owned();
    let me = app.get(&token, "/v1/me").await;
    assert_eq!(me.body["customer"]["name"], "Northwind Traders");
    let users = app
        .get(
            &token,
            &format!(
                "/v1/customers/{}/users",
                me.body["customer"]["id"].as_str().unwrap_or_default()
            ),
        )
        .await;
    assert_eq!(
        users.body["data"].as_array().map(Vec::len),
        Some(3),
        "{}",
        users.body
    );
    let banner = demo::banner(
        "http://127.0.0.1:3000",
        "tk_op",
        Some(&seeded),
        "/tmp/outbox",
    );
    assert!(banner.contains(&seeded.owner_key) && banner.contains("/t/demo/login"));
}

/// The operator's choice per tenant: while a partner is suspended (by dunning, or by
/// the operator after it), its customers' users are out too (sign-in and tokens);
/// without the choice, or once the suspension ends, they are in. (The dunning step itself is tested in invoicing.rs;
/// here the tenant is put in the state it leaves.)
#[tokio::test]
async fn a_dunned_partner_takes_its_customers_logins_with_it_when_the_operator_chose_so() {
    use tenantry::ports::{Condition, ItemStore};
    let w = world().await;
    let app = &w.app;
    let a = app.new_tenant("dunned").await;
    let (_, email) = customer_with_login(app, &a, "Xylo").await;
    let pool = pool_of(app, &a).await;
    let token = sign_in(&w, &pool, &email).await;
    let me = async || app.get(&token, "/v1/me").await.status;
    let login = async || {
        app.send(
            Method::POST,
            "",
            "/t/dunned/login",
            Some(json!({"email": email, "password": PASSWORD})),
            &[],
        )
        .await
        .status
    };
    let choose = async |on: bool| {
        let r = app
            .patch(
                &app.admin_key,
                &format!("/v1/tenants/{}", a.id),
                json!({"dunning_suspends_customer_logins": on}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["dunning_suspends_customer_logins"], on, "{}", r.body);
    };
    choose(true).await;
    assert_eq!(
        (me().await, login().await),
        (StatusCode::OK, StatusCode::OK)
    );

    // Dunning suspends the tenant for an overdue invoice.
    let store = app.embedded.clone().expect("the embedded store");
    let key =
        tenantry::store::keys::tenant(&tenantry::model::ids::TenantId::from_record(a.id.clone()));
    let set_hold = async |hold: bool| {
        let item = store.get(&key).await.unwrap().expect("the tenant");
        let mut next = item.clone();
        next.data.insert(
            "status".into(),
            json!(if hold { "suspended" } else { "active" }),
        );
        next.data.insert(
            "dunning_holds".into(),
            json!(if hold {
                vec!["inv_2026-11_0123456789abcdef"]
            } else {
                vec![]
            }),
        );
        next.version = item.version + 1;
        store
            .put(next, Condition::VersionIs(item.version))
            .await
            .unwrap();
    };
    set_hold(true).await;
    assert_eq!(
        (me().await, login().await),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    // Without the operator's choice the customers are not touched.
    choose(false).await;
    assert_eq!(
        (me().await, login().await),
        (StatusCode::OK, StatusCode::OK)
    );
    choose(true).await;
    assert_eq!(me().await, StatusCode::UNAUTHORIZED);
    // Paid: the hold goes, and the customers are back.
    set_hold(false).await;
    assert_eq!(
        (me().await, login().await),
        (StatusCode::OK, StatusCode::OK)
    );
    // The operator's own suspension (which takes over from dunning's) keeps them out
    // too; the operator's reactivation lets them in.
    set_hold(true).await;
    for (status, want) in [
        ("suspended", StatusCode::UNAUTHORIZED),
        ("active", StatusCode::OK),
    ] {
        let r = app
            .patch(
                &app.admin_key,
                &format!("/v1/tenants/{}", a.id),
                json!({"status": status}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["dunning_holds"], Value::Null, "{}", r.body);
        assert_eq!(me().await, want, "{status}");
    }
}
