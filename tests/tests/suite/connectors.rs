//! The operator's connector catalog: the shipped definitions are accepted as they are,
//! every tenant's staff reads the catalog and none changes it, bad definitions are
//! refused field by field, and an OAuth client secret is sealed, never shown, never
//! stored as it is.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::ports::{Sealed, VaultContext};
use tenantry_tests::app::{TestApp, spawn_app};

const STRIPE: &str = include_str!("../../../connectors/stripe.json");
const HUBSPOT: &str = include_str!("../../../connectors/hubspot.json");
const HUBSPOT_SECRET: &str = "replace-with-your-hubspot-app-client-secret";

fn shipped(text: &str) -> Value {
    serde_json::from_str(text).expect("a shipped connector is JSON")
}

/// The stored connector's sealed client secret, opened with the platform's context.
async fn stored_secret(app: &TestApp, code: &str) -> Option<String> {
    let item = app
        .all_items()
        .into_iter()
        .find(|i| i.pk == tenantry::store::keys::connectors_partition() && i.sk == code)
        .expect("the stored connector");
    let sealed: Option<Sealed> =
        serde_json::from_value(item.data["oauth2"]["client_secret"].clone()).ok();
    let sealed = sealed?;
    let opened = app
        .deps
        .vault()
        .expect("a vault")
        .open(&VaultContext::of_platform("connector", code), &sealed)
        .await
        .expect("it opens under its own context");
    Some(String::from_utf8(opened).expect("text"))
}

#[tokio::test]
async fn the_operator_keeps_the_catalog_and_every_tenants_staff_reads_it_without_secrets() {
    let app = spawn_app().await;
    let op = &app.admin_key;
    let mut answers = Vec::new();
    for text in [STRIPE, HUBSPOT] {
        let r = app.post(op, "/v1/connectors", shipped(text)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        answers.push(r.body.to_string());
    }
    let again = app.post(op, "/v1/connectors", shipped(STRIPE)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("duplicate-connector")),
        "{}",
        again.body
    );

    let t = app.new_tenant("catalog-reader").await;
    for key in [&t.owner_key, &t.member_key, op] {
        let list = app.get(key, "/v1/connectors").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let codes: Vec<&str> = list.body["data"]
            .as_array()
            .expect("a page")
            .iter()
            .filter_map(|c| c["code"].as_str())
            .collect();
        assert_eq!(codes, ["hubspot", "stripe"]);
        let hub = app.get(key, "/v1/connectors/hubspot").await;
        assert_eq!(hub.status, StatusCode::OK, "{}", hub.body);
        assert_eq!(
            (
                hub.body["auth"].as_str(),
                hub.body["client_secret_set"].as_bool(),
                hub.body["pkce"].as_bool()
            ),
            (Some("oauth2"), Some(true), Some(true)),
            "{}",
            hub.body
        );
        assert!(hub.body.get("client_secret").is_none(), "{}", hub.body);
        answers.push(list.body.to_string());
        answers.push(hub.body.to_string());
        let stripe = app.get(key, "/v1/connectors/stripe").await;
        assert_eq!(stripe.body["fields"][0]["name"], "api_key");
        assert_eq!(
            stripe.body["check"]["headers"]["Authorization"],
            "Bearer {{api_key}}"
        );
    }
    // Staff cannot change the catalog.
    for key in [&t.owner_key, &t.member_key] {
        let add = app
            .post(
                key,
                "/v1/connectors",
                json!({"code": "x", "name": "X", "auth": "api_key"}),
            )
            .await;
        assert_eq!(add.status, StatusCode::FORBIDDEN, "{}", add.body);
        let change = app
            .patch(key, "/v1/connectors/stripe", json!({"name": "Mine"}))
            .await;
        assert_eq!(change.status, StatusCode::FORBIDDEN, "{}", change.body);
    }
    let missing = app.get(&t.owner_key, "/v1/connectors/nothing_here").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let odd = app.get(&t.owner_key, "/v1/connectors/NOT-A-CODE").await;
    assert_eq!(odd.status, StatusCode::NOT_FOUND);

    // The secret is sealed: it opens under the connector's own context, and appears in
    // no answer and in no stored item as it is.
    assert_eq!(
        stored_secret(&app, "hubspot").await.as_deref(),
        Some(HUBSPOT_SECRET)
    );
    for a in &answers {
        assert!(
            !a.contains(HUBSPOT_SECRET),
            "an answer shows the secret: {a}"
        );
    }
    for item in app.all_items() {
        assert!(
            !Value::Object(item.data.clone())
                .to_string()
                .contains(HUBSPOT_SECRET),
            "stored as it is in {} {}",
            item.pk,
            item.sk
        );
    }
}

