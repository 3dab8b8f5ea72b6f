//! Tenant boundaries, tested from the other side: every route of the route table, and
//! every stored item after a full scenario.

use std::collections::HashMap;

use functions::routes::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::store::keys;
use tenantry_tests::app::{TestApp, TestTenant, customer_body, spawn_app};

/// Tenant A's resources, named by the path parameter that addresses them.
async fn resources_of(app: &TestApp, t: &TestTenant) -> HashMap<&'static str, String> {
    let customer = app
        .new_customer(
            &t.owner_key,
            "Boundary Co",
            &format!("b@{}.example.com", t.slug),
        )
        .await;
    let member = app.post(&t.owner_key, "/v1/members", json!({"email": format!("m@{}.example.com", t.slug), "first_name": "M", "last_name": "M", "role": "member"})).await;
    let key = app
        .post(
            &t.owner_key,
            "/v1/api-keys",
            json!({"name": "spare", "role": "member"}),
        )
        .await;
    HashMap::from([
        ("tenant_id", t.id.clone()),
        ("customer_id", customer),
        ("member_id", member.field("id").to_owned()),
        ("key_id", key.field("id").to_owned()),
    ])
}

fn concrete(path: &str, params: &HashMap<&'static str, String>) -> String {
    let mut out = path.to_owned();
    while let Some(start) = out.find('{') {
        let end = out[start..]
            .find('}')
            .map(|e| start + e)
            .expect("closing brace");
        let name = &out[start + 1..end];
        let value = params.get(name).unwrap_or_else(|| {
            panic!("no test resource for path parameter {name}: add one to resources_of")
        });
        out.replace_range(start..=end, value);
    }
    out
}

fn body_for(method: &Method) -> Option<Value> {
    match *method {
        Method::POST | Method::PATCH => Some(json!({})),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_hides_other_tenants_resources_and_enforces_the_permission_matrix() {
    let app = spawn_app().await;
    let a = app.new_tenant("iso-a").await;
    let b = app.new_tenant("iso-b").await;
    let params = resources_of(&app, &a).await;
    let before = app
        .get(
            &a.owner_key,
            &format!("/v1/customers/{}", params["customer_id"]),
        )
        .await
        .body;

    let mut checked = 0;
    for route in ROUTES {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let mut path = concrete(route.path, &params);
        if route.path == "/v1/customers/{customer_id}" && method == Method::DELETE {
            path.push_str("?confirm=true");
        }
        if !route.is_tenant_scoped() {
            let r = app
                .send(method.clone(), &a.owner_key, &path, body_for(&method), &[])
                .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{} {} with a tenant key",
                route.method,
                route.path
            );
            checked += 1;
            continue;
        }
        if route.path.contains('{') {
            // Another tenant's owner: A's resource does not exist for them.
            let r = app
                .send(method.clone(), &b.owner_key, &path, body_for(&method), &[])
                .await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{} {} from another tenant: {}",
                route.method,
                route.path,
                r.body
            );
            checked += 1;
        }
        if !route.permission.allows(tenantry::access::StaffRole::Member) {
            let r = app
                .send(method.clone(), &a.member_key, &path, body_for(&method), &[])
                .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{} {} as a member",
                route.method,
                route.path
            );
            checked += 1;
        }
    }
    assert!(checked >= ROUTES.len(), "walked {checked} checks");

    // Nothing the other tenant or the member tried changed A's customer.
    let after = app
        .get(
            &a.owner_key,
            &format!("/v1/customers/{}", params["customer_id"]),
        )
        .await
        .body;
    assert_eq!(before, after);
    // B's listings show none of A's records.
    for list in [
        "/v1/customers",
        "/v1/members",
        "/v1/api-keys",
        "/v1/customers?q=boundary",
        "/v1/customers?status=active",
    ] {
        let r = app.get(&b.owner_key, list).await;
        let text = r.body.to_string();
        for id in params.values().filter(|v| !v.starts_with("ten_")) {
            assert!(!text.contains(id.as_str()), "{list} leaks {id}");
        }
    }
}

#[tokio::test]
async fn after_a_full_scenario_every_item_lives_under_its_tenant_or_the_platform() {
    let app = spawn_app().await;
    let tenants = [
        app.new_tenant("walk-a").await,
        app.new_tenant("walk-b").await,
    ];
    for t in &tenants {
        app.post(&t.owner_key, "/v1/members", json!({"email": format!("m@{}.example.com", t.slug), "first_name": "M", "last_name": "M", "role": "member"})).await;
        app.post(
            &t.owner_key,
            "/v1/api-keys",
            json!({"name": "extra", "role": "owner"}),
        )
        .await;
        let mut ids = Vec::new();
        for (i, name) in [
            "Active Co",
            "Inactive Co",
            "Suspended Co",
            "Deleted Co",
            "Purged Co",
        ]
        .iter()
        .enumerate()
        {
            let r = app
                .send(
                    Method::POST,
                    &t.owner_key,
                    "/v1/customers",
                    Some(customer_body(name, &format!("c{i}@{}.example.com", t.slug))),
                    &[("idempotency-key", &format!("k{i}"))],
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED);
            ids.push(r.field("id").to_owned());
        }
        app.post(
            &t.owner_key,
            &format!("/v1/customers/{}/deactivate", ids[1]),
            json!({}),
        )
        .await;
        app.post(
            &t.owner_key,
            &format!("/v1/customers/{}/suspend", ids[2]),
            json!({}),
        )
        .await;
        app.delete(
            &t.owner_key,
            &format!("/v1/customers/{}?confirm=true", ids[3]),
        )
        .await;
        app.delete(
            &t.owner_key,
            &format!("/v1/customers/{}?confirm=true", ids[4]),
        )
        .await;
        app.patch(
            &t.owner_key,
            &format!("/v1/customers/{}", ids[0]),
            json!({"company": {"name": "Active Renamed Co"}}),
        )
        .await;
    }
    // Purge only the customers deleted "earlier": move the clock past their window.
    let report =
        tenantry::service::purge::run(&app.deps, chrono::Utc::now() + chrono::Duration::days(31))
            .await
            .unwrap();
    assert_eq!(
        report.customers_purged, 4,
        "both deleted customers of both tenants"
    );

    let items = app.store.all_items().unwrap();
    assert!(
        items.len() > 50,
        "the scenario stored {} items",
        items.len()
    );
    let ids: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
    for item in &items {
        let owner = |pk: &str| {
            ids.iter()
                .copied()
                .find(|id| keys::belongs_to_tenant(pk, id))
        };
        let ok = keys::is_platform(&item.pk) || owner(&item.pk).is_some();
        assert!(
            ok,
            "item outside every tenant and the platform: {} / {}",
            item.pk, item.sk
        );
        if let Some(g) = &item.gsi1pk {
            assert_eq!(
                owner(g),
                owner(&item.pk),
                "gsi1 key of {} / {} crosses tenants",
                item.pk,
                item.sk
            );
        }
        // A tenant's items never carry another tenant's id in their keys.
        if let Some(t) = owner(&item.pk) {
            for other in ids.iter().filter(|o| **o != t) {
                assert!(
                    !item.pk.contains(other) && !item.sk.contains(other),
                    "{} / {}",
                    item.pk,
                    item.sk
                );
            }
        }
    }
}
