//! A customer's users, managed by its admin (with its own token) and by tenant staff:
//!
//! - the admin adds users with permission sets; a user signs in and `GET /v1/me` shows
//!   its set; a user (not the admin) reaches nothing but `GET /v1/me`;
//! - no second admin; the admin is not deactivated or removed through these routes;
//! - `max_users` caps the users, also under concurrent additions;
//! - deactivating a user or suspending its customer refuses its token at the next request;
//!   `last_login_at` records sign-ins;
//! - an invitation without a password and a reset both mail a one-time link whose page
//!   sets the password;
//! - a removed user's token is refused and its email is free again.

use std::sync::Arc;

use functions::routes::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_tests::app::{
    Resp, TestApp, TestTenant, customer_body, pending_link_token, spawn_app_with,
    spawn_app_with_logins,
};

const PASSWORD: &str = "Sup3r$ecret!";

async fn sign_in(app: &TestApp, slug: &str, email: &str, password: &str) -> Resp {
    app.send(
        Method::POST,
        "",
        &format!("/t/{slug}/login"),
        Some(json!({"email": email, "password": password})),
        &[],
    )
    .await
}

async fn token(app: &TestApp, slug: &str, email: &str, password: &str) -> String {
    let r = sign_in(app, slug, email, password).await;
    assert_eq!(r.status, StatusCode::OK, "{email}: {}", r.body);
    r.field("access_token").to_owned()
}

/// A customer whose admin has a password; returns (customer id, the admin's token).
async fn customer(app: &TestApp, t: &TestTenant, name: &str) -> (String, String) {
    let email = format!("admin@{}.example.com", name.to_lowercase());
    let mut body = customer_body(name, &email);
    body["admin"]["password"] = json!(PASSWORD);
    let r = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.field("id").to_owned();
    (id, token(app, &t.slug, &email, PASSWORD).await)
}

/// A user its customer's admin adds without a password: its id and its invitation's
/// link token.
async fn invited(
    app: &TestApp,
    t: &TestTenant,
    admin: &str,
    x: &str,
    email: &str,
) -> (String, String) {
    let u = app
        .post(
            admin,
            &format!("/v1/customers/{x}/users"),
            user(email, json!({})),
        )
        .await;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    let link = pending_link_token(&app.deps, &t.id, email, "user_invitation")
        .await
        .expect("the invitation's link");
    (u.field("id").to_owned(), link)
}

/// `POST /t/{slug}/password` with a link's token and a new password.
async fn set_password(app: &TestApp, slug: &str, token: &str, password: &str) -> Resp {
    app.send(
        Method::POST,
        "",
        &format!("/t/{slug}/password"),
        Some(json!({"token": token, "password": password})),
        &[],
    )
    .await
}

