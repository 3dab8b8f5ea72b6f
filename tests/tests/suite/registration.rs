//! Self-registration at a tenant's registration page, through the API's JSON routes:
//!
//! - only where the operator switched it on in the tenant's branding (404 elsewhere);
//! - the code goes out by email (outbox), stored hashed on the registration, dropped from
//!   the email once it is sent; the email is in the tenant's branding and replies go to its
//!   support address;
//! - a wrong code, a voided registration (too many wrong codes) and a used code fail with
//!   one answer; a weak password costs no attempt; a second code waits a minute;
//! - the right code creates the customer with the registrant as its admin, who signs in;
//! - a code of one tenant is nothing at another.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::adapters::embedded::FileMailer;
use tenantry::service::mail::{self, MailSettings};
use tenantry_tests::app::{TestApp, TestTenant, pending_registration_code, spawn_app_with_logins};

const PASSWORD: &str = "Regi$ter123";

async fn open_registration(app: &TestApp, t: &TestTenant) {
    let r = app
        .send(
            Method::PUT,
            &app.admin_key,
            &format!("/v1/tenants/{}/branding", t.id),
            Some(json!({
                "product_name": format!("{} Cloud", t.slug),
                "primary_color": "#0b6e4f",
                "support_email": format!("help@{}.example.com", t.slug),
                "registration_enabled": true
            })),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

async fn public(app: &TestApp, path: &str, body: Value) -> tenantry_tests::app::Resp {
    app.send(Method::POST, "", path, Some(body), &[]).await
}

fn details(email: &str) -> Value {
    json!({"company_name": "Quill & Ink Ltd", "first_name": "Quentin", "last_name": "Quill", "email": email})
}

#[tokio::test]
async fn registering_with_the_emailed_code_creates_the_customer_whose_admin_signs_in() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("quillco").await;

    // Closed until the operator opens it.
    assert_eq!(
        app.get("", "/t/quillco/register").await.status,
        StatusCode::NOT_FOUND
    );
    let closed = public(&app, "/t/quillco/register", details("q@quill.example.com")).await;
    assert_eq!(closed.status, StatusCode::NOT_FOUND, "{}", closed.body);
    open_registration(&app, &t).await;

    // Bad details name their fields, in the registration's own names.
    let bad = public(
        &app,
        "/t/quillco/register",
        json!({"company_name": "", "first_name": "Q", "last_name": "Q", "email": "not-an-email"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["company_name", "email"], "{}", bad.body);

    let email = "q@quill.example.com";
    let started = public(&app, "/t/quillco/register", details(email)).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.body["status"], "code_sent");
    let code = pending_registration_code(&app.deps, &t.id, email)
        .await
        .expect("the code waits in the outbox");
    assert_eq!(code.len(), 6, "{code}");
    // The registration holds a hash, never the code.
    let registration: Vec<_> = app
        .all_items()
        .into_iter()
        .filter(|i| i.sk.starts_with("REGISTRATION#"))
        .collect();
    assert_eq!(registration.len(), 1);
    assert!(registration[0].pk.starts_with(&format!("T#{}", t.id)));
    assert!(
        !serde_json::to_string(&registration[0].data)
            .unwrap()
            .contains(&code)
    );

    // A second code for the same email waits a minute.
    let again = public(&app, "/t/quillco/register", details(email)).await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.body
    );
    assert!(again.headers.contains_key("retry-after"));

    let verify = async |code: &str, password: &str| {
        public(
            &app,
            "/t/quillco/register/verify",
            json!({"email": email, "code": code, "password": password}),
        )
        .await
    };
    let wrong_code = if code == "000000" { "000001" } else { "000000" };
    let wrong = verify(wrong_code, PASSWORD).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert_eq!(wrong.error_fields(), ["code"]);
    // A weak password is refused before the code is looked at: no attempt spent.
    for _ in 0..6 {
        let weak = verify(&code, "short").await;
        assert_eq!(weak.error_fields(), ["password"], "{}", weak.body);
    }

    let done = verify(&code, PASSWORD).await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    let customer_id = done.field("customer_id").to_owned();
    let c = app
        .get(&t.owner_key, &format!("/v1/customers/{customer_id}"))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert_eq!(c.body["company"]["name"], "Quill & Ink Ltd");
    assert_eq!(c.body["admin"]["email"], email);
    assert_eq!(c.body["status"], "active");

    // The registrant signs in with the password chosen at verification.
    let signed = public(
        &app,
        "/t/quillco/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    let me = app.get(signed.field("access_token"), "/v1/me").await;
    assert_eq!(
        me.body["customer"]["id"],
        customer_id.as_str(),
        "{}",
        me.body
    );

    // The code is used up; the registration is gone.
    assert_eq!(verify(&code, PASSWORD).await.error_fields(), ["code"]);
    assert!(
        !app.all_items()
            .iter()
            .any(|i| i.sk.starts_with("REGISTRATION#"))
    );

    // Registering the same email again reaches the verification, which says it is taken.
    let dup = public(&app, "/t/quillco/register", details(email)).await;
    assert_eq!(dup.status, StatusCode::ACCEPTED, "{}", dup.body);
    let code = pending_registration_code(&app.deps, &t.id, email)
        .await
        .expect("a new code");
    let taken = verify(&code, PASSWORD).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(taken.body["field"], "email", "{}", taken.body);
}

#[tokio::test]
async fn wrong_codes_void_the_registration_and_codes_stay_in_their_tenant() {
    let (app, _dir) = spawn_app_with_logins().await;
    let a = app.new_tenant("regalpha").await;
    let b = app.new_tenant("regbeta").await;
    open_registration(&app, &a).await;
    open_registration(&app, &b).await;
    let email = "v@void.example.com";
    let started = public(&app, "/t/regalpha/register", details(email)).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let code = pending_registration_code(&app.deps, &a.id, email)
        .await
        .expect("a code");

    // A's code at B: nothing is pending there.
    let elsewhere = public(
        &app,
        "/t/regbeta/register/verify",
        json!({"email": email, "code": code, "password": PASSWORD}),
    )
    .await;
    assert_eq!(elsewhere.error_fields(), ["code"], "{}", elsewhere.body);

    let wrong_code = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..tenantry::service::registration::MAX_CODE_ATTEMPTS {
        let r = public(
            &app,
            "/t/regalpha/register/verify",
            json!({"email": email, "code": wrong_code, "password": PASSWORD}),
        )
        .await;
        assert_eq!(r.error_fields(), ["code"], "{}", r.body);
    }
    // Voided: the right code no longer works.
    let late = public(
        &app,
        "/t/regalpha/register/verify",
        json!({"email": email, "code": code, "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        late.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        late.body
    );
    let list = app.get(&a.owner_key, "/v1/customers").await;
    assert_eq!(
        list.body["data"].as_array().map(Vec::len),
        Some(0),
        "{}",
        list.body
    );
}

#[tokio::test]
async fn the_code_email_is_branded_replies_to_support_and_forgets_the_code_once_sent() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("inkwell").await;
    open_registration(&app, &t).await;
    let email = "mail@inkwell-customer.example.com";
    let r = public(&app, "/t/inkwell/register", details(email)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let code = pending_registration_code(&app.deps, &t.id, email)
        .await
        .expect("a code");

    let dir = tempfile::tempdir().expect("a temp dir");
    let mailer = FileMailer::new(dir.path()).expect("mail dir");
    let settings = MailSettings {
        sender_domain: "mail.tenantry.test".into(),
        public_url: "https://app.tenantry.test".into(),
    };
    let report = mail::deliver_due(&app.deps, &mailer, &settings)
        .await
        .expect("delivery");
    assert!(report.sent >= 1, "{report:?}");
    let emls: Vec<String> = std::fs::read_dir(dir.path())
        .expect("the mail dir")
        .map(|e| std::fs::read_to_string(e.expect("an entry").path()).expect("an .eml"))
        .filter(|text| text.contains(&format!("To: {email}")))
        .collect();
    assert_eq!(emls.len(), 1, "{emls:?}");
    let eml = &emls[0];
    assert!(eml.contains(&code), "the code is in the email: {eml}");
    // Nothing the registrant typed: the form cannot carry text to someone else's inbox.
    for typed in ["Quentin", "Quill"] {
        assert!(!eml.contains(typed), "{typed} in the code email: {eml}");
    }
    assert!(
        eml.contains("inkwell Cloud"),
        "the tenant's product name: {eml}"
    );
    assert!(eml.contains("#0b6e4f"), "the tenant's colour: {eml}");
    assert!(
        eml.contains("Reply-To: help@inkwell.example.com"),
        "replies go to the tenant's support address: {eml}"
    );
    assert!(
        eml.contains("From: \"inkwell Cloud\" <no-reply@mail.tenantry.test>"),
        "sent in the tenant's product name: {eml}"
    );
    // Sent: the stored email no longer holds the code.
    assert_eq!(
        pending_registration_code(&app.deps, &t.id, email).await,
        None
    );
    let stored = app
        .all_items()
        .into_iter()
        .filter(|i| i.data.get("template").and_then(Value::as_str) == Some("registration_code"))
        .collect::<Vec<_>>();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].data["state"], "sent");
    assert!(
        !serde_json::to_string(&stored[0].data)
            .unwrap()
            .contains(&code)
    );
}

use tenantry_tests::app::TestClock;

#[tokio::test]
async fn a_new_code_does_not_buy_more_guesses_until_the_registration_lapses() {
    use tenantry::service::registration::{self, Registration, Verification};
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("guesses").await;
    open_registration(&app, &t).await;
    let clock = Arc::new(TestClock(std::sync::Mutex::new(chrono::Utc::now())));
    let deps = app.deps.clone().with_clock(clock.clone());
    let email = "g@guess.example.com";
    let body = Registration {
        company_name: Some("Guess Co".into()),
        first_name: Some("G".into()),
        last_name: Some("Uess".into()),
        email: Some(email.into()),
    };
    let verify = async |code: &str| {
        registration::verify(
            &deps,
            "guesses",
            &Verification {
                email: Some(email.into()),
                code: Some(code.into()),
                password: Some(PASSWORD.into()),
            },
        )
        .await
    };
    let advance = |secs: i64| *clock.0.lock().expect("clock") += chrono::Duration::seconds(secs);
    // A refusal of the code itself (not of anything else in the request).
    let refused = |r: Result<registration::Registered, tenantry::error::Error>| match r {
        Err(tenantry::error::Error::Invalid(f)) => f.len() == 1 && f[0].field == "code",
        _ => false,
    };

    registration::start(&deps, "guesses", &body, None)
        .await
        .expect("a code");
    let first = pending_registration_code(&deps, &t.id, email)
        .await
        .expect("code");
    let wrong = if first == "000000" {
        "000001"
    } else {
        "000000"
    };
    for _ in 0..3 {
        assert!(refused(verify(wrong).await));
    }
    advance(61);
    registration::start(&deps, "guesses", &body, None)
        .await
        .expect("a second code");
    let second = pending_registration_code(&deps, &t.id, email)
        .await
        .expect("code");
    let wrong = if second == "000000" {
        "000001"
    } else {
        "000000"
    };
    for _ in 0..2 {
        assert!(refused(verify(wrong).await));
    }
    // Five wrong codes in all: even the right one is refused now.
    assert!(refused(verify(&second).await), "the registration is void");
    // A void registration sends no new code, and asking does not keep it alive: the
    // wait is until it lapses, 30 minutes after its last code.
    advance(61);
    match registration::start(&deps, "guesses", &body, None).await {
        Err(tenantry::error::Error::Throttled {
            retry_after_seconds,
        }) => assert_eq!(
            retry_after_seconds,
            (registration::CODE_MINUTES * 60 - 61) as u64
        ),
        other => panic!("a void registration must wait for its lapse: {other:?}"),
    }
    let newest = pending_registration_code(&deps, &t.id, email).await;
    assert_eq!(
        newest.as_deref(),
        Some(second.as_str()),
        "no new code mailed"
    );

    // Once it lapses, a new registration starts from zero.
    advance(registration::CODE_MINUTES * 60 + 1);
    registration::start(&deps, "guesses", &body, None)
        .await
        .expect("a fresh code");
    let fresh = pending_registration_code(&deps, &t.id, email)
        .await
        .expect("code");
    let done = verify(&fresh).await.expect("registered");
    assert_eq!(done.status, "registered");
}

#[tokio::test]
async fn one_source_may_start_twenty_registrations_an_hour_at_one_tenant() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("busyreg").await;
    open_registration(&app, &t).await;
    for i in 0..tenantry::service::throttle::PER_SOURCE.max {
        let r = public(
            &app,
            "/t/busyreg/register",
            details(&format!("r{i}@busy.example.com")),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{i}: {}", r.body);
    }
    let r = public(
        &app,
        "/t/busyreg/register",
        details("more@busy.example.com"),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());
}
