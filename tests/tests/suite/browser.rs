//! The tenant's pages in a real browser (headless Chromium, which `scripts/test` installs
//! from Debian):
//!
//! - the login page: the tenant's logo and colours (DOM and computed styles), then a
//!   sign-in through the form, CSRF cookie and all, ending with the session cookie;
//! - registration: from the login page's link, the company's details, the code from the
//!   email the outbox delivered (an `.eml` file, as `tenantry serve` writes them), a
//!   password, then a sign-in as the new customer's admin;
//! - connecting an account: the link an invite emailed, the connect page in the
//!   tenant's branding, a key the provider refuses, then the right one.
//!
//! Screenshots are saved under `target/test-artifacts/`.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::adapters::embedded::FileMailer;
use tenantry::service::mail::{self, MailSettings};
use tenantry_tests::app::{
    TestApp, TestClock, TestTenant, customer_body, spawn_app_with_logins_at,
};
use tenantry_tests::browser::{Browser, executable};

const PASSWORD: &str = "Sup3r$ecret!";

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-artifacts")
}

/// Chromium, and the app as `tenantry serve` runs it with one tenant branded `branding`;
/// `None` (the test skips) only outside CI when no Chromium is installed.
async fn branded(
    slug: &str,
    branding: serde_json::Value,
) -> Option<(PathBuf, TestApp, TestTenant, tempfile::TempDir)> {
    branded_at(slug, branding, None).await
}

/// `branded`, on a clock the test moves when it gives one.
async fn branded_at(
    slug: &str,
    branding: serde_json::Value,
    clock: Option<std::sync::Arc<TestClock>>,
) -> Option<(PathBuf, TestApp, TestTenant, tempfile::TempDir)> {
    let Some(chromium) = executable() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but no chromium was found: scripts/test installs Debian's chromium"
        );
        eprintln!("skipped: no chromium (scripts/test installs it)");
        return None;
    };
    let (app, dir) = spawn_app_with_logins_at(clock).await;
    let tenant = app.new_tenant(slug).await;
    let r = app
        .send(
            reqwest::Method::PUT,
            &app.admin_key,
            &format!("/v1/tenants/{}/branding", tenant.id),
            Some(branding),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    Some((chromium, app, tenant, dir))
}

