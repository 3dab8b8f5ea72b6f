//! The operator's connector catalog: the shipped definitions are accepted as they are,
//! every tenant's staff reads the catalog and none changes it, bad definitions are
//! refused field by field, and an OAuth client secret is sealed, never shown, never
//! stored as it is.

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
