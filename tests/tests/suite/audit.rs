//! The audit log over HTTP (the local server, embedded store and logins):
//!
//! - staff changes, sign-ins (good and bad) and a customer admin's own changes are
//!   listed newest first, each naming its actor, target, customer and request;
//! - filters by action (exact or prefix), actor, target, customer and period; cursors
//!   page through without loss or repeat, and a cursor of another listing is refused;
//! - a customer's admin sees its own company's events only; its users, another
//!   tenant's staff and a customer's admin reading the tenant log see nothing;
//! - the operator reads a tenant's log, and its own platform log on `/v1/audit-events`;
//! - `format=ndjson` and `format=csv` stream the same events as the listing;
//! - an event expires after the tenant's retention (400 days, or the operator's).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_tests::app::{Resp, TestApp, TestTenant, spawn_app_with_logins};

const PASSWORD: &str = "Sup3r$ecret!";

async fn sign_in(app: &TestApp, slug: &str, email: &str, password: &str) -> Resp {
    app.send(
        Method::POST,
        "",
        &format!("/t/{slug}/login"),
        Some(json!({"email": email, "password": password})),
        &[("user-agent", "audit-test/1.0")],
    )
    .await
}

/// A customer whose admin signs in: (customer id, admin's user id, admin's token).
async fn customer(app: &TestApp, t: &TestTenant, name: &str) -> (String, String, String) {
    app.customer_signed_in(t, name, PASSWORD).await
}