#[tokio::test]
async fn a_customer_admin_signs_in_on_the_branded_page_in_chromium() {
    let Some((chromium, app, tenant, _dir)) = branded(
        "orbit",
        json!({"product_name": "Orbit Portal", "logo_url": "https://cdn.orbit.example.com/logo.png",
            "primary_color": "#0f766e", "accent_color": "#f59e0b", "support_email": "help@orbit.example.com"}),
    )
    .await
    else {
        return;
    };
    let email = "ada@orbit-customer.example.com";
    let mut body = customer_body("Orbit Customer", email);
    body["admin"]["password"] = json!(PASSWORD);
    let c = app.post(&tenant.owner_key, "/v1/customers", body).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);

    let mut browser = Browser::launch(&chromium).await.expect("chromium starts");
    let page = format!("{}/t/orbit/login", app.base);
    browser.navigate(&page).await.expect("navigates");
    browser
        .wait_for("document.querySelector('form')")
        .await
        .expect("the login form");

    // The tenant's branding, as the browser renders it.
    let seen = browser
        .eval(
            "({ title: document.title,
                logo: document.querySelector('#logo') && document.querySelector('#logo').getAttribute('src'),
                logoAlt: document.querySelector('#logo') && document.querySelector('#logo').alt,
                header: getComputedStyle(document.querySelector('header')).backgroundColor,
                button: getComputedStyle(document.querySelector('button')).backgroundColor,
                buttonText: getComputedStyle(document.querySelector('button')).color,
                headerText: getComputedStyle(document.querySelector('header')).color,
                links: [...document.querySelectorAll('main a, footer a')].map(a => getComputedStyle(a).color),
                labels: [...document.querySelectorAll('label')].map(l => l.htmlFor),
                lang: document.documentElement.lang,
                text: document.body.innerText })",
        )
        .await
        .expect("the page's DOM");
    assert_eq!(seen["title"], "Sign in to Orbit Portal");
    assert_eq!(seen["logo"], "https://cdn.orbit.example.com/logo.png");
    assert_eq!(seen["logoAlt"], "Orbit Portal");
    assert_eq!(
        seen["header"], "rgb(15, 118, 110)",
        "primary colour #0f766e"
    );
    assert_eq!(seen["button"], "rgb(245, 158, 11)", "accent colour #f59e0b");
    // Readable whatever the brand chose (WCAG AA, 4.5:1): black on the amber button, and
    // links darkened until they read on white.
    let hex = |rgb: &Value| -> String {
        let parts: Vec<u8> = rgb
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        assert_eq!(parts.len(), 3, "{rgb}");
        format!("#{:02x}{:02x}{:02x}", parts[0], parts[1], parts[2])
    };
    use tenantry::model::branding::{MIN_CONTRAST, contrast};
    assert!(
        contrast(&hex(&seen["buttonText"]), "#f59e0b") >= MIN_CONTRAST,
        "{seen}"
    );
    assert!(
        contrast(&hex(&seen["headerText"]), "#0f766e") >= MIN_CONTRAST,
        "{seen}"
    );
    let links = seen["links"].as_array().cloned().unwrap_or_default();
    assert!(!links.is_empty(), "the page has links: {seen}");
    for link in &links {
        assert!(contrast(&hex(link), "#ffffff") >= MIN_CONTRAST, "{link}");
    }
    assert_eq!(seen["labels"], json!(["email", "password"]));
    assert_eq!(seen["lang"], "en");
    let text = seen["text"].as_str().unwrap_or_default();
    assert!(text.contains("help@orbit.example.com"), "{text}");
    assert!(
        !text.to_lowercase().contains("tenantry"),
        "no platform branding: {text}"
    );
    browser
        .screenshot(&artifacts().join("login-page.png"))
        .await
        .expect("a screenshot");

    // A wrong password: the form again, with its message.
    browser
        .submit(&[("email", email), ("password", "Wr0ng$password")])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#error')")
        .await
        .expect("the error message");
    let error = browser
        .eval("document.querySelector('#error').innerText")
        .await
        .expect("the message");
    assert_eq!(error, "The email or password is wrong.");
    // The email stays filled in; the password does not.
    assert_eq!(
        browser
            .eval("document.querySelector('#email').value")
            .await
            .expect("email"),
        email
    );

    // The right one: signed in, with the session cookie the page set.
    browser
        .submit(&[("password", PASSWORD)])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#signed-in')")
        .await
        .expect("signed in");
    browser
        .screenshot(&artifacts().join("signed-in.png"))
        .await
        .expect("a screenshot");
    let cookies = browser.cookies(&page).await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c["name"] == "tenantry_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["secure"], true);
    assert_eq!(session["sameSite"], "Strict");
    let token = session["value"].as_str().expect("the token");
    let me = app.get(token, "/v1/me").await;
    assert_eq!(me.body["user"]["email"], email, "{}", me.body);
    assert!(
        artifacts()
            .join("login-page.png")
            .metadata()
            .is_ok_and(|m| m.len() > 1000)
    );
}