#[tokio::test]
async fn a_connector_changes_by_merge_patch_and_its_secret_only_when_named() {
    let app = spawn_app().await;
    let op = &app.admin_key;
    let made = app.post(op, "/v1/connectors", shipped(HUBSPOT)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let path = "/v1/connectors/hubspot";

    let renamed = app
        .patch(
            op,
            path,
            json!({"name": "HubSpot CRM", "scopes": ["oauth"]}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "HubSpot CRM");
    assert_eq!(renamed.body["scopes"], json!(["oauth"]));
    assert_eq!(renamed.body["version"], 2);
    assert_eq!(
        stored_secret(&app, "hubspot").await.as_deref(),
        Some(HUBSPOT_SECRET),
        "left out, the secret stays"
    );
    // The same patch again changes nothing.
    let same = app.patch(op, path, json!({"name": "HubSpot CRM"})).await;
    assert_eq!(same.body["version"], 2, "{}", same.body);

    let rotated = app
        .patch(op, path, json!({"client_secret": "a-new-client-secret"}))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(
        stored_secret(&app, "hubspot").await.as_deref(),
        Some("a-new-client-secret")
    );
    let public = app.patch(op, path, json!({"client_secret": null})).await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.body);
    assert_eq!(public.body["client_secret_set"], false);
    assert_eq!(stored_secret(&app, "hubspot").await, None);

    // A stale If-Match, a new code, and a kind change that keeps the other kind's
    // settings are refused; nothing changes.
    let stale = app
        .send(
            reqwest::Method::PATCH,
            op,
            path,
            Some(json!({"name": "Stale"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );
    let recoded = app.patch(op, path, json!({"code": "hub"})).await;
    assert_eq!(recoded.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(recoded.error_fields(), ["code"]);
    let kind = app.patch(op, path, json!({"auth": "api_key"})).await;
    assert_eq!(
        kind.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        kind.body
    );
    let fields = kind.error_fields();
    for f in ["authorize_url", "token_url", "client_id", "fields"] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
    let now = app.get(op, path).await;
    assert_eq!(
        (now.body["name"].as_str(), now.body["auth"].as_str()),
        (Some("HubSpot CRM"), Some("oauth2"))
    );
    // Nulling the OAuth settings and giving fields makes it an api_key connector.
    let switched = app
        .patch(
            op,
            path,
            json!({"auth": "api_key", "authorize_url": null, "token_url": null, "scopes": null,
                "client_id": null, "pkce": null,
                "fields": [{"name": "token", "label": "Private app token"}]}),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    assert_eq!(switched.body["fields"][0]["secret"], true);
    assert!(
        switched.body.get("client_id").is_none(),
        "{}",
        switched.body
    );
}

#[tokio::test]
async fn a_bad_definition_is_refused_naming_each_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let op = &app.admin_key;
    let cases = [
        (
            json!({"code": "a", "name": "A", "auth": "api_key"}),
            vec!["fields"],
        ),
        (
            json!({"code": "a", "name": "A", "auth": "api_key",
                "fields": [{"name": "key", "label": "Key"}, {"name": "key", "label": "Again"}],
                "check": {"method": "DELETE", "url": "ftp://x.example.com/{{nope}}",
                    "headers": {"X-Key": "{{key}}", "Bad Header": "v"}},
                "client_id": "not for api keys"}),
            vec![
                "check.headers.Bad Header",
                "check.method",
                "check.url",
                "client_id",
                "fields[1].name",
            ],
        ),
        (
            json!({"code": "a", "name": "A", "auth": "api_key",
                "fields": [{"name": "csrf", "label": "Token"}, {"name": "host", "label": "Host"}],
                "check": {"method": "GET", "url": "https://{{host}}.example.com/v1"}}),
            vec!["check.url", "fields[0].name"],
        ),
        (
            json!({"code": "a", "name": "A", "auth": "api_key",
                "fields": [{"name": "key", "label": "Key"}],
                "check": {"method": "GET", "url": "http://api.example.com/v1"}}),
            vec!["check.url"],
        ),
        (
            json!({"code": "Bad Code", "name": "", "auth": "oauth2",
                "authorize_url": "javascript:alert(1)", "token_url": "https://user:pw@idp.example.com/token",
                "scopes": ["has space"], "authorize_params": {"state": "fixed", "prompt": "consent"},
                "fields": [], "client_secret": ""}),
            vec![
                "authorize_params.state",
                "authorize_url",
                "client_id",
                "client_secret",
                "code",
                "fields",
                "name",
                "scopes[0]",
                "token_url",
            ],
        ),
    ];
    for (body, expected) in cases {
        let r = app.post(op, "/v1/connectors", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        let mut named = r.error_fields();
        named.sort();
        named.dedup();
        assert_eq!(named, expected, "{body}: {}", r.body);
    }
    let unknown = app
        .post(
            op,
            "/v1/connectors",
            json!({"code": "a", "name": "A", "auth": "api_key", "colour": "red"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    let wrong_kind = app
        .post(
            op,
            "/v1/connectors",
            json!({"code": "a", "name": "A", "auth": "saml"}),
        )
        .await;
    assert!(wrong_kind.status.is_client_error(), "{}", wrong_kind.body);
    let list = app.get(op, "/v1/connectors").await;
    assert_eq!(list.body["data"], json!([]), "{}", list.body);
}

/// The connect page's form, posted as a browser does (the page's CSRF cookie and field).
async fn submit(app: &TestApp, slug: &str, token: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let csrf = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut body = format!("csrf={csrf}");
    for (k, v) in fields {
        body.push_str(&format!("&{k}={v}"));
    }
    let r = app
        .http
        .post(format!("{}/t/{slug}/connect/{token}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("tenantry_csrf={csrf}"))
        .body(body)
        .send()
        .await
        .expect("the form posts");
    let status = r.status().as_u16();
    (status, r.text().await.expect("a page"))
}

async fn open_page(app: &TestApp, slug: &str, token: &str) -> (u16, String) {
    let r = app
        .http
        .get(format!("{}/t/{slug}/connect/{token}", app.base))
        .send()
        .await
        .expect("the page");
    let status = r.status().as_u16();
    (status, r.text().await.expect("a page"))
}

#[tokio::test]
async fn an_invited_contact_connects_an_api_key_on_the_branded_page_and_only_owners_read_it() {
    let app = spawn_app().await;
    let (base, checks) = tenantry_tests::provider::start().await;
    let made = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            tenantry_tests::provider::connector(&base),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let t = app.new_tenant("connectco").await;
    let other = app.new_tenant("otherco").await;
    let contact = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{}", t.id),
            json!({"contact": {"email": "ops@connectco.example.com"}}),
        )
        .await;
    assert!(contact.status.is_success(), "{}", contact.body);
    let c = app
        .new_customer(&t.owner_key, "Acme Bakery", "admin@acme-bakery.example.com")
        .await;
    let made = app
        .post(
            &t.member_key,
            &format!("/v1/customers/{c}/connections"),
            json!({"connector": "crm", "label": "Sales CRM"}),
        )
        .await;
    let id = made.field("id").to_owned();
    let conn = format!("/v1/connections/{id}");

    // The invite goes to the customer's primary contact unless it names someone.
    let bad = app
        .post(
            &t.member_key,
            &format!("{conn}/invite"),
            json!({"email": "not an email", "expires_in_hours": 0}),
        )
        .await;
    assert_eq!(
        bad.error_fields(),
        ["email", "expires_in_hours"],
        "{}",
        bad.body
    );
    let invited = app
        .post(&t.member_key, &format!("{conn}/invite"), json!({}))
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    assert_eq!(invited.body["invite"]["email"], "pat@example.com");
    let first = tenantry_tests::app::pending_link_token(
        &app.deps,
        &t.id,
        "pat@example.com",
        "connection_invite",
    )
    .await
    .expect("the invite's link");
    // A second invite ends the first link.
    let again = app
        .post(
            &t.member_key,
            &format!("{conn}/invite"),
            json!({"email": "it@acme-bakery.example.com", "name": "Ines", "expires_in_hours": 2}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let token = tenantry_tests::app::pending_link_token(
        &app.deps,
        &t.id,
        "it@acme-bakery.example.com",
        "connection_invite",
    )
    .await
    .expect("the second link");
    assert_ne!(first, token);
    assert_eq!(open_page(&app, "connectco", &first).await.0, 410);

    // Opening the page shows who asks for what, and changes nothing.
    for _ in 0..2 {
        let (status, html) = open_page(&app, "connectco", &token).await;
        assert_eq!(status, 200, "{html}");
        for shown in [
            "Acme Bakery",
            "Acme CRM",
            "Account name",
            "API key",
            "Sales CRM",
        ] {
            assert!(html.contains(shown), "{shown} on the page: {html}");
        }
    }
    assert_eq!(checks.load(Ordering::SeqCst), 0, "opening checks nothing");
    // Not under another tenant's slug, not with a guessed or malformed token.
    assert_eq!(open_page(&app, "otherco", &token).await.0, 410);
    assert_eq!(open_page(&app, "connectco", &"ab".repeat(32)).await.0, 410);
    assert_eq!(open_page(&app, "connectco", "x").await.0, 410);

    // A form without the page's CSRF cookie, a missing field, a key the provider
    // refuses: each says why and the link keeps working.
    let forged = app
        .http
        .post(format!("{}/t/connectco/connect/{token}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=abc&account=acme&api_key=good-key")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let (status, html) = submit(&app, "connectco", &token, &[("account", "acme")]).await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("API key is required"), "{html}");
    let (status, html) = submit(
        &app,
        "connectco",
        &token,
        &[("account", "acme"), ("api_key", "wrong-key")],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("did not accept"), "{html}");
    assert_eq!(checks.load(Ordering::SeqCst), 1);
    let pending = app.get(&t.owner_key, &conn).await;
    assert_eq!(pending.body["state"], "pending");

    // A customer changed between the page and its form: nothing is stored, and the
    // page is read again ("try again"); a deleted one's link works no more.
    let tid = tenantry::model::ids::TenantId::from_record(t.id.as_str());
    let page = tenantry::service::connections::open_link(&app.deps, &tid, &[], &token)
        .await
        .expect("the link")
        .expect("a working link");
    let renamed = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{c}"),
            json!({"company": {"description": "Changed meanwhile"}}),
        )
        .await;
    assert!(renamed.status.is_success(), "{}", renamed.body);
    let values = std::collections::BTreeMap::from([
        ("account".to_owned(), "acme".to_owned()),
        ("api_key".to_owned(), "good-key".to_owned()),
    ]);
    let raced =
        tenantry::service::connections::submit_api_key(&app.deps, &tid, &page, &values).await;
    assert!(
        matches!(
            raced,
            Err(tenantry::Error::Conflict {
                kind: tenantry::error::ProblemKind::ConcurrentUpdate,
                ..
            })
        ),
        "the customer changed meanwhile"
    );
    assert_eq!(app.get(&t.owner_key, &conn).await.body["state"], "pending");
    let (status, html) = submit(
        &app,
        "connectco",
        &token,
        &[("account", "."), ("api_key", "x")],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("Account name is not a valid value"), "{html}");

    // The right key: authorized, the link used up.
    let (status, html) = submit(
        &app,
        "connectco",
        &token,
        &[("account", "acme"), ("api_key", "good-key")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("is connected"), "{html}");
    let (status, _) = submit(
        &app,
        "connectco",
        &token,
        &[("account", "acme"), ("api_key", "good-key")],
    )
    .await;
    assert_eq!(status, 410, "a used link works no more");
    let now = app.get(&t.member_key, &conn).await;
    assert_eq!(
        (
            now.body["state"].as_str(),
            now.body["has_credentials"].as_bool()
        ),
        (Some("authorized"), Some(true)),
        "{}",
        now.body
    );
    assert!(now.body.get("invite").is_none(), "{}", now.body);
    assert_eq!(app.count_events(&t.id, "connection.authorized"), 1);
    assert!(
        tenantry_tests::app::pending_email_value(
            &app.deps,
            &t.id,
            "ops@connectco.example.com",
            "connection_authorized",
            "connection_id",
        )
        .await
        .is_some_and(|v| v == id),
        "the tenant's contact hears of it (the invite came from an API key)"
    );

    // Only owners read the credentials; each read is recorded; another tenant sees none.
    let creds = format!("{conn}/credentials");
    let member = app.post(&t.member_key, &creds, json!({})).await;
    assert_eq!(member.status, StatusCode::FORBIDDEN, "{}", member.body);
    let foreign = app.post(&other.owner_key, &creds, json!({})).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    // An Idempotency-Key changes nothing here: each read is answered afresh and
    // recorded, and no stored answer keeps the credentials.
    let mut read = app.post(&t.owner_key, &creds, json!({})).await;
    for _ in 0..2 {
        read = app
            .send(
                reqwest::Method::POST,
                &t.owner_key,
                &creds,
                Some(json!({})),
                &[("idempotency-key", "read-once-please")],
            )
            .await;
        assert!(read.headers.get("idempotent-replayed").is_none());
    }
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(
        read.body["credentials"],
        json!({"account": "acme", "api_key": "good-key"})
    );
    let reads = app
        .get(&t.member_key, &format!("{conn}/credential-reads"))
        .await;
    assert_eq!(
        reads.body["data"].as_array().map(Vec::len),
        Some(3),
        "{}",
        reads.body
    );

    // The key is nowhere else: not in any stored item, not in any other answer.
    for item in app.all_items() {
        assert!(
            !Value::Object(item.data.clone())
                .to_string()
                .contains("good-key"),
            "stored as it is in {} {}",
            item.pk,
            item.sk
        );
    }
    for path in [
        conn.clone(),
        "/v1/connections".into(),
        format!("/v1/customers/{c}/connections"),
    ] {
        let r = app.get(&t.owner_key, &path).await;
        assert!(
            !r.body.to_string().contains("good-key"),
            "{path}: {}",
            r.body
        );
    }

    // Ending an invite ends its link at once.
    let third = app
        .post(&t.owner_key, &format!("{conn}/invite"), json!({}))
        .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
    let token = tenantry_tests::app::pending_link_token(
        &app.deps,
        &t.id,
        "pat@example.com",
        "connection_invite",
    )
    .await
    .expect("the third link");
    assert_eq!(open_page(&app, "connectco", &token).await.0, 200);
    let ended = app.delete(&t.owner_key, &format!("{conn}/invite")).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);
    assert_eq!(open_page(&app, "connectco", &token).await.0, 410);
}

/// A link past its hour works no more, and a value too long for a credential is
/// refused by name; neither stores anything.
#[tokio::test]
async fn an_expired_link_and_an_oversized_value_store_nothing() {
    let dir = tempfile::tempdir().expect("a folder");
    let store = std::sync::Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("t.redb"))
            .expect("a store"),
    );
    let clock = std::sync::Arc::new(tenantry_tests::app::TestClock::at(chrono::Utc::now()));
    let mut app = tenantry_tests::app::spawn_app_with(
        tenantry::Deps::new(store.clone()).with_clock(clock.clone()),
    )
    .await;
    app.embedded = Some(store);
    let (base, checks) = tenantry_tests::provider::start().await;
    let made = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            tenantry_tests::provider::connector(&base),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let t = app.new_tenant("expiring").await;
    let c = app
        .new_customer(&t.owner_key, "Short Lived", "admin@short-lived.example.com")
        .await;
    let conn = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{c}/connections"),
            json!({"connector": "crm"}),
        )
        .await;
    let id = conn.field("id").to_owned();
    let invite = app
        .post(
            &t.owner_key,
            &format!("/v1/connections/{id}/invite"),
            json!({"expires_in_hours": 1}),
        )
        .await;
    assert_eq!(invite.status, StatusCode::OK, "{}", invite.body);
    let token = tenantry_tests::app::pending_link_token(
        &app.deps,
        &t.id,
        "pat@example.com",
        "connection_invite",
    )
    .await
    .expect("the link");
    let long = "k".repeat(5000);
    let (status, html) = submit(
        &app,
        "expiring",
        &token,
        &[("account", "acme"), ("api_key", &long)],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("API key must be one line of at most 4096 characters"),
        "{html}"
    );
    assert_eq!(open_page(&app, "expiring", &token).await.0, 200);
    clock.advance(chrono::Duration::minutes(61));
    assert_eq!(open_page(&app, "expiring", &token).await.0, 410);
    let (status, _) = submit(
        &app,
        "expiring",
        &token,
        &[("account", "acme"), ("api_key", "good-key")],
    )
    .await;
    assert_eq!(status, 410);
    assert_eq!(checks.load(Ordering::SeqCst), 0, "nothing was checked");
    let now = app
        .get(&t.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(
        (
            now.body["state"].as_str(),
            now.body["has_credentials"].as_bool()
        ),
        (Some("pending"), Some(false))
    );
}

#[tokio::test]
async fn staff_add_connections_to_their_customers_and_a_purge_takes_them_away() {
    let app = spawn_app().await;
    let made = app
        .post(&app.admin_key, "/v1/connectors", shipped(STRIPE))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let t = app.new_tenant("connecting").await;
    let other = app.new_tenant("elsewhere").await;
    let c = app
        .new_customer(&t.owner_key, "Linked Co", "admin@linked.example.com")
        .await;
    let d = app
        .new_customer(&t.owner_key, "Second Co", "admin@second.example.com")
        .await;
    let path = format!("/v1/customers/{c}/connections");

    // A member may add one (assisting customers with their configuration).
    let first = app
        .post(
            &t.member_key,
            &path,
            json!({"connector": "stripe", "label": "Payments"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        (
            first.body["state"].as_str(),
            first.body["has_credentials"].as_bool(),
            first.body["customer_id"].as_str()
        ),
        (Some("pending"), Some(false), Some(c.as_str()))
    );
    let id = first.field("id").to_owned();
    let second = app
        .post(&t.owner_key, &path, json!({"connector": "stripe"}))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let elsewhere = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{d}/connections"),
            json!({"connector": "stripe"}),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);

    // Bad input names the field; another tenant's customer does not exist for it.
    let unknown = app
        .post(&t.owner_key, &path, json!({"connector": "nope"}))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_fields(), ["connector"]);
    let blank = app.post(&t.owner_key, &path, json!({"label": ""})).await;
    assert_eq!(
        blank.error_fields(),
        ["connector", "label"],
        "{}",
        blank.body
    );
    let foreign = app
        .post(&other.owner_key, &path, json!({"connector": "stripe"}))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let peek = app
        .get(&other.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);

    let ids = |r: &tenantry_tests::app::Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .expect("a page")
            .iter()
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect()
    };
    let of_c = app.get(&t.member_key, &path).await;
    assert_eq!(ids(&of_c), [id.clone(), second.field("id").to_owned()]);
    let all = app.get(&t.member_key, "/v1/connections").await;
    assert_eq!(ids(&all).len(), 3, "{}", all.body);
    assert!(
        app.get(&other.owner_key, "/v1/connections").await.body["data"]
            .as_array()
            .expect("a page")
            .is_empty()
    );
    let one = app
        .get(&t.member_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(one.body["label"], "Payments", "{}", one.body);

    // Deleted: gone from the lists and the store.
    let gone = app
        .delete(&t.member_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(
        app.get(&t.owner_key, &format!("/v1/connections/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ids(&app.get(&t.owner_key, &path).await).len(), 1);
    assert!(
        !app.all_items()
            .iter()
            .any(|i| i.sk.contains(&id) || i.pk.contains(&id))
    );

    // A deleted customer takes no new connection; its purge removes the others.
    let del = app
        .delete(&t.owner_key, &format!("/v1/customers/{c}?confirm=true"))
        .await;
    assert!(del.status.is_success(), "{}", del.body);
    let late = app
        .post(&t.owner_key, &path, json!({"connector": "stripe"}))
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    let purged = tenantry::service::purge::run(&app.deps, later)
        .await
        .expect("a purge");
    assert_eq!(purged.customers_purged, 1, "{purged:?}");
    let left = ids(&app.get(&t.owner_key, "/v1/connections").await);
    assert_eq!(left, [elsewhere.field("id").to_owned()]);
}