/// Every event of a listing, page by page (`limit` each), newest first.
async fn all_pages(app: &TestApp, key: &str, path: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let r = app.get(key, &url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
        let data = r.body["data"].as_array().cloned().unwrap_or_default();
        assert!(data.len() <= limit);
        out.extend(data);
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn changes_and_sign_ins_are_listed_filtered_paged_exported_and_kept_apart() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("audit-a").await;
    let other = app.new_tenant("audit-b").await;
    let (x, x_admin_id, x_admin) = customer(&app, &t, "Xenon").await;
    let (y, _, y_admin) = customer(&app, &t, "Yarrow").await;
    let (_, _, z_admin) = customer(&app, &other, "Zinc").await;

    let bad = sign_in(&app, &t.slug, "admin@xenon.example.com", "wrong-password-1").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{}", bad.body);
    let s = app
        .send(
            Method::POST,
            &t.owner_key,
            &format!("/v1/customers/{x}/suspend"),
            None,
            &[("user-agent", "audit-test/1.0")],
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    let request_id = s.headers["x-request-id"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let r = app
        .post(
            &t.member_key,
            &format!("/v1/customers/{y}/deactivate"),
            json!({}),
        )
        .await;
    // A member may not deactivate customers: refused, and nothing recorded.
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // The tenant's log, newest first: every change once, the refusal not at all.
    let log = all_pages(&app, &t.owner_key, "/v1/audit-events", 100).await;
    let names = actions(&log);
    assert_eq!(names.first(), Some(&"customer.suspended"), "{names:?}");
    for a in ["customer.created", "sign_in.succeeded", "sign_in.failed"] {
        assert!(names.contains(&a), "{a} missing from {names:?}");
    }
    assert!(!names.contains(&"customer.deactivated"), "{names:?}");
    assert_eq!(
        names.iter().filter(|a| **a == "customer.created").count(),
        2
    );
    let times: Vec<&str> = log
        .iter()
        .map(|e| e["at"].as_str().unwrap_or_default())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let suspended = &log[0];
    assert_eq!(suspended["actor"]["kind"], "api_key");
    assert_eq!(suspended["target"], json!({"type": "customer", "id": x}));
    assert_eq!(suspended["customer_id"], json!(x));
    assert_eq!(suspended["request_id"], json!(request_id));
    assert_eq!(suspended["user_agent"], json!("audit-test/1.0"));
    assert!(
        suspended["changes"]
            .as_array()
            .is_some_and(|c| c.contains(&json!({"field": "status", "value": "suspended"}))),
        "{suspended}"
    );
    let failed = log
        .iter()
        .find(|e| e["action"] == "sign_in.failed")
        .expect("the failed sign-in");
    assert_eq!(failed["actor"]["kind"], "anonymous");
    assert!(
        !failed.to_string().contains("xenon.example.com"),
        "{failed}"
    );
    let signed = log
        .iter()
        .find(|e| e["action"] == "sign_in.succeeded")
        .expect("a sign-in");
    assert_eq!(signed["actor"]["kind"], "customer_user");
    // Nothing in the log is personal or secret.
    let text = serde_json::to_string(&log).unwrap_or_default();
    for secret in [
        PASSWORD,
        "wrong-password-1",
        &t.owner_key,
        "@xenon.example.com",
    ] {
        assert!(!text.contains(secret), "the log holds {secret}");
    }

    // Pages of every size give the same events, each once.
    for limit in [1, 3] {
        assert_eq!(
            all_pages(&app, &t.owner_key, "/v1/audit-events", limit).await,
            log
        );
    }
    // Filters.
    let (app_ref, key) = (&app, t.owner_key.as_str());
    let only = |path: String| async move { all_pages(app_ref, key, &path, 100).await };
    let by_action = only("/v1/audit-events?action=customer.suspended".into()).await;
    assert_eq!(actions(&by_action), ["customer.suspended"]);
    let by_prefix = only("/v1/audit-events?action=sign_in.".into()).await;
    assert!(
        !by_prefix.is_empty()
            && actions(&by_prefix)
                .iter()
                .all(|a| a.starts_with("sign_in."))
    );
    let of_x = only(format!("/v1/audit-events?customer_id={x}")).await;
    assert!(of_x.iter().all(|e| e["customer_id"] == json!(x)));
    assert!(actions(&of_x).contains(&"customer.suspended"));
    let by_actor = only(format!("/v1/audit-events?actor={x_admin_id}")).await;
    assert!(
        !by_actor.is_empty()
            && by_actor
                .iter()
                .all(|e| e["actor"]["id"] == json!(x_admin_id))
    );
    let on_y = only(format!("/v1/audit-events?target={y}")).await;
    assert_eq!(actions(&on_y), ["customer.created"]);
    let future =
        only("/v1/audit-events?since=2099-01-01T00:00:00Z&until=2099-02-01T00:00:00Z".into()).await;
    assert!(future.is_empty());
    for bad in [
        "/v1/audit-events?since=yesterday",
        "/v1/audit-events?since=2020-01-01T00:00:00Z",
        "/v1/audit-events?customer_id=nope",
        "/v1/audit-events?format=xml",
        "/v1/audit-events?cursor=abc",
    ] {
        let r = app.get(&t.owner_key, bad).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    // A cursor of the customer's history is not one of the tenant's log.
    let page = app
        .get(
            &t.owner_key,
            &format!("/v1/audit-events?customer_id={x}&limit=1"),
        )
        .await;
    let cursor = page.body["next_cursor"].as_str().expect("a second page");
    let r = app
        .get(
            &t.owner_key,
            &format!("/v1/audit-events?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // A suspended customer's admin reads nothing any more.
    let r = app.get(&x_admin, "/v1/me/audit-events").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    // Another customer's admin: its own company's history, whatever it asks for.
    let mine = all_pages(&app, &y_admin, "/v1/me/audit-events", 100).await;
    assert!(actions(&mine).contains(&"customer.created"), "{mine:?}");
    assert!(actions(&mine).contains(&"sign_in.succeeded"), "{mine:?}");
    assert!(
        mine.iter().all(|e| e["customer_id"] == json!(y)),
        "{mine:?}"
    );
    let asked = all_pages(
        &app,
        &y_admin,
        &format!("/v1/me/audit-events?customer_id={x}"),
        100,
    )
    .await;
    assert_eq!(asked, mine);
    // ...and never the tenant's log, nor another tenant's staff theirs.
    assert_eq!(
        app.get(&y_admin, "/v1/audit-events").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&z_admin, "/v1/audit-events").await.status,
        StatusCode::NOT_FOUND
    );
    let theirs = all_pages(&app, &other.owner_key, "/v1/audit-events", 100).await;
    assert!(!theirs.is_empty());
    let their_text = serde_json::to_string(&theirs).unwrap_or_default();
    assert!(
        !their_text.contains(&x) && !their_text.contains(&y),
        "another tenant's events"
    );
    let cross = app
        .get(
            &other.owner_key,
            &format!("/v1/audit-events?customer_id={x}"),
        )
        .await;
    assert_eq!(cross.status, StatusCode::OK);
    assert_eq!(cross.body["data"], json!([]));
    // Staff keys cannot read it as the operator does.
    let r = app
        .get(
            &t.owner_key,
            &format!("/v1/tenants/{}/audit-events", other.id),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // The operator: a tenant's log, and its own (the tenants it created, its keys).
    let operator_view = all_pages(
        &app,
        &app.admin_key,
        &format!("/v1/tenants/{}/audit-events", t.id),
        100,
    )
    .await;
    assert_eq!(operator_view, log);
    let missing = app
        .get(
            &app.admin_key,
            "/v1/tenants/ten_0197b2a7f3b27e5d8c6f708192a3b4c5/audit-events",
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let platform = app.get(&app.admin_key, "/v1/audit-events").await;
    assert_eq!(platform.status, StatusCode::OK, "{}", platform.body);
    assert!(!platform.body.to_string().contains(&x));

    // Exports: the same events, streamed.
    let nd = app
        .send(
            Method::GET,
            &t.owner_key,
            "/v1/audit-events?format=ndjson",
            None,
            &[],
        )
        .await;
    assert_eq!(nd.status, StatusCode::OK);
    assert_eq!(nd.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = String::from_utf8_lossy(&nd.raw)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines, log);
    let csv = app
        .send(
            Method::GET,
            &t.owner_key,
            "/v1/audit-events?format=csv",
            None,
            &[],
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let csv_text = String::from_utf8_lossy(&csv.raw).into_owned();
    let mut rows = csv_text.lines();
    assert!(
        rows.next()
            .is_some_and(|h| h.starts_with("id,at,actor_kind,actor_id"))
    );
    let ids: Vec<&str> = rows
        .map(|r| r.split(',').next().unwrap_or_default())
        .collect();
    let expected: Vec<&str> = log
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, expected);
    let mine_csv = app
        .send(
            Method::GET,
            &y_admin,
            "/v1/me/audit-events?format=ndjson",
            None,
            &[],
        )
        .await;
    assert_eq!(
        String::from_utf8_lossy(&mine_csv.raw).lines().count(),
        mine.len()
    );
}

/// An event's expiry (the table's TTL) is the tenant's retention after it: 400 days
/// unless the operator sets another, which applies to events written after it.
#[tokio::test]
async fn events_expire_after_the_tenants_retention() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("audit-keep").await;
    let expiry_of = |action: &str| {
        let items = app.all_items();
        let item = items
            .iter()
            .filter(|i| {
                tenantry::store::keys::is_audit_partition(&i.pk)
                    && i.data["action"] == json!(action)
            })
            .max_by_key(|i| i.sk.clone())
            .unwrap_or_else(|| panic!("an event {action}"))
            .clone();
        let at: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(item.data["at"].clone()).expect("its time");
        (item.expires_at.expect("an expiry") - at.timestamp()) / 86_400
    };
    app.new_customer(&t.owner_key, "First", "a@first.example.com")
        .await;
    assert_eq!(expiry_of("customer.created"), 400);
    let r = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{}", t.id),
            json!({"audit_retention_days": 90}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["audit_retention_days"], 90);
    app.new_customer(&t.owner_key, "Second", "a@second.example.com")
        .await;
    assert_eq!(expiry_of("customer.created"), 90);
    let r = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{}", t.id),
            json!({"audit_retention_days": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.error_fields()
            .contains(&"audit_retention_days".to_owned())
    );
}