#[tokio::test]
async fn a_registrant_registers_with_the_emailed_code_and_signs_in_in_chromium() {
    let Some((chromium, app, _tenant, _dir)) = branded(
        "lumen",
        json!({"product_name": "Lumen Hub", "logo_url": "https://cdn.lumen.example.com/logo.svg",
            "primary_color": "#7c3aed", "accent_color": "#db2777", "support_email": "care@lumen.example.com",
            "registration_enabled": true}),
    )
    .await
    else {
        return;
    };

    let mut browser = Browser::launch(&chromium).await.expect("chromium starts");
    let login = format!("{}/t/lumen/login", app.base);
    browser.navigate(&login).await.expect("navigates");
    browser
        .wait_for("document.querySelector('#register-link')")
        .await
        .expect("the login page links to registration");
    browser
        .eval("document.querySelector('#register-link').click(); true")
        .await
        .expect("clicks");
    browser
        .wait_for("document.querySelector('#company_name')")
        .await
        .expect("the registration form");
    let seen = browser
        .eval(
            "({ title: document.title,
                logo: document.querySelector('#logo') && document.querySelector('#logo').getAttribute('src'),
                header: getComputedStyle(document.querySelector('header')).backgroundColor,
                button: getComputedStyle(document.querySelector('button')).backgroundColor,
                labels: [...document.querySelectorAll('label')].map(l => l.htmlFor),
                text: document.body.innerText })",
        )
        .await
        .expect("the page's DOM");
    assert_eq!(seen["title"], "Register with Lumen Hub");
    assert_eq!(seen["logo"], "https://cdn.lumen.example.com/logo.svg");
    assert_eq!(
        seen["header"], "rgb(124, 58, 237)",
        "primary colour #7c3aed"
    );
    assert_eq!(seen["button"], "rgb(219, 39, 119)", "accent colour #db2777");
    assert_eq!(
        seen["labels"],
        json!(["company_name", "first_name", "last_name", "email"])
    );
    let text = seen["text"].as_str().unwrap_or_default();
    assert!(text.contains("care@lumen.example.com"), "{text}");
    assert!(
        !text.to_lowercase().contains("tenantry"),
        "no platform branding: {text}"
    );
    browser
        .screenshot(&artifacts().join("register-page.png"))
        .await
        .expect("a screenshot");

    let email = "rosa@rosalind-labs.example.com";
    browser
        .submit(&[
            ("company_name", "Rosalind Labs"),
            ("first_name", "Rosa"),
            ("last_name", "Lind"),
            ("email", email),
        ])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#code')")
        .await
        .expect("the code form");

    // The outbox delivers the code by email, as `tenantry serve` does: an .eml file.
    let inbox = tempfile::tempdir().expect("a temp dir");
    let settings = MailSettings {
        sender_domain: "mail.lumen.example.com".into(),
        public_url: app.base.clone(),
    };
    let mailer = FileMailer::new(inbox.path()).expect("a mail dir");
    mail::deliver_due(&app.deps, &mailer, &settings)
        .await
        .expect("delivery");
    let eml = std::fs::read_dir(inbox.path())
        .expect("the mail dir")
        .map(|e| std::fs::read_to_string(e.expect("an entry").path()).expect("an .eml"))
        .find(|text| text.contains(&format!("To: {email}")))
        .expect("the code's email");
    let code = eml
        .lines()
        .find_map(|l| l.strip_prefix("Subject: Your Lumen Hub code: "))
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|| panic!("no code in the subject: {eml}"));
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    assert!(
        eml.contains(&format!("    {code}")),
        "the code in the text part: {eml}"
    );

    // A wrong code first: the form again, with its message; then the right one.
    let wrong = if code == "000000" { "000001" } else { "000000" };
    browser
        .submit(&[("code", wrong), ("password", PASSWORD)])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#error')")
        .await
        .expect("the error message");
    let error = browser
        .eval("document.querySelector('#error').innerText")
        .await
        .expect("the message");
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.starts_with("Code is wrong or has expired")),
        "{error}"
    );
    browser
        .submit(&[("code", &code), ("password", PASSWORD)])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#registered')")
        .await
        .expect("registered");
    browser
        .screenshot(&artifacts().join("registered.png"))
        .await
        .expect("a screenshot");

    // Sign in as the new customer's admin.
    browser
        .eval("document.querySelector('#sign-in-link').click(); true")
        .await
        .expect("clicks");
    browser
        .wait_for("document.querySelector('form[action$=\"/login\"]')")
        .await
        .expect("the login form");
    browser
        .submit(&[("email", email), ("password", PASSWORD)])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#signed-in')")
        .await
        .expect("signed in");
    let cookies = browser.cookies(&login).await.expect("cookies");
    let token = cookies
        .iter()
        .find(|c| c["name"] == "tenantry_session")
        .and_then(|c| c["value"].as_str())
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"))
        .to_owned();
    let me = app.get(&token, "/v1/me").await;
    assert_eq!(me.body["user"]["email"], email, "{}", me.body);
    assert_eq!(me.body["customer"]["name"], "Rosalind Labs", "{}", me.body);
}

/// A customer of `tenant` (`slug`) with a connection (`connection`, added by a member)
/// that the tenant's owner invites `to` to authorize through its staff login, so the
/// owner hears of the result: the connection's id and the emailed link's token.
async fn invited_by_owner(
    app: &TestApp,
    tenant: &TestTenant,
    slug: &str,
    (company, admin): (&str, &str),
    connection: Value,
    invite: Value,
) -> (String, String) {
    let c = app.new_customer(&tenant.owner_key, company, admin).await;
    let conn = app
        .post(
            &tenant.member_key,
            &format!("/v1/customers/{c}/connections"),
            connection,
        )
        .await;
    assert_eq!(conn.status, StatusCode::CREATED, "{}", conn.body);
    let id = conn.field("id").to_owned();
    let owner = app
        .staff_token(
            &tenant.id,
            slug,
            &format!("owner@{slug}.example.com"),
            "Staff$ecret-42",
        )
        .await;
    let to = invite["email"].as_str().expect("an address").to_owned();
    let r = app
        .post(&owner, &format!("/v1/connections/{id}/invite"), invite)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token =
        tenantry_tests::app::pending_link_token(&app.deps, &tenant.id, &to, "connection_invite")
            .await
            .expect("the emailed link");
    (id, token)
}

