//! Tenant boundaries, tested from the other side: every route of the route table, and
//! every stored item after a full scenario.

use std::collections::HashMap;
use tenantry::model::ids::TenantId;

use functions::routes::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::store::keys;
use tenantry_tests::app::{
    TestApp, TestTenant, customer_body, spawn_app, spawn_app_on, spawn_app_with_logins,
};

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
    let admin = app
        .get(&t.owner_key, &format!("/v1/customers/{customer}"))
        .await
        .body["admin"]["id"]
        .as_str()
        .expect("the customer's admin")
        .to_owned();
    // The catalog is the platform's: one plan every tenant reads.
    let plan = app
        .post(
            &app.admin_key,
            "/v1/plans",
            json!({"code": "iso_plan", "name": "Iso", "currency": "EUR", "base_amount": 100}),
        )
        .await;
    assert!(
        plan.status.is_success() || plan.status == StatusCode::CONFLICT,
        "{}",
        plan.body
    );
    // An invoice: the customer subscribes, and this month is billed for the tenant.
    let sub = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{customer}/subscription"),
            json!({"plan": "iso_plan"}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    let period = tenantry::model::billing::Period::of(chrono::Utc::now().date_naive());
    let tid = TenantId::from_record(t.id.clone());
    tenantry::service::invoice_run::run_tenant(&app.deps, &tid, period)
        .await
        .expect("the run");
    let invoices = app.get(&t.owner_key, "/v1/invoices").await;
    let invoice = invoices.body["data"][0]["id"]
        .as_str()
        .expect("an invoice")
        .to_owned();
    let endpoint = app
        .post(&t.owner_key, "/v1/inbound-endpoints", json!({}))
        .await;
    assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.body);
    let provisioning = app
        .post(
            &t.owner_key,
            "/v1/provisioning",
            json!({"type": "customer.suspend", "data": {"external_id": "iso-1"}}),
        )
        .await;
    assert_eq!(
        provisioning.status,
        StatusCode::ACCEPTED,
        "{}",
        provisioning.body
    );
    let webhook = app
        .post(
            &t.owner_key,
            "/v1/webhook-endpoints",
            json!({"url": "https://partner.example.com/hooks"}),
        )
        .await;
    assert_eq!(webhook.status, StatusCode::CREATED, "{}", webhook.body);
    // A customer template under the code the plan routes use too.
    let template = app
        .post(
            &t.owner_key,
            "/v1/customer-templates",
            json!({"code": "iso_plan", "plan": "iso_plan"}),
        )
        .await;
    assert_eq!(template.status, StatusCode::CREATED, "{}", template.body);
    // A connection of A's customer (the catalog's connector is shared: made once).
    let connector = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            json!({"code": "iso_conn", "name": "Iso", "auth": "api_key",
                "fields": [{"name": "key", "label": "Key"}]}),
        )
        .await;
    assert!(
        [StatusCode::CREATED, StatusCode::CONFLICT].contains(&connector.status),
        "{}",
        connector.body
    );
    let connection = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{customer}/connections"),
            json!({"connector": "iso_conn"}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    // A support session in A's customer.
    let session = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{customer}/support-sessions"),
            json!({"reason": "Boundary check"}),
        )
        .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    // A support request A's customer's admin opened.
    let own = tenantry::access::customer_of(
        &tenantry::access::Scope::Tenant(tenantry_tests::owner_scope(&t.id)),
        tenantry::model::ids::CustomerId::from_record(customer.clone()),
    )
    .expect("A's customer");
    let draft = serde_json::from_value(
        json!({"subject": "Boundary", "message": "Help?", "category": "question"}),
    )
    .expect("a request");
    let request = tenantry::service::helpdesk::open(
        &app.deps,
        &own,
        &tenantry::model::ids::UserId::from_record(admin.clone()),
        &draft,
        None,
    )
    .await
    .expect("a support request");
    HashMap::from([
        ("request_id", request.id.to_string()),
        ("session_id", session.field("id").to_owned()),
        ("connection_id", connection.field("id").to_owned()),
        ("webhook_endpoint_id", webhook.field("id").to_owned()),
        ("endpoint_id", endpoint.field("id").to_owned()),
        ("provisioning_id", provisioning.field("id").to_owned()),
        ("invoice_id", invoice),
        ("code", "iso_plan".to_owned()),
        ("tenant_id", t.id.clone()),
        ("user_id", admin),
        // Operator routes only: a tenant key is refused before the id is looked at.
        (
            "email_id",
            "eml_0197b2aab5d49a7f8e8192a3b4c5d6e7".to_owned(),
        ),
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
        Method::POST | Method::PATCH | Method::PUT => Some(json!({})),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_hides_other_tenants_resources_and_enforces_the_permission_matrix() {
    let (app, _dir) = spawn_app_with_logins().await;
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
    // The same walk with staff logins: B's owner and A's member, signed in through the
    // staff pool.
    let password = "Staff$ecret-42";
    let b_owner = app
        .staff_token(&b.id, &b.slug, "owner@iso-b.example.com", password)
        .await;
    let a_member = app
        .staff_token(&a.id, &a.slug, "m@iso-a.example.com", password)
        .await;
    let callers = [
        ("API key", &b.owner_key, &a.member_key),
        ("staff login", &b_owner, &a_member),
    ];

    let mut checked = 0;
    for route in ROUTES.iter().filter(|r| !r.permission.is_public()) {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let mut path = concrete(route.path, &params);
        if route.path == "/v1/customers/{customer_id}" && method == Method::DELETE {
            path.push_str("?confirm=true");
        }
        for (how, other_owner, member) in callers {
            // Platform routes, and a customer's own (`/v1/me/...`, for its users'
            // tokens only): refused to any staff, whatever they name.
            if !route.is_tenant_scoped() || route.permission.is_own_company() {
                let r = app
                    .send(method.clone(), other_owner, &path, body_for(&method), &[])
                    .await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{} {} as tenant staff ({how})",
                    route.method,
                    route.path
                );
                checked += 1;
                continue;
            }
            // The catalog is shared by every tenant: nothing of A's to hide there.
            let shared = route.permission == tenantry::access::Permission::ReadCatalog;
            if route.path.contains('{') && !shared {
                // Another tenant's owner: A's resource does not exist for them.
                let r = app
                    .send(method.clone(), other_owner, &path, body_for(&method), &[])
                    .await;
                assert_eq!(
                    r.status,
                    StatusCode::NOT_FOUND,
                    "{} {} from another tenant ({how}): {}",
                    route.method,
                    route.path,
                    r.body
                );
                checked += 1;
            }
            if !route.permission.allows(tenantry::access::StaffRole::Member) {
                let r = app
                    .send(method.clone(), member, &path, body_for(&method), &[])
                    .await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{} {} as a member ({how})",
                    route.method,
                    route.path
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * (ROUTES.len() - 1), "walked {checked} checks");

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

/// Two tenants with members, keys, customers in every status (one renamed), idempotent
/// creates, and a purge. Returns the tenant ids.
async fn full_scenario(app: &TestApp, prefix: &str) -> Vec<String> {
    let tenants = [
        app.new_tenant(&format!("{prefix}-a")).await,
        app.new_tenant(&format!("{prefix}-b")).await,
    ];
    for t in &tenants {
        let m = app.post(&t.owner_key, "/v1/members", json!({"email": format!("m@{}.example.com", t.slug), "first_name": "M", "last_name": "M", "role": "member"})).await;
        assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
        let k = app
            .post(
                &t.owner_key,
                "/v1/api-keys",
                json!({"name": "extra", "role": "owner"}),
            )
            .await;
        assert_eq!(k.status, StatusCode::CREATED, "{}", k.body);
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
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            ids.push(r.field("id").to_owned());
        }
        for (path, expected) in [
            (format!("/v1/customers/{}/deactivate", ids[1]), "inactive"),
            (format!("/v1/customers/{}/suspend", ids[2]), "suspended"),
        ] {
            assert_eq!(
                app.post(&t.owner_key, &path, json!({}))
                    .await
                    .field("status"),
                expected
            );
        }
        for id in &ids[3..] {
            assert_eq!(
                app.delete(&t.owner_key, &format!("/v1/customers/{id}?confirm=true"))
                    .await
                    .field("status"),
                "deleted"
            );
        }
        let r = app
            .patch(
                &t.owner_key,
                &format!("/v1/customers/{}", ids[0]),
                json!({"company": {"name": "Active Renamed Co"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Every status is listed through the status index.
        for status in ["active", "inactive", "suspended", "deleted"] {
            let r = app
                .get(&t.owner_key, &format!("/v1/customers?status={status}"))
                .await;
            assert!(
                !r.body["data"].as_array().unwrap().is_empty(),
                "{status}: {}",
                r.body
            );
        }
    }
    // Move the clock past the restore window: both deleted customers of both tenants go.
    let report =
        tenantry::service::purge::run(&app.deps, chrono::Utc::now() + chrono::Duration::days(31))
            .await
            .unwrap();
    assert!(report.customers_purged >= 4, "{report:?}");
    tenants.iter().map(|t| t.id.clone()).collect()
}

/// Every key is under `T#<tenant>` or `P#`, and an item of one of `ids` carries no other's id.
fn check_keys(items: &[(String, String, Option<String>)], ids: &[String]) {
    let owner = |pk: &str| {
        ids.iter()
            .find(|id| keys::belongs_to_tenant(pk, &TenantId::from_record(id.as_str())))
            .cloned()
    };
    for (pk, sk, gsi1pk) in items {
        assert!(
            keys::is_platform(pk) || pk.starts_with("T#"),
            "item outside every tenant and the platform: {pk} / {sk}"
        );
        if let Some(g) = gsi1pk {
            assert!(
                g.starts_with("T#") || keys::is_platform(g),
                "gsi1 key {g} of {pk} / {sk}"
            );
            assert_eq!(
                owner(g),
                owner(pk),
                "gsi1 key of {pk} / {sk} crosses tenants"
            );
        }
        // A tenant's items never carry another tenant's id in their keys.
        if let Some(t) = owner(pk) {
            for other in ids.iter().filter(|o| **o != t) {
                assert!(
                    !pk.contains(other.as_str()) && !sk.contains(other.as_str()),
                    "{pk} / {sk}"
                );
            }
        }
        // An item naming a scenario tenant anywhere in its keys lives in that tenant.
        for id in ids {
            if pk.contains(id.as_str()) {
                assert_eq!(owner(pk).as_deref(), Some(id.as_str()), "{pk} / {sk}");
            }
        }
    }
}

#[tokio::test]
async fn after_a_full_scenario_every_item_lives_under_its_tenant_or_the_platform() {
    let app = spawn_app().await;
    let ids = full_scenario(&app, "walk").await;
    let items: Vec<_> = app
        .all_items()
        .into_iter()
        .map(|i| (i.pk, i.sk, i.gsi1pk))
        .collect();
    assert!(
        items.len() > 50,
        "the scenario stored {} items",
        items.len()
    );
    for id in &ids {
        assert!(
            items
                .iter()
                .filter(|(pk, _, _)| keys::belongs_to_tenant(
                    pk,
                    &TenantId::from_record(id.as_str())
                ))
                .count()
                > 10,
            "{id} stored its items"
        );
    }
    check_keys(&items, &ids);
}

#[tokio::test]
async fn the_full_scenario_on_dynamodb_keeps_every_item_under_its_tenant_or_the_platform() {
    let Some(store) = tenantry_tests::dynamo::store_from_env("dynamodb scenario").await else {
        return;
    };
    let table = store.table().to_owned();
    let app = spawn_app_on(std::sync::Arc::new(store)).await;
    let suffix = format!("{:08x}", rand_suffix());
    let ids = full_scenario(&app, &format!("dyn{suffix}")).await;
    let items = tenantry_tests::dynamo::scan_keys(&table).await;
    for id in &ids {
        assert!(
            items
                .iter()
                .filter(|(pk, _, _)| keys::belongs_to_tenant(
                    pk,
                    &TenantId::from_record(id.as_str())
                ))
                .count()
                > 10,
            "{id} stored its items in DynamoDB"
        );
    }
    check_keys(&items, &ids);
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default()
}
