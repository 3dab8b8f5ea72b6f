//! Staff logins: tenant staff sign in through the one staff pool, and their tokens act
//! as their member, from our records.
//!
//! - a new tenant's owner and every new member get an invitation whose link sets the
//!   password (12 characters at least) and makes the login;
//! - `POST /t/{slug}/staff/login` answers tokens; a wrong password, an unknown email,
//!   another tenant's slug and a customer's login get the same 401; repeated failures 429;
//! - the token's role is the member's current one; disabling or removing the member ends
//!   it at the next request;
//! - one person staff of two tenants has two logins, each for its own tenant;
//! - owners send a reset (or a new invitation) with `POST /v1/members/{id}/reset-password`;
//! - on Cognito (moto): the same flow through the staff pool, `AdminCreateUser` with the
//!   member id as username, `AdminInitiateAuth`, and the authorizer's HTTP key source.

use reqwest::StatusCode;
use serde_json::json;
use tenantry_tests::app::{
    Resp, TestApp, pending_link_token, spawn_app_with, spawn_app_with_logins,
};

const PASSWORD: &str = "Staff$ecret-42";

async fn staff_login(app: &TestApp, slug: &str, email: &str, password: &str) -> Resp {
    app.post(
        "",
        &format!("/t/{slug}/staff/login"),
        json!({"email": email, "password": password}),
    )
    .await
}