/// An invited contact opens the emailed link in Chromium: the tenant's page names who
/// asks for which account; a key the provider refuses is said so, the right one
/// connects, and the partner's owner then reads it.
#[tokio::test]
async fn an_invited_contact_connects_an_account_on_the_branded_page_in_chromium() {
    let Some((chromium, app, tenant, _dir)) = branded(
        "lumen",
        json!({"product_name": "Lumen Hub", "logo_url": "https://cdn.lumen.example.com/logo.png",
            "primary_color": "#1d4ed8", "accent_color": "#16a34a"}),
    )
    .await
    else {
        return;
    };
    let (base, checks) = tenantry_tests::provider::start().await;
    let made = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            tenantry_tests::provider::connector(&base),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    // The owner invites through its staff login: it hears when the account is connected.
    let (id, token) = invited_by_owner(
        &app,
        &tenant,
        "lumen",
        ("Lumen Bakery", "ada@lumen-bakery.example.com"),
        json!({"connector": "crm"}),
        json!({"email": "it@lumen-bakery.example.com", "name": "Ines"}),
    )
    .await;

    let mut browser = Browser::launch(&chromium).await.expect("chromium starts");
    browser
        .navigate(&format!("{}/t/lumen/connect/{token}", app.base))
        .await
        .expect("navigates");
    browser
        .wait_for("document.querySelector('form')")
        .await
        .expect("the connect form");
    let seen = browser
        .eval(
            "({ title: document.title,
                logo: document.querySelector('#logo') && document.querySelector('#logo').getAttribute('src'),
                header: getComputedStyle(document.querySelector('header')).backgroundColor,
                ask: document.querySelector('#ask').innerText,
                inputs: [...document.querySelectorAll('form input')].map(i => [i.name, i.type]),
                text: document.body.innerText })",
        )
        .await
        .expect("the page's DOM");
    assert_eq!(seen["title"], "Connect Acme CRM to Lumen Hub", "{seen}");
    assert_eq!(seen["logo"], "https://cdn.lumen.example.com/logo.png");
    assert_eq!(seen["header"], "rgb(29, 78, 216)", "primary colour #1d4ed8");
    let ask = seen["ask"].as_str().unwrap_or_default();
    assert!(
        ask.contains("Lumen Hub") && ask.contains("Lumen Bakery") && ask.contains("Acme CRM"),
        "{ask}"
    );
    assert_eq!(
        seen["inputs"],
        json!([
            ["csrf", "hidden"],
            ["account", "text"],
            ["api_key", "password"]
        ])
    );
    assert!(
        !seen["text"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("tenantry"),
        "no platform branding: {seen}"
    );
    browser
        .screenshot(&artifacts().join("connect-page.png"))
        .await
        .expect("a screenshot");

    // A key the provider refuses: said on the page, nothing stored.
    browser
        .submit(&[("field-account", "acme"), ("field-api_key", "wrong-key")])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#error')")
        .await
        .expect("the refusal");
    let error = browser
        .eval("document.querySelector('#error').innerText")
        .await
        .expect("the message");
    assert!(
        error
            .as_str()
            .unwrap_or_default()
            .contains("did not accept"),
        "{error}"
    );
    let pending = app
        .get(&tenant.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(pending.body["state"], "pending");

    // The right one: connected.
    browser
        .submit(&[("field-account", "acme"), ("field-api_key", "good-key")])
        .await
        .expect("submits");
    browser
        .wait_for("document.querySelector('#connected')")
        .await
        .expect("connected");
    browser
        .screenshot(&artifacts().join("connect-done.png"))
        .await
        .expect("a screenshot");
    assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        tenantry_tests::app::pending_email_value(
            &app.deps,
            &tenant.id,
            "owner@lumen.example.com",
            "connection_authorized",
            "connection_id",
        )
        .await
        .as_deref(),
        Some(id.as_str()),
        "the staff member who invited is told"
    );
    let read = app
        .post(
            &tenant.owner_key,
            &format!("/v1/connections/{id}/credentials"),
            json!({}),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["credentials"]["api_key"], "good-key");
    assert!(
        artifacts()
            .join("connect-page.png")
            .metadata()
            .is_ok_and(|m| m.len() > 1000)
    );
}