fn user(email: &str, extra: Value) -> Value {
    let mut v = json!({"email": email, "first_name": "Uma", "last_name": "User"});
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

#[tokio::test]
async fn the_admin_adds_users_whose_permission_sets_show_and_who_reach_only_themselves() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("users-a").await;
    let (x, admin) = customer(&app, &t, "Xenon").await;
    let users = format!("/v1/customers/{x}/users");

    let bad = app
        .post(
            &admin,
            &users,
            user("u@x.example.com", json!({"permission_set": "limited", "areas": ["billing", "moon"], "permissions": ["a"]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.error_fields(), ["permissions", "areas"], "{}", bad.body);
    let second_admin = app
        .post(
            &admin,
            &users,
            user("a2@x.example.com", json!({"role": "admin"})),
        )
        .await;
    assert_eq!(second_admin.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(second_admin.error_fields(), ["role"]);

    let created = app
        .post(
            &admin,
            &users,
            user("lim@x.example.com", json!({"password": PASSWORD, "permission_set": "limited", "areas": ["Billing", "reports"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["permission_set"], "limited");
    assert_eq!(created.body["areas"], json!(["billing", "reports"]));
    assert_eq!(created.body["role"], "user");
    assert!(!created.body.to_string().contains(PASSWORD));
    let uid = created.field("id").to_owned();
    assert_eq!(
        created.headers["location"],
        format!("/v1/customers/{x}/users/{uid}").as_str()
    );
    // Staff members read users but do not change them; owners do.
    assert_eq!(app.get(&t.member_key, &users).await.status, StatusCode::OK);
    let member = app
        .post(&t.member_key, &users, user("m@x.example.com", json!({})))
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN, "{}", member.body);
    let custom = app
        .post(
            &t.owner_key,
            &users,
            user(
                "cus@x.example.com",
                json!({"permission_set": "custom", "permissions": ["reports:read", "users:write"]}),
            ),
        )
        .await;
    assert_eq!(custom.status, StatusCode::CREATED, "{}", custom.body);
    let list = app.get(&t.owner_key, &users).await;
    assert_eq!(
        list.body["data"].as_array().map(Vec::len),
        Some(3),
        "{}",
        list.body
    );
    // A cursor must lie in the users' range: one made up to start before it is refused,
    // not read as a user.
    let forged = {
        use base64::Engine;
        let pk = format!("T#{}#C#{x}", t.id);
        let body = json!({"l": "customer-users", "p": {"pk": pk, "sk": "A", "gsi1pk": null, "gsi1sk": null}});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string())
    };
    let r = app
        .get(&t.owner_key, &format!("{users}?cursor={forged}"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["cursor"]);
    assert_eq!(
        app.get(&t.owner_key, &format!("/v1/customers/{x}"))
            .await
            .body["user_count"],
        3
    );

    let user_token = token(&app, &t.slug, "lim@x.example.com", PASSWORD).await;
    let me = app.get(&user_token, "/v1/me").await;
    assert_eq!(me.body["permission_set"], "limited", "{}", me.body);
    assert_eq!(
        me.body["permissions"],
        json!([
            "billing:read",
            "billing:write",
            "reports:read",
            "reports:write"
        ])
    );
    assert_eq!(me.body["manages_users"], false);
    assert_eq!(me.body["user"]["role"], "user");
    let fetched = app.get(&admin, &format!("{users}/{uid}")).await;
    assert!(
        fetched.body["last_login_at"].is_string(),
        "{}",
        fetched.body
    );

    // A user (not the admin) reaches nothing but itself: every route, its own customer
    // included, is 404.
    // (Its company's entitlements are every user's: billing.rs.)
    for route in ROUTES.iter().filter(|r| {
        r.path != "/v1/me"
            && !r.permission.is_public()
            && r.permission != tenantry::access::Permission::OwnCompany
    }) {
        let path = route
            .path
            .replace("{customer_id}", &x)
            .replace("{user_id}", &uid)
            .replace("{tenant_id}", &t.id)
            .replace("{member_id}", "mem_x")
            .replace("{key_id}", "key_x");
        let method = Method::from_bytes(route.method.as_str().as_bytes()).expect("a method");
        let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
        let r = app.send(method, &user_token, &path, body, &[]).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{} {path}: {}",
            route.method,
            r.body
        );
    }

    // The admin changes the set; a change of email is refused.
    let patched = app
        .patch(
            &admin,
            &format!("{users}/{uid}"),
            json!({"permission_set": "read_only"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["permission_set"], "read_only");
    assert!(patched.body.get("areas").is_none(), "{}", patched.body);
    // A new email waits for its verification (see the email-change test).
    let email = app
        .patch(
            &admin,
            &format!("{users}/{uid}"),
            json!({"email": "new@x.example.com"}),
        )
        .await;
    assert_eq!(email.status, StatusCode::OK, "{}", email.body);
    assert_eq!(email.body["email"], "lim@x.example.com");
    assert_eq!(
        email.body["email_change"]["pending_email"],
        "new@x.example.com"
    );
    let bad = app
        .patch(
            &admin,
            &format!("{users}/{uid}"),
            json!({"email": "not-an-email"}),
        )
        .await;
    assert_eq!(bad.error_fields(), ["email"], "{}", bad.body);

    // The admin itself: not deactivated, not removed, not demoted here.
    let admin_id = app.get(&admin, "/v1/me").await.body["user"]["id"]
        .as_str()
        .expect("admin id")
        .to_owned();
    for (method, path, body) in [
        (Method::POST, format!("{users}/{admin_id}/deactivate"), None),
        (Method::DELETE, format!("{users}/{admin_id}"), None),
        (
            Method::PATCH,
            format!("{users}/{admin_id}"),
            Some(json!({"permission_set": "read_only"})),
        ),
    ] {
        let r = app.send(method, &admin, &path, body, &[]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{path}: {}", r.body);
        assert_eq!(r.problem_type(), "urn:tenantry:problem:customer-admin");
    }
}

#[tokio::test]
async fn max_users_caps_additions_even_concurrent_ones() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("users-cap").await;
    let (x, admin) = customer(&app, &t, "Capped").await;
    let users = format!("/v1/customers/{x}/users");
    let bad = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{x}"),
            json!({"max_users": 0}),
        )
        .await;
    assert_eq!(bad.error_fields(), ["max_users"], "{}", bad.body);
    let capped = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{x}"),
            json!({"max_users": 4}),
        )
        .await;
    assert_eq!(capped.status, StatusCode::OK, "{}", capped.body);
    assert_eq!(capped.body["max_users"], 4);

    // Eight at once for three free places: three get in, the others hear why not.
    let tries = (0..8).map(|i| {
        let (app, admin, users) = (&app, &admin, &users);
        async move {
            let mut r = app
                .post(
                    admin,
                    users,
                    user(&format!("c{i}@cap.example.com"), json!({})),
                )
                .await;
            // A lost race on the profile's version is retryable; retry it like a client.
            for _ in 0..20 {
                if r.status != StatusCode::CONFLICT
                    || r.problem_type().ends_with("user-limit-reached")
                {
                    break;
                }
                r = app
                    .post(
                        admin,
                        users,
                        user(&format!("c{i}@cap.example.com"), json!({})),
                    )
                    .await;
            }
            r
        }
    });
    let results = futures::future::join_all(tries).await;
    let created = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused: Vec<_> = results
        .iter()
        .filter(|r| r.problem_type() == "urn:tenantry:problem:user-limit-reached")
        .collect();
    assert_eq!(
        created,
        3,
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(refused.len(), 5);
    assert_eq!(refused[0].body["max_users"], 4);
    let list = app.get(&admin, &users).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(4));

    // Removing one frees a place; its email can be used again.
    let victim = list.body["data"]
        .as_array()
        .and_then(|d| d.iter().find(|u| u["role"] == "user"))
        .expect("a user")
        .clone();
    let gone = app
        .delete(
            &admin,
            &format!("{users}/{}", victim["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    let again = app
        .post(
            &admin,
            &users,
            user(victim["email"].as_str().unwrap(), json!({})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
}

#[tokio::test]
async fn deactivated_users_and_users_of_a_suspended_customer_are_refused_at_once() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("users-off").await;
    let (x, admin) = customer(&app, &t, "Offline").await;
    let users = format!("/v1/customers/{x}/users");
    let u = app
        .post(
            &admin,
            &users,
            user("off@x.example.com", json!({"password": PASSWORD})),
        )
        .await;
    let uid = u.field("id").to_owned();
    let tok = token(&app, &t.slug, "off@x.example.com", PASSWORD).await;
    assert_eq!(app.get(&tok, "/v1/me").await.status, StatusCode::OK);

    let off = app
        .send(
            Method::POST,
            &admin,
            &format!("{users}/{uid}/deactivate"),
            None,
            &[],
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["status"], "inactive");
    assert_eq!(
        app.get(&tok, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, &t.slug, "off@x.example.com", PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let reset = app
        .send(
            Method::POST,
            &admin,
            &format!("{users}/{uid}/reset-password"),
            None,
            &[],
        )
        .await;
    assert_eq!(reset.status, StatusCode::CONFLICT, "{}", reset.body);
    let on = app
        .send(
            Method::POST,
            &admin,
            &format!("{users}/{uid}/reactivate"),
            None,
            &[],
        )
        .await;
    assert_eq!(on.body["status"], "active", "{}", on.body);
    assert_eq!(app.get(&tok, "/v1/me").await.status, StatusCode::OK);

    // The customer's status covers all its users.
    let s = app
        .send(
            Method::POST,
            &t.owner_key,
            &format!("/v1/customers/{x}/suspend"),
            None,
            &[],
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    let refused = app.get(&tok, "/v1/me").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // It names what was sent: a token no longer valid, not a missing API key.
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("token sent is not valid")),
        "{}",
        refused.body
    );
    assert_eq!(
        sign_in(&app, &t.slug, "off@x.example.com", PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.send(
        Method::POST,
        &t.owner_key,
        &format!("/v1/customers/{x}/reactivate"),
        None,
        &[],
    )
    .await;
    assert_eq!(app.get(&tok, "/v1/me").await.status, StatusCode::OK);
    // The admin's last sign-in survives its customer's suspension and reactivation.
    let admin_id = app.get(&admin, "/v1/me").await.body["user"]["id"]
        .as_str()
        .expect("admin id")
        .to_owned();
    let a = app.get(&t.owner_key, &format!("{users}/{admin_id}")).await;
    assert!(a.body["last_login_at"].is_string(), "{}", a.body);

    // Removed: the token is refused from the next request on.
    let gone = app.delete(&t.owner_key, &format!("{users}/{uid}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(
        app.get(&tok, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&admin, &format!("{users}/{uid}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn invitation_and_reset_links_set_passwords_once() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("users-link").await;
    let (x, admin) = customer(&app, &t, "Linked").await;
    let users = format!("/v1/customers/{x}/users");
    let email = "invitee@x.example.com";
    let (uid, link) = invited(&app, &t, &admin, &x, email).await;
    // Stored hashed: no item but the waiting email holds the token.
    let holders: Vec<_> = app
        .all_items()
        .into_iter()
        .filter(|i| serde_json::to_string(&i.data).unwrap().contains(&link))
        .collect();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].data["template"], "user_invitation");

    let page = app
        .get("", &format!("/t/{}/password?token={link}", t.slug))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let dead = app
        .get(
            "",
            &format!("/t/{}/password?token={}", t.slug, "ab".repeat(32)),
        )
        .await;
    assert_eq!(dead.status, StatusCode::GONE);

    let set =
        async |token: &str, password: &str| set_password(&app, &t.slug, token, password).await;
    assert_eq!(set(&link, "weak").await.error_fields(), ["password"]);
    // Cognito's character classes: a euro sign is not its kind of special character.
    assert_eq!(set(&link, "Password1€").await.error_fields(), ["password"]);
    let ok = set(&link, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        set(&link, PASSWORD).await.error_fields(),
        ["token"],
        "used once"
    );
    let first = token(&app, &t.slug, email, PASSWORD).await;
    assert_eq!(
        app.get(&first, "/v1/me").await.body["user"]["id"],
        uid.as_str()
    );

    // A reset: the old password works until the new one is set.
    let r = app
        .send(
            Method::POST,
            &admin,
            &format!("{users}/{uid}/reset-password"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let reset = pending_link_token(&app.deps, &t.id, email, "password_reset")
        .await
        .expect("the reset's link");
    token(&app, &t.slug, email, PASSWORD).await;
    let new_password = "N3w$password!";
    assert_eq!(set(&reset, new_password).await.status, StatusCode::OK);
    assert_eq!(
        sign_in(&app, &t.slug, email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    token(&app, &t.slug, email, new_password).await;
    // A link of one tenant is nothing at another's page.
    let other = app.new_tenant("users-link-b").await;
    app.send(
        Method::POST,
        &admin,
        &format!("{users}/{uid}/reset-password"),
        None,
        &[],
    )
    .await;
    let link = pending_link_token(&app.deps, &t.id, email, "password_reset")
        .await
        .expect("a new reset link");
    let elsewhere = app
        .send(
            Method::POST,
            "",
            &format!("/t/{}/password", other.slug),
            Some(json!({"token": link, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(elsewhere.error_fields(), ["token"], "{}", elsewhere.body);
}

/// The same against moto: DynamoDB and a Cognito pool per tenant. A user added without a
/// password sets it through its invitation link (`AdminSetUserPassword`), signs in at the
/// tenant's login (`AdminInitiateAuth`), is deactivated (Cognito refuses it too), and is
/// removed (its Cognito user is gone).
#[tokio::test]
async fn on_aws_users_are_cognito_logins_set_up_by_their_invitation_links() {
    let Some(store) = tenantry_tests::dynamo::store_from_env("cognito users").await else {
        return;
    };
    let (deps, cognito, _) = tenantry_tests::app::cognito_deps(Arc::new(store)).await;
    let app = spawn_app_with(deps).await;
    let slug = format!("cu{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let t = app.new_tenant(&slug).await;
    let (x, admin) = customer(&app, &t, &format!("Cog{}", &slug[2..])).await;
    let users = format!("/v1/customers/{x}/users");
    let email = format!("invitee@{slug}.example.com");
    let u = app
        .post(
            &admin,
            &users,
            user(&email, json!({"permission_set": "read_only"})),
        )
        .await;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    let uid = u.field("id").to_owned();
    // No password yet: Cognito does not let it in.
    assert_eq!(
        sign_in(&app, &slug, &email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let link = pending_link_token(&app.deps, &t.id, &email, "user_invitation")
        .await
        .expect("the invitation's link");
    let set = app
        .send(
            Method::POST,
            "",
            &format!("/t/{slug}/password"),
            Some(json!({"token": link, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let tok = token(&app, &slug, &email, PASSWORD).await;
    let me = app.get(&tok, "/v1/me").await;
    assert_eq!(me.body["user"]["id"], uid.as_str(), "{}", me.body);
    assert_eq!(me.body["permission_set"], "read_only");

    let pool: tenantry::ports::Pool = serde_json::from_value(
        app.get(&app.admin_key, &format!("/v1/tenants/{}", t.id))
            .await
            .body["customer_pool"]
            .clone(),
    )
    .expect("the tenant's pool");
    app.send(
        Method::POST,
        &admin,
        &format!("{users}/{uid}/deactivate"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        app.get(&tok, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    use tenantry::ports::{Identity, IdentityError};
    let r = cognito.authenticate(&pool, &email, PASSWORD).await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");

    let gone = app.delete(&admin, &format!("{users}/{uid}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    let r = cognito.set_enabled(&pool, &email, true).await;
    assert!(
        matches!(r, Err(IdentityError::NoSuchUser)),
        "the Cognito user is gone: {r:?}"
    );
}

#[tokio::test]
async fn an_email_changes_only_when_its_new_address_confirms_the_link() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("email-move").await;
    let (x, admin) = customer(&app, &t, "Mover").await;
    let old = "admin@mover.example.com";
    let new = "admin@mover-new.example.com";

    let asked = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{x}"),
            json!({"admin": {"email": new}}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["admin"]["email"], old, "not changed yet");
    assert_eq!(asked.body["email_change"]["pending_email"], new);
    token(&app, &t.slug, old, PASSWORD).await;
    let link = pending_link_token(&app.deps, &t.id, new, "email_change")
        .await
        .expect("the link, sent to the new address");

    // An email-change link sets no password.
    let wrong_use = app
        .send(
            Method::POST,
            "",
            &format!("/t/{}/password", t.slug),
            Some(json!({"token": link, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(wrong_use.error_fields(), ["token"], "{}", wrong_use.body);
    // Opening the page changes nothing.
    let page = app
        .get("", &format!("/t/{}/email-change?token={link}", t.slug))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    token(&app, &t.slug, old, PASSWORD).await;

    let confirm = async |token: &str| {
        app.send(
            Method::POST,
            "",
            &format!("/t/{}/email-change", t.slug),
            Some(json!({"token": token})),
            &[],
        )
        .await
    };
    let done = confirm(&link).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["email"], new);
    assert_eq!(
        sign_in(&app, &t.slug, old, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = token(&app, &t.slug, new, PASSWORD).await;
    assert_eq!(app.get(&fresh, "/v1/me").await.body["user"]["email"], new);
    let c = app.get(&t.owner_key, &format!("/v1/customers/{x}")).await;
    assert_eq!(c.body["admin"]["email"], new, "{}", c.body);
    assert_eq!(confirm(&link).await.error_fields(), ["token"], "used once");
    // The old token still names the same user; the old address is free again.
    assert_eq!(app.get(&admin, "/v1/me").await.body["user"]["email"], new);
    let reuse = app
        .post(
            &fresh,
            &format!("/v1/customers/{x}/users"),
            user(old, json!({})),
        )
        .await;
    assert_eq!(reuse.status, StatusCode::CREATED, "{}", reuse.body);

    // A user's change to an address taken meanwhile: 409 at confirmation, nothing moves.
    let uid = reuse.field("id").to_owned();
    let taken = "taken@mover.example.com";
    let asked = app
        .patch(
            &fresh,
            &format!("/v1/customers/{x}/users/{uid}"),
            json!({"email": taken}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["email"], old);
    let link = pending_link_token(&app.deps, &t.id, taken, "email_change")
        .await
        .expect("the link");
    let other = app
        .post(
            &fresh,
            &format!("/v1/customers/{x}/users"),
            user(taken, json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    let clash = confirm(&link).await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
    assert_eq!(clash.body["field"], "email");
    let u = app
        .get(&fresh, &format!("/v1/customers/{x}/users/{uid}"))
        .await;
    assert_eq!(u.body["email"], old, "{}", u.body);
    token(&app, &t.slug, taken, PASSWORD).await;
}

#[tokio::test]
async fn renaming_the_admin_user_renames_the_customers_admin() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("users-rename").await;
    let (x, admin) = customer(&app, &t, "Radon").await;
    let before = app.get(&t.owner_key, &format!("/v1/customers/{x}")).await;
    let list = app.get(&admin, &format!("/v1/customers/{x}/users")).await;
    let admin_id = list.body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|u| u["role"] == "admin")
        .expect("the admin user")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let r = app
        .patch(
            &admin,
            &format!("/v1/customers/{x}/users/{admin_id}"),
            json!({"first_name": "Ines"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = app.get(&t.owner_key, &format!("/v1/customers/{x}")).await;
    assert_eq!(after.body["admin"]["first_name"], "Ines", "{}", after.body);
    assert_eq!(
        after.body["admin"]["last_name"],
        before.body["admin"]["last_name"]
    );
    assert_ne!(
        after.body["updated_at"], before.body["updated_at"],
        "{} {}",
        before.body, after.body
    );
    assert_eq!(
        after.body["version"],
        before.body["version"].as_u64().unwrap() + 1
    );
}

#[tokio::test]
async fn ten_concurrent_uses_of_one_invitation_link_set_one_password_and_refuse_the_rest() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("users-race").await;
    let (x, admin) = customer(&app, &t, "Racing").await;
    let email = "racer@x.example.com";
    let (_, link) = invited(&app, &t, &admin, &x, email).await;
    let passwords: Vec<String> = (0..10).map(|i| format!("Sup3r$ecret!{i}")).collect();
    let path = format!("/t/{}/password", t.slug);
    let answers = futures::future::join_all(passwords.iter().map(|p| {
        app.send(
            Method::POST,
            "",
            &path,
            Some(json!({"token": link, "password": p})),
            &[],
        )
    }))
    .await;
    let set: Vec<&String> = answers
        .iter()
        .zip(&passwords)
        .filter(|(r, _)| r.status == StatusCode::OK)
        .map(|(_, p)| p)
        .collect();
    assert_eq!(set.len(), 1, "exactly one use sets a password");
    for r in &answers {
        assert!(
            [
                StatusCode::OK,
                StatusCode::CONFLICT,
                StatusCode::BAD_REQUEST
            ]
            .contains(&r.status),
            "{} {}",
            r.status,
            r.body
        );
    }
    // The one password the server said it set is the one that signs in.
    token(&app, &t.slug, email, set[0]).await;
    // (A few others only: the sign-in throttle answers 429 after several failures.)
    for other in passwords.iter().filter(|p| *p != set[0]).take(3) {
        assert_eq!(
            sign_in(&app, &t.slug, email, other).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn an_admin_created_without_a_password_sets_one_from_the_welcome_and_signs_in() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("welcomes").await;
    let email = "nopass@welcome.example.com";
    let r = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body("No Pass Co", email),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let link = pending_link_token(&app.deps, &t.id, email, "customer_welcome")
        .await
        .expect("the welcome carries a link to set a password");
    let set = app
        .send(
            Method::POST,
            "",
            &format!("/t/{}/password", t.slug),
            Some(json!({"token": link, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    token(&app, &t.slug, email, PASSWORD).await;

    // An admin created with a password gets a welcome without a link.
    let (_, _) = customer(&app, &t, "WithPass").await;
    assert_eq!(
        pending_link_token(
            &app.deps,
            &t.id,
            "admin@withpass.example.com",
            "customer_welcome"
        )
        .await,
        None
    );
}

#[tokio::test]
async fn forgot_password_sends_a_link_to_an_account_and_answers_the_same_for_anyone() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("forgetful").await;
    let (_, _) = customer(&app, &t, "Forgets").await;
    let email = "admin@forgets.example.com";
    let ask = async |email: &str| {
        app.send(
            Method::POST,
            "",
            &format!("/t/{}/password", t.slug),
            Some(json!({ "email": email })),
            &[],
        )
        .await
    };
    let known = ask(email).await;
    let unknown = ask("nobody@forgets.example.com").await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.body);
    assert_eq!(known.body, unknown.body, "one answer for every email");
    assert_eq!(
        pending_link_token(
            &app.deps,
            &t.id,
            "nobody@forgets.example.com",
            "password_reset"
        )
        .await,
        None
    );
    let link = pending_link_token(&app.deps, &t.id, email, "password_reset")
        .await
        .expect("the account's reset link");
    let set = app
        .send(
            Method::POST,
            "",
            &format!("/t/{}/password", t.slug),
            Some(json!({"token": link, "password": "N3w$ecret!pass"})),
            &[],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    token(&app, &t.slug, email, "N3w$ecret!pass").await;

    // Per email: three an hour, then 429 whether or not the email has an account.
    assert_eq!(ask(email).await.status, StatusCode::ACCEPTED);
    assert_eq!(ask(email).await.status, StatusCode::ACCEPTED);
    let throttled = ask(email).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
    assert!(throttled.headers.get("retry-after").is_some());
    // A token and an email at once is a mistake, named.
    let both = app
        .send(
            Method::POST,
            "",
            &format!("/t/{}/password", t.slug),
            Some(json!({"token": link, "password": PASSWORD, "email": email})),
            &[],
        )
        .await;
    assert_eq!(both.error_fields(), ["email"], "{}", both.body);
}

#[tokio::test]
async fn one_source_may_ask_for_twenty_resets_an_hour_at_one_tenant() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("sprayed").await;
    let path = format!("/t/{}/password", t.slug);
    for i in 0..tenantry::service::throttle::PER_SOURCE.max {
        let r = app
            .send(
                Method::POST,
                "",
                &path,
                Some(json!({ "email": format!("n{i}@sprayed.example.com") })),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{i}: {}", r.body);
    }
    let r = app
        .send(
            Method::POST,
            "",
            &path,
            Some(json!({ "email": "one-more@sprayed.example.com" })),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
}

#[tokio::test]
async fn a_deactivated_users_link_and_a_deleted_customers_email_change_do_nothing() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("stale-links").await;
    let (x, admin) = customer(&app, &t, "Stale").await;
    let users = format!("/v1/customers/{x}/users");
    let email = "paused@stale.example.com";
    let (uid, link) = invited(&app, &t, &admin, &x, email).await;
    let off = app
        .send(
            Method::POST,
            &admin,
            &format!("{users}/{uid}/deactivate"),
            None,
            &[],
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let set = set_password(&app, &t.slug, &link, PASSWORD).await;
    assert_eq!(set.error_fields(), ["token"], "{}", set.body);

    // The admin asks for a new email; the customer is deleted; the link changes nothing.
    let new = "moved@stale.example.com";
    let patched = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{x}"),
            json!({"admin": {"email": new}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let change = pending_link_token(&app.deps, &t.id, new, "email_change")
        .await
        .expect("the change's link");
    let gone = app
        .delete(&t.owner_key, &format!("/v1/customers/{x}?confirm=true"))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let confirm = app
        .send(
            Method::POST,
            "",
            &format!("/t/{}/email-change", t.slug),
            Some(json!({ "token": change })),
            &[],
        )
        .await;
    assert_eq!(confirm.error_fields(), ["token"], "{}", confirm.body);
    let restored = app
        .send(
            Method::POST,
            &t.owner_key,
            &format!("/v1/customers/{x}/restore"),
            None,
            &[],
        )
        .await;
    assert_eq!(restored.body["admin"]["email"], "admin@stale.example.com");
}

#[tokio::test]
async fn a_link_that_sets_the_password_ends_the_users_other_links() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("one-link").await;
    let (x, admin) = customer(&app, &t, "OneLink").await;
    let users = format!("/v1/customers/{x}/users");
    let email = "twice@onelink.example.com";
    let (uid, invitation) = invited(&app, &t, &admin, &x, email).await;
    let reset = app
        .send(
            Method::POST,
            &admin,
            &format!("{users}/{uid}/reset-password"),
            None,
            &[],
        )
        .await;
    assert_eq!(reset.status, StatusCode::ACCEPTED, "{}", reset.body);
    let reset_link = pending_link_token(&app.deps, &t.id, email, "password_reset")
        .await
        .expect("the reset's link");
    let set =
        async |token: &str, password: &str| set_password(&app, &t.slug, token, password).await;
    let first = set(&reset_link, PASSWORD).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    // The invitation, still unexpired, no longer sets anything.
    assert_eq!(
        set(&invitation, "0ther$Ecret!").await.error_fields(),
        ["token"]
    );
    token(&app, &t.slug, email, PASSWORD).await;
}
