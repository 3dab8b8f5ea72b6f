//! The OAuth side of connections over plain HTTP, against a real authorization server
//! (`oidc-provider`, `tenantry_tests::oauth`): the connect page's redirect, the callback
//! taken only from the browser that started it, once, under its own tenant; consent
//! refused, a code the provider refuses; and a full scenario (an `api_key` connection
//! and an `oauth2` one) whose store, logs and API answers hold no credential in plain
//! text. The same flow in Chromium is in `browser.rs`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry_tests::app::{TestApp, TestTenant, spawn_app};
use tenantry_tests::oauth::OAuthPeer;

/// The log lines written while a test runs (every level, JSON).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

/// A client that does not follow redirects, as the tests look at each.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// A tenant, an `oauth2` connector at `peer`, a customer and a pending connection with
/// a live invite: the connection's id and the emailed link's token.
async fn invited(app: &TestApp, t: &TestTenant, label: &str) -> (String, String) {
    let c = app
        .new_customer(
            &t.owner_key,
            &format!("{label} Farm"),
            &format!("ada@{}.example.com", label.to_lowercase()),
        )
        .await;
    let conn = app
        .post(
            &t.member_key,
            &format!("/v1/customers/{c}/connections"),
            json!({"connector": "acme_crm"}),
        )
        .await;
    assert_eq!(conn.status, StatusCode::CREATED, "{}", conn.body);
    let id = conn.field("id").to_owned();
    let to = format!("it@{}.example.com", label.to_lowercase());
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/connections/{id}/invite"),
            json!({ "email": to }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = tenantry_tests::app::pending_link_token(&app.deps, &t.id, &to, "connection_invite")
        .await
        .expect("the emailed link");
    (id, token)
}

/// What pressing the connect page's button does: the page (its CSRF cookie and field),
/// then its form. Answers the provider's authorization URL and the `state` cookie.
async fn press_connect(app: &TestApp, slug: &str, token: &str) -> (String, String) {
    let http = no_redirects();
    let url = format!("{}/t/{slug}/connect/{token}", app.base);
    let page = http.get(&url).send().await.expect("the page");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("a CSP")
        .to_owned();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("a cookie")
        .split(';')
        .next()
        .expect("a pair")
        .to_owned();
    let html = page.text().await.expect("html");
    assert!(html.contains("id=\"connect\""), "{html}");
    let csrf = cookie.split_once('=').expect("k=v").1.to_owned();
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .expect("the form");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"]
        .to_str()
        .expect("a location")
        .to_owned();
    // The page's form may lead to the provider (on loopback http here) and to https.
    let provider = reqwest::Url::parse(&location).expect("a URL");
    let origin = provider.origin().ascii_serialization();
    assert!(
        csp.contains(&format!("form-action 'self' {origin} https:;")),
        "{csp}"
    );
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("a cookie")
        .to_owned();
    assert!(
        set.contains(&format!("Path=/t/{slug}/connect/callback"))
            && set.contains("HttpOnly")
            && set.contains("SameSite=Lax"),
        "{set}"
    );
    let state = set
        .split(';')
        .next()
        .and_then(|p| p.strip_prefix("tenantry_connect_"))
        .and_then(|p| p.split_once('='))
        .map(|(prefix, state)| {
            assert_eq!(prefix, &state[..16], "the cookie is named after its state");
            state
        })
        .expect("the state cookie")
        .to_owned();
    let q: std::collections::HashMap<String, String> =
        provider.query_pairs().into_owned().collect();
    assert_eq!(q["state"], state);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "crm.read offline_access");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/t/{slug}/connect/callback", app.base)
    );
    (location, state)
}

/// The callback as a browser brings it back, with this `state` cookie (or none).
async fn callback(url: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut r = no_redirects().get(url);
    if let Some(state) = cookie {
        r = r.header(
            "cookie",
            format!("tenantry_connect_{}={state}", &state[..16]),
        );
    }
    let r = r.send().await.expect("the callback");
    let status = r.status();
    (status, r.text().await.expect("a page"))
}

