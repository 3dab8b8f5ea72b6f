//! Provisioning by signed webhook (`POST /hooks/v1/{endpoint_id}`) and by API: the
//! signature checked before anything else, a resent `webhook-id` answered the same and
//! worked once, the work done by `external_id` (so a rerun after a crash makes nothing
//! twice), failures explained, and an endpoint of one tenant never reaching another.

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::service::provisioning;
use tenantry::webhooks::SigningSecret;
use tenantry_tests::app::{Resp, TestApp, TestTenant, spawn_app, spawn_app_with_logins};

/// An endpoint made through the API: its path and its secret.
async fn endpoint(app: &TestApp, t: &TestTenant) -> (String, String, String) {
    let r = app
        .post(
            &t.owner_key,
            "/v1/inbound-endpoints",
            json!({"description": "signups from the shop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.field("secret").starts_with("whsec_"), "{}", r.body);
    (
        r.field("id").to_owned(),
        r.field("url").to_owned(),
        r.field("secret").to_owned(),
    )
}

/// Sends `body` to `url` signed with `secret` as message `id` at `ts`.
async fn hook(app: &TestApp, url: &str, secret: &str, id: &str, ts: i64, body: &Value) -> Resp {
    let bytes = serde_json::to_vec(body).expect("json");
    let signature = SigningSecret::parse(secret)
        .expect("a secret")
        .sign(id, ts, &bytes);
    let ts = ts.to_string();
    send_raw(
        app,
        url,
        &[
            ("webhook-id", id),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &signature),
        ],
        bytes,
    )
    .await
}

async fn send_raw(app: &TestApp, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let mut req = app
        .http
        .post(format!("{}{url}", app.base))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.bytes().await.expect("body");
    Resp {
        status,
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        headers,
        raw,
    }
}

fn provision(external_id: &str, name: &str, email: &str) -> Value {
    json!({
        "type": "customer.provision",
        "timestamp": "2026-12-02T10:00:00Z",
        "data": {
            "external_id": external_id,
            "company": {"name": name, "country": "NL"},
            "admin": {"first_name": "Ada", "last_name": "Admin", "email": email}
        }
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Works every due request until none is left.
async fn work_all(app: &TestApp) -> provisioning::WorkReport {
    let mut total = provisioning::WorkReport::default();
    loop {
        let r = provisioning::work_due(&app.deps).await.expect("a sweep");
        if r.due == 0 {
            return total;
        }
        total.due += r.due;
        total.succeeded += r.succeeded;
        total.failed += r.failed;
        total.retrying += r.retrying;
        total.errors += r.errors;
    }
}

/// Every customer of the tenant, by its external id.
async fn customers_by_external_id(app: &TestApp, key: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/customers?limit=100&cursor={c}"),
            None => "/v1/customers?limit=100".to_owned(),
        };
        let r = app.get(key, &path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for c in r.body["data"].as_array().expect("data") {
            out.push((
                c["external_id"].as_str().unwrap_or_default().to_owned(),
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn two_hundred_signed_webhooks_sent_at_once_provision_each_customer_once() {
    let (app, _dir) = spawn_app_with_logins().await;
    let t = app.new_tenant("hookshop").await;
    let (_, url, secret) = endpoint(&app, &t).await;
    let wrong = SigningSecret::generate().expose_text();
    // The partner's receiver of provisioning.succeeded, verifying with another
    // implementation of the scheme.
    let receiver = tenantry_tests::receiver::Receiver::start().await;
    if let Some(rx) = &receiver {
        let r = app
            .post(
                &t.owner_key,
                "/v1/webhook-endpoints",
                json!({"url": rx.url, "event_types": ["provisioning.succeeded"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        rx.set_secret(r.field("secret"));
    }

    // 200 good ones, 20 of them sent twice; 10 signed with another secret; 5 stale.
    let mut sends: Vec<(String, String, i64, Value, &'static str)> = Vec::new();
    for i in 0..200 {
        let body = provision(
            &format!("shop-{i}"),
            &format!("Shop customer {i}"),
            &format!("admin{i}@shop{i}.example.com"),
        );
        sends.push((
            secret.clone(),
            format!("msg_{i}"),
            now(),
            body.clone(),
            "good",
        ));
        if i % 10 == 0 {
            sends.push((secret.clone(), format!("msg_{i}"), now(), body, "again"));
        }
    }
    for i in 0..10 {
        let body = provision(
            &format!("forged-{i}"),
            &format!("Forged {i}"),
            &format!("f{i}@forged.example.com"),
        );
        sends.push((wrong.clone(), format!("forged_{i}"), now(), body, "forged"));
    }
    for i in 0..5 {
        let body = provision(
            &format!("stale-{i}"),
            &format!("Stale {i}"),
            &format!("s{i}@stale.example.com"),
        );
        sends.push((
            secret.clone(),
            format!("stale_{i}"),
            now() - 6 * 60,
            body,
            "stale",
        ));
    }
    assert_eq!(sends.len(), 235);
    let answers: Vec<(String, &'static str, Resp)> = futures::stream::iter(sends)
        .map(|(s, id, ts, body, what)| {
            let (app, url) = (&app, &url);
            async move { (id.clone(), what, hook(app, url, &s, &id, ts, &body).await) }
        })
        .buffer_unordered(40)
        .collect()
        .await;

    let mut ids = std::collections::HashMap::new();
    for (msg, what, r) in &answers {
        match *what {
            "good" | "again" => {
                assert_eq!(r.status, StatusCode::ACCEPTED, "{msg}: {}", r.body);
                let id = r.field("id").to_owned();
                assert!(id.starts_with("prv_"), "{}", r.body);
                // A resend is answered with the first answer's id, whichever came first.
                if let Some(first) = ids.insert(msg.clone(), id.clone()) {
                    assert_eq!(first, id, "{msg} answered two ids");
                }
            }
            "forged" => {
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
                assert_eq!(r.problem_type(), "urn:tenantry:problem:invalid-signature");
                assert_eq!(r.error_fields(), ["webhook-signature"]);
            }
            _ => {
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
                assert_eq!(r.error_fields(), ["webhook-timestamp"]);
                assert!(
                    r.body["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("five minutes")
                );
            }
        }
    }
    assert_eq!(ids.len(), 200);

    // Two sweeps at once: each request is claimed by one of them.
    let (a, b) = futures::join!(
        provisioning::work_due(&app.deps),
        provisioning::work_due(&app.deps)
    );
    let (a, b) = (a.expect("sweep"), b.expect("sweep"));
    let rest = work_all(&app).await;
    assert_eq!(
        a.succeeded + b.succeeded + rest.succeeded,
        200,
        "{a:?} {b:?} {rest:?}"
    );
    assert_eq!(a.failed + b.failed + rest.failed, 0);

    let customers = customers_by_external_id(&app, &t.owner_key).await;
    assert_eq!(customers.len(), 200);
    let mut external: Vec<&str> = customers.iter().map(|(e, _, _)| e.as_str()).collect();
    external.sort_unstable();
    external.dedup();
    assert_eq!(external.len(), 200);
    assert!(
        external.iter().all(|e| e.starts_with("shop-")),
        "{external:?}"
    );

    // One provisioning.succeeded per customer reached the receiver, each verified.
    if let Some(rx) = &receiver {
        let sender = tenantry::adapters::http::HttpSender::allowing_loopback();
        loop {
            let r = tenantry::service::events::deliver_due(&app.deps, &sender)
                .await
                .expect("a sweep");
            assert_eq!(r.failed_attempts, 0, "{r:?}");
            if r.due == 0 {
                break;
            }
        }
        let log = rx.log();
        assert_eq!(log.len(), 200, "{log:?}");
        assert!(
            log.iter()
                .all(|e| e["verified"] == true && e["type"] == "provisioning.succeeded")
        );
        let ids: std::collections::HashSet<&str> =
            log.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids.len(), 200, "each delivery has its own webhook-id");
        let delivered: std::collections::HashSet<&str> = log
            .iter()
            .filter_map(|e| e["data"]["external_id"].as_str())
            .collect();
        assert_eq!(delivered.len(), 200);
    }

    // Each request says what it did, and names its customer.
    let id = &ids["msg_7"];
    let r = app
        .get(&t.member_key, &format!("/v1/provisioning/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.field("state"), "succeeded");
    assert_eq!(r.body["result"]["action"], "created");
    let made = customers
        .iter()
        .find(|(e, _, _)| e == "shop-7")
        .expect("shop-7");
    assert_eq!(r.body["result"]["customer_id"], made.1.as_str());
    assert_eq!(r.body["source"]["type"], "webhook");
    assert_eq!(r.body["source"]["message_id"], "msg_7");

    // A resend after the work: the same answer, and nothing more.
    let again = hook(
        &app,
        &url,
        &secret,
        "msg_7",
        now(),
        &provision("shop-7", "Shop customer 7", "admin7@shop7.example.com"),
    )
    .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.field("id"), id);
    assert_eq!(work_all(&app).await.due, 0);
}

/// Sends a signed request, works it, and answers the request as recorded.
async fn sent(app: &TestApp, key: &str, url: &str, secret: &str, id: &str, body: Value) -> Value {
    let r = hook(app, url, secret, id, now(), &body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    work_all(app).await;
    let p = app
        .get(key, &format!("/v1/provisioning/{}", r.field("id")))
        .await;
    assert_eq!(p.status, StatusCode::OK);
    p.body
}

#[tokio::test]
async fn a_request_updates_suspends_reactivates_and_deletes_by_external_id_and_explains_failures() {
    let app = spawn_app().await;
    let t = app.new_tenant("lifeshop").await;
    let (_, url, secret) = endpoint(&app, &t).await;
    let send = |id: &'static str, body: Value| sent(&app, &t.owner_key, &url, &secret, id, body);
    let created = send(
        "m1",
        provision("crm-1", "Lifecycle BV", "ada@lifecycle.example.com"),
    )
    .await;
    assert_eq!(created["result"]["action"], "created", "{created}");
    let customer = created["result"]["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The same external id again: an update of what it gives, a user invited once.
    let mut update = provision("crm-1", "Lifecycle Group BV", "ada@lifecycle.example.com");
    update["data"]["users"] =
        json!([{"email": "bob@lifecycle.example.com", "first_name": "Bob", "last_name": "User"}]);
    let updated = send("m2", update.clone()).await;
    assert_eq!(updated["result"]["action"], "updated", "{updated}");
    assert_eq!(updated["result"]["customer_id"], customer.as_str());
    let c = app
        .get(&t.owner_key, &format!("/v1/customers/{customer}"))
        .await;
    assert_eq!(c.body["company"]["name"], "Lifecycle Group BV");
    let users = app
        .get(&t.owner_key, &format!("/v1/customers/{customer}/users"))
        .await;
    assert_eq!(
        users.body["data"].as_array().map(Vec::len),
        Some(2),
        "{}",
        users.body
    );
    // Sent once more under a new id: the user is there already, nothing doubles.
    send("m3", update).await;
    let users = app
        .get(&t.owner_key, &format!("/v1/customers/{customer}/users"))
        .await;
    assert_eq!(users.body["data"].as_array().map(Vec::len), Some(2));

    let ext = |kind: &str| json!({"type": kind, "data": {"external_id": "crm-1"}});
    let s = send("m4", ext("customer.suspend")).await;
    assert_eq!(s["result"]["action"], "suspended", "{s}");
    let s = send("m5", ext("customer.suspend")).await;
    assert_eq!(s["result"]["action"], "unchanged");
    let c = app
        .get(&t.owner_key, &format!("/v1/customers/{customer}"))
        .await;
    assert_eq!(c.field("status"), "suspended");
    let r = send("m6", ext("customer.reactivate")).await;
    assert_eq!(r["result"]["action"], "reactivated", "{r}");
    let d = send("m7", ext("customer.deprovision")).await;
    assert_eq!(d["result"]["action"], "deleted", "{d}");
    let c = app
        .get(&t.owner_key, &format!("/v1/customers/{customer}"))
        .await;
    assert_eq!(c.field("status"), "deleted");

    // Failures name the field to fix.
    let unknown = send(
        "m8",
        json!({"type": "customer.suspend", "data": {"external_id": "nobody"}}),
    )
    .await;
    assert_eq!(unknown["state"], "failed", "{unknown}");
    assert_eq!(unknown["error"]["errors"][0]["field"], "data.external_id");
    let mut no_plan = provision("crm-2", "Planless BV", "p@planless.example.com");
    no_plan["data"]["plan"] = json!("no_such_plan");
    let failed = send("m9", no_plan).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["error"]["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .starts_with("data.plan"),
        "{failed}"
    );
    // The request that failed made nothing: the name is still free.
    let made = send(
        "m10",
        provision("crm-3", "Planless BV", "q@planless.example.com"),
    )
    .await;
    assert_eq!(made["state"], "succeeded", "{made}");
    assert_eq!(made["result"]["action"], "created", "{made}");
    let taken = send(
        "m11",
        provision("crm-4", "Planless BV", "r@planless.example.com"),
    )
    .await;
    assert_eq!(taken["state"], "failed", "{taken}");
    assert_eq!(taken["error"]["errors"][0]["field"], "data.company.name");

    // The plain API call does the same, without a webhook.
    let r = app
        .post(
            &t.owner_key,
            "/v1/provisioning",
            provision("crm-4", "By API BV", "api@byapi.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    work_all(&app).await;
    let p = app
        .get(&t.owner_key, &format!("/v1/provisioning/{}", r.field("id")))
        .await;
    assert_eq!(p.body["result"]["action"], "created", "{}", p.body);
    assert_eq!(p.body["source"]["type"], "api");
    // A member may read requests but not make them.
    let m = app
        .post(
            &t.member_key,
            "/v1/provisioning",
            provision("crm-5", "Member BV", "m@member.example.com"),
        )
        .await;
    assert_eq!(m.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rerun_after_a_crash_finds_its_customer_and_makes_nothing_twice() {
    let app = spawn_app().await;
    let t = app.new_tenant("crashshop").await;
    let (_, url, secret) = endpoint(&app, &t).await;
    let r = hook(
        &app,
        &url,
        &secret,
        "c1",
        now(),
        &provision("crash-1", "Crash BV", "c@crash.example.com"),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let id = tenantry::model::ids::ProvisioningId::parse(r.field("id")).unwrap();
    let tenant = tenantry::model::ids::TenantId::from_record(t.id.as_str());
    // The run did its work, then died before recording it: put the request back as it
    // was before the run (pending, due now) and run again.
    let key = tenantry::store::keys::provisioning(&tenant, &id);
    let before = app.deps.store.get(&key).await.unwrap().unwrap();
    assert_eq!(work_all(&app).await.succeeded, 1);
    let after = app.deps.store.get(&key).await.unwrap().unwrap();
    let mut restored = before.clone();
    restored.version = after.version + 1;
    app.deps
        .store
        .put(
            restored,
            tenantry::ports::Condition::VersionIs(after.version),
        )
        .await
        .unwrap();
    let entry = tenantry::service::due::schedule(
        tenantry::service::due::Kind::Provision,
        &tenant,
        id.as_str(),
        chrono::DateTime::parse_from_rfc3339(before.data["due_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    app.deps.store.transact(vec![entry]).await.unwrap();
    assert_eq!(work_all(&app).await.succeeded, 1);
    let p = app
        .get(&t.owner_key, &format!("/v1/provisioning/{id}"))
        .await;
    assert_eq!(p.field("state"), "succeeded");
    // It finds the customer its first run made and applies the request to it again.
    assert_eq!(p.body["result"]["action"], "updated", "{}", p.body);
    assert_eq!(customers_by_external_id(&app, &t.owner_key).await.len(), 1);
}

#[tokio::test]
async fn bad_webhooks_change_nothing_and_say_what_is_wrong() {
    let app = spawn_app().await;
    let t = app.new_tenant("badhooks").await;
    let (id, url, secret) = endpoint(&app, &t).await;
    let items_before = app.all_items().len();
    let good = provision("b-1", "Bad Hooks BV", "b@badhooks.example.com");
    let bytes = serde_json::to_vec(&good).unwrap();
    let ts = now().to_string();
    let sig = SigningSecret::parse(&secret)
        .unwrap()
        .sign("b1", now(), &bytes);

    // Unsigned; a header missing; a malformed signature; a body changed after signing.
    let r = send_raw(&app, &url, &[], bytes.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.error_fields(), ["webhook-id"]);
    let r = send_raw(
        &app,
        &url,
        &[("webhook-id", "b1"), ("webhook-timestamp", &ts)],
        bytes.clone(),
    )
    .await;
    assert_eq!(r.error_fields(), ["webhook-signature"]);
    let r = send_raw(
        &app,
        &url,
        &[
            ("webhook-id", "b1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", "v1,!!!"),
        ],
        bytes.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let mut changed = good.clone();
    changed["data"]["external_id"] = json!("b-2");
    let r = send_raw(
        &app,
        &url,
        &[
            ("webhook-id", "b1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ],
        serde_json::to_vec(&changed).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_fields(), ["webhook-signature"]);
    // From the future.
    let r = hook(&app, &url, &secret, "b2", now() + 600, &good).await;
    assert_eq!(r.error_fields(), ["webhook-timestamp"]);
    // Too big (signed correctly).
    let mut big = good.clone();
    big["data"]["company"]["description"] = json!("x".repeat(70 * 1024));
    let r = hook(&app, &url, &secret, "b3", now(), &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    // Signed, but not a request: malformed JSON, an unknown type, a password, a bad email.
    let junk = b"{not json".to_vec();
    let sig = SigningSecret::parse(&secret)
        .unwrap()
        .sign("b4", now(), &junk);
    let r = send_raw(
        &app,
        &url,
        &[
            ("webhook-id", "b4"),
            ("webhook-timestamp", &now().to_string()),
            ("webhook-signature", &sig),
        ],
        junk,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = hook(
        &app,
        &url,
        &secret,
        "b5",
        now(),
        &json!({"type": "customer.explode", "data": {"external_id": "x"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["type"]);
    let mut pw = good.clone();
    pw["data"]["admin"]["password"] = json!("correct horse battery staple");
    let r = hook(&app, &url, &secret, "b6", now(), &pw).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["data.admin.password"]);
    let mut bad_email = good.clone();
    bad_email["data"]["admin"]["email"] = json!("not-an-email");
    let r = hook(&app, &url, &secret, "b7", now(), &bad_email).await;
    assert_eq!(r.error_fields(), ["data.admin.email"], "{}", r.body);
    let r = hook(
        &app,
        &url,
        &secret,
        "b8",
        now(),
        &json!({"type": "customer.suspend", "data": {"external_id": "x", "plan": "growth"}}),
    )
    .await;
    assert_eq!(r.error_fields(), ["data"], "{}", r.body);
    // Unknown and malformed endpoints.
    let r = hook(
        &app,
        "/hooks/v1/inb_0197b2a7f3b27e5d8c6f708192a3b4c5",
        &secret,
        "b9",
        now(),
        &good,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = hook(&app, "/hooks/v1/nonsense", &secret, "b9", now(), &good).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.all_items().len(),
        items_before,
        "a refused webhook wrote something"
    );

    // Disabled: refused (403) until enabled again.
    let off = app
        .patch(
            &t.owner_key,
            &format!("/v1/inbound-endpoints/{id}"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let r = hook(&app, &url, &secret, "b10", now(), &good).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    app.patch(
        &t.owner_key,
        &format!("/v1/inbound-endpoints/{id}"),
        json!({"enabled": true}),
    )
    .await;
    let r = hook(&app, &url, &secret, "b10", now(), &good).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn a_rotated_secret_overlaps_with_the_previous_one_and_the_secret_is_never_shown_again() {
    let app = spawn_app().await;
    let t = app.new_tenant("rotshop").await;
    let (id, url, old) = endpoint(&app, &t).await;
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/inbound-endpoints/{id}/rotate-secret"),
            json!({"overlap_hours": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = r.field("secret").to_owned();
    assert_ne!(new, old);
    assert_eq!(
        r.body["secrets"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.body
    );
    let body = json!({"type": "customer.suspend", "data": {"external_id": "x"}});
    assert_eq!(
        hook(&app, &url, &old, "r1", now(), &body).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        hook(&app, &url, &new, "r2", now(), &body).await.status,
        StatusCode::ACCEPTED
    );
    // No overlap: the old secret stops at once.
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/inbound-endpoints/{id}/rotate-secret"),
            json!({"overlap_hours": 0}),
        )
        .await;
    let newest = r.field("secret").to_owned();
    assert_eq!(
        hook(&app, &url, &new, "r3", now(), &body).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hook(&app, &url, &newest, "r4", now(), &body).await.status,
        StatusCode::ACCEPTED
    );
    // Reads never show a secret, and the store keeps none in the clear.
    let g = app
        .get(&t.owner_key, &format!("/v1/inbound-endpoints/{id}"))
        .await;
    assert!(g.body.get("secret").is_none(), "{}", g.body);
    let l = app.get(&t.owner_key, "/v1/inbound-endpoints").await;
    assert_eq!(l.body["data"].as_array().map(Vec::len), Some(1));
    let raw_key = newest.trim_start_matches("whsec_");
    for item in app.all_items() {
        let text = serde_json::to_string(&item.data).unwrap();
        assert!(
            !text.contains(raw_key),
            "a secret in the clear in {}",
            item.pk
        );
    }
    // Members do not manage endpoints.
    let m = app.get(&t.member_key, "/v1/inbound-endpoints").await;
    assert_eq!(m.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_endpoint_of_one_tenant_never_provisions_into_another() {
    let app = spawn_app().await;
    let a = app.new_tenant("tenanta").await;
    let b = app.new_tenant("tenantb").await;
    let (a_id, a_url, a_secret) = endpoint(&app, &a).await;
    let (_, b_url, b_secret) = endpoint(&app, &b).await;
    // B's secret on A's endpoint, and A's on B's: refused.
    let body = provision("x-1", "Cross BV", "x@cross.example.com");
    assert_eq!(
        hook(&app, &a_url, &b_secret, "x1", now(), &body)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hook(&app, &b_url, &a_secret, "x1", now(), &body)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = hook(&app, &a_url, &a_secret, "x1", now(), &body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    work_all(&app).await;
    assert_eq!(customers_by_external_id(&app, &a.owner_key).await.len(), 1);
    assert!(
        customers_by_external_id(&app, &b.owner_key)
            .await
            .is_empty()
    );
    // B sees neither A's endpoint nor A's request; it cannot change or rotate A's.
    let prv = r.field("id");
    assert_eq!(
        app.get(&b.owner_key, &format!("/v1/provisioning/{prv}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&b.owner_key, &format!("/v1/inbound-endpoints/{a_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.patch(
            &b.owner_key,
            &format!("/v1/inbound-endpoints/{a_id}"),
            json!({"enabled": false})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &b.owner_key,
            &format!("/v1/inbound-endpoints/{a_id}/rotate-secret"),
            json!({})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&b.owner_key, &format!("/v1/inbound-endpoints/{a_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The same webhook-id at B's endpoint is B's own message: no crossing answers.
    let rb = hook(&app, &b_url, &b_secret, "x1", now(), &body).await;
    assert_eq!(rb.status, StatusCode::ACCEPTED);
    assert_ne!(rb.field("id"), prv);
    work_all(&app).await;
    let in_b = customers_by_external_id(&app, &b.owner_key).await;
    assert_eq!(in_b.len(), 1);
    // A deleted endpoint answers 404.
    assert_eq!(
        app.delete(&a.owner_key, &format!("/v1/inbound-endpoints/{a_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        hook(&app, &a_url, &a_secret, "x2", now(), &body)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_suspended_tenant_provisions_nothing_and_its_waiting_requests_fail_with_an_event() {
    let app = spawn_app().await;
    let t = app.new_tenant("pausedshop").await;
    let (_, url, secret) = endpoint(&app, &t).await;
    // Recorded while the tenant is active, worked after it was suspended.
    let r = hook(
        &app,
        &url,
        &secret,
        "p1",
        now(),
        &provision("p-1", "Paused BV", "p@paused.example.com"),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let off = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{}", t.id),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let before = app.all_items().len();
    let refused = hook(
        &app,
        &url,
        &secret,
        "p2",
        now(),
        &provision("p-2", "Paused Two BV", "q@paused.example.com"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("suspended")
    );
    assert_eq!(
        app.all_items().len(),
        before,
        "a refused webhook wrote something"
    );
    assert_eq!(work_all(&app).await.failed, 1);
    // Its failure is recorded (the operator reads it; the tenant's keys are off) and
    // told as an event.
    let tenant = tenantry::model::ids::TenantId::from_record(t.id.as_str());
    let id = tenantry::model::ids::ProvisioningId::parse(r.field("id")).unwrap();
    let item = app
        .deps
        .store
        .get(&tenantry::store::keys::provisioning(&tenant, &id))
        .await
        .unwrap()
        .expect("the request");
    assert_eq!(item.data["state"], "failed");
    assert!(
        item.data["error"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("suspended")
    );
    let events: Vec<_> = app
        .all_items()
        .into_iter()
        .filter(|i| i.pk.contains("#WHMSG#"))
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["type"], "provisioning.failed");
    assert!(customers_by_external_id_raw(&app, &tenant).await.is_empty());
}

/// The tenant's customers with an external id, read from the store (its keys are off).
async fn customers_by_external_id_raw(
    app: &TestApp,
    tenant: &tenantry::model::ids::TenantId,
) -> Vec<String> {
    app.all_items()
        .into_iter()
        .filter(|i| i.pk.starts_with(&format!("T#{tenant}")) && i.sk.starts_with("EXTERNAL#"))
        .map(|i| i.sk)
        .collect()
}
