//! Events to a tenant's webhook endpoints: signed (checked by a receiver written with
//! the PyPI `standardwebhooks` package), retried on the schedule until the receiver is
//! back (no event lost), every attempt listed, and an endpoint failing for days
//! disabled with its owners mailed. Endpoints are the owner's, and another tenant's are
//! out of reach.

use std::sync::Arc;

use chrono::{Datelike, Duration};
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
    let mut app =
        spawn_app_with(tenantry::Deps::new(store.clone()).with_clock(clock.clone())).await;
    app.embedded = Some(store);
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

/// Every change a partner's systems follow is an event written with the change: each
/// once, carrying the resource as the API shows it, delivered signed (checked by the
/// other implementation); another tenant's endpoint gets none of them.
#[tokio::test]
async fn changes_reach_the_partner_as_signed_events_each_once() {
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let (app, clock, _dir) = app_with_clock().await;
    for (code, amount) in [("basic", 1000), ("plus", 2000)] {
        let p = app
            .post(
                &app.admin_key,
                "/v1/plans",
                json!({"code": code, "name": code, "currency": "EUR", "base_amount": amount}),
            )
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    }
    let t = app.new_tenant("eventful").await;
    let other = app.new_tenant("quietone").await;
    for key in [&t.owner_key, &other.owner_key] {
        let e = app
            .post(key, "/v1/webhook-endpoints", json!({"url": rx.url}))
            .await;
        assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
        if key == &t.owner_key {
            rx.set_secret(e.field("secret"));
        }
    }
    let key = &t.owner_key;
    let c = app
        .new_customer(key, "Eventful Co", "admin@eventful-co.example.com")
        .await;
    let path = format!("/v1/customers/{c}");
    let ok = |r: &tenantry_tests::app::Resp| assert!(r.status.is_success(), "{}", r.body);
    ok(&app
        .patch(key, &path, json!({"company": {"name": "Eventful Company"}}))
        .await);
    let u = app
        .post(
            key,
            &format!("{path}/users"),
            json!({"email": "una@eventful-co.example.com", "first_name": "Una", "last_name": "User"}),
        )
        .await;
    ok(&u);
    let user_id = u.field("id").to_owned();
    ok(&app.delete(key, &format!("{path}/users/{user_id}")).await);
    ok(&app.post(key, &format!("{path}/suspend"), json!({})).await);
    ok(&app
        .post(key, &format!("{path}/reactivate"), json!({}))
        .await);
    let sub = format!("{path}/subscription");
    // The admin's names are on the customer too: renaming the admin user updates it.
    let users = app.get(key, &format!("{path}/users")).await;
    let admin_id = users.body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|u| u["role"] == "admin")
        .expect("the admin user")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    ok(&app
        .patch(
            key,
            &format!("{path}/users/{admin_id}"),
            json!({"first_name": "Adelheid"}),
        )
        .await);
    ok(&app.post(key, &sub, json!({"plan": "basic"})).await);
    ok(&app.patch(key, &sub, json!({"plan": "plus"})).await);
    // A downgrade waits for the period's end; asked for twice, it is one change.
    let down = app.patch(key, &sub, json!({"plan": "basic"})).await;
    ok(&down);
    let again = app.patch(key, &sub, json!({"plan": "basic"})).await;
    ok(&again);
    assert_eq!(again.body, down.body, "a repeat changes nothing");
    ok(&app.delete(key, &sub).await);
    let twice = app.delete(key, &sub).await;
    ok(&twice);
    // Deleting the customer ends its canceled subscription today: canceled again, with
    // the earlier end (unless today is the month's last day, the day it ends anyway).
    let today = tenantry::ports::Clock::now(clock.as_ref()).date_naive();
    let last_day = (today + Duration::days(1)).day() == 1;
    ok(&app.delete(key, &format!("{path}?confirm=true")).await);

    let written = app.events_of(&t.id);
    let mut types: Vec<&str> = written.iter().map(|(t, _)| t.as_str()).collect();
    types.sort_unstable();
    let mut expected = vec![
        "customer.created",
        "customer.deleted",
        "customer.status_changed",
        "customer.status_changed",
        "customer.updated",
        "customer.updated",
        "customer_user.created",
        "customer_user.removed",
        "subscription.canceled",
        "subscription.canceled",
        "subscription.changed",
        "subscription.changed",
        "subscription.created",
    ];
    if last_day {
        expected.remove(9);
    }
    assert_eq!(types, expected);
    assert!(app.events_of(&other.id).is_empty());
    let of = |ty: &str| -> Vec<&serde_json::Value> {
        written
            .iter()
            .filter(|(t, _)| t == ty)
            .map(|(_, d)| d)
            .collect()
    };
    assert_eq!(of("customer.created")[0]["id"], c.as_str());
    let updated = of("customer.updated");
    assert!(
        updated.iter().any(
            |d| d["company"]["name"] == "Eventful Company" && d["admin"]["first_name"] == "Ada"
        ),
        "{updated:?}"
    );
    assert!(
        updated
            .iter()
            .any(|d| d["admin"]["first_name"] == "Adelheid"),
        "{updated:?}"
    );
    let moves: Vec<(String, String)> = of("customer.status_changed")
        .iter()
        .map(|d| {
            (
                d["previous_status"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        moves.contains(&("active".into(), "suspended".into())),
        "{moves:?}"
    );
    assert!(
        moves.contains(&("suspended".into(), "active".into())),
        "{moves:?}"
    );
    assert_eq!(of("customer.deleted")[0]["status"], "deleted");
    assert_eq!(of("customer_user.created")[0]["id"], user_id.as_str());
    assert_eq!(of("customer_user.removed")[0]["id"], user_id.as_str());
    assert_eq!(of("subscription.created")[0]["plan"], "basic");
    let changed = of("subscription.changed");
    assert!(
        changed
            .iter()
            .all(|d| d["plan"] == "plus" && d["customer_id"] == c.as_str()),
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .any(|d| d["pending_change"]["plan"] == "basic"),
        "the downgrade, announced once: {changed:?}"
    );
    assert!(
        of("subscription.canceled")
            .iter()
            .all(|d| d["ends_on"].is_string() && d["customer_id"] == c.as_str())
    );
    // What the API answers now is what the last customer event carried.
    let now = app.get(key, &path).await;
    assert_eq!(of("customer.deleted")[0]["version"], now.body["version"]);

    let sent = sweep(&app).await;
    assert_eq!(sent.delivered, expected.len() as u64, "{sent:?}");
    let log = rx.log();
    assert!(
        log.iter().all(|e| e["verified"] == true),
        "only the tenant's own events, each signed with its endpoint's secret: {log:?}"
    );
    let mut ids: Vec<&str> = log.iter().filter_map(|e| e["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), expected.len(), "each event once");
    let mut got: Vec<&str> = log.iter().filter_map(|e| e["type"].as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, types);
}

/// A message given up on (eight failed tries) is sent again by hand once the receiver
/// is back, signed afresh; what cannot be redelivered says why.
#[tokio::test]
async fn a_given_up_message_is_redelivered_by_hand() {
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let (app, clock, _dir) = app_with_clock().await;
    let start = *clock.0.lock().unwrap();
    let t = app.new_tenant("redeliver").await;
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
    let path = format!("/v1/webhook-endpoints/{id}/redeliver");
    rx.set_failing(true);
    let sent = app
        .post(
            &t.owner_key,
            &format!("/v1/webhook-endpoints/{id}/test"),
            json!({}),
        )
        .await;
    let msg = sent.field("message_id").to_owned();
    // Still being tried: asking changes nothing.
    let early = app
        .post(&t.owner_key, &path, json!({"message_id": msg}))
        .await;
    assert_eq!(early.status, StatusCode::ACCEPTED, "{}", early.body);
    let mut given_up = 0;
    sweep(&app).await;
    for wait in events::RETRY_AFTER {
        clock.advance(Duration::seconds(wait));
        given_up += sweep(&app).await.given_up;
    }
    assert_eq!(given_up, 1, "eight tries, then given up");
    assert_eq!(rx.log().len(), 8);

    // Back, and the clock with the receiver's again: sent by hand, delivered once.
    rx.set_failing(false);
    *clock.0.lock().unwrap() = start;
    let again = app
        .post(&t.owner_key, &path, json!({"message_id": msg}))
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["message_id"], msg.as_str());
    assert_eq!(sweep(&app).await.delivered, 1);
    let log = rx.log();
    let ok: Vec<&serde_json::Value> = log.iter().filter(|e| e["verified"] == true).collect();
    assert_eq!(ok.len(), 1, "{log:?}");
    assert_eq!(ok[0]["id"], msg.as_str());
    assert_eq!(sweep(&app).await.due, 0, "nothing more to send");

    // What cannot be: an unknown message, a missing id, another tenant's endpoint.
    let unknown = app
        .post(
            &t.owner_key,
            &path,
            json!({"message_id": "msg_0197b2a7f3b27e5d8c6f708192a3b4c5"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let missing = app.post(&t.owner_key, &path, json!({})).await;
    assert_eq!(missing.error_fields(), ["message_id"]);
    let other = app.new_tenant("redeliver2").await;
    let foreign = app
        .post(&other.owner_key, &path, json!({"message_id": msg}))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    // A disabled endpoint is enabled first.
    let off = app
        .patch(
            &t.owner_key,
            &format!("/v1/webhook-endpoints/{id}"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(off.body["enabled"], false, "{}", off.body);
    let refused = app
        .post(&t.owner_key, &path, json!({"message_id": msg}))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(
        refused.problem_type(),
        "urn:tenantry:problem:endpoint-disabled"
    );
}
