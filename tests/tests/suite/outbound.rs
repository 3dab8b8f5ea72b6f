//! Events to a tenant's webhook endpoints: signed (checked by a receiver written with
//! the PyPI `standardwebhooks` package), retried on the schedule until the receiver is
//! back (no event lost), every attempt listed, and an endpoint failing for days
//! disabled with its owners mailed. Endpoints are the owner's, and another tenant's are
//! out of reach.

use std::sync::Arc;

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::adapters::http::HttpSender;
use tenantry::service::events;
use tenantry_tests::app::{TestApp, TestClock, spawn_app, spawn_app_with};
use tenantry_tests::receiver::Receiver;

async fn app_with_clock() -> (TestApp, Arc<TestClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a folder");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("t.redb")).expect("a store"));
    // Four minutes behind: the receiver checks each delivery's timestamp against its
    // own clock (five minutes of tolerance), and the test moves this one five minutes on.
    let clock = Arc::new(TestClock::at(chrono::Utc::now() - Duration::minutes(4)));
    let app = spawn_app_with(tenantry::Deps::new(store).with_clock(clock.clone())).await;
    (app, clock, dir)
}

/// Sweeps until nothing is due now; the report of all sweeps together.
async fn sweep(app: &TestApp) -> events::SendReport {
    let sender = HttpSender::allowing_loopback();
    let mut total = events::SendReport::default();
    loop {
        let r = events::deliver_due(&app.deps, &sender)
            .await
            .expect("a sweep");
        if r.due == 0 {
            return total;
        }
        total.due += r.due;
        total.delivered += r.delivered;
        total.failed_attempts += r.failed_attempts;
        total.given_up += r.given_up;
        total.errors += r.errors;
    }
}