async fn invite(app: &TestApp, key: &str, email: &str, role: &str) -> String {
    let r = app
        .post(
            key,
            "/v1/members",
            json!({"email": email, "first_name": "Mia", "last_name": "Member", "role": role}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["has_login"], false, "{}", r.body);
    r.field("id").to_owned()
}

#[tokio::test]
async fn an_invited_owner_sets_a_password_signs_in_and_acts_as_its_member() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("staffco").await;
    let owner = "owner@staffco.example.com";
    let link = pending_link_token(&app.deps, &t.id, owner, "staff_invitation")
        .await
        .expect("the owner's invitation carries a link");

    // The page says what a staff password needs; a short one is refused, naming the field.
    let page = app
        .http
        .get(format!("{}/t/staffco/password?token={link}", app.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("At least 12 characters"), "{html}");
    let short = app
        .post(
            "",
            "/t/staffco/password",
            json!({"token": link, "password": "Sh0rt$pass"}),
        )
        .await;
    assert_eq!(
        short.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        short.body
    );
    assert_eq!(short.error_fields(), ["password"]);
    assert_eq!(
        staff_login(&app, "staffco", owner, "Sh0rt$pass")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let set = app
        .post(
            "",
            "/t/staffco/password",
            json!({"token": link, "password": PASSWORD}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["kind"], "staff");
    assert_eq!(set.body["login"], "/t/staffco/staff/login");
    // The link is used up.
    let again = app
        .post(
            "",
            "/t/staffco/password",
            json!({"token": link, "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.error_fields(), ["token"], "{}", again.body);

    let r = staff_login(&app, "staffco", owner, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    // The id token names no email: a staff login's name is its member id, not an address.
    let id_claims = {
        use base64::Engine;
        let payload = r.field("id_token").split('.').nth(1).unwrap_or_default();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("a JWT payload");
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("claims")
    };
    assert!(id_claims.get("sub").is_some(), "{id_claims}");
    assert!(id_claims.get("email").is_none(), "{id_claims}");
    assert!(
        r.headers.get("set-cookie").is_none(),
        "staff tokens are not cookies"
    );
    let token = r.field("access_token").to_owned();

    let me = app.get(&token, "/v1/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["kind"], "staff");
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["member"]["email"], owner);
    assert_eq!(me.body["tenant"]["id"], t.id.as_str());
    // An owner manages customers with it, and the member shows its login.
    let c = app
        .new_customer(&token, "Staffed Bakery", "ada@staffed.example.com")
        .await;
    assert_eq!(
        app.get(&token, &format!("/v1/customers/{c}")).await.status,
        StatusCode::OK
    );
    let members = app.get(&token, "/v1/members").await;
    assert_eq!(
        members.body["data"][0]["has_login"], true,
        "{}",
        members.body
    );
    assert!(!members.body.to_string().contains("login_subject"));
}

#[tokio::test]
async fn every_failed_staff_sign_in_gets_the_same_answer_and_repeats_are_throttled() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("samey").await;
    app.new_tenant("othery").await;
    let owner = "owner@samey.example.com";
    app.staff_token(&t.id, "samey", owner, PASSWORD).await;
    // A customer admin's login is no staff login.
    let mut body = tenantry_tests::app::customer_body("Cust Co", "admin@cust.example.com");
    body["admin"]["password"] = json!(PASSWORD);
    assert_eq!(
        app.post(&t.owner_key, "/v1/customers", body).await.status,
        StatusCode::CREATED
    );
    // An invited member without a password yet.
    invite(&app, &t.owner_key, "pending@samey.example.com", "member").await;

    let wrong = [
        ("samey", owner, "Wrong$ecret-42"),
        ("samey", "nobody@samey.example.com", PASSWORD),
        ("samey", "pending@samey.example.com", PASSWORD),
        ("samey", "admin@cust.example.com", PASSWORD),
        ("othery", owner, PASSWORD),
        ("samey", "not an email", PASSWORD),
    ];
    let mut answers = Vec::new();
    for (slug, email, password) in wrong {
        let r = staff_login(&app, slug, email, password).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{slug} {email}: {}",
            r.body
        );
        answers.push((r.problem_type().to_owned(), r.body["detail"].clone()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    // Missing fields are named; an unknown slug is 404.
    let r = app
        .post("", "/t/samey/staff/login", json!({"email": owner}))
        .await;
    assert_eq!(r.error_fields(), ["password"]);
    assert_eq!(
        staff_login(&app, "nope", owner, PASSWORD).await.status,
        StatusCode::NOT_FOUND
    );

    // The owner's wrong password above counted once; four more reach the limit.
    for _ in 0..4 {
        assert_eq!(
            staff_login(&app, "samey", owner, "Wrong$ecret-42")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = staff_login(&app, "samey", owner, PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    // The customer login of the same tenant keeps its own count.
    let c = app
        .post(
            "",
            "/t/samey/login",
            json!({"email": "admin@cust.example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
}

#[tokio::test]
async fn a_members_token_follows_its_member_role_status_and_removal() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("rolly").await;
    let email = "mia@rolly.example.com";
    let id = invite(&app, &t.owner_key, email, "member").await;
    let token = app.staff_token(&t.id, "rolly", email, PASSWORD).await;
    let member = format!("/v1/members/{id}");

    // A member reads, and may not manage customers.
    assert_eq!(
        app.get(&token, "/v1/customers").await.status,
        StatusCode::OK
    );
    let create = app
        .post(
            &token,
            "/v1/customers",
            tenantry_tests::app::customer_body("No Co", "n@no.example.com"),
        )
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN, "{}", create.body);
    // Promoted: the same token may, from the next request.
    let r = app
        .patch(&t.owner_key, &member, json!({"role": "owner"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.new_customer(&token, "Yes Co", "y@yes.example.com")
        .await;
    // Disabled: refused at once, and it cannot sign in; enabled again, it can.
    app.patch(&t.owner_key, &member, json!({"status": "disabled"}))
        .await;
    assert_eq!(
        app.get(&token, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        staff_login(&app, "rolly", email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.patch(&t.owner_key, &member, json!({"status": "active"}))
        .await;
    assert_eq!(app.get(&token, "/v1/me").await.status, StatusCode::OK);
    // A new email is the sign-in's from then on.
    let renamed = "mia.new@rolly.example.com";
    app.patch(&t.owner_key, &member, json!({"email": renamed}))
        .await;
    assert_eq!(
        staff_login(&app, "rolly", email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        staff_login(&app, "rolly", renamed, PASSWORD).await.status,
        StatusCode::OK
    );
    // Removed: the token is refused, and so is the sign-in.
    assert_eq!(
        app.delete(&t.owner_key, &member).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&token, "/v1/customers").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        staff_login(&app, "rolly", renamed, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Nothing of it stays: no subject -> member item names it.
    let member_id = member.rsplit('/').next().unwrap_or_default();
    let left: Vec<_> = app
        .all_items()
        .into_iter()
        .filter(|i| i.pk.starts_with("P#STAFFSUB#") && i.data["member_id"] == member_id)
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn one_person_on_two_teams_has_a_login_for_each() {
    let (app, _dir) = spawn_app_with_logins().await;
    let a = app.new_tenant("team-a").await;
    let b = app.new_tenant("team-b").await;
    let email = "sam@agency.example.com";
    let in_a = invite(&app, &a.owner_key, email, "owner").await;
    invite(&app, &b.owner_key, email, "member").await;
    let token_a = app.staff_token(&a.id, "team-a", email, PASSWORD).await;
    let other_password = "Other$ecret-42";
    let token_b = app
        .staff_token(&b.id, "team-b", email, other_password)
        .await;
    // Each password opens its own tenant only.
    assert_eq!(
        staff_login(&app, "team-a", email, other_password)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        staff_login(&app, "team-b", email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let me_a = app.get(&token_a, "/v1/me").await;
    let me_b = app.get(&token_b, "/v1/me").await;
    assert_eq!(
        (
            me_a.body["tenant"]["id"].as_str(),
            me_a.body["role"].as_str()
        ),
        (Some(a.id.as_str()), Some("owner"))
    );
    assert_eq!(
        (
            me_b.body["tenant"]["id"].as_str(),
            me_b.body["role"].as_str()
        ),
        (Some(b.id.as_str()), Some("member"))
    );
    // A's customer is not there for the B login.
    let c = app
        .new_customer(&token_a, "Team A Co", "x@teama.example.com")
        .await;
    assert_eq!(
        app.get(&token_b, &format!("/v1/customers/{c}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Removed from A, the B login stays.
    assert_eq!(
        app.delete(&a.owner_key, &format!("/v1/members/{in_a}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&token_a, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get(&token_b, "/v1/me").await.status, StatusCode::OK);
    assert_eq!(
        staff_login(&app, "team-b", email, other_password)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn owners_send_resets_and_new_invitations() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("resetty").await;
    let email = "ria@resetty.example.com";
    let id = invite(&app, &t.owner_key, email, "member").await;
    let reset = format!("/v1/members/{id}/reset-password");
    // Not signed up yet: a new invitation.
    let r = app.post(&t.owner_key, &reset, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.field("status"), "invitation_sent");
    app.staff_token(&t.id, "resetty", email, PASSWORD).await;
    // Members may not send them.
    let member = app.post(&t.member_key, &reset, json!({})).await;
    assert_eq!(member.status, StatusCode::FORBIDDEN, "{}", member.body);
    // With a login: a reset link; the old password works until it is used.
    let r = app.post(&t.owner_key, &reset, json!({})).await;
    assert_eq!(r.field("status"), "reset_link_sent", "{}", r.body);
    assert_eq!(
        staff_login(&app, "resetty", email, PASSWORD).await.status,
        StatusCode::OK
    );
    let link = pending_link_token(&app.deps, &t.id, email, "password_reset")
        .await
        .expect("the reset's link");
    let new = "Brand$New-pass-7";
    let set = app
        .post(
            "",
            "/t/resetty/password",
            json!({"token": link, "password": new}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        staff_login(&app, "resetty", email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        staff_login(&app, "resetty", email, new).await.status,
        StatusCode::OK
    );
    // A disabled member gets none.
    app.patch(
        &t.owner_key,
        &format!("/v1/members/{id}"),
        json!({"status": "disabled"}),
    )
    .await;
    let r = app.post(&t.owner_key, &reset, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Another tenant's member is not there.
    let other = app.new_tenant("resetty-b").await;
    let r = app.post(&other.owner_key, &reset, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn only_the_latest_link_works_and_never_after_an_email_change() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("linky").await;
    let typo = "mai@linky.example.com";
    let id = invite(&app, &t.owner_key, typo, "owner").await;
    let first = pending_link_token(&app.deps, &t.id, typo, "staff_invitation")
        .await
        .expect("the first invitation's link");
    // The owner fixes the address: the link mailed to the typo no longer works.
    let right = "mia@linky.example.com";
    let r = app
        .patch(
            &t.owner_key,
            &format!("/v1/members/{id}"),
            json!({"email": right}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let set = async |token: &str| {
        app.post(
            "",
            "/t/linky/password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await
    };
    assert_eq!(set(&first).await.error_fields(), ["token"]);
    // A new invitation to the right address works; sending another ends that one too.
    let reset = format!("/v1/members/{id}/reset-password");
    app.post(&t.owner_key, &reset, json!({})).await;
    let second = pending_link_token(&app.deps, &t.id, right, "staff_invitation")
        .await
        .expect("the second invitation's link");
    app.post(&t.owner_key, &reset, json!({})).await;
    let third = pending_link_token(&app.deps, &t.id, right, "staff_invitation")
        .await
        .expect("the third invitation's link");
    assert_ne!(second, third);
    assert_eq!(set(&second).await.error_fields(), ["token"]);
    let r = set(&third).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        staff_login(&app, "linky", right, PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(set(&third).await.error_fields(), ["token"], "used once");
}

#[tokio::test]
async fn a_link_used_twice_at_once_makes_one_login() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("twice").await;
    let owner = "owner@twice.example.com";
    let link = pending_link_token(&app.deps, &t.id, owner, "staff_invitation")
        .await
        .expect("the link");
    let (a, b) = ("First$pass-2026", "Second$pass-2026");
    let post = async |password: &str| {
        app.post(
            "",
            "/t/twice/password",
            json!({"token": link, "password": password}),
        )
        .await
    };
    let (ra, rb) = tokio::join!(post(a), post(b));
    let winners: Vec<&str> = [(a, &ra), (b, &rb)]
        .into_iter()
        .filter(|(_, r)| r.status == StatusCode::OK)
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{} {} / {} {}",
        ra.status,
        ra.body,
        rb.status,
        rb.body
    );
    let loser = if ra.status == StatusCode::OK {
        &rb
    } else {
        &ra
    };
    assert!(
        matches!(
            loser.status,
            StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{} {}",
        loser.status,
        loser.body
    );
    // The winner's password signs in, and its token authenticates.
    let r = staff_login(&app, "twice", owner, winners[0]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.get(r.field("access_token"), "/v1/me").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_marker_written_before_markers_named_members_still_signs_in_and_is_mended() {
    use tenantry::ports::{Condition, Item};
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("legacy").await;
    let owner = "owner@legacy.example.com";
    app.staff_token(&t.id, "legacy", owner, PASSWORD).await;
    // The marker as the tenancy core wrote it: no member id.
    let key = tenantry::store::keys::member_email_marker(
        &tenantry::model::ids::TenantId::from_record(t.id.as_str()),
        owner,
    );
    app.deps
        .store
        .put(Item::marker(key.clone()), Condition::None)
        .await
        .expect("an old marker");
    let r = staff_login(&app, "legacy", owner, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let marker = app
        .deps
        .store
        .get(&key)
        .await
        .expect("read")
        .expect("the marker");
    assert!(
        marker.data["member_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("mem_")),
        "{:?}",
        marker.data
    );
}

#[tokio::test]
async fn removing_a_member_removes_a_login_its_records_never_named() {
    use tenantry::ports::{Identity, IdentityError, NewLogin};
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = std::sync::Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("o.redb"))
            .expect("a store"),
    );
    let (idp, verifier) = tenantry_tests::app::embedded_identity(store.clone(), dir.path());
    let idp = std::sync::Arc::new(idp);
    let deps = tenantry::Deps::new(store).with_identity(idp.clone(), verifier);
    let app = spawn_app_with(deps).await;
    let t = app.new_tenant("orphan").await;
    let id = invite(&app, &t.owner_key, "o@orphan.example.com", "member").await;
    // A first use that made the login and died before its records.
    let pool = idp.staff_pool().await.expect("pool");
    let login = NewLogin {
        username: id.clone(),
        subject: id.clone(),
        password: Some(PASSWORD.into()),
    };
    idp.create_user(&pool, &login)
        .await
        .expect("an orphaned login");
    let r = app.delete(&t.owner_key, &format!("/v1/members/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(matches!(
        idp.authenticate(&pool, &id, PASSWORD).await,
        Err(IdentityError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn a_password_with_an_outer_space_is_refused_by_name() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("spacey").await;
    let link = pending_link_token(
        &app.deps,
        &t.id,
        "owner@spacey.example.com",
        "staff_invitation",
    )
    .await
    .expect("the link");
    let body = json!({"token": link, "password": " Staff$ecret-42"});
    let r = app.post("", "/t/spacey/password", body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["password"]);
}

#[tokio::test]
async fn without_an_identity_provider_staff_keep_api_keys_and_get_no_links() {
    let app = tenantry_tests::app::spawn_app().await;
    let t = app.new_tenant("keyonly").await;
    let owner = "owner@keyonly.example.com";
    let name = tenantry_tests::app::pending_email_value(
        &app.deps,
        &t.id,
        owner,
        "staff_invitation",
        "first_name",
    )
    .await;
    assert_eq!(name.as_deref(), Some("Olive"), "the invitation is there");
    let link = pending_link_token(&app.deps, &t.id, owner, "staff_invitation").await;
    assert_eq!(link, None, "no staff logins: the invitation has no link");
    let r = staff_login(&app, "keyonly", "owner@keyonly.example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn the_lambda_authorizer_turns_a_staff_token_into_its_member_principal() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("authz-staff").await;
    let email = "mo@authz-staff.example.com";
    let id = invite(&app, &t.owner_key, email, "member").await;
    let token = app.staff_token(&t.id, "authz-staff", email, PASSWORD).await;
    let event = |token: &str| {
        json!({
            "version": "2.0", "routeKey": "GET /v1/me", "rawPath": "/v1/me", "rawQueryString": "",
            "headers": {"authorization": format!("Bearer {token}")},
            "requestContext": {"accountId": "1", "apiId": "api", "domainName": "d", "domainPrefix": "d",
                "http": {"method": "GET", "path": "/v1/me", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
                "requestId": "r", "routeKey": "GET /v1/me", "stage": "$default", "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1795000000000u64}
        })
    };
    let context = tenantry_tests::gateway::authorize(&app.deps, &event(&token)).await;
    assert_eq!(
        context,
        Some(json!({"kind": "staff", "tenant_id": t.id, "role": "member", "actor": id}))
    );
    app.patch(
        &t.owner_key,
        &format!("/v1/members/{id}"),
        json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(
        tenantry_tests::gateway::authorize(&app.deps, &event(&token)).await,
        Some(json!({"kind": "anonymous"}))
    );
}

/// The flow on Cognito (moto under `scripts/test`): the staff pool is found or made by
/// name, its logins are named by member id, and the authorizer's HTTP key source
/// verifies the staff token.
#[tokio::test]
async fn on_aws_staff_sign_in_through_the_cognito_staff_pool() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but AWS_ENDPOINT_URL is not: run the tests through scripts/test"
        );
        eprintln!("skipped: AWS_ENDPOINT_URL is not set (scripts/test starts moto)");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = std::sync::Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("s.redb"))
            .expect("a store"),
    );
    let (deps, cognito, _) = tenantry_tests::app::cognito_deps(store).await;
    let app = spawn_app_with(deps).await;
    let t = app.new_tenant("cogstaff").await;
    let owner = "owner@cogstaff.example.com";
    let token = app.staff_token(&t.id, "cogstaff", owner, PASSWORD).await;
    let me = app.get(&token, "/v1/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["member"]["email"], owner);
    let member_id = me.body["member"]["id"]
        .as_str()
        .expect("member id")
        .to_owned();
    // The login is the member's, in the staff pool.
    use tenantry::ports::Identity;
    let pool = cognito.staff_pool().await.expect("the staff pool");
    assert!(pool.issuer.ends_with(&pool.id), "{pool:?}");
    cognito
        .authenticate(&pool, &member_id, PASSWORD)
        .await
        .expect("the member id is the login's username");
    assert_eq!(
        staff_login(&app, "cogstaff", owner, "Wrong$ecret-42")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Removal deletes the Cognito login too.
    let second = invite(&app, &t.owner_key, "two@cogstaff.example.com", "owner").await;
    app.staff_token(&t.id, "cogstaff", "two@cogstaff.example.com", PASSWORD)
        .await;
    assert_eq!(
        app.delete(&token, &format!("/v1/members/{second}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(matches!(
        cognito.authenticate(&pool, &second, PASSWORD).await,
        Err(tenantry::ports::IdentityError::InvalidCredentials)
    ));
}
