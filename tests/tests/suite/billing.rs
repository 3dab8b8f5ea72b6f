//! The catalog (metrics, versioned plans, price overrides) through the API.

use reqwest::StatusCode;
use serde_json::json;
use tenantry_tests::app::{TestApp, spawn_app};

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
            "entitlements": {"features": ["dashboard", "users", "reports"], "max_users": 10,
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