/// The button pressed on the link's page, then the callback as the provider would send
/// the browser back, with `query` (a code or an error) besides the `state`, in the
/// browser that started it.
async fn back_with(app: &TestApp, token: &str, query: &str) -> (StatusCode, String) {
    let (_, state) = press_connect(app, "meadow", token).await;
    let url = format!(
        "{}/t/meadow/connect/callback?{query}&state={state}",
        app.base
    );
    callback(&url, Some(&state)).await
}

async fn state_of(app: &TestApp, t: &TestTenant, id: &str) -> (String, u64) {
    let r = app
        .get(&t.owner_key, &format!("/v1/connections/{id}"))
        .await;
    (
        r.body["state"].as_str().unwrap_or_default().to_owned(),
        r.body["version"].as_u64().unwrap_or_default(),
    )
}

async fn setup() -> Option<(TestApp, TestTenant, OAuthPeer)> {
    let app = spawn_app().await;
    let t = app.new_tenant("meadow").await;
    let peer =
        tenantry_tests::oauth::start(&format!("{}/t/meadow/connect/callback", app.base), 3600)
            .await?;
    tenantry_tests::oauth::add_connector(&app, &peer).await;
    Some((app, t, peer))
}

/// The callback counts only in the browser that started it, once, under its own
/// tenant's slug; a made-up `state` is nothing. Each refusal leaves the connection as
/// it was and (but for the one completed) the link working.
#[tokio::test]
async fn a_callback_is_taken_once_from_the_browser_that_started_it() {
    let Some((app, t, peer)) = setup().await else {
        return;
    };
    let other = app.new_tenant("heath").await;
    let (id, token) = invited(&app, &t, "Clover").await;
    let (authorize, state) = press_connect(&app, "meadow", &token).await;
    let back = peer.consent_over_http(&authorize, true).await;
    assert!(back.contains("code=") && back.contains(&state), "{back}");
    let before = state_of(&app, &t, &id).await;
    assert_eq!(before.0, "pending");

    // Another browser (no cookie, or another state's): refused, nothing used up.
    let (status, html) = callback(&back, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("another browser"), "{html}");
    let (status, _) = callback(&back, Some(&"ab".repeat(32))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A made-up state, its own cookie and all: nothing waits under it.
    let forged = back.replace(&state, &"cd".repeat(32));
    let (status, _) = callback(&forged, Some(&"cd".repeat(32))).await;
    assert_eq!(status, StatusCode::GONE);
    // The same state under another tenant's slug: not that tenant's.
    let foreign = back.replace("/t/meadow/", "/t/heath/");
    let (status, _) = callback(&foreign, Some(&state)).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(state_of(&app, &t, &id).await, before);
    let theirs = app
        .get(&other.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    // The browser that started it: connected.
    let (status, html) = callback(&back, Some(&state)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"connected\""), "{html}");
    let after = state_of(&app, &t, &id).await;
    assert_eq!(after.0, "authorized");
    // Replayed: the state is used up, and nothing changes.
    let (status, _) = callback(&back, Some(&state)).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(state_of(&app, &t, &id).await, after);
    assert_eq!(app.count_events(&t.id, "connection.authorized"), 1);
    let read = app
        .post(
            &t.owner_key,
            &format!("/v1/connections/{id}/credentials"),
            json!({}),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let access = read.body["credentials"]["access_token"]
        .as_str()
        .expect("a token");
    let me = reqwest::Client::new()
        .get(peer.api_url())
        .bearer_auth(access)
        .send()
        .await
        .expect("the provider's API");
    assert_eq!(me.status(), StatusCode::OK);
}

/// Consent refused, a code the provider refuses, an error of the provider, a callback
/// with no code: each says why on the tenant's page, stores nothing, and the link
/// still works; the next try completes.
#[tokio::test]
async fn a_refused_or_failed_authorization_stores_nothing_and_the_link_still_works() {
    let Some((app, t, peer)) = setup().await else {
        return;
    };
    let (id, token) = invited(&app, &t, "Sorrel").await;
    let link = format!("{}/t/meadow/connect/{token}", app.base);
    let before = state_of(&app, &t, &id).await;

    let (authorize, state) = press_connect(&app, "meadow", &token).await;
    let back = peer.consent_over_http(&authorize, false).await;
    assert!(back.contains("error=access_denied"), "{back}");
    let (status, html) = callback(&back, Some(&state)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        html.contains("was not allowed") && html.contains("id=\"retry\""),
        "{html}"
    );

    // A code the provider never issued (with the right state): refused at its token
    // endpoint, said so.
    let (status, html) = back_with(&app, &token, "code=forged-code").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        html.contains("did not accept the authorization (invalid_grant)"),
        "{html}"
    );

    // The provider's own error, with markup in it: shown as a plain code only.
    let (status, html) = back_with(&app, &token, "error=%3Cscript%3E").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !html.contains("<script>") && html.contains("(error)"),
        "{html}"
    );

    // No code at all, or one far too long.
    for code in ["", &"x".repeat(5000)] {
        let (status, html) = back_with(&app, &token, &format!("code={code}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("sent no authorization code"), "{html}");
    }
    assert_eq!(state_of(&app, &t, &id).await, before);
    assert_eq!(app.count_events(&t.id, "connection.authorized"), 0);
    let page = reqwest::get(&link).await.expect("the link");
    assert_eq!(page.status(), StatusCode::OK, "the link still works");

    // And the next try completes.
    let (authorize, state) = press_connect(&app, "meadow", &token).await;
    let back = peer.consent_over_http(&authorize, true).await;
    let (status, _) = callback(&back, Some(&state)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state_of(&app, &t, &id).await.0, "authorized");
}

/// A full scenario with every kind of secret: a connector's client secret, an API key
/// entered on the connect page, an OAuth code and the tokens it bought. None appears
/// in plain text in any stored item, any log line (every level), or any API answer
/// but `/credentials`.
#[tokio::test]
async fn no_credential_is_stored_logged_or_answered_in_plain_text() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);

    let Some((app, t, peer)) = setup().await else {
        return;
    };
    let mut answers = Vec::new();
    // An api_key connection, checked at a provider on the loopback.
    let (check_base, _) = tenantry_tests::provider::start().await;
    let made = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            tenantry_tests::provider::connector(&check_base),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    answers.push(made.body.to_string());
    let c = app
        .new_customer(&t.owner_key, "Thistle Mill", "ada@thistle.example.com")
        .await;
    let conn = app
        .post(
            &t.member_key,
            &format!("/v1/customers/{c}/connections"),
            json!({"connector": "crm"}),
        )
        .await;
    let key_id = conn.field("id").to_owned();
    app.post(
        &t.owner_key,
        &format!("/v1/connections/{key_id}/invite"),
        json!({"email": "it@thistle.example.com"}),
    )
    .await;
    let token = tenantry_tests::app::pending_link_token(
        &app.deps,
        &t.id,
        "it@thistle.example.com",
        "connection_invite",
    )
    .await
    .expect("the link");
    let csrf = "0123456789abcdef".repeat(4);
    let r = no_redirects()
        .post(format!("{}/t/meadow/connect/{token}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("tenantry_csrf={csrf}"))
        .body(format!("csrf={csrf}&account=acme&api_key=good-key"))
        .send()
        .await
        .expect("the form");
    assert_eq!(r.status(), StatusCode::OK);
    let key_read = app
        .post(
            &t.owner_key,
            &format!("/v1/connections/{key_id}/credentials"),
            json!({}),
        )
        .await;
    assert_eq!(key_read.body["credentials"]["api_key"], "good-key");

    // An oauth2 connection, through the real provider.
    let (oauth_id, token) = invited(&app, &t, "Yarrow").await;
    let (authorize, state) = press_connect(&app, "meadow", &token).await;
    let back = peer.consent_over_http(&authorize, true).await;
    let code = reqwest::Url::parse(&back)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let (status, _) = callback(&back, Some(&state)).await;
    assert_eq!(status, StatusCode::OK);
    let oauth_read = app
        .post(
            &t.owner_key,
            &format!("/v1/connections/{oauth_id}/credentials"),
            json!({}),
        )
        .await;
    assert_eq!(oauth_read.status, StatusCode::OK, "{}", oauth_read.body);
    let access = oauth_read.body["credentials"]["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();

    // Every other answer the scenario's resources give.
    for path in [
        format!("/v1/connections/{key_id}"),
        format!("/v1/connections/{oauth_id}"),
        "/v1/connections".to_owned(),
        format!("/v1/customers/{c}/connections"),
        "/v1/connectors".to_owned(),
        "/v1/connectors/acme_crm".to_owned(),
        format!("/v1/connections/{oauth_id}/credential-reads"),
    ] {
        let r = app.get(&t.owner_key, &path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        answers.push(r.body.to_string());
    }
    let tokens = tenantry_tests::app::stored_credentials(&app, &t.id, &oauth_id).await;
    assert_eq!(tokens["access_token"], access);
    let secrets = [
        ("the connector's client secret", peer.client_secret.clone()),
        ("an entered API key", "good-key".to_owned()),
        ("an OAuth code", code),
        ("an access token", access),
        ("a refresh token", tokens["refresh_token"].clone()),
    ];
    let stored: Vec<String> = app
        .all_items()
        .iter()
        .map(|i| serde_json::to_string(&Value::Object(i.data.clone())).expect("JSON"))
        .collect();
    let logged = logs.text();
    assert!(
        logged.contains("connect") || logged.lines().count() > 10,
        "the logs were captured: {logged}"
    );
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what}");
        assert!(
            !stored.iter().any(|s| s.contains(secret.as_str())),
            "{what} is stored in plain text"
        );
        assert!(!logged.contains(secret.as_str()), "{what} is in a log line");
        assert!(
            !answers.iter().any(|a| a.contains(secret.as_str())),
            "{what} is in an API answer"
        );
    }
}

/// The origins a tenant lets embed its connect page: owners set them, each checked and
/// written as its origin; members read them; another tenant's are not touched.
#[tokio::test]
async fn owners_list_the_origins_that_may_embed_the_connect_page() {
    let app = spawn_app().await;
    let t = app.new_tenant("sorrel").await;
    let other = app.new_tenant("fennel").await;
    let bad = app
        .put(
            &t.owner_key,
            "/v1/allowed-origins",
            json!({"origins": ["https://app.partner.example.com", "ftp://x.example.com",
                "https://app.partner.example.com/path", "http://partner.example.com",
                "https://user:pw@partner.example.com", "not a url"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(
        bad.error_fields(),
        [
            "origins[1]",
            "origins[2]",
            "origins[3]",
            "origins[4]",
            "origins[5]"
        ]
    );
    let too_many: Vec<String> = (0..11)
        .map(|i| format!("https://a{i}.example.com"))
        .collect();
    let r = app
        .put(
            &t.owner_key,
            "/v1/allowed-origins",
            json!({ "origins": too_many }),
        )
        .await;
    assert_eq!(r.error_fields(), ["origins"]);
    let member = app
        .put(
            &t.member_key,
            "/v1/allowed-origins",
            json!({"origins": ["https://app.partner.example.com"]}),
        )
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
    let set = app
        .put(
            &t.owner_key,
            "/v1/allowed-origins",
            json!({"origins": ["https://App.Partner.example.com/", "http://localhost:5173",
                "https://app.partner.example.com"]}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        set.body["origins"],
        json!(["https://app.partner.example.com", "http://localhost:5173"])
    );
    let read = app.get(&t.member_key, "/v1/allowed-origins").await;
    assert_eq!(read.body, set.body);
    let theirs = app.get(&other.owner_key, "/v1/allowed-origins").await;
    assert_eq!(theirs.body["origins"], json!([]));
}

/// A connect session: refused until the tenant lists an origin, and for an origin it
/// does not list; then a pending connection and a 30-minute link whose page only that
/// origin may frame. Its form needs no cookie (a frame gets none), completes once,
/// sends no email, writes the event, and tells the opener. Another tenant's customer
/// or connection is 404; the answer is never replayed from an Idempotency-Key.
#[tokio::test]
async fn a_connect_session_gives_the_partners_front_end_a_page_only_its_origin_may_frame() {
    let app = spawn_app().await;
    let t = app.new_tenant("sorrel").await;
    let other = app.new_tenant("fennel").await;
    let (check_base, _) = tenantry_tests::provider::start().await;
    app.post(
        &app.admin_key,
        "/v1/connectors",
        tenantry_tests::provider::connector(&check_base),
    )
    .await;
    let c = app
        .new_customer(&t.owner_key, "Sorrel Bakery", "ada@sorrel.example.com")
        .await;
    let body = json!({"customer_id": c, "connector": "crm", "label": "CRM"});
    let none = app
        .post(&t.member_key, "/v1/connect-sessions", body.clone())
        .await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.body);
    assert_eq!(
        none.problem_type(),
        "urn:tenantry:problem:no-allowed-origins"
    );
    let origins =
        json!({"origins": ["https://app.sorrel.example.com", "https://admin.sorrel.example.com"]});
    app.put(&t.owner_key, "/v1/allowed-origins", origins).await;
    let unnamed = app
        .post(&t.member_key, "/v1/connect-sessions", body.clone())
        .await;
    assert_eq!(unnamed.error_fields(), ["origin"], "{}", unnamed.body);
    let mut wrong = body.clone();
    wrong["origin"] = json!("https://evil.example.com");
    let wrong = app.post(&t.member_key, "/v1/connect-sessions", wrong).await;
    assert_eq!(wrong.error_fields(), ["origin"]);
    let both = app
        .post(
            &t.member_key,
            "/v1/connect-sessions",
            json!({"customer_id": c, "connector": "crm", "connection_id": "con_0197b2ac00000000000000000000c0a1"}),
        )
        .await;
    assert_eq!(both.error_fields(), ["connection_id"]);
    let long = app
        .post(
            &t.member_key,
            "/v1/connect-sessions",
            json!({"customer_id": c, "connector": "crm", "label": "x".repeat(101),
                "origin": "https://app.sorrel.example.com"}),
        )
        .await;
    assert_eq!(long.error_fields(), ["label"], "{}", long.body);
    // Another tenant's customer: as if it did not exist.
    let mut foreign = body.clone();
    foreign["origin"] = json!("https://app.sorrel.example.com");
    app.put(
        &other.owner_key,
        "/v1/allowed-origins",
        json!({"origins": ["https://app.sorrel.example.com"]}),
    )
    .await;
    let theirs = app
        .post(&other.owner_key, "/v1/connect-sessions", foreign.clone())
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    assert_eq!(
        app.all_items()
            .iter()
            .filter(|i| i.sk.starts_with("CONN#"))
            .count(),
        0
    );

    // Made with an Idempotency-Key: the same key later makes no copy of the answer.
    let made = app
        .send(
            reqwest::Method::POST,
            &t.member_key,
            "/v1/connect-sessions",
            Some(foreign.clone()),
            &[("idempotency-key", "session-1")],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["origin"], "https://app.sorrel.example.com");
    assert_eq!(made.body["connection"]["state"], "pending");
    assert!(
        made.body["connection"].get("session").is_none(),
        "{}",
        made.body
    );
    let url = made.body["url"].as_str().expect("a url").to_owned();
    assert!(
        url.starts_with(&format!("{}/t/sorrel/connect/", app.base)),
        "{url}"
    );
    let token = url.rsplit('/').next().expect("a token").to_owned();
    assert!(
        !app.all_items()
            .iter()
            .any(|i| Value::Object(i.data.clone()).to_string().contains(&token)),
        "the link's token is stored only hashed"
    );
    let id = made.body["connection"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    // The page: framed by that origin alone; the form without any cookie.
    let page = reqwest::get(&url).await.expect("the page");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("a CSP")
        .to_owned();
    assert!(
        csp.contains("frame-ancestors https://app.sorrel.example.com;")
            && !csp.contains("script-src"),
        "{csp}"
    );
    let post = |fields: &'static str| {
        let (http, url) = (no_redirects(), url.clone());
        async move {
            let r = http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(fields)
                .send()
                .await
                .expect("the form");
            let csp = r
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (r.status(), csp, r.text().await.expect("a page"))
        }
    };
    let (status, _, html) = post("account=acme&api_key=wrong-key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        !html.contains("connect-result"),
        "no result while the form can be retried"
    );
    let (status, csp, html) = post("account=acme&api_key=good-key").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"connected\""), "{html}");
    let nonce = csp
        .split("script-src 'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("a script nonce");
    assert!(
        html.contains(&format!("<script nonce=\"{nonce}\">")),
        "{html}"
    );
    assert!(
        html.contains(&format!("\"connection_id\":\"{id}\""))
            && html.contains("\"status\":\"authorized\"")
            && html.contains("\"origin\":\"https://app.sorrel.example.com\""),
        "{html}"
    );
    // Used up.
    let (status, _, _) = post("account=acme&api_key=good-key").await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(app.count_events(&t.id, "connection.authorized"), 1);
    assert!(
        !app.all_items().iter().any(
            |i| i.data.get("template").and_then(Value::as_str) == Some("connection_authorized")
        ),
        "a session sends no email"
    );
    let replayed = app
        .send(
            reqwest::Method::POST,
            &t.member_key,
            "/v1/connect-sessions",
            Some(foreign),
            &[("idempotency-key", "session-1")],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::CREATED);
    assert_ne!(
        replayed.body["url"], made.body["url"],
        "a new session, not a stored answer"
    );

    // Authorizing the same connection again; another tenant cannot.
    let again = json!({"connection_id": id, "origin": "https://admin.sorrel.example.com"});
    let theirs = app
        .post(
            &other.owner_key,
            "/v1/connect-sessions",
            json!({"connection_id": id}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let again = app.post(&t.owner_key, "/v1/connect-sessions", again).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["connection"]["id"], id.as_str());
    let page = reqwest::get(again.body["url"].as_str().expect("a url"))
        .await
        .expect("the page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .contains("frame-ancestors https://admin.sorrel.example.com;")
    );

    // A session asked for again before anyone completed it: the same pending
    // connection, and the earlier link stops working.
    let body =
        json!({"customer_id": c, "connector": "crm", "origin": "https://app.sorrel.example.com"});
    let first = app
        .post(&t.member_key, "/v1/connect-sessions", body.clone())
        .await;
    let second = app.post(&t.member_key, "/v1/connect-sessions", body).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let pending = first.body["connection"]["id"].as_str().expect("an id");
    assert_ne!(pending, id, "the authorized one is not reused");
    assert_eq!(second.body["connection"]["id"], pending);
    let old = reqwest::get(first.body["url"].as_str().expect("a url"))
        .await
        .expect("the page");
    assert_eq!(old.status(), StatusCode::GONE);
    let new = reqwest::get(second.body["url"].as_str().expect("a url"))
        .await
        .expect("the page");
    assert_eq!(new.status(), StatusCode::OK);
    // The owner removes the origin: its open session's page stops working.
    app.put(
        &t.owner_key,
        "/v1/allowed-origins",
        json!({"origins": ["https://admin.sorrel.example.com"]}),
    )
    .await;
    let removed = reqwest::get(second.body["url"].as_str().expect("a url"))
        .await
        .expect("the page");
    assert_eq!(removed.status(), StatusCode::GONE);
}

/// A token endpoint on the loopback whose refreshes wait until the test lets them go:
/// the code exchange answers at once with a token that is due for refresh (30 s); a
/// refresh is announced on `asked`, then answered `access-2`/`refresh-2` once `go`
/// is notified. (The real provider cannot be held mid-request; this race needs it.)
async fn held_token_endpoint() -> (String, Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
    let (asked, go) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let (a, g) = (asked.clone(), go.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move |body: String| {
            let (a, g) = (a.clone(), g.clone());
            async move {
                if body.contains("grant_type=refresh_token") {
                    a.notify_one();
                    g.notified().await;
                    axum::Json(json!({"access_token": "access-2", "token_type": "Bearer",
                        "expires_in": 3600, "refresh_token": "refresh-2"}))
                } else {
                    axum::Json(json!({"access_token": "access-1", "token_type": "Bearer",
                        "expires_in": 30, "refresh_token": "refresh-1"}))
                }
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/token"), asked, go)
}

/// A refresh whose connection changes while the provider answers (staff invite the
/// contact again meanwhile): the new tokens are kept all the same, since the provider
/// may already have ended the old refresh token.
#[tokio::test]
async fn tokens_refreshed_while_the_connection_changes_are_kept() {
    let app = spawn_app().await;
    let t = app.new_tenant("meadow").await;
    let (token_url, asked, go) = held_token_endpoint().await;
    let made = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            json!({"code": "acme_crm", "name": "Acme CRM", "auth": "oauth2",
                "authorize_url": "https://provider.example.com/authorize",
                "token_url": token_url, "client_id": "tenantry", "client_secret": "s3cret-client",
                "scopes": ["crm.read", "offline_access"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let (id, token) = invited(&app, &t, "Tansy").await;
    let (status, html) = back_with(&app, &token, "code=a-code").await;
    assert_eq!(status, StatusCode::OK, "{html}");

    let path = format!("/v1/connections/{id}/credentials");
    let (http, base, key) = (app.http.clone(), app.base.clone(), t.owner_key.clone());
    let read = tokio::spawn(async move {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&json!({}))
            .send()
            .await
            .expect("the read");
        (r.status(), r.json::<Value>().await.expect("JSON"))
    });
    asked.notified().await;
    // Meanwhile: a new invite changes the connection.
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/connections/{id}/invite"),
            json!({"email": "it@tansy.example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    go.notify_one();
    let (status, body) = read.await.expect("the read's task");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credentials"]["access_token"], "access-2");
    let stored = tenantry_tests::app::stored_credentials(&app, &t.id, &id).await;
    assert_eq!(
        stored["refresh_token"], "refresh-2",
        "the new refresh token is kept"
    );
    let c = app
        .get(&t.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(c.body["state"], "authorized");
    assert!(
        c.body["invite"].is_object(),
        "the invite stands too: {}",
        c.body
    );
}

/// A provider that takes the client's credentials in a Basic header only
/// (`token_auth: client_secret_basic`; it refuses them in the form): the code exchange
/// and the refreshes authenticate so, and a revoked grant still ends in
/// `reauthorization_required`.
#[tokio::test]
async fn a_provider_that_wants_basic_client_authentication_is_served_so() {
    let app = spawn_app().await;
    let t = app.new_tenant("meadow").await;
    // Tokens that live 30 s: every read refreshes them.
    let Some(peer) = tenantry_tests::oauth::start_with_auth(
        &format!("{}/t/meadow/connect/callback", app.base),
        30,
        false,
        "client_secret_basic",
    )
    .await
    else {
        return;
    };
    let made = tenantry_tests::oauth::add_connector(&app, &peer).await;
    assert_eq!(made["token_auth"], "client_secret_basic");
    // Basic authentication needs a secret: a public client cannot ask for it.
    let mut public = tenantry_tests::oauth::connector(&peer);
    public["code"] = json!("public_crm");
    public["client_secret"] = Value::Null;
    let public = app.post(&app.admin_key, "/v1/connectors", public).await;
    assert_eq!(public.error_fields(), ["token_auth"], "{}", public.body);
    let (id, token) = invited(&app, &t, "Basil").await;
    let (authorize, state) = press_connect(&app, "meadow", &token).await;
    let back = peer.consent_over_http(&authorize, true).await;
    let (status, html) = callback(&back, Some(&state)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let exchanged = tenantry_tests::app::stored_credentials(&app, &t.id, &id).await;

    let path = format!("/v1/connections/{id}/credentials");
    let read = app.post(&t.owner_key, &path, json!({})).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let fresh = read.body["credentials"]["access_token"]
        .as_str()
        .expect("a token");
    assert_ne!(fresh, exchanged["access_token"], "refreshed first");
    let me = reqwest::Client::new()
        .get(peer.api_url())
        .bearer_auth(fresh)
        .send()
        .await
        .expect("the provider's API");
    assert_eq!(me.status(), StatusCode::OK);

    let now = tenantry_tests::app::stored_credentials(&app, &t.id, &id).await;
    peer.revoke(&now["refresh_token"]).await;
    let revoked = app.post(&t.owner_key, &path, json!({})).await;
    assert_eq!(
        revoked.problem_type(),
        "urn:tenantry:problem:reauthorization-required",
        "{}",
        revoked.body
    );
}
