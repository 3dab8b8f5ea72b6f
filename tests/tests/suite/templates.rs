//! Customer templates: a tenant owner keeps what new customers start with (a plan,
//! feature switches, a cap on users, named permission sets); a customer made from one,
//! by API or by provisioning, starts with all of it in its one creation, and a creation
//! that fails leaves nothing behind.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::service::provisioning;
use tenantry_tests::app::{TestApp, customer_body, spawn_app};

/// `growth` includes dashboard, users, billing and reports; `basic` only dashboard.
async fn plans(app: &TestApp) {
    for plan in [
        json!({"code": "growth", "name": "Growth", "currency": "EUR", "base_amount": 6000,
            "entitlements": {"features": ["dashboard", "users", "billing", "reports"]}}),
        json!({"code": "basic", "name": "Basic", "currency": "EUR", "base_amount": 1000,
            "entitlements": {"features": ["dashboard"]}}),
    ] {
        let r = app.post(&app.admin_key, "/v1/plans", plan).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
}

fn agency() -> Value {
    json!({
        "code": "agency",
        "description": "Agencies on Growth, without reports",
        "plan": "growth",
        "features": {"reports": false},
        "max_users": 5,
        "permission_sets": {"viewer": {"permission_set": "limited", "areas": ["dashboard", "billing"]}}
    })
}

fn with_template(name: &str, email: &str, template: &str) -> Value {
    let mut body = customer_body(name, email);
    body["template"] = json!(template);
    body
}

#[tokio::test]
async fn a_customer_made_from_a_template_starts_with_all_of_it() {
    let app = spawn_app().await;
    plans(&app).await;
    let t = app.new_tenant("templated").await;
    let key = &t.owner_key;
    let made = app.post(key, "/v1/customer-templates", agency()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(
        made.body["permission_sets"]["viewer"]["areas"],
        json!(["dashboard", "billing"])
    );
    let listed = app.get(&t.member_key, "/v1/customer-templates").await;
    assert_eq!(listed.body["data"][0]["code"], "agency", "{}", listed.body);

    let c = app
        .post(
            key,
            "/v1/customers",
            with_template("Made Co", "admin@made-co.example.com", "agency"),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    assert_eq!(c.body["template"], "agency");
    assert_eq!(c.body["max_users"], 5);
    assert_eq!(c.body["permission_sets"], json!(["viewer"]));
    let id = c.field("id").to_owned();
    let sub = app
        .get(key, &format!("/v1/customers/{id}/subscription"))
        .await;
    assert_eq!(sub.body["plan"], "growth", "{}", sub.body);
    let features = app.get(key, &format!("/v1/customers/{id}/features")).await;
    let reports = features.body["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == "reports")
        .cloned()
        .unwrap();
    assert_eq!(
        (reports["enabled"].as_bool(), reports["because"].as_str()),
        (Some(false), Some("customer"))
    );
    // Its users may take the template's set by name.
    let u = app
        .post(
            key,
            &format!("/v1/customers/{id}/users"),
            json!({"email": "vera@made-co.example.com", "first_name": "Vera", "last_name": "Viewer",
                "permission_set": "viewer"}),
        )
        .await;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    assert_eq!(u.body["permission_set"], "limited");
    assert_eq!(u.body["areas"], json!(["dashboard", "billing"]));
    // A customer without the template knows no such set.
    let plain = app
        .new_customer(key, "Plain Co", "admin@plain-co.example.com")
        .await;
    let refused = app
        .post(
            key,
            &format!("/v1/customers/{plain}/users"),
            json!({"email": "vic@plain-co.example.com", "first_name": "Vic", "last_name": "Viewer",
                "permission_set": "viewer"}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.error_fields(), ["permission_set"]);

    // What the creation names itself wins over the template.
    let mut own = with_template("Own Cap Co", "admin@own-cap.example.com", "agency");
    own["max_users"] = json!(3);
    let c2 = app.post(key, "/v1/customers", own).await;
    assert_eq!(c2.body["max_users"], 3, "{}", c2.body);

    // A change of the template leaves customers made from it as they are.
    let changed = app
        .patch(
            key,
            "/v1/customer-templates/agency",
            json!({"max_users": null, "plan": "basic", "features": {}}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(
        (
            changed.body["max_users"].is_null(),
            changed.body["plan"].as_str()
        ),
        (true, Some("basic"))
    );
    assert_eq!(
        changed.body["description"],
        "Agencies on Growth, without reports"
    );
    assert_eq!(
        app.get(key, &format!("/v1/customers/{id}")).await.body["max_users"],
        5
    );
    // The template is a creation's only: a customer's PATCH refuses it.
    let patch = app
        .patch(
            key,
            &format!("/v1/customers/{id}"),
            json!({"template": "agency"}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(patch.error_fields(), ["template"]);

    // Removed: gone, and no creation can name it.
    assert_eq!(
        app.delete(key, "/v1/customer-templates/agency")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(key, "/v1/customer-templates/agency").await.status,
        StatusCode::NOT_FOUND
    );
    let gone = app
        .post(
            key,
            "/v1/customers",
            with_template("Late Co", "admin@late-co.example.com", "agency"),
        )
        .await;
    assert_eq!(
        gone.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        gone.body
    );
    assert_eq!(gone.error_fields(), ["template"]);
}

#[tokio::test]
async fn a_bad_template_is_refused_by_field_and_a_failed_creation_leaves_nothing() {
    let app = spawn_app().await;
    plans(&app).await;
    let t = app.new_tenant("strict").await;
    let key = &t.owner_key;
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        (json!({"code": "Bad Code"}), "code", invalid),
        (json!({"code": "x", "plan": "nope"}), "plan", invalid),
        (
            json!({"code": "x", "plan": "basic", "features": {"reports": true}}),
            "features",
            invalid,
        ),
        (json!({"code": "x", "max_users": 0}), "max_users", invalid),
        (
            json!({"code": "x", "permission_sets": {"full": {"permission_set": "read_only"}}}),
            "permission_sets.full",
            invalid,
        ),
        (
            json!({"code": "x", "permission_sets": {"odd": {"permission_set": "limited"}}}),
            "permission_sets.odd.areas",
            invalid,
        ),
        (
            json!({"code": "x", "surprise": 1}),
            "surprise",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, field, status) in cases {
        let r = app.post(key, "/v1/customer-templates", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.error_fields(), [field], "{body}: {}", r.body);
    }
    assert!(
        app.get(key, "/v1/customer-templates").await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let made = app.post(key, "/v1/customer-templates", agency()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let again = app.post(key, "/v1/customer-templates", agency()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.problem_type(),
        "urn:tenantry:problem:duplicate-template"
    );
    let renamed = app
        .patch(
            key,
            "/v1/customer-templates/agency",
            json!({"code": "other"}),
        )
        .await;
    assert_eq!(renamed.error_fields(), ["code"]);

    // A creation that fails in its transaction (the name is taken) writes nothing: no
    // subscription, no switches, no customer.
    app.new_customer(key, "Taken Co", "first@taken-co.example.com")
        .await;
    let before = app.all_items().len();
    let dup = app
        .post(
            key,
            "/v1/customers",
            with_template("Taken Co", "second@taken-co.example.com", "agency"),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.body);
    assert_eq!(
        app.all_items().len(),
        before,
        "a failed creation leaves nothing"
    );
    // A template whose plan was archived since is refused before anything is made.
    let archived = app
        .post(&app.admin_key, "/v1/plans/growth/archive", json!({}))
        .await;
    assert!(archived.status.is_success(), "{}", archived.body);
    // The archive is a change of its own (its audit event); the refusal adds nothing.
    let before = app.all_items().len();
    let stale = app
        .post(
            key,
            "/v1/customers",
            with_template("Stale Co", "admin@stale-co.example.com", "agency"),
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        stale.body
    );
    assert_eq!(stale.error_fields(), ["template"]);
    assert_eq!(app.all_items().len(), before);

    // Another tenant neither sees nor uses it.
    let other = app.new_tenant("outsider").await;
    assert_eq!(
        app.get(&other.owner_key, "/v1/customer-templates/agency")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let foreign = app
        .post(
            &other.owner_key,
            "/v1/customers",
            with_template("Foreign Co", "admin@foreign-co.example.com", "agency"),
        )
        .await;
    assert_eq!(foreign.error_fields(), ["template"]);
    assert_eq!(
        app.delete(&other.owner_key, "/v1/customer-templates/agency")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A member reads templates but does not keep them.
    assert_eq!(
        app.post(
            &t.member_key,
            "/v1/customer-templates",
            json!({"code": "mine"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn provisioning_with_a_template_makes_the_customer_with_it_and_its_users_with_its_sets() {
    let app = spawn_app().await;
    plans(&app).await;
    let t = app.new_tenant("provtpl").await;
    let key = &t.owner_key;
    let made = app.post(key, "/v1/customer-templates", agency()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let sent = app
        .post(
            key,
            "/v1/provisioning",
            json!({"type": "customer.provision", "data": {
                "external_id": "crm-1", "template": "agency",
                "company": {"name": "Provisioned Co"},
                "admin": {"email": "admin@provisioned.example.com", "first_name": "Pia", "last_name": "Admin"},
                "users": [{"email": "val@provisioned.example.com", "first_name": "Val", "last_name": "Viewer",
                    "permission_set": "viewer"}]}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    provisioning::work_due(&app.deps).await.expect("a sweep");
    let p = app
        .get(key, &format!("/v1/provisioning/{}", sent.field("id")))
        .await;
    assert_eq!(p.body["state"], "succeeded", "{}", p.body);
    let id = p.body["result"]["customer_id"].as_str().unwrap().to_owned();
    let c = app.get(key, &format!("/v1/customers/{id}")).await;
    assert_eq!(
        (c.body["template"].as_str(), c.body["max_users"].as_u64()),
        (Some("agency"), Some(5))
    );
    let sub = app
        .get(key, &format!("/v1/customers/{id}/subscription"))
        .await;
    assert_eq!(sub.body["plan"], "growth");
    let users = app.get(key, &format!("/v1/customers/{id}/users")).await;
    let val = users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "val@provisioned.example.com")
        .cloned()
        .expect("the invited user");
    assert_eq!(val["areas"], json!(["dashboard", "billing"]));

    // A template it does not have fails the request, naming the field.
    let bad = app
        .post(
            key,
            "/v1/provisioning",
            json!({"type": "customer.provision", "data": {
                "external_id": "crm-2", "template": "missing",
                "company": {"name": "Missing Co"},
                "admin": {"email": "admin@missing.example.com", "first_name": "Mo", "last_name": "Admin"}}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::ACCEPTED, "{}", bad.body);
    provisioning::work_due(&app.deps).await.expect("a sweep");
    let p = app
        .get(key, &format!("/v1/provisioning/{}", bad.field("id")))
        .await;
    assert_eq!(p.body["state"], "failed", "{}", p.body);
    assert!(
        p.body["error"].to_string().contains("data.template"),
        "{}",
        p.body
    );

    // A plan named with the request is the one it starts on: no month on the template's
    // dearer plan, no downgrade waiting for the period's end.
    let own = app
        .post(
            key,
            "/v1/provisioning",
            json!({"type": "customer.provision", "data": {
                "external_id": "crm-3", "template": "agency", "plan": "basic",
                "company": {"name": "Basic Co"},
                "admin": {"email": "admin@basic.example.com", "first_name": "Bo", "last_name": "Admin"}}}),
        )
        .await;
    assert_eq!(own.status, StatusCode::ACCEPTED, "{}", own.body);
    provisioning::work_due(&app.deps).await.expect("a sweep");
    let p = app
        .get(key, &format!("/v1/provisioning/{}", own.field("id")))
        .await;
    assert_eq!(p.body["state"], "succeeded", "{}", p.body);
    let id = p.body["result"]["customer_id"].as_str().unwrap().to_owned();
    let sub = app
        .get(key, &format!("/v1/customers/{id}/subscription"))
        .await;
    assert_eq!(
        (sub.body["plan"].as_str(), &sub.body["pending_change"]),
        (Some("basic"), &Value::Null),
        "{}",
        sub.body
    );
    let c = app.get(key, &format!("/v1/customers/{id}")).await;
    assert_eq!(c.body["template"], "agency", "{}", c.body);

    // A template means nothing to the other types: refused, naming `data`.
    let odd = app
        .post(
            key,
            "/v1/provisioning",
            json!({"type": "customer.suspend", "data": {"external_id": "crm-3", "template": "agency"}}),
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", odd.body);
    assert_eq!(odd.error_fields(), ["data"], "{}", odd.body);
}
