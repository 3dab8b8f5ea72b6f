//! The catalog (metrics, versioned plans, price overrides) through the API.

use reqwest::StatusCode;
use serde_json::json;
use tenantry_tests::app::{TestApp, TestClock, spawn_app, spawn_app_with};

/// A metric and a plan on it: `growth`, 49.00 EUR a month, 3 seats included, 5.00 per
/// extra seat, AI operations at 1.00 per started 1,000.
pub async fn seed_catalog(app: &TestApp) {
    let m = app
        .post(&app.admin_key, "/v1/billable-metrics", json!({
            "code": "ai_operations", "name": "AI operations", "unit": "operation", "aggregation": "sum"}))
        .await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
    let p = app
        .post(&app.admin_key, "/v1/plans", json!({
            "code": "growth", "name": "Growth", "currency": "EUR", "base_amount": 4900,
            "included_seats": 3, "seat_amount": 500,
            "charges": [{"metric": "ai_operations", "model": "package", "package_size": 1000, "package_amount": 100}],
            "entitlements": {"features": ["dashboard", "users", "reports", "billing"], "max_users": 10,
                "limits": {"ai_operations": 100000}}}))
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
}

#[tokio::test]
async fn the_operator_keeps_metrics_and_plans_and_a_price_change_is_a_new_version() {
    let app = spawn_app().await;
    seed_catalog(&app).await;
    let again = app
        .post(
            &app.admin_key,
            "/v1/billable-metrics",
            json!({
            "code": "ai_operations", "name": "Again", "unit": "op", "aggregation": "sum"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_type(), "urn:tenantry:problem:duplicate-code");
    let bad = app
        .post(
            &app.admin_key,
            "/v1/billable-metrics",
            json!({
            "code": "Storage GB", "name": "", "unit": "GB", "aggregation": "avg"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), ["code", "name", "aggregation"]);

    let bad_plan = app
        .post(
            &app.admin_key,
            "/v1/plans",
            json!({
            "code": "x", "name": "X", "currency": "euro", "base_amount": -1,
            "charges": [{"metric": "bandwidth_gb", "model": "graduated", "tiers": [
                {"up_to": 10, "unit_amount": 0}, {"up_to": 5, "unit_amount": 1}]}]}),
        )
        .await;
    assert_eq!(bad_plan.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_plan.error_fields(),
        [
            "currency",
            "base_amount",
            "charges[0].metric",
            "charges[0].tiers[1].up_to"
        ]
    );

    // A rename keeps the version; a price makes the next one.
    let renamed = app
        .patch(
            &app.admin_key,
            "/v1/plans/growth",
            json!({"name": "Growth (2026)"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["version"], 1);
    let repriced = app
        .patch(
            &app.admin_key,
            "/v1/plans/growth",
            json!({"base_amount": 5900}),
        )
        .await;
    assert_eq!(repriced.body["version"], 2);
    assert_eq!(repriced.body["base_amount"], 5900);
    assert_eq!(repriced.body["name"], "Growth (2026)");
    let currency = app
        .patch(
            &app.admin_key,
            "/v1/plans/growth",
            json!({"currency": "USD"}),
        )
        .await;
    assert_eq!(currency.status, StatusCode::UNPROCESSABLE_ENTITY);
    let read = app.get(&app.admin_key, "/v1/plans/growth").await;
    assert_eq!(read.body["version"], 2);
    // An entitlements change names what changes; the rest stays.
    let limited = app
        .patch(
            &app.admin_key,
            "/v1/plans/growth",
            json!({"entitlements": {"limits": {"ai_operations": 5}}}),
        )
        .await;
    assert_eq!(limited.body["version"], 3);
    assert_eq!(limited.body["entitlements"]["limits"]["ai_operations"], 5);
    assert_eq!(limited.body["entitlements"]["max_users"], 10);
    assert_eq!(
        limited.body["entitlements"]["features"],
        json!(["billing", "dashboard", "reports", "users"])
    );

    let archived = app
        .post(&app.admin_key, "/v1/plans/growth/archive", json!({}))
        .await;
    assert_eq!(archived.body["archived"], true);
    let list = app.get(&app.admin_key, "/v1/plans").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get(&app.admin_key, "/v1/plans/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&app.admin_key, "/v1/plans/NOPE%23").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_tenant_reads_plans_at_its_own_prices_and_never_writes_the_catalog() {
    let app = spawn_app().await;
    seed_catalog(&app).await;
    let a = app.new_tenant("prices-a").await;
    let b = app.new_tenant("prices-b").await;
    let set = app
        .put(
            &app.admin_key,
            &format!("/v1/tenants/{}/price-overrides/growth", a.id),
            json!({"base_amount": 3900,
                "charges": [{"metric": "ai_operations", "model": "per_unit", "unit_amount": 1}]}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["plan"], "growth");
    assert_eq!(set.body["prices"]["base_amount"], 3900);

    let seen_by_a = app.get(&a.member_key, "/v1/plans/growth").await;
    assert_eq!(seen_by_a.status, StatusCode::OK, "{}", seen_by_a.body);
    assert_eq!(seen_by_a.body["base_amount"], 3900);
    assert_eq!(seen_by_a.body["custom_pricing"], true);
    assert_eq!(seen_by_a.body["charges"][0]["model"], "per_unit");
    let listed_by_a = app.get(&a.owner_key, "/v1/plans").await;
    assert_eq!(listed_by_a.body["data"][0]["base_amount"], 3900);
    // Another tenant, and the operator, see the plan's own prices.
    let seen_by_b = app.get(&b.owner_key, "/v1/plans/growth").await;
    assert_eq!(seen_by_b.body["base_amount"], 4900);
    assert_eq!(seen_by_b.body["custom_pricing"], false);
    assert_eq!(
        app.get(&app.admin_key, "/v1/plans/growth").await.body["base_amount"],
        4900
    );

    // Staff never write the catalog.
    for (method, path) in [
        ("POST", "/v1/plans"),
        ("PATCH", "/v1/plans/growth"),
        ("POST", "/v1/plans/growth/archive"),
        ("POST", "/v1/billable-metrics"),
    ] {
        let r = app
            .send(
                method.parse().unwrap(),
                &a.owner_key,
                path,
                Some(json!({})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    // Overrides for unknown tenants and plans are 404; removing one restores the price.
    let ghost = app
        .put(
            &app.admin_key,
            "/v1/tenants/ten_0197b2a4c3e07d1a9f2b3c4d5e6f7a99/price-overrides/growth",
            json!({"base_amount": 1}),
        )
        .await;
    assert_eq!(ghost.status, StatusCode::NOT_FOUND);
    let no_plan = app
        .put(
            &app.admin_key,
            &format!("/v1/tenants/{}/price-overrides/nope", a.id),
            json!({"base_amount": 1}),
        )
        .await;
    assert_eq!(no_plan.status, StatusCode::NOT_FOUND);
    let path = format!("/v1/tenants/{}/price-overrides/growth", a.id);
    assert_eq!(
        app.delete(&app.admin_key, &path).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&app.admin_key, &path).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&a.owner_key, "/v1/plans/growth").await.body["base_amount"],
        4900
    );
}

/// The app on a clock the test moves.
async fn app_at(now: &str) -> (TestApp, std::sync::Arc<TestClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("t.redb")).unwrap(),
    );
    let clock = std::sync::Arc::new(TestClock::at(now.parse().unwrap()));
    let deps = tenantry::Deps::new(store).with_clock(clock.clone());
    (spawn_app_with(deps).await, clock, dir)
}

fn day(clock: &TestClock, d: u32) {
    *clock.0.lock().unwrap() = format!("2026-11-{d:02}T09:00:00Z").parse().unwrap();
}

/// One customer through November 2026 (30 days): it starts on the 10th on `growth`
/// (3 seats included), users come and go, it moves up to `scale` (10 seats) on the
/// 16th and asks to go back down on the 25th. Every figure is worked out by hand.
#[tokio::test]
async fn a_month_of_one_customer_records_its_segments_and_seat_days() {
    let (app, clock, _dir) = app_at("2026-11-10T09:00:00Z").await;
    seed_catalog(&app).await;
    let scale = app
        .post(
            &app.admin_key,
            "/v1/plans",
            json!({
            "code": "scale", "name": "Scale", "currency": "EUR", "base_amount": 19900,
            "included_seats": 10, "seat_amount": 900}),
        )
        .await;
    assert_eq!(scale.status, StatusCode::CREATED);
    let t = app.new_tenant("month").await;
    let c = app
        .new_customer(&t.owner_key, "Month Co", "admin@month.example.com")
        .await;
    let sub_path = format!("/v1/customers/{c}/subscription");
    let users = format!("/v1/customers/{c}/users");
    // Members read, never write.
    let by_member = app
        .post(&t.member_key, &sub_path, json!({"plan": "growth"}))
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&t.member_key, &sub_path).await.status,
        StatusCode::NOT_FOUND
    );
    let s = app
        .post(&t.owner_key, &sub_path, json!({"plan": "growth"}))
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    assert_eq!(s.body["state"], "active");
    assert_eq!(s.body["started_on"], "2026-11-10");
    let again = app
        .post(&t.owner_key, &sub_path, json!({"plan": "scale"}))
        .await;
    assert_eq!(
        again.problem_type(),
        "urn:tenantry:problem:subscription-exists"
    );

    let add = async |email: &str| {
        let r = app
            .post(
                &t.owner_key,
                &users,
                json!({"email": email, "first_name": "U", "last_name": "Ser"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.field("id").to_owned()
    };
    // 12th: three users join (4 active).
    day(&clock, 12);
    let u1 = add("u1@month.example.com").await;
    let u2 = add("u2@month.example.com").await;
    add("u3@month.example.com").await;
    // Usage on the 12th: two events, one by the partner's own id for the customer; one
    // for an unknown metric; then the first two again, which count nothing.
    let patched = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{c}"),
            json!({"external_id": "crm-1"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let found = app
        .get(&t.member_key, "/v1/customers?external_id=crm-1")
        .await;
    assert_eq!(found.body["data"][0]["id"], c.as_str());
    let ev = |id: &str, who: serde_json::Value, value: u64| {
        let mut e = json!({"id": id, "metric": "ai_operations", "value": value,
            "timestamp": "2026-11-12T08:30:00Z"});
        e.as_object_mut()
            .unwrap()
            .extend(who.as_object().unwrap().clone());
        e
    };
    let first = app
        .post(&t.owner_key, "/v1/usage", json!({"events": [
            ev("e1", json!({"customer_id": c}), 1500),
            ev("e2", json!({"external_id": "crm-1"}), 700),
            {"id": "e3", "customer_id": c, "metric": "bandwidth_gb", "value": 1, "timestamp": "2026-11-12T08:30:00Z"},
            ev("e4", json!({"external_id": "nobody"}), 5),
            ev("e5", json!({"customer_id": c}), 300),
        ]}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let statuses: Vec<&str> = first.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["reason"]
                .as_str()
                .unwrap_or(r["status"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "accepted",
            "accepted",
            "unknown-metric",
            "unknown-customer",
            "accepted"
        ]
    );
    let again = app
        .post(
            &t.member_key,
            "/v1/usage",
            json!({"events": [
                ev("e1", json!({"customer_id": c}), 1500),
                ev("e2", json!({"customer_id": c}), 700),
                ev("e5", json!({"customer_id": c}), 9999),
            ]}),
        )
        .await;
    // The same events (however the customer is named) are duplicates; an id sent again
    // for another value is refused, not dropped.
    assert_eq!(
        (
            again.body["accepted"].as_u64(),
            again.body["duplicates"].as_u64()
        ),
        (Some(0), Some(2)),
        "{}",
        again.body
    );
    assert_eq!(again.body["results"][2]["reason"], "id-reused");
    let usage = app
        .get(
            &t.member_key,
            &format!("/v1/customers/{c}/usage?period=2026-11"),
        )
        .await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    let ai = &usage.body["metrics"][0];
    assert_eq!(ai["metric"], "ai_operations");
    // 1500 + 700 + 300, on growth: 3 started packages of 1,000 at 1.00, under its
    // limit of 100,000.
    assert_eq!(ai["value"], 2500);
    assert_eq!(ai["charge"], 300);
    assert_eq!(ai["limit"], 100000);
    assert_eq!(ai["remaining"], 97500);
    assert_eq!(usage.body["currency"], "EUR");

    // 14th: one leaves and another joins the same day (3, then 4 again).
    day(&clock, 14);
    let r = app
        .post(&t.owner_key, &format!("{users}/{u1}/deactivate"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    add("u4@month.example.com").await;
    // 16th: up to scale, at once.
    day(&clock, 16);
    let up = app
        .patch(&t.owner_key, &sub_path, json!({"plan": "scale"}))
        .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    assert_eq!(up.body["plan"], "scale");
    // 20th: a user is removed (3).
    day(&clock, 20);
    let r = app.delete(&t.owner_key, &format!("{users}/{u2}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    // 25th: back down to growth, which waits for December.
    day(&clock, 25);
    let down = app
        .patch(&t.owner_key, &sub_path, json!({"plan": "growth"}))
        .await;
    assert_eq!(down.status, StatusCode::OK, "{}", down.body);
    assert_eq!(down.body["plan"], "scale");
    assert_eq!(down.body["pending_change"]["plan"], "growth");
    assert_eq!(down.body["pending_change"]["from"], "2026-12-01");

    let read = app.get(&t.member_key, &sub_path).await.body;
    let segments: Vec<(String, String, serde_json::Value)> = read["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["plan"].as_str().unwrap().to_owned(),
                s["from"].as_str().unwrap().to_owned(),
                s["to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        segments,
        [
            (
                "growth".to_owned(),
                "2026-11-10".to_owned(),
                json!("2026-11-16")
            ),
            (
                "scale".to_owned(),
                "2026-11-16".to_owned(),
                json!("2026-12-01")
            ),
            ("growth".to_owned(), "2026-12-01".to_owned(), json!(null)),
        ]
    );

    // Each day's highest count of active users, as recorded.
    let tenant_id = tenantry::model::ids::TenantId::from_record(t.id.as_str());
    let customer_id = tenantry::model::ids::CustomerId::from_record(c.as_str());
    let november = tenantry::model::billing::Period::parse("2026-11").unwrap();
    let daily = tenantry::service::seats::daily(&app.deps, &tenant_id, &customer_id, november, 0)
        .await
        .unwrap();
    let mut expected = vec![0u32; 9]; // before the customer existed
    expected.extend([1, 1]); // 10th, 11th: the admin
    expected.extend([4, 4, 4, 4]); // 12th to 15th (the 14th went 4, 3, 4)
    expected.extend([4, 4, 4, 4]); // 16th to 19th
    expected.push(4); // 20th: 4 until the removal
    expected.extend([3; 10]); // 21st to 30th
    assert_eq!(daily, expected);
    // Seat-days beyond the plan's included seats: growth (3) from the 10th to the 15th,
    // scale (10) from the 16th: 0+0+1+1+1+1 = 4, then none.
    let extra: u32 = daily
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let d = i as u32 + 1;
            let included = match d {
                10..=15 => 3,
                16..=30 => 10,
                _ => return 0,
            };
            n.saturating_sub(included)
        })
        .sum();
    assert_eq!(extra, 4);
    // December has no change yet: every day carries November's close (3).
    let december = tenantry::model::billing::Period::parse("2026-12").unwrap();
    let dec = tenantry::service::seats::daily(&app.deps, &tenant_id, &customer_id, december, 0)
        .await
        .unwrap();
    assert_eq!(dec, vec![3; 31]);

    // Cancelled at the period's end; then deleting the customer ends it that day.
    let cancel = app.delete(&t.owner_key, &sub_path).await;
    assert_eq!(cancel.body["state"], "canceled");
    assert_eq!(cancel.body["ends_on"], "2026-12-01");
    assert!(cancel.body["pending_change"].is_null());
    day(&clock, 27);
    let gone = app
        .delete(&t.owner_key, &format!("/v1/customers/{c}?confirm=true"))
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let ended = app.get(&t.owner_key, &sub_path).await.body;
    assert_eq!(ended["ends_on"], "2026-11-28");
    day(&clock, 28);
    assert_eq!(
        app.get(&t.owner_key, &sub_path).await.body["state"],
        "ended"
    );
    // Once it has ended, no plan includes any area.
    let e = app
        .get(&t.owner_key, &format!("/v1/customers/{c}/entitlements"))
        .await;
    assert_eq!(e.body["features"], json!([]), "{}", e.body);
    assert!(e.body["plan"].is_null());
}

#[tokio::test]
async fn concurrent_plan_changes_leave_one_consistent_subscription() {
    let (app, _clock, _dir) = app_at("2026-11-10T09:00:00Z").await;
    seed_catalog(&app).await;
    for (code, amount) in [("scale", 19900), ("pro", 9900), ("max", 29900)] {
        let r = app
            .post(
                &app.admin_key,
                "/v1/plans",
                json!({
                "code": code, "name": code, "currency": "EUR", "base_amount": amount}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let t = app.new_tenant("race").await;
    let c = app
        .new_customer(&t.owner_key, "Race Co", "admin@race.example.com")
        .await;
    let path = format!("/v1/customers/{c}/subscription");
    let s = app
        .post(&t.owner_key, &path, json!({"plan": "growth"}))
        .await;
    assert_eq!(s.status, StatusCode::CREATED);
    let changes = ["scale", "pro", "max", "scale", "pro", "max", "scale", "pro"]
        .into_iter()
        .map(|plan| {
            let (app, path, key) = (&app, path.clone(), t.owner_key.clone());
            async move {
                let r = app
                    .send(
                        reqwest::Method::PATCH,
                        &key,
                        &path,
                        Some(json!({"plan": plan})),
                        &[("if-match", "\"1\"")],
                    )
                    .await;
                (plan, r.status)
            }
        });
    let results = futures::future::join_all(changes).await;
    let won: Vec<_> = results
        .iter()
        .filter(|(_, s)| *s == StatusCode::OK)
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for (_, s) in &results {
        assert!(
            [
                StatusCode::OK,
                StatusCode::CONFLICT,
                StatusCode::PRECONDITION_FAILED
            ]
            .contains(s),
            "{results:?}"
        );
    }
    let read = app.get(&t.owner_key, &path).await.body;
    assert_eq!(read["plan"], won[0].0);
    assert_eq!(read["version"], 2);
    let segs = read["segments"].as_array().unwrap();
    assert_eq!(
        segs.len(),
        1,
        "a change on the first day replaces it: {read}"
    );
    assert!(segs[0]["to"].is_null());
}

#[tokio::test]
async fn fifty_concurrent_calls_with_overlapping_ids_count_each_id_once() {
    let app = spawn_app().await;
    seed_catalog(&app).await;
    let t = app.new_tenant("usage-race").await;
    let c = app
        .new_customer(
            &t.owner_key,
            "Race Usage Co",
            "admin@race-usage.example.com",
        )
        .await;
    let now = chrono::Utc::now().to_rfc3339();
    // Call k sends ids k*2 .. k*2+20 (mod 100): every id in ten calls, 100 ids in all.
    let calls = (0..50).map(|k| {
        let events: Vec<_> = (0..20)
            .map(|i| {
                let id = (k * 2 + i) % 100;
                json!({"id": format!("ev-{id}"), "customer_id": c, "metric": "ai_operations",
                    "value": id + 1, "timestamp": now})
            })
            .collect();
        let (app, key) = (&app, t.owner_key.clone());
        async move { app.post(&key, "/v1/usage", json!({"events": events})).await }
    });
    let answers = futures::future::join_all(calls).await;
    let (mut accepted, mut duplicates) = (0, 0);
    for a in &answers {
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["rejected"], 0, "{}", a.body);
        accepted += a.body["accepted"].as_u64().unwrap();
        duplicates += a.body["duplicates"].as_u64().unwrap();
    }
    assert_eq!(accepted, 100);
    assert_eq!(duplicates, 50 * 20 - 100);
    let usage = app
        .get(&t.owner_key, &format!("/v1/customers/{c}/usage"))
        .await;
    // Each id once: 1 + 2 + ... + 100.
    assert_eq!(usage.body["metrics"][0]["value"], 5050, "{}", usage.body);
}

#[tokio::test]
async fn a_customer_admin_reads_its_usage_and_lowers_its_limits_and_events_past_a_limit_are_refused()
 {
    let (app, _dir) = tenantry_tests::app::spawn_app_with_logins().await;
    seed_catalog(&app).await;
    let t = app.new_tenant("limits").await;
    let password = "Sup3r$ecret!";
    let mut body = tenantry_tests::app::customer_body("Limit Co", "admin@limit.example.com");
    body["admin"]["password"] = json!(password);
    let created = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let c = created.field("id").to_owned();
    let sub = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{c}/subscription"),
            json!({"plan": "growth"}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    let signed = app
        .post(
            "",
            "/t/limits/login",
            json!({"email": "admin@limit.example.com", "password": password}),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    let admin = signed.field("access_token").to_owned();

    // Above the plan's limit (100,000) is refused; at or below it is the company's own.
    let too_high = app
        .put(
            &admin,
            "/v1/me/usage-limits",
            json!({"limits": {"ai_operations": 200000}}),
        )
        .await;
    assert_eq!(too_high.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_high.error_fields(), ["limits.ai_operations"]);
    let set = app
        .put(
            &admin,
            "/v1/me/usage-limits",
            json!({"limits": {"ai_operations": 1000}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["plan_limits"]["ai_operations"], 100000);
    // Staff do not reach a customer's own routes.
    assert_eq!(
        app.get(&t.owner_key, "/v1/me/usage").await.status,
        StatusCode::FORBIDDEN
    );

    let now = chrono::Utc::now().to_rfc3339();
    let ev = |id: &str, value: u64| json!({"id": id, "customer_id": c, "metric": "ai_operations", "value": value, "timestamp": now});
    let r = app
        .post(
            &t.owner_key,
            "/v1/usage",
            json!({"events": [ev("a", 600), ev("b", 500), ev("c", 400)]}),
        )
        .await;
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted");
    assert_eq!(results[1]["reason"], "limit-reached");
    assert_eq!(results[1]["limit"], 1000);
    assert_eq!(results[2]["status"], "accepted");
    let mine = app.get(&admin, "/v1/me/usage").await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body["metrics"][0]["value"], 1000);
    assert_eq!(mine.body["metrics"][0]["remaining"], 0);

    // A period whose invoices are final takes no more usage. (The invoice run marks it;
    // here the mark is written directly.)
    let period = tenantry::model::billing::Period::of(chrono::Utc::now().date_naive()).to_string();
    let tenant_id = tenantry::model::ids::TenantId::from_record(t.id.as_str());
    app.deps
        .store
        .put(
            tenantry::ports::Item::marker(tenantry::store::keys::period_closed(
                &tenant_id, &period,
            )),
            tenantry::ports::Condition::None,
        )
        .await
        .unwrap();
    let closed = app
        .post(
            &t.owner_key,
            "/v1/usage",
            json!({"events": [ev("late", 1)]}),
        )
        .await;
    assert_eq!(closed.body["results"][0]["reason"], "period-closed");
    // Another tenant's customer is unknown to this one.
    let other = app.new_tenant("limits-other").await;
    let stranger = app
        .post(
            &other.owner_key,
            "/v1/usage",
            json!({"events": [ev("x", 1)]}),
        )
        .await;
    assert_eq!(stranger.body["results"][0]["reason"], "unknown-customer");
}

#[tokio::test]
async fn features_are_the_plan_the_tenant_and_the_customer_together_and_entitlements_are_one_read()
{
    let dir = tempfile::tempdir().unwrap();
    let counting = std::sync::Arc::new(tenantry::store::counting::CountingStore::new(
        std::sync::Arc::new(
            tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("f.redb")).unwrap(),
        ),
    ));
    let counts = counting.counts.clone();
    let app = spawn_app_with(tenantry::Deps::new(counting)).await;
    seed_catalog(&app).await;
    let tiny = app
        .post(
            &app.admin_key,
            "/v1/plans",
            json!({
            "code": "tiny", "name": "Tiny", "currency": "EUR", "base_amount": 900,
            "entitlements": {"features": ["dashboard", "users"], "max_users": 2}}),
        )
        .await;
    assert_eq!(tiny.status, StatusCode::CREATED, "{}", tiny.body);
    let t = app.new_tenant("features").await;
    let c = app
        .new_customer(&t.owner_key, "Feature Co", "admin@feature.example.com")
        .await;
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{c}/subscription"),
            json!({"plan": "growth"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // The tenant switches reports off for everyone (members may: customer settings).
    let off = app
        .put(
            &t.member_key,
            "/v1/features",
            json!({"features": {"reports": false}}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["features"]["reports"], false);
    assert_eq!(off.body["features"]["dashboard"], true);
    // A customer switch cannot turn on what the plan lacks, and names the plan.
    let integrations = app
        .put(
            &t.member_key,
            &format!("/v1/customers/{c}/features"),
            json!({"features": {"integrations": true}}),
        )
        .await;
    assert_eq!(integrations.status, StatusCode::CONFLICT);
    assert_eq!(
        integrations.problem_type(),
        "urn:tenantry:problem:feature-not-in-plan"
    );
    assert_eq!(integrations.body["plan"], "growth");
    // Nor past the tenant's own switch; and it can turn its own off.
    let mine = app
        .put(
            &t.member_key,
            &format!("/v1/customers/{c}/features"),
            json!({"features": {"reports": true, "users": false}}),
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let state = |f: &str| {
        mine.body["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["feature"] == f)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            state("reports")["enabled"].clone(),
            state("reports")["because"].clone()
        ),
        (json!(false), json!("tenant"))
    );
    assert_eq!(
        (
            state("users")["enabled"].clone(),
            state("users")["because"].clone()
        ),
        (json!(false), json!("customer"))
    );
    assert_eq!(
        (
            state("integrations")["enabled"].clone(),
            state("integrations")["because"].clone()
        ),
        (json!(false), json!("plan"))
    );
    assert_eq!(state("dashboard")["enabled"], true);

    // Entitlements: the enabled areas, max_users from the plan, limits left; one read.
    let scope = tenantry_tests::owner_scope(&t.id);
    let customer_scope = tenantry::access::customer_of(
        &tenantry::access::Scope::Tenant(scope),
        tenantry::model::ids::CustomerId::from_record(c.as_str()),
    )
    .unwrap();
    counts.take();
    let e = tenantry::service::features::entitlements(&app.deps, &customer_scope)
        .await
        .unwrap();
    let (reads, writes, _) = counts.take();
    assert_eq!((reads, writes), (1, 0), "one store read, nothing written");
    assert_eq!(e.features, ["billing", "dashboard"]);
    assert_eq!(e.max_users, Some(10));
    assert_eq!(e.limits["ai_operations"].remaining, 100_000);
    let via_api = app
        .get(&t.member_key, &format!("/v1/customers/{c}/entitlements"))
        .await;
    assert_eq!(via_api.body["features"], json!(["billing", "dashboard"]));

    // max_users comes from the plan: on tiny, a third user is refused.
    let moved = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{c}/subscription"),
            json!({"plan": "tiny", "at": "now"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let users = format!("/v1/customers/{c}/users");
    let add = |n: u32| json!({"email": format!("u{n}@feature.example.com"), "first_name": "U", "last_name": "N"});
    assert_eq!(
        app.post(&t.owner_key, &users, add(1)).await.status,
        StatusCode::CREATED
    );
    let third = app.post(&t.owner_key, &users, add(2)).await;
    assert_eq!(
        third.problem_type(),
        "urn:tenantry:problem:user-limit-reached",
        "{}",
        third.body
    );
}

#[tokio::test]
async fn a_tenant_owner_sets_the_plan_new_customers_subscribe_to() {
    let app = spawn_app().await;
    seed_catalog(&app).await;
    let t = app.new_tenant("defaults").await;
    assert_eq!(
        app.get(&t.member_key, "/v1/default-plan").await.body["plan"],
        json!(null)
    );
    let by_member = app
        .put(&t.member_key, "/v1/default-plan", json!({"plan": "growth"}))
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    let unknown = app
        .put(&t.owner_key, "/v1/default-plan", json!({"plan": "nope"}))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_fields(), ["plan"]);
    let set = app
        .put(&t.owner_key, "/v1/default-plan", json!({"plan": "growth"}))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let c = app
        .new_customer(&t.owner_key, "Default Co", "admin@default.example.com")
        .await;
    let sub = app
        .get(&t.owner_key, &format!("/v1/customers/{c}/subscription"))
        .await;
    assert_eq!(sub.status, StatusCode::OK, "{}", sub.body);
    assert_eq!(sub.body["plan"], "growth");
    // Cleared, the next customer has none.
    let cleared = app
        .put(&t.owner_key, "/v1/default-plan", json!({"plan": null}))
        .await;
    assert_eq!(cleared.body["plan"], json!(null));
    let d = app
        .new_customer(&t.owner_key, "Plain Co", "admin@plain.example.com")
        .await;
    let none = app
        .get(&t.owner_key, &format!("/v1/customers/{d}/subscription"))
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}

/// A customer from before seats were kept has no marks: its first change opens the
/// month with its active users, not every user it has.
#[tokio::test]
async fn a_customer_without_seat_marks_opens_with_its_active_users() {
    let (app, clock, _dir) = app_at("2026-11-10T09:00:00Z").await;
    let t = app.new_tenant("legacy-seats").await;
    let c = app
        .new_customer(&t.owner_key, "Legacy Co", "admin@legacy.example.com")
        .await;
    let users = format!("/v1/customers/{c}/users");
    let mut ids = Vec::new();
    for n in 0..2 {
        let r = app
            .post(&t.owner_key, &users, json!({"email": format!("l{n}@legacy.example.com"), "first_name": "L", "last_name": "U"}))
            .await;
        ids.push(r.field("id").to_owned());
    }
    let r = app
        .post(
            &t.owner_key,
            &format!("{users}/{}/deactivate", ids[0]),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // As it was before seat marks: none.
    let tenant_id = tenantry::model::ids::TenantId::from_record(t.id.as_str());
    let customer_id = tenantry::model::ids::CustomerId::from_record(c.as_str());
    app.deps
        .store
        .delete(
            &tenantry::store::keys::seats(&tenant_id, &customer_id, "2026-11"),
            tenantry::ports::Condition::Exists,
        )
        .await
        .unwrap();
    // December: one user joins. Three users, two of them active, then three active.
    *clock.0.lock().unwrap() = "2026-12-03T09:00:00Z".parse().unwrap();
    let r = app
        .post(
            &t.owner_key,
            &users,
            json!({"email": "l9@legacy.example.com", "first_name": "L", "last_name": "U"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let december = tenantry::model::billing::Period::parse("2026-12").unwrap();
    let daily = tenantry::service::seats::daily(&app.deps, &tenant_id, &customer_id, december, 0)
        .await
        .unwrap();
    assert_eq!(&daily[..4], &[2, 2, 3, 3]);
}

/// A customer deleted and restored on the same day subscribes again at once: the
/// subscription its deletion ended tonight gives way to the new one from today, and
/// the month bills each day once (the old plan to yesterday, the new from today). One
/// canceled to end later still refuses a second.
#[tokio::test]
async fn a_customer_restored_the_day_it_was_deleted_subscribes_again_that_day() {
    use tenantry::model::billing::Period;
    use tenantry::model::ids::{CustomerId, TenantId};
    use tenantry::model::subscription::Subscription;

    // On the embedded store the test reads the events from.
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("t.redb")).unwrap(),
    );
    let clock = std::sync::Arc::new(TestClock::at("2026-11-10T09:00:00Z".parse().unwrap()));
    let mut app =
        spawn_app_with(tenantry::Deps::new(store.clone()).with_clock(clock.clone())).await;
    app.embedded = Some(store);
    seed_catalog(&app).await;
    let t = app.new_tenant("comeback").await;
    let c = app
        .new_customer(&t.owner_key, "Comeback Co", "admin@comeback.example.com")
        .await;
    let sub_path = format!("/v1/customers/{c}/subscription");
    let first = app
        .post(&t.owner_key, &sub_path, json!({"plan": "growth"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let first_id = first.field("id").to_owned();

    day(&clock, 20);
    let r = app
        .delete(&t.owner_key, &format!("/v1/customers/{c}?confirm=true"))
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{c}/restore"),
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    // Restoring does not restart it.
    let r = app.get(&t.owner_key, &sub_path).await;
    assert_eq!(r.body["state"], "canceled", "{}", r.body);
    assert_eq!(r.body["ends_on"], "2026-11-21", "{}", r.body);
    // Starting it on another day than today is named.
    let r = app
        .post(
            &t.owner_key,
            &sub_path,
            json!({"plan": "growth", "starts_at": "2026-11-15"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["starts_at"]);
    // Later that day, subscribed again.
    *clock.0.lock().unwrap() = "2026-11-20T15:00:00Z".parse().unwrap();
    assert_eq!(app.count_events(&t.id, "subscription.canceled"), 1);
    let again = app
        .post(&t.owner_key, &sub_path, json!({"plan": "growth"}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["state"], "active");
    assert_eq!(again.body["started_on"], "2026-11-20");
    assert_ne!(again.field("id"), first_id);
    // The partner hears of the old one's earlier end.
    let canceled: Vec<_> = app
        .events_of(&t.id)
        .into_iter()
        .filter(|(kind, _)| kind == "subscription.canceled")
        .collect();
    assert_eq!(canceled.len(), 2, "{canceled:?}");
    assert_eq!(canceled[1].1["id"], first_id.as_str());
    assert_eq!(canceled[1].1["ends_on"], "2026-11-20", "{canceled:?}");

    // The month: the first from the 10th to the 19th, the second from the 20th.
    let (tid, cid) = (TenantId::from_record(&t.id), CustomerId::from_record(&c));
    let past = app
        .deps
        .store
        .get(&tenantry::store::keys::past_subscription(
            &tid, &cid, &first_id,
        ))
        .await
        .expect("a read")
        .expect("the first kept as history");
    let past: Subscription =
        serde_json::from_value(serde_json::Value::Object(past.data)).expect("a subscription");
    let november = Period::of("2026-11-01".parse().unwrap());
    let days = |s: &Subscription| -> i64 { s.days_in(november).iter().map(|d| d.2).sum() };
    assert_eq!(
        past.ends_on.map(|d| d.to_string()).as_deref(),
        Some("2026-11-20")
    );
    assert_eq!(
        past.canceled_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-20T09:00:00+00:00"),
        "when it was canceled stays the deletion's time"
    );
    assert_eq!(days(&past), 10);
    let current = app
        .deps
        .store
        .get(&tenantry::store::keys::subscription(&tid, &cid))
        .await
        .expect("a read")
        .expect("the current one");
    let current: Subscription =
        serde_json::from_value(serde_json::Value::Object(current.data)).expect("a subscription");
    assert_eq!(days(&current), 11);

    // Canceled at the period's end, it is still current: no second one.
    let r = app.delete(&t.owner_key, &sub_path).await;
    assert!(r.status.is_success(), "{}", r.body);
    let r = app.get(&t.owner_key, &sub_path).await;
    assert_eq!(r.body["state"], "canceled", "{}", r.body);
    let r = app
        .post(&t.owner_key, &sub_path, json!({"plan": "growth"}))
        .await;
    assert_eq!(r.problem_type(), "urn:tenantry:problem:subscription-exists");
}