#[tokio::test]
async fn a_receiver_that_fails_for_a_while_gets_every_event_once_it_is_back() {
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let (app, clock, _dir) = app_with_clock().await;
    let t = app.new_tenant("flakyrx").await;
    let e = app
        .post(
            &t.owner_key,
            "/v1/webhook-endpoints",
            json!({"url": rx.url}),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
    rx.set_secret(e.field("secret"));
    let id = e.field("id").to_owned();

    // The receiver is down: five test events fail their first tries.
    rx.set_failing(true);
    let mut sent = Vec::new();
    for _ in 0..5 {
        let r = app
            .post(
                &t.owner_key,
                &format!("/v1/webhook-endpoints/{id}/test"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        sent.push(r.field("message_id").to_owned());
    }
    assert_eq!(sweep(&app).await.failed_attempts, 5);
    clock.advance(Duration::seconds(5));
    assert_eq!(
        sweep(&app).await.failed_attempts,
        5,
        "the second try, 5 s later"
    );
    clock.advance(Duration::seconds(299));
    assert_eq!(sweep(&app).await.due, 0, "the third try waits five minutes");
    let g = app
        .get(&t.owner_key, &format!("/v1/webhook-endpoints/{id}"))
        .await;
    assert!(g.body["failing_since"].is_string(), "{}", g.body);

    // Back: the next tries deliver every event, each signed and verified.
    rx.set_failing(false);
    clock.advance(Duration::seconds(1));
    let back = sweep(&app).await;
    assert_eq!(back.delivered, 5, "{back:?}");
    let log = rx.log();
    let ok: Vec<&str> = log
        .iter()
        .filter(|e| e["verified"] == true)
        .filter_map(|e| e["id"].as_str())
        .collect();
    let mut expected: Vec<&str> = sent.iter().map(String::as_str).collect();
    let mut got = ok.clone();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected, "every event, once");
    assert_eq!(log.iter().filter(|e| e["failed"] == true).count(), 10);
    // Nothing is due any more; the endpoint is healthy again.
    clock.advance(Duration::days(2));
    assert_eq!(sweep(&app).await.due, 0);
    let g = app
        .get(&t.owner_key, &format!("/v1/webhook-endpoints/{id}"))
        .await;
    assert!(g.body.get("failing_since").is_none(), "{}", g.body);

    // Every attempt is listed: three per event, the last one a success.
    let a = app
        .get(
            &t.owner_key,
            &format!("/v1/webhook-endpoints/{id}/attempts?limit=100"),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let attempts = a.body["data"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 15);
    assert_eq!(
        attempts.iter().filter(|x| x["succeeded"] == true).count(),
        5
    );
    let failed = attempts
        .iter()
        .find(|x| x["succeeded"] == false)
        .expect("a failure");
    assert_eq!(failed["status"], 500);
    assert_eq!(failed["response"], "down for maintenance");
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_and_its_owner_mailed() {
    let (app, clock, _dir) = app_with_clock().await;
    let t = app.new_tenant("deadrx").await;
    // Nothing listens there: every try fails to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let e = app
        .post(
            &t.owner_key,
            "/v1/webhook-endpoints",
            json!({"url": format!("http://127.0.0.1:{port}/gone")}),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
    let id = e.field("id").to_owned();
    // An event a day, each tried on the schedule.
    for day in 0..6 {
        app.post(
            &t.owner_key,
            &format!("/v1/webhook-endpoints/{id}/test"),
            json!({}),
        )
        .await;
        for _ in 0..24 {
            sweep(&app).await;
            clock.advance(Duration::hours(1));
        }
        let g = app
            .get(&t.owner_key, &format!("/v1/webhook-endpoints/{id}"))
            .await;
        if day < 4 {
            assert_eq!(g.body["enabled"], true, "day {day}: {}", g.body);
        }
    }
    let g = app
        .get(&t.owner_key, &format!("/v1/webhook-endpoints/{id}"))
        .await;
    assert_eq!(g.body["enabled"], false, "{}", g.body);
    assert!(
        g.body["disabled_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("5 days"),
        "{}",
        g.body
    );
    // The tenant's owner is told.
    let mail = tenantry_tests::app::pending_email_value(
        &app.deps,
        &t.id,
        "owner@deadrx.example.com",
        "webhook_endpoint_disabled",
        "endpoint_id",
    )
    .await;
    assert_eq!(mail.as_deref(), Some(id.as_str()));
    // Enabled again, it starts afresh.
    let on = app
        .patch(
            &t.owner_key,
            &format!("/v1/webhook-endpoints/{id}"),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(on.body["enabled"], true, "{}", on.body);
    assert!(on.body.get("failing_since").is_none());
}

#[tokio::test]
async fn endpoints_are_checked_owned_and_out_of_another_tenants_reach() {
    let app = spawn_app().await;
    let a = app.new_tenant("outa").await;
    let b = app.new_tenant("outb").await;
    for (body, field) in [
        (json!({}), "url"),
        (json!({"url": "ftp://partner.example.com/x"}), "url"),
        (
            json!({"url": "https://user:pw@partner.example.com/x"}),
            "url",
        ),
        (json!({"url": "not a url"}), "url"),
        (
            json!({"url": "https://partner.example.com/x", "event_types": ["customer.exploded"]}),
            "event_types[0]",
        ),
    ] {
        let r = app.post(&a.owner_key, "/v1/webhook-endpoints", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.error_fields(), [field], "{}", r.body);
    }
    let made = app
        .post(
            &a.owner_key,
            "/v1/webhook-endpoints",
            json!({"url": "https://partner.example.com/hooks", "event_types": ["provisioning.failed"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.field("id").to_owned();
    let secret = made.field("secret").trim_start_matches("whsec_").to_owned();
    for item in app.all_items() {
        let text = serde_json::to_string(&item.data).unwrap();
        assert!(
            !text.contains(&secret),
            "a secret in the clear in {}",
            item.pk
        );
    }
    let g = app
        .get(&a.owner_key, &format!("/v1/webhook-endpoints/{id}"))
        .await;
    assert!(g.body.get("secret").is_none());
    // Members do not manage endpoints; another tenant's owner does not see them.
    assert_eq!(
        app.get(&a.member_key, "/v1/webhook-endpoints").await.status,
        StatusCode::FORBIDDEN
    );
    for path in [
        format!("/v1/webhook-endpoints/{id}"),
        format!("/v1/webhook-endpoints/{id}/attempts"),
    ] {
        assert_eq!(
            app.get(&b.owner_key, &path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        app.post(
            &b.owner_key,
            &format!("/v1/webhook-endpoints/{id}/test"),
            json!({})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.patch(
            &b.owner_key,
            &format!("/v1/webhook-endpoints/{id}"),
            json!({"enabled": false})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&b.owner_key, &format!("/v1/webhook-endpoints/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(
        app.get(&b.owner_key, "/v1/webhook-endpoints").await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A rotation keeps the previous secret for the overlap.
    let r = app
        .post(
            &a.owner_key,
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            json!({"overlap_hours": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["secrets"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.delete(&a.owner_key, &format!("/v1/webhook-endpoints/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_public_sender_refuses_private_addresses_and_records_why() {
    // In AWS the sender takes only https to public addresses: an endpoint pointing
    // inside (the metadata service) gets its attempts refused and recorded.
    let app = spawn_app().await;
    let t = app.new_tenant("ssrfshop").await;
    let e = app
        .post(
            &t.owner_key,
            "/v1/webhook-endpoints",
            json!({"url": "https://169.254.169.254/latest/meta-data"}),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
    let id = e.field("id").to_owned();
    app.post(
        &t.owner_key,
        &format!("/v1/webhook-endpoints/{id}/test"),
        json!({}),
    )
    .await;
    let r = events::deliver_due(&app.deps, &HttpSender::public_only())
        .await
        .expect("a sweep");
    assert_eq!(r.failed_attempts, 1, "{r:?}");
    let a = app
        .get(
            &t.owner_key,
            &format!("/v1/webhook-endpoints/{id}/attempts"),
        )
        .await;
    let attempt = &a.body["data"][0];
    assert!(attempt.get("status").is_none(), "{attempt}");
    assert!(
        attempt["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not a public address"),
        "{attempt}"
    );
}
