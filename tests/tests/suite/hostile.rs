//! Hostile input a fuzzer rarely builds: deep nesting, NUL bytes, invalid UTF-8, huge
//! bodies, markup and script in every field that reaches a page or an email, URLs and
//! CSS in branding, one tenant's cursor in another's hands, and ids of one kind where
//! another is expected. None may cause a 5xx, and nothing may come out unescaped.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::adapters::embedded::FileMailer;
use tenantry::service::mail::{self, MailSettings};
use tenantry_tests::app::{TestApp, customer_body, spawn_app};

/// Sends raw bytes as a JSON body; the status.
async fn raw(app: &TestApp, key: &str, path: &str, body: Vec<u8>) -> StatusCode {
    app.http
        .post(format!("{}{path}", app.base))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent")
        .status()
}

#[tokio::test]
async fn deep_nesting_nul_bytes_invalid_utf8_and_huge_bodies_are_refused_cleanly() {
    let app = spawn_app().await;
    let t = app.new_tenant("hostile").await;
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "10,000 nested arrays",
            deep_array.into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "10,000 nested objects",
            deep_object.into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a raw NUL byte",
            b"{\"company\": {\"name\": \"Ac\x00me\"}}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8",
            b"{\"company\": {\"name\": \"Ac\xff\xfeme\"}}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an escaped NUL in a name",
            serde_json::to_vec(&customer_body("Ac\u{0}me", "nul@hostile.example.com"))
                .expect("json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "5 MB",
            format!(
                "{{\"company\": {{\"name\": \"{}\"}}}}",
                "a".repeat(5_000_000)
            )
            .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, body, want) in cases {
        assert_eq!(
            raw(&app, &t.owner_key, "/v1/customers", body).await,
            want,
            "{what}"
        );
    }
    // Still serving.
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn markup_in_every_field_that_reaches_a_page_or_an_email_comes_out_escaped() {
    let app = spawn_app().await;
    let t = app.new_tenant("markup").await;
    let script = "<script>alert(1)</script>";
    let branding = app
        .put(
            &app.admin_key,
            &format!("/v1/tenants/{}/branding", t.id),
            json!({"product_name": format!("Brand {script}"), "registration_enabled": true}),
        )
        .await;
    assert_eq!(branding.status, StatusCode::OK, "{}", branding.body);
    let mut body = customer_body(&format!("Co {script}"), "markup@markup.example.com");
    body["admin"]["first_name"] = json!("<img src=x onerror=alert(1)>");
    body["admin"]["last_name"] = json!("\"'><svg onload=alert(1)>");
    let c = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);

    // The pages: the product name, escaped.
    for page in ["login", "register", "password"] {
        let html = app
            .http
            .get(format!("{}/t/markup/{page}", app.base))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(!html.contains(script), "{page}: {html}");
        assert!(html.contains("&lt;script&gt;"), "{page}: escaped");
    }
    // The emails: the welcome names the company and the admin, escaped in its HTML.
    let dir = tempfile::tempdir().expect("dir");
    let mailer = FileMailer::new(dir.path()).expect("mailer");
    let settings = MailSettings {
        sender_domain: "mail.example.com".into(),
        public_url: "https://app.example.com".into(),
    };
    let sent = mail::deliver_due(&app.deps, &mailer, &settings)
        .await
        .expect("delivery");
    assert!(sent.sent >= 2, "{sent:?}");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir.path()).expect("outbox") {
        let eml = std::fs::read_to_string(entry.expect("file").path()).expect("eml");
        // The HTML part (the plain-text part shows the text as typed: it is no markup).
        let html = eml
            .split("Content-Type: text/html")
            .nth(1)
            .and_then(|rest| rest.split("\r\n--").next())
            .expect("an HTML part");
        let decoded = decode_quoted_printable(html);
        for raw in [script, "<img src=x", "<svg onload"] {
            assert!(!decoded.contains(raw), "{raw} unescaped in {decoded}");
        }
        // Read as text (not an encoding the check cannot see into): the markup is there,
        // escaped.
        assert!(decoded.contains("&lt;script&gt;"), "{decoded}");
        seen += 1;
    }
    assert!(seen >= 2);
}

/// Undoes quoted-printable soft breaks and `=XX` escapes, enough to read an HTML part.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn branding_refuses_script_and_data_urls_and_css_in_colours() {
    let app = spawn_app().await;
    let t = app.new_tenant("brand-attack").await;
    let path = format!("/v1/tenants/{}/branding", t.id);
    for (field, value) in [
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", "data:image/svg+xml;base64,PHN2Zy8+"),
        ("logo_url", "http://cdn.example.com/logo.png"),
        ("primary_color", "red;}body{display:none"),
        ("accent_color", "#fff\" onload=\"x"),
        ("support_email", "a@b.example.com\r\nBcc: x@example.com"),
    ] {
        let mut body = json!({"product_name": "Brand"});
        body[field] = Value::from(value);
        let r = app.put(&app.admin_key, &path, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}: {}",
            r.body
        );
        assert_eq!(r.error_fields(), [field], "{}", r.body);
    }
}

#[tokio::test]
async fn a_cursor_and_an_id_work_only_where_they_belong() {
    // Another tenant's cursor: `api::a_cursor_from_another_tenant_never_reads_across`.
    let app = spawn_app().await;
    let a = app.new_tenant("cursor-a").await;
    for i in 0..3 {
        app.new_customer(
            &a.owner_key,
            &format!("A Co {i}"),
            &format!("a{i}@a.example.com"),
        )
        .await;
    }
    let page = app.get(&a.owner_key, "/v1/customers?limit=1").await;
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    // Nor one listing's cursor another's.
    let r = app
        .get(
            &a.owner_key,
            &format!("/v1/members?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // An id of one kind where another is expected cannot exist: 404, before any read.
    let customer = app
        .new_customer(&a.owner_key, "Kinds Co", "kinds@a.example.com")
        .await;
    let user_of_it = customer.replacen("cus_", "usr_", 1);
    for path in [
        format!("/v1/customers/{user_of_it}"),
        format!("/v1/members/{customer}"),
        format!("/v1/customers/{customer}/users/{customer}"),
        format!("/v1/api-keys/{customer}"),
    ] {
        let r = if path.starts_with("/v1/api-keys") {
            app.delete(&a.owner_key, &path).await
        } else {
            app.get(&a.owner_key, &path).await
        };
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = app
        .get(&app.admin_key, &format!("/v1/tenants/{customer}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