/// The OAuth flow against a real authorization server (`oidc-provider`, Node): the
/// emailed link's page, its button to the provider, the provider's consent. Denied
/// first (the page says so and the link still works), then allowed: the tokens are
/// stored, the partner reads a working access token, a read after its expiry refreshes
/// it, and once the grant is revoked at the provider the next refresh makes the
/// connection `reauthorization_required`, tells the staff and writes `connection.failed`.
#[tokio::test]
async fn an_invited_contact_authorizes_an_oauth_connection_at_a_real_provider_in_chromium() {
    // The app as `tenantry serve` runs it (logins included), on a clock the test moves.
    let clock = std::sync::Arc::new(TestClock::at(chrono::Utc::now()));
    let Some((chromium, app, tenant, _dir)) = branded_at(
        "orbit",
        json!({"product_name": "Orbit Suite", "primary_color": "#7c3aed"}),
        Some(clock.clone()),
    )
    .await
    else {
        return;
    };
    let redirect_uri = format!("{}/t/orbit/connect/callback", app.base);
    // Rotating refresh tokens: a refresh token used twice revokes the whole grant, so
    // two readers refreshing at once would break the connection.
    let Some(peer) = tenantry_tests::oauth::start_with(&redirect_uri, 3600, true).await else {
        return;
    };
    let made = tenantry_tests::oauth::add_connector(&app, &peer).await;
    assert_eq!(made["client_secret_set"], true);
    let (id, token) = invited_by_owner(
        &app,
        &tenant,
        "orbit",
        ("Orbit Dairy", "ada@orbit-dairy.example.com"),
        json!({"connector": "acme_crm", "label": "Sales CRM"}),
        json!({"email": "it@orbit-dairy.example.com"}),
    )
    .await;
    let link = format!("{}/t/orbit/connect/{token}", app.base);

    let mut browser = Browser::launch(&chromium).await.expect("chromium starts");
    // Denied at the provider: said on the tenant's page, nothing stored.
    browser.navigate(&link).await.expect("navigates");
    browser
        .wait_for("document.querySelector('#connect')")
        .await
        .expect("the connect button");
    let button = browser
        .eval("document.querySelector('#connect').innerText")
        .await
        .expect("the button");
    assert_eq!(button, "Continue to Acme CRM");
    browser
        .screenshot(&artifacts().join("connect-oauth-page.png"))
        .await
        .expect("a screenshot");
    browser.submit(&[]).await.expect("presses the button");
    browser
        .wait_for("document.querySelector('#deny')")
        .await
        .expect("the provider's consent page");
    browser
        .eval("document.querySelector('#deny').click(); true")
        .await
        .expect("denies");
    browser
        .wait_for("document.querySelector('#error')")
        .await
        .expect("back on the tenant's page");
    let seen = browser
        .eval("({ error: document.querySelector('#error').innerText, retry: !!document.querySelector('#retry'), url: location.pathname })")
        .await
        .expect("the page");
    assert!(
        seen["error"]
            .as_str()
            .unwrap_or_default()
            .contains("was not allowed"),
        "{seen}"
    );
    assert_eq!(seen["retry"], true, "{seen}");
    assert_eq!(seen["url"], "/t/orbit/connect/callback");
    let pending = app
        .get(&tenant.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(pending.body["state"], "pending", "{}", pending.body);

    // The link still works: allowed this time.
    browser.navigate(&link).await.expect("navigates");
    browser
        .wait_for("document.querySelector('#connect')")
        .await
        .expect("the connect button again");
    browser.submit(&[]).await.expect("presses the button");
    browser
        .wait_for("document.querySelector('#allow')")
        .await
        .expect("the provider's consent page");
    let consent = browser
        .eval("document.body.innerText")
        .await
        .expect("the consent page");
    assert!(
        consent.as_str().unwrap_or_default().contains("crm.read"),
        "the provider asks for the connector's scope: {consent}"
    );
    browser
        .screenshot(&artifacts().join("connect-consent.png"))
        .await
        .expect("a screenshot");
    browser
        .eval("document.querySelector('#allow').click(); true")
        .await
        .expect("allows");
    browser
        .wait_for("document.querySelector('#connected')")
        .await
        .expect("the success page");
    browser
        .screenshot(&artifacts().join("connect-oauth-done.png"))
        .await
        .expect("a screenshot");
    let done = app
        .get(&tenant.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(done.body["state"], "authorized", "{}", done.body);
    assert_eq!(done.body["has_credentials"], true);
    assert_eq!(app.count_events(&tenant.id, "connection.authorized"), 1);
    assert_eq!(
        tenantry_tests::app::pending_email_value(
            &app.deps,
            &tenant.id,
            "owner@orbit.example.com",
            "connection_authorized",
            "connection_id",
        )
        .await
        .as_deref(),
        Some(id.as_str()),
        "the owner who invited is told"
    );
    // The link is used up.
    let used = app.http.get(&link).send().await.expect("the link");
    assert_eq!(used.status(), StatusCode::GONE);

    // The partner reads a working access token (never the refresh token).
    let api = |token: String| {
        let (http, url) = (app.http.clone(), peer.api_url());
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("the provider's API")
                .status()
        }
    };
    let path = format!("/v1/connections/{id}/credentials");
    let first = app.post(&tenant.owner_key, &path, json!({})).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let creds = &first.body["credentials"];
    assert_eq!(creds["token_type"], "Bearer", "{}", first.body);
    assert!(creds.get("refresh_token").is_none(), "{}", first.body);
    assert!(creds["expires_at"].is_string(), "{}", first.body);
    let access = creds["access_token"].as_str().expect("a token").to_owned();
    assert_eq!(api(access.clone()).await, StatusCode::OK);
    // Within its hour: the same token, no refresh.
    let again = app.post(&tenant.owner_key, &path, json!({})).await;
    assert_eq!(again.body["credentials"]["access_token"], access.as_str());

    // Past its end: refreshed first, and the new one works.
    clock.advance(chrono::Duration::minutes(59) + chrono::Duration::seconds(30));
    let refreshed = app.post(&tenant.owner_key, &path, json!({})).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let fresh = refreshed.body["credentials"]["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    assert_ne!(fresh, access, "refreshed within a minute of its end");
    assert_eq!(api(fresh.clone()).await, StatusCode::OK);
    assert_eq!(app.count_events(&tenant.id, "connection.failed"), 0);

    // Four readers at once past its end: one refreshes, the others wait for its result.
    clock.advance(chrono::Duration::hours(1));
    let reads =
        futures::future::join_all((0..4).map(|_| app.post(&tenant.owner_key, &path, json!({}))))
            .await;
    let tokens: std::collections::BTreeSet<String> = reads
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body["credentials"]["access_token"]
                .as_str()
                .expect("a token")
                .to_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 1, "one refresh for all four: {tokens:?}");
    let fresh = tokens.into_iter().next().expect("a token");
    assert_eq!(api(fresh.clone()).await, StatusCode::OK);
    let state = app
        .get(&tenant.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(state.body["state"], "authorized", "{}", state.body);

    // The grant revoked at the provider: the next refresh fails for good.
    let stored = tenantry_tests::app::stored_credentials(&app, &tenant.id, &id).await;
    assert_eq!(stored["access_token"], fresh);
    peer.revoke(&stored["refresh_token"]).await;
    clock.advance(chrono::Duration::hours(2));
    let revoked = app.post(&tenant.owner_key, &path, json!({})).await;
    assert_eq!(revoked.status, StatusCode::CONFLICT, "{}", revoked.body);
    assert_eq!(
        revoked.problem_type(),
        "urn:tenantry:problem:reauthorization-required"
    );
    let failed = app
        .get(&tenant.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(failed.body["state"], "reauthorization_required");
    assert_eq!(failed.body["has_credentials"], false);
    assert_eq!(app.count_events(&tenant.id, "connection.failed"), 1);
    assert_eq!(
        tenantry_tests::app::pending_email_value(
            &app.deps,
            &tenant.id,
            "owner@orbit.example.com",
            "connection_failed",
            "connection_id",
        )
        .await
        .as_deref(),
        Some(id.as_str()),
        "the owner who invited hears that it needs a new authorization"
    );
    // Still so on the next read, with no second event.
    let still = app.post(&tenant.owner_key, &path, json!({})).await;
    assert_eq!(
        still.problem_type(),
        "urn:tenantry:problem:reauthorization-required"
    );
    assert_eq!(app.count_events(&tenant.id, "connection.failed"), 1);
    for png in [
        "connect-oauth-page.png",
        "connect-consent.png",
        "connect-oauth-done.png",
    ] {
        assert!(
            artifacts()
                .join(png)
                .metadata()
                .is_ok_and(|m| m.len() > 1000),
            "{png}"
        );
    }
}

/// A partner's own page on another site (`http://localhost:<port>`, the app being
/// `127.0.0.1`): it frames `?src=` and keeps every message it receives in
/// `window.__messages`. Its base URL.
async fn partner_site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().route(
        "/partner",
        axum::routing::get(|uri: http::Uri| async move {
            let src = reqwest::Url::parse(&format!("http://partner{uri}"))
                .ok()
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "src")
                        .map(|(_, v)| v.replace('"', ""))
                })
                .unwrap_or_default();
            axum::response::Html(format!(
                "<!doctype html><title>Partner app</title><h1>Partner app</h1>\
                 <script>window.__messages = []; addEventListener('message', \
                 e => window.__messages.push({{origin: e.origin, data: e.data}}));</script>\
                 <iframe id=\"connect\" src=\"{src}\" width=\"640\" height=\"520\"></iframe>"
            ))
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://localhost:{port}")
}

/// A connect session in the partner's own product: the partner's page (another site)
/// frames the connect page, the customer connects inside the frame, and the partner's
/// page hears the result by `postMessage` from the app's origin; a page on an origin
/// the tenant does not list cannot frame it.
#[tokio::test]
async fn a_partners_page_frames_a_connect_session_and_hears_its_result_in_chromium() {
    let Some((chromium, app, tenant, _dir)) = branded(
        "harbor",
        json!({"product_name": "Harbor Desk", "primary_color": "#0f766e"}),
    )
    .await
    else {
        return;
    };
    let (check_base, _) = tenantry_tests::provider::start().await;
    let made = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            tenantry_tests::provider::connector(&check_base),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let (partner, stranger) = (partner_site().await, partner_site().await);
    let r = app
        .put(
            &tenant.owner_key,
            "/v1/allowed-origins",
            json!({ "origins": [partner] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = app
        .new_customer(
            &tenant.owner_key,
            "Harbor Fish",
            "ada@harbor-fish.example.com",
        )
        .await;
    let session = app
        .post(
            &tenant.member_key,
            "/v1/connect-sessions",
            json!({"customer_id": c, "connector": "crm"}),
        )
        .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    let url = session.body["url"].as_str().expect("a url").to_owned();
    let id = session.body["connection"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let framed = |site: &str, src: &str| {
        reqwest::Url::parse_with_params(&format!("{site}/partner"), &[("src", src)])
            .expect("a URL")
            .to_string()
    };

    let mut browser = Browser::launch(&chromium).await.expect("chromium starts");
    browser
        .navigate(&framed(&partner, &url))
        .await
        .expect("navigates");
    browser
        .wait_in_frame("/connect/", "document.querySelector('form')")
        .await
        .expect("the connect page in the partner's frame");
    browser
        .eval_in_frame(
            "/connect/",
            "document.getElementById('field-account').value = 'acme';
             document.getElementById('field-api_key').value = 'good-key';
             document.querySelector('form').submit(); true",
        )
        .await
        .expect("submits inside the frame");
    browser
        .wait_in_frame("/connect/", "document.querySelector('#connected')")
        .await
        .expect("connected inside the frame");
    browser
        .wait_for("window.__messages.length > 0")
        .await
        .expect("the partner's page hears the result");
    browser
        .screenshot(&artifacts().join("connect-embedded.png"))
        .await
        .expect("a screenshot");
    let messages = browser
        .eval("window.__messages")
        .await
        .expect("the messages");
    assert_eq!(
        messages,
        json!([{"origin": app.base, "data": {"type": "tenantry.connect",
            "status": "authorized", "connection_id": id}}]),
        "one message, from the app's origin, to the partner's"
    );
    let done = app
        .get(&tenant.owner_key, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(done.body["state"], "authorized", "{}", done.body);

    // A page on an origin the tenant does not list: the browser refuses the frame.
    let other = app
        .post(
            &tenant.member_key,
            "/v1/connect-sessions",
            json!({"customer_id": c, "connector": "crm"}),
        )
        .await;
    let other_url = other.body["url"].as_str().expect("a url").to_owned();
    browser
        .navigate(&framed(&stranger, &other_url))
        .await
        .expect("navigates");
    browser
        .wait_for(&format!("location.href.startsWith('{stranger}')"))
        .await
        .expect("the stranger's page");
    let mut refused = false;
    for _ in 0..100 {
        let frames = browser.frames().await.expect("the frames");
        if frames.iter().any(|(_, u)| u.starts_with("chrome-error://")) {
            refused = true;
            break;
        }
        assert!(
            !frames.iter().any(|(_, u)| u.contains("/connect/")),
            "the connect page loaded in a frame the tenant does not allow: {frames:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "the frame was refused");
}

/// A support session that needs the customer's approval: its admin opens the emailed
/// link in Chromium, reads who asks and why on the tenant's page, and approves. The
/// session's token then acts (its changes recorded under both names, listed for the
/// admin), and is refused at once when its time is up; another session ended early
/// is refused at once too.
#[tokio::test]
async fn a_customer_admin_approves_a_support_session_on_the_branded_page_in_chromium() {
    let clock = std::sync::Arc::new(TestClock::at(chrono::Utc::now()));
    let Some((chromium, app, tenant, _dir)) = branded_at(
        "harbor",
        json!({"product_name": "Harbor Desk", "logo_url": "https://cdn.harbor.example.com/logo.png",
            "primary_color": "#7c3aed", "accent_color": "#0ea5e9"}),
        Some(clock.clone()),
    )
    .await
    else {
        return;
    };
    let email = "ada@harbor-foods.example.com";
    let mut body = customer_body("Harbor Foods", email);
    body["admin"]["password"] = json!(PASSWORD);
    body["support_access"] = json!("approval");
    let c = app.post(&tenant.owner_key, "/v1/customers", body).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    assert_eq!(c.body["support_access"], "approval");
    let customer = c.field("id").to_owned();
    let admin_id = c.body["admin"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let staff = app
        .staff_token(
            &tenant.id,
            "harbor",
            "owner@harbor.example.com",
            "Staff$ecret-42",
        )
        .await;
    let member_id = app.get(&staff, "/v1/me").await.body["member"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let started = app
        .post(
            &staff,
            &format!("/v1/customers/{customer}/support-sessions"),
            json!({"reason": "Import the price list from ticket 88", "minutes": 15}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    assert_eq!(started.body["status"], "pending_approval");
    let token = started.field("token").to_owned();
    let session = started.field("id").to_owned();
    // Nothing acts before the admin says yes.
    assert_eq!(
        app.get(&token, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let link = tenantry_tests::app::pending_link_token(
        &app.deps,
        &tenant.id,
        email,
        "support_session_approval",
    )
    .await
    .expect("the approval link");

    let mut browser = Browser::launch(&chromium).await.expect("chromium starts");
    browser
        .navigate(&format!("{}/t/harbor/support/{link}", app.base))
        .await
        .expect("navigates");
    browser
        .wait_for("document.querySelector('#approve')")
        .await
        .expect("the approval form");
    let seen = browser
        .eval(
            "({ title: document.title,
                header: getComputedStyle(document.querySelector('header')).backgroundColor,
                ask: document.querySelector('#ask').innerText,
                reason: document.querySelector('#reason').innerText })",
        )
        .await
        .expect("the page's DOM");
    assert_eq!(
        seen["header"], "rgb(124, 58, 237)",
        "primary colour #7c3aed"
    );
    let ask = seen["ask"].as_str().unwrap_or_default();
    assert!(
        ask.contains("Olive Owner") && ask.contains("Harbor Foods") && ask.contains("15 minutes"),
        "{ask}"
    );
    assert_eq!(seen["reason"], "Import the price list from ticket 88");
    let _ = std::fs::create_dir_all(artifacts());
    let _ = browser
        .screenshot(&artifacts().join("support-approval.png"))
        .await;
    browser
        .eval("document.querySelector('#approve').click(); true")
        .await
        .expect("clicks approve");
    browser
        .wait_for("document.querySelector('#approved')")
        .await
        .expect("the approval's answer");

    // Approved: the token acts as the admin, each change under both names.
    assert_eq!(app.get(&token, "/v1/me").await.status, StatusCode::OK);
    let r = app
        .put(
            &token,
            &format!("/v1/customers/{customer}/features"),
            json!({"features": {"reports": false}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let log = app
        .get(
            &tenant.owner_key,
            &format!("/v1/audit-events?customer_id={customer}&action=customer_features.updated"),
        )
        .await;
    let e = &log.body["data"][0];
    assert_eq!(
        e["actor"],
        json!({"kind": "member", "id": member_id}),
        "{e}"
    );
    assert_eq!(
        e["on_behalf_of"],
        json!({"kind": "customer_user", "id": admin_id})
    );
    assert_eq!(e["support_session_id"], json!(session));
    let approved = app
        .get(
            &tenant.owner_key,
            &format!("/v1/audit-events?customer_id={customer}&action=support_session.approved"),
        )
        .await;
    assert_eq!(
        approved.body["data"][0]["actor"],
        json!({"kind": "customer_user", "id": admin_id})
    );
    // The admin's view lists it, with what was done and its grant.
    let admin = app
        .post(
            "",
            "/t/harbor/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .field("access_token")
        .to_owned();
    let mine = app.get(&admin, "/v1/me/support-sessions").await;
    let s = &mine.body["data"][0];
    assert_eq!(s["status"], "active", "{}", mine.body);
    assert_eq!(s["claims"]["may_act"]["sub"], json!(admin_id));
    assert_eq!(s["actions"][0]["action"], "customer_features.updated");
    // The link is used up.
    browser
        .navigate(&format!("{}/t/harbor/support/{link}", app.base))
        .await
        .expect("navigates");
    browser
        .wait_for("document.querySelector('#link-expired')")
        .await
        .expect("a used link");

    // Its time runs out: refused at once.
    clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        app.get(&token, "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let mine = app.get(&admin, "/v1/me/support-sessions").await;
    assert_eq!(mine.body["data"][0]["status"], "expired");
}
