//! Black-box tests of the HTTP API, through the real local server.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_tests::app::{customer_body, spawn_app};

#[tokio::test]
async fn creating_a_tenant_returns_201_with_its_owner_and_a_taken_slug_is_409() {
    let app = spawn_app().await;
    let body = json!({"name": "Acme Partners", "slug": "acme", "kind": "reseller", "commission_rate_bps": 1500,
        "owner": {"email": "Olive@Acme.example.com", "first_name": "Olive", "last_name": "Owner"}, "invoice_mode": "per_customer"});
    let r = app.post(&app.admin_key, "/v1/tenants", body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.field("id").starts_with("ten_"));
    assert_eq!(r.field("slug"), "acme");
    assert_eq!(r.field("status"), "active");
    assert_eq!(r.body["owner"]["email"], "olive@acme.example.com");
    assert!(r.body["owner"]["id"].as_str().unwrap().starts_with("mem_"));
    // The owner is shown as the members routes show a member: no password yet, and
    // nothing of its login's internals.
    assert_eq!(r.body["owner"]["has_login"], false, "{}", r.body);
    assert_eq!(r.body["owner"]["version"], 1);
    assert!(r.body["owner"].get("link_generation").is_none());
    assert_eq!(r.body["commission_rate_bps"], 1500);
    assert_eq!(r.body["invoice_mode"], "per_customer");

    let again = app.post(&app.admin_key, "/v1/tenants", body).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_type(), "urn:tenantry:problem:duplicate-slug");

    let got = app
        .get(&app.admin_key, &format!("/v1/tenants/{}", r.field("id")))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.field("name"), "Acme Partners");
    let list = app.get(&app.admin_key, "/v1/tenants").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_reseller_needs_a_commission_and_a_partner_may_not_have_one() {
    let app = spawn_app().await;
    let owner = json!({"email": "o@x.example.com", "first_name": "O", "last_name": "W"});
    let r = app
        .post(
            &app.admin_key,
            "/v1/tenants",
            json!({"name": "R", "slug": "res", "kind": "reseller", "owner": owner}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["commission_rate_bps"]);
    let r = app.post(&app.admin_key, "/v1/tenants", json!({"name": "P", "slug": "par", "kind": "partner", "commission_rate_bps": 10, "owner": owner})).await;
    assert_eq!(r.error_fields(), vec!["commission_rate_bps"]);
}

#[tokio::test]
async fn patching_a_tenant_merges_fields_and_keeps_the_slug() {
    let app = spawn_app().await;
    let t = app.new_tenant("patchy").await;
    let path = format!("/v1/tenants/{}", t.id);
    let r = app.patch(&app.admin_key, &path, json!({"name": "Patchy Ltd", "billing": {"email": "bills@patchy.example.com", "currency": "eur"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.field("name"), "Patchy Ltd");
    assert_eq!(r.body["billing"]["currency"], "EUR");
    let r = app
        .patch(&app.admin_key, &path, json!({"slug": "other"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["slug"]);
    let stale = app
        .send(
            Method::PATCH,
            &app.admin_key,
            &path,
            Some(json!({"name": "Late"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn missing_or_unknown_credentials_get_401() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("", "/v1/customers").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("tk_notarealkey", "/v1/customers").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .send(
            Method::GET,
            "",
            "/v1/customers",
            None,
            &[("authorization", "Basic Zm9vOmJhcg==")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn operators_and_tenant_keys_are_kept_to_their_own_routes() {
    let app = spawn_app().await;
    let t = app.new_tenant("sides").await;
    assert_eq!(
        app.get(&t.owner_key, "/v1/tenants").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&app.admin_key, "/v1/customers").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn creating_a_customer_returns_every_record_and_never_echoes_the_password() {
    let app = spawn_app().await;
    let t = app.new_tenant("full").await;
    let mut body = customer_body("Ácme Corporation", "Ada@Acme.example.com");
    body["admin"]["password"] = json!("Sup3r$ecretPass");
    let r = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.field("id").starts_with("cus_"));
    assert_eq!(r.field("status"), "active");
    assert_eq!(r.body["company"]["name"], "Ácme Corporation");
    assert_eq!(r.body["company"]["website"], "https://acme.example.com/");
    assert_eq!(r.body["company"]["phone"], "+31201234567");
    assert_eq!(r.body["company"]["address"]["postal_code"], "1015 CJ");
    assert_eq!(r.body["admin"]["email"], "ada@acme.example.com");
    assert!(r.body["admin"]["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(r.body["primary_contact"]["name"], "Pat Contact");
    assert!(r.body["created_at"].as_str().unwrap().ends_with('Z'));
    let text = r.body.to_string();
    assert!(
        !text.contains("Sup3r$ecretPass") && !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    assert_eq!(
        r.headers["location"],
        format!("/v1/customers/{}", r.field("id")).as_str()
    );

    let got = app
        .get(&t.member_key, &format!("/v1/customers/{}", r.field("id")))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["company"], r.body["company"]);
    assert_eq!(got.headers["etag"], "\"1\"");
}

#[tokio::test]
async fn an_invalid_customer_is_422_listing_every_bad_field() {
    let app = spawn_app().await;
    let t = app.new_tenant("bad").await;
    let r = app
        .post(&t.owner_key, "/v1/customers", json!({
            "company": {"name": "  ", "phone": "020 123 4567", "country": "Holland", "website": "not a site",
                        "address": {"city": "Amsterdam", "postal_code": "ABCDE"}},
            "admin": {"first_name": "A", "email": "ada-at-example", "password": "password"},
            "primary_contact": {"email": "nope"}
        }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    let fields = r.error_fields();
    for f in [
        "company.name",
        "company.phone",
        "company.country",
        "company.website",
        "company.address.line1",
        "admin.last_name",
        "admin.email",
        "admin.password",
        "primary_contact.email",
    ] {
        assert!(fields.contains(&f.to_string()), "{f} not in {fields:?}");
    }
    assert!(
        !r.body.to_string().contains("\"password\""),
        "the password value is never echoed"
    );
}

#[tokio::test]
async fn postal_codes_are_checked_against_the_country() {
    let app = spawn_app().await;
    let t = app.new_tenant("postal").await;
    for (country, code, ok) in [
        ("US", "94105", true),
        ("US", "9410", false),
        ("DE", "10115", true),
        ("GB", "SW1A 1AA", true),
        ("GB", "12345", false),
        ("FR", "75001", true),
        ("CA", "K1A 0B1", true),
        ("CA", "123456", false),
        ("NL", "1015CJ", true),
        ("BR", "01310-100", true),
    ] {
        let mut body = customer_body(
            &format!("Postal {country} {code}"),
            &format!("{country}{code}@p.example.com").replace(' ', ""),
        );
        body["company"]["country"] = json!(country);
        body["company"]["address"]["postal_code"] = json!(code);
        let r = app.post(&t.owner_key, "/v1/customers", body).await;
        if ok {
            assert_eq!(
                r.status,
                StatusCode::CREATED,
                "{country} {code}: {}",
                r.body
            );
        } else {
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{country} {code}"
            );
            assert_eq!(r.error_fields(), vec!["company.address.postal_code"]);
        }
    }
}

#[tokio::test]
async fn malformed_json_unknown_fields_wrong_types_content_type_and_size_are_rejected_clearly() {
    let app = spawn_app().await;
    let t = app.new_tenant("strict").await;
    let url = format!("{}/v1/customers", app.base);
    let raw = |body: &'static str, ct: &'static str| {
        app.http
            .post(&url)
            .bearer_auth(&t.owner_key)
            .header("content-type", ct)
            .body(body)
            .send()
    };

    let r = raw("{\"company\": ", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = raw("{}", "text/plain").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut body = customer_body("Strict Co", "s@strict.example.com");
    body["company"]["colour"] = json!("red");
    let r = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_fields(), vec!["company.colour"]);

    let mut body = customer_body("Strict Co", "s@strict.example.com");
    body["company"]["name"] = json!(42);
    let r = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["company.name"]);

    let mut body = customer_body("Strict Co", "s@strict.example.com");
    body["company"]["description"] = json!("x".repeat(300 * 1024));
    let r = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing of the above was stored.
    let list = app.get(&t.owner_key, "/v1/customers").await;
    assert_eq!(list.body["data"], json!([]));
}

#[tokio::test]
async fn duplicate_admin_emails_and_company_names_are_409_ignoring_case_and_accents() {
    let app = spawn_app().await;
    let t = app.new_tenant("dupes").await;
    app.new_customer(&t.owner_key, "Zoë Bakery", "zoe@bakery.example.com")
        .await;
    let r = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body("Other Name", "ZOË@Bakery.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.problem_type(), "urn:tenantry:problem:duplicate-email");
    let r = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body("ZOE  bakery", "other@bakery.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.problem_type(),
        "urn:tenantry:problem:duplicate-company-name"
    );
    // Another tenant may use both: uniqueness is per tenant.
    let other = app.new_tenant("dupes-two").await;
    app.new_customer(&other.owner_key, "Zoë Bakery", "zoe@bakery.example.com")
        .await;
}

/// 20 creates at once with one admin email: exactly one 201, nineteen 409s, one customer.
async fn race_twenty_creates(app: &tenantry_tests::app::TestApp, slug: &str) {
    let t = app.new_tenant(slug).await;
    let results = futures::future::join_all((0..20).map(|i| {
        app.post(
            &t.owner_key,
            "/v1/customers",
            customer_body(&format!("Racer {i}"), "same@race.example.com"),
        )
    }))
    .await;
    let statuses: Vec<StatusCode> = results.iter().map(|r| r.status).collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    let found = app
        .get(&t.owner_key, "/v1/customers?q=racer&limit=100")
        .await;
    assert_eq!(found.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_creates_with_one_admin_email_make_exactly_one_customer() {
    race_twenty_creates(&spawn_app().await, "race").await;
}

#[tokio::test]
async fn search_matches_word_prefixes_ignoring_case_and_accents_sorted_by_name() {
    let app = spawn_app().await;
    let t = app.new_tenant("search").await;
    for (i, name) in [
        "Acme Corporation",
        "Ácme Tools",
        "Beta Corp",
        "Gamma Incorporated",
        "Delta",
    ]
    .iter()
    .enumerate()
    {
        app.new_customer(&t.owner_key, name, &format!("a{i}@s.example.com"))
            .await;
    }
    let names = |r: &tenantry_tests::app::Resp| {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["company"]["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&app.get(&t.member_key, "/v1/customers?q=acm").await),
        vec!["Acme Corporation", "Ácme Tools"]
    );
    assert_eq!(
        names(&app.get(&t.member_key, "/v1/customers?q=CORP").await),
        vec!["Acme Corporation", "Beta Corp"]
    );
    assert_eq!(
        names(&app.get(&t.member_key, "/v1/customers?q=corporation").await),
        vec!["Acme Corporation"]
    );
    assert_eq!(
        names(&app.get(&t.member_key, "/v1/customers?q=acme%20corp").await),
        vec!["Acme Corporation"]
    );
    assert_eq!(
        names(&app.get(&t.member_key, "/v1/customers?q=orp").await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&app.get(&t.member_key, "/v1/customers").await),
        vec![
            "Acme Corporation",
            "Ácme Tools",
            "Beta Corp",
            "Delta",
            "Gamma Incorporated"
        ]
    );
    let r = app.get(&t.member_key, "/v1/customers?q=%21%21").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Another tenant's search sees none of these.
    let other = app.new_tenant("search-two").await;
    assert_eq!(
        names(&app.get(&other.owner_key, "/v1/customers?q=acme").await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn listing_pages_with_a_cursor_until_every_customer_is_seen_once() {
    let app = spawn_app().await;
    let t = app.new_tenant("pages").await;
    for i in 0..7 {
        app.new_customer(
            &t.owner_key,
            &format!("Paged {i:02}"),
            &format!("p{i}@pages.example.com"),
        )
        .await;
    }
    for base in [
        "/v1/customers?limit=3",
        "/v1/customers?limit=3&q=paged",
        "/v1/customers?limit=3&status=active",
        "/v1/customers?limit=2&q=pag&status=active",
    ] {
        let mut seen = Vec::new();
        let mut url = base.to_owned();
        loop {
            let r = app.get(&t.owner_key, &url).await;
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
            seen.extend(
                r.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["company"]["name"].as_str().unwrap().to_owned()),
            );
            match r.body["next_cursor"].as_str() {
                Some(c) => url = format!("{base}&cursor={c}"),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).map(|i| format!("Paged {i:02}")).collect();
        assert_eq!(seen, expected, "{base}");
    }
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers?limit=0").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers?limit=101")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers?cursor=garbage")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_cursor_from_another_tenant_never_reads_across() {
    let app = spawn_app().await;
    let a = app.new_tenant("cursor-a").await;
    let b = app.new_tenant("cursor-b").await;
    for i in 0..3 {
        app.new_customer(
            &a.owner_key,
            &format!("A{i}"),
            &format!("a{i}@a.example.com"),
        )
        .await;
    }
    let r = app.get(&a.owner_key, "/v1/customers?limit=1").await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &b.owner_key,
            &format!("/v1/customers?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), vec!["cursor"]);
}

#[tokio::test]
async fn the_lifecycle_moves_only_along_allowed_transitions() {
    let app = spawn_app().await;
    let t = app.new_tenant("life").await;
    let id = app
        .new_customer(&t.owner_key, "Life Co", "l@life.example.com")
        .await;
    let act = |a: &str| format!("/v1/customers/{id}/{a}");
    let r = app.post(&t.owner_key, &act("deactivate"), json!({})).await;
    assert_eq!((r.status, r.field("status")), (StatusCode::OK, "inactive"));
    let r = app.post(&t.owner_key, &act("deactivate"), json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.problem_type(), "urn:tenantry:problem:invalid-transition");
    assert_eq!(
        r.body["allowed_transitions"],
        json!(["suspend", "reactivate", "delete"])
    );
    // The problem's `status` is the HTTP status (RFC 9457); the customer's is its own member.
    assert_eq!(r.body["status"], 409);
    assert_eq!(r.body["customer_status"], "inactive");
    let r = app.post(&t.owner_key, &act("suspend"), json!({})).await;
    assert_eq!(r.field("status"), "suspended");
    let r = app.post(&t.owner_key, &act("reactivate"), json!({})).await;
    assert_eq!(r.field("status"), "active");
    assert_eq!(
        app.post(&t.owner_key, &act("restore"), json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    // Members may read but not change customers.
    assert_eq!(
        app.post(&t.member_key, &act("suspend"), json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn deleting_needs_confirmation_hides_the_customer_and_restore_brings_it_back_as_it_was() {
    let app = spawn_app().await;
    let t = app.new_tenant("del").await;
    let id = app
        .new_customer(&t.owner_key, "Doomed Co", "d@del.example.com")
        .await;
    app.post(
        &t.owner_key,
        &format!("/v1/customers/{id}/suspend"),
        json!({}),
    )
    .await;
    let r = app
        .delete(&t.owner_key, &format!("/v1/customers/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("confirm=true"));
    let r = app
        .delete(&t.owner_key, &format!("/v1/customers/{id}?confirm=true"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.field("status"), "deleted");
    assert!(r.body["purge_after"].is_string());
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers?q=doomed").await.body["data"],
        json!([])
    );
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers").await.body["data"],
        json!([])
    );
    let deleted = app.get(&t.owner_key, "/v1/customers?status=deleted").await;
    assert_eq!(deleted.body["data"][0]["id"], json!(id));
    let found = app
        .get(&t.owner_key, "/v1/customers?status=deleted&q=doom")
        .await;
    assert_eq!(found.body["data"][0]["id"], json!(id));
    // Name and email stay taken while it can be restored.
    let r = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body("Doomed Co", "new@del.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{id}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.field("status"),
        "suspended",
        "restore returns to the status before deletion"
    );
    assert!(r.body.get("purge_after").is_none());
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers?q=doomed").await.body["data"][0]["id"],
        json!(id)
    );
}

#[tokio::test]
async fn the_purge_removes_a_customer_after_30_days_and_frees_its_email_and_name() {
    let app = spawn_app().await;
    let t = app.new_tenant("purge").await;
    let id = app
        .new_customer(&t.owner_key, "Gone Co", "g@purge.example.com")
        .await;
    let keep = app
        .new_customer(&t.owner_key, "Kept Co", "k@purge.example.com")
        .await;
    app.delete(&t.owner_key, &format!("/v1/customers/{id}?confirm=true"))
        .await;

    let now = chrono::Utc::now();
    let early = tenantry::service::purge::run(&app.deps, now + chrono::Duration::days(29))
        .await
        .unwrap();
    assert_eq!(early.customers_purged, 0);
    assert_eq!(
        app.get(&t.owner_key, &format!("/v1/customers/{id}"))
            .await
            .status,
        StatusCode::OK
    );

    let report = tenantry::service::purge::run(&app.deps, now + chrono::Duration::days(31))
        .await
        .unwrap();
    assert_eq!(report.customers_purged, 1);
    assert_eq!(
        app.get(&t.owner_key, &format!("/v1/customers/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&t.owner_key, &format!("/v1/customers/{keep}"))
            .await
            .status,
        StatusCode::OK
    );
    let leftovers: Vec<String> = app
        .all_items()
        .into_iter()
        .map(|i| format!("{} {}", i.pk, i.sk))
        .filter(|k| k.contains(&id) || k.contains("gone co") || k.contains("g@purge"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
    app.new_customer(&t.owner_key, "Gone Co", "g@purge.example.com")
        .await;
}

#[tokio::test]
async fn patching_a_customer_merges_revalidates_and_detects_lost_updates() {
    let app = spawn_app().await;
    let t = app.new_tenant("patch").await;
    let id = app
        .new_customer(&t.owner_key, "Old Name", "o@patch.example.com")
        .await;
    let other = app
        .new_customer(&t.owner_key, "Taken Name", "t@patch.example.com")
        .await;
    let path = format!("/v1/customers/{id}");
    let r = app.patch(&t.owner_key, &path, json!({"company": {"name": "New Name", "description": null}, "admin": {"email": "n@patch.example.com"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["company"]["name"], "New Name");
    assert!(r.body["company"].get("description").is_none());
    assert_eq!(r.body["company"]["country"], "NL", "untouched fields stay");
    assert_eq!(r.body["version"], 2);
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers?q=new").await.body["data"][0]["id"],
        json!(id)
    );
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers?q=old").await.body["data"],
        json!([])
    );
    // The old email and name are free again; the other customer's are not.
    app.new_customer(&t.owner_key, "Old Name", "o@patch.example.com")
        .await;
    let r = app
        .patch(
            &t.owner_key,
            &path,
            json!({"company": {"name": "taken name"}}),
        )
        .await;
    assert_eq!(
        r.problem_type(),
        "urn:tenantry:problem:duplicate-company-name"
    );
    let r = app
        .patch(&t.owner_key, &path, json!({"company": {"phone": "12"}}))
        .await;
    assert_eq!(r.error_fields(), vec!["company.phone"]);
    let r = app
        .patch(
            &t.owner_key,
            &path,
            json!({"admin": {"password": "Sup3r$ecretPass"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Two writers that both read version 2: one wins, the other is told.
    let a = app.send(
        Method::PATCH,
        &t.owner_key,
        &path,
        Some(json!({"company": {"description": "a"}})),
        &[("if-match", "\"2\"")],
    );
    let b = app.send(
        Method::PATCH,
        &t.owner_key,
        &path,
        Some(json!({"company": {"description": "b"}})),
        &[("if-match", "\"2\"")],
    );
    let (a, b) = tokio::join!(a, b);
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert!(
        statuses == [200, 409] || statuses == [200, 412],
        "{statuses:?}"
    );
    let _ = other;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_refuses_a_different_body() {
    let app = spawn_app().await;
    let t = app.new_tenant("idem").await;
    let body = customer_body("Once Co", "once@idem.example.com");
    let h = [("idempotency-key", "3f1c-once")];
    let first = app
        .send(
            Method::POST,
            &t.owner_key,
            "/v1/customers",
            Some(body.clone()),
            &h,
        )
        .await;
    let second = app
        .send(Method::POST, &t.owner_key, "/v1/customers", Some(body), &h)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(first.field("id"), second.field("id"));
    assert_eq!(second.headers["idempotent-replayed"], "true");
    let other = app
        .send(
            Method::POST,
            &t.owner_key,
            "/v1/customers",
            Some(customer_body("Twice Co", "twice@idem.example.com")),
            &h,
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(
        other.problem_type(),
        "urn:tenantry:problem:idempotency-key-reused"
    );
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Keys are per tenant: another tenant's identical key is a different request.
    let u = app.new_tenant("idem-two").await;
    let r = app
        .send(
            Method::POST,
            &u.owner_key,
            "/v1/customers",
            Some(customer_body("Once Co", "once@idem.example.com")),
            &h,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.field("id"), first.field("id"));
}

#[tokio::test]
async fn members_are_managed_by_owners_and_a_tenant_keeps_an_owner() {
    let app = spawn_app().await;
    let t = app.new_tenant("staff").await;
    let body = json!({"email": "Mia@staff.example.com", "first_name": "Mia", "last_name": "Member", "role": "member"});
    assert_eq!(
        app.post(&t.member_key, "/v1/members", body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let m = app.post(&t.owner_key, "/v1/members", body.clone()).await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
    assert_eq!(m.field("email"), "mia@staff.example.com");
    assert_eq!(
        app.post(&t.owner_key, "/v1/members", body).await.status,
        StatusCode::CONFLICT
    );
    let list = app.get(&t.member_key, "/v1/members").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    let owner_id = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "owner")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            &t.owner_key,
            &format!("/v1/members/{owner_id}"),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.problem_type(), "urn:tenantry:problem:last-owner");
    assert_eq!(
        app.delete(&t.owner_key, &format!("/v1/members/{owner_id}"))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let promoted = app
        .patch(
            &t.owner_key,
            &format!("/v1/members/{}", m.field("id")),
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(promoted.field("role"), "owner");
    assert_eq!(
        app.delete(&t.owner_key, &format!("/v1/members/{owner_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&t.owner_key, &format!("/v1/members/{owner_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn owners_issue_and_revoke_keys_and_a_revoked_key_is_401() {
    let app = spawn_app().await;
    let t = app.new_tenant("keys").await;
    assert_eq!(
        app.post(
            &t.member_key,
            "/v1/api-keys",
            json!({"name": "x", "role": "owner"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let k = app
        .post(
            &t.owner_key,
            "/v1/api-keys",
            json!({"name": "ci", "role": "member"}),
        )
        .await;
    assert_eq!(k.status, StatusCode::CREATED);
    let secret = k.field("secret").to_owned();
    assert!(secret.starts_with("tk_"));
    assert_eq!(
        app.get(&secret, "/v1/customers").await.status,
        StatusCode::OK
    );
    let list = app.get(&t.owner_key, "/v1/api-keys").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 3);
    assert!(
        !list.body.to_string().contains(&secret),
        "a listed key never shows its secret"
    );
    assert!(!list.body.to_string().contains("secret_hash"));
    assert_eq!(
        app.delete(&t.owner_key, &format!("/v1/api-keys/{}", k.field("id")))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&secret, "/v1/customers").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_are_405() {
    let app = spawn_app().await;
    let t = app.new_tenant("routes").await;
    assert_eq!(
        app.get(&t.owner_key, "/v1/nothing").await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .send(Method::PUT, &t.owner_key, "/v1/customers", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET, POST");
    assert_eq!(
        app.get(&t.owner_key, "/v1/customers/cus_nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn hostile_input_never_causes_a_server_error() {
    hostile_input(&spawn_app().await, "hostile").await;
}

#[tokio::test]
async fn on_dynamodb_hostile_input_never_causes_a_server_error() {
    let Some(store) = tenantry_tests::dynamo::store_from_env("dynamodb hostile").await else {
        return;
    };
    let app = tenantry_tests::app::spawn_app_on(std::sync::Arc::new(store)).await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    hostile_input(&app, &format!("hostile-{}", nanos % 1_000_000_000)).await;
}

/// Long, odd and malformed values on every body, query and path: never a 5xx.
async fn hostile_input(app: &tenantry_tests::app::TestApp, slug: &str) {
    let t = app.new_tenant(slug).await;
    let long = "ä".repeat(20_000);
    let nasty: Vec<Value> = vec![
        json!(null),
        json!([]),
        json!("string"),
        json!(1e308),
        json!({"company": null, "admin": null}),
        json!({"company": {"name": long}, "admin": {"email": long, "first_name": long, "last_name": long}}),
        json!({"company": {"name": "\u{0000}\u{0007}#T#x", "country": "\u{0000}", "address": {"line1": "\u{202e}", "postal_code": "\u{0000}"}}, "admin": {"first_name": "a", "last_name": "b", "email": "a@b.example.com", "password": "\u{0000}"}}),
        json!({"company": {"name": "#"}, "admin": {"first_name": "a", "last_name": "b", "email": "x@y.example.com"}}),
        json!({"company": {"name": "💥 Émoji Ltd"}, "admin": {"first_name": "a", "last_name": "b", "email": "e@emoji.example.com", "password": "Aa1!".repeat(100)}}),
        json!({"company": {"name": [1, 2]}, "admin": {"email": {"a": 1}}}),
    ];
    let mut deep = json!("x");
    for _ in 0..200 {
        deep = json!({ "company": deep });
    }
    let mut bodies = nasty.clone();
    bodies.push(deep);
    for path in ["/v1/customers", "/v1/members", "/v1/api-keys"] {
        for b in &bodies {
            let r = app.post(&t.owner_key, path, b.clone()).await;
            assert!(
                r.status.is_client_error() || r.status.is_success(),
                "{path} {b:.80}: {}",
                r.status
            );
        }
    }
    // Patches of a real customer, so validation (not a 404) answers them.
    let target = app
        .new_customer(&t.owner_key, "Patch Target", "pt@hostile.example.com")
        .await;
    let member = app.post(&t.owner_key, "/v1/members", json!({"email": "hm@hostile.example.com", "first_name": "H", "last_name": "M", "role": "member"})).await;
    for path in [
        format!("/v1/customers/{target}"),
        format!("/v1/members/{}", member.field("id")),
        format!("/v1/tenants/{}", t.id),
    ] {
        let key = if path.starts_with("/v1/tenants") {
            app.admin_key.clone()
        } else {
            t.owner_key.clone()
        };
        for b in &bodies {
            let r = app.patch(&key, &path, b.clone()).await;
            assert!(
                r.status.is_client_error() || r.status.is_success(),
                "PATCH {path} {b:.80}: {}",
                r.status
            );
        }
    }
    let after = app
        .get(&t.owner_key, &format!("/v1/customers/{target}"))
        .await;
    assert_eq!(after.status, StatusCode::OK);
    for q in [
        "%00",
        "%23%23%23",
        "%F0%9F%92%A5",
        &"a".repeat(5000),
        "%E2%80%AE",
        "T%23",
    ] {
        for param in ["q", "status", "limit", "cursor"] {
            let r = app
                .get(&t.owner_key, &format!("/v1/customers?{param}={q}"))
                .await;
            assert!(
                r.status.is_client_error() || r.status.is_success(),
                "{param}={q:.40}: {}",
                r.status
            );
        }
    }
    for id in ["..%2F..%2F", "%00", "cus_%23T%23other", &"9".repeat(3000)] {
        let r = app.get(&t.owner_key, &format!("/v1/customers/{id}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id:.40}");
    }
}

#[tokio::test]
async fn on_dynamodb_twenty_concurrent_creates_with_one_admin_email_make_exactly_one_customer() {
    let Some(store) = tenantry_tests::dynamo::store_from_env("dynamodb race").await else {
        return;
    };
    let app = tenantry_tests::app::spawn_app_on(std::sync::Arc::new(store)).await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    race_twenty_creates(&app, &format!("race-{}", nanos % 1_000_000_000)).await;
}

#[tokio::test]
async fn a_crafted_cursor_is_a_422_never_a_server_error() {
    use base64::Engine;
    let app = spawn_app().await;
    let t = app.new_tenant("crafted").await;
    app.new_customer(&t.owner_key, "Crafted Co", "c@crafted.example.com")
        .await;
    let own = format!("T#{}", t.id);
    let cursors = [
        json!({"l": "customers", "p": {"pk": format!("{own}#IX#"), "sk": "", "gsi1pk": null, "gsi1sk": null}}),
        json!({"l": "customers", "p": {"pk": format!("{own}#IX#"), "sk": "x".repeat(2000), "gsi1pk": null, "gsi1sk": null}}),
        json!({"l": "customers", "p": {"pk": format!("{own}#IX#"), "sk": "a\u{0}b", "gsi1pk": null, "gsi1sk": null}}),
        json!({"l": "customers-status", "p": {"pk": format!("{own}#C#x"), "sk": "PROFILE", "gsi1pk": format!("{own}#ST#active"), "gsi1sk": null}}),
        json!({"l": "members", "p": {"pk": own, "sk": "", "gsi1pk": null, "gsi1sk": null}}),
    ];
    for (i, c) in cursors.iter().enumerate() {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
        let list = if i == 3 {
            "/v1/customers?status=active"
        } else if i == 4 {
            "/v1/members?"
        } else {
            "/v1/customers?"
        };
        let r = app.get(&t.owner_key, &format!("{list}&cursor={raw}")).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "cursor {i}: {}",
            r.body
        );
        assert_eq!(r.error_fields(), vec!["cursor"]);
    }
}

#[tokio::test]
async fn a_name_that_cannot_be_indexed_is_refused_and_shorter_names_sort_first() {
    let app = spawn_app().await;
    let t = app.new_tenant("names").await;
    let r = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body(&"😀".repeat(130), "e@names.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), vec!["company.name"]);
    let wordy = "Aardvark Bakery Catering Distribution Enterprises Fulfillment Greenhouse Hospitality International Zymurgy";
    let r = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body(wordy, "w@names.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    app.new_customer(&t.owner_key, "Acme Corp", "a1@names.example.com")
        .await;
    app.new_customer(&t.owner_key, "Acme", "a2@names.example.com")
        .await;
    let r = app.get(&t.owner_key, "/v1/customers?q=acme").await;
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["company"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Acme", "Acme Corp"]);
}

#[tokio::test]
async fn a_replayed_key_creation_never_hands_out_the_secret_again_and_no_secret_is_stored() {
    let app = spawn_app().await;
    let t = app.new_tenant("secrets").await;
    let h = [("idempotency-key", "make-key-1")];
    let first = app
        .send(
            Method::POST,
            &t.owner_key,
            "/v1/api-keys",
            Some(json!({"name": "ci", "role": "member"})),
            &h,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let secret = first.field("secret").to_owned();
    assert!(secret.starts_with("tk_"));
    let again = app
        .send(
            Method::POST,
            &t.owner_key,
            "/v1/api-keys",
            Some(json!({"name": "ci", "role": "member"})),
            &h,
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.field("id"), first.field("id"));
    assert!(again.body.get("secret").is_none(), "{}", again.body);
    for item in app.all_items() {
        let text = serde_json::to_string(&item).unwrap();
        assert!(
            !text.contains(&secret),
            "a stored item holds the secret: {} / {}",
            item.pk,
            item.sk
        );
    }
}

#[tokio::test]
async fn two_owners_removing_each_other_at_once_leave_one_owner() {
    let app = spawn_app().await;
    let t = app.new_tenant("owners").await;
    let second = app.post(&t.owner_key, "/v1/members", json!({"email": "o2@owners.example.com", "first_name": "O", "last_name": "Two", "role": "owner"})).await;
    let list = app.get(&t.owner_key, "/v1/members").await;
    let first_id = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "owner@owners.example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        let (path_a, path_b) = (
            format!("/v1/members/{first_id}"),
            format!("/v1/members/{}", second.field("id")),
        );
        let (a, b) = tokio::join!(
            app.patch(&t.owner_key, &path_a, json!({"role": "member"})),
            app.patch(&t.owner_key, &path_b, json!({"role": "member"}))
        );
        let owners = app.get(&t.owner_key, "/v1/members").await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "{} {}", a.status, b.status);
        // Put both back as owners for the next round.
        for id in [first_id.as_str(), second.field("id")] {
            app.patch(
                &t.owner_key,
                &format!("/v1/members/{id}"),
                json!({"role": "owner"}),
            )
            .await;
        }
    }
}

use tenantry_tests::app::TestClock;

#[tokio::test]
async fn an_idempotency_key_is_free_again_after_24_hours_and_after_an_abandoned_request() {
    use tenantry::service::idempotency::{Begin, begin, finish};
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(TestClock(std::sync::Mutex::new(chrono::Utc::now())));
    let mut deps = tenantry::Deps::new(std::sync::Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("i.redb")).unwrap(),
    ));
    deps.clock = clock.clone();
    let who = tenantry::access::Principal::Staff {
        tenant_id: tenantry::model::ids::TenantId::from_record("ten_x"),
        role: tenantry::access::StaffRole::Owner,
        actor: "key_x".into(),
        billing_only: false,
    };
    let Begin::Proceed(ticket) = begin(&deps, &who, "k", "POST", "/v1/customers", b"A")
        .await
        .unwrap()
    else {
        panic!("first use proceeds")
    };
    finish(&deps, ticket, 201, &json!({"id": "cus_a"}))
        .await
        .unwrap();
    assert!(
        matches!(begin(&deps, &who, "k", "POST", "/v1/customers", b"A").await.unwrap(), Begin::Replay(r) if r.body["id"] == "cus_a")
    );
    assert!(
        begin(&deps, &who, "k", "POST", "/v1/customers", b"B")
            .await
            .is_err(),
        "another body is refused within 24 h"
    );
    *clock.0.lock().unwrap() += chrono::Duration::hours(25);
    let Begin::Proceed(ticket) = begin(&deps, &who, "k", "POST", "/v1/customers", b"B")
        .await
        .unwrap()
    else {
        panic!("an expired key is taken over, not replayed")
    };
    // That request dies without finishing: the key is busy for a minute, then free.
    let _ = ticket;
    assert!(
        begin(&deps, &who, "k", "POST", "/v1/customers", b"B")
            .await
            .is_err()
    );
    *clock.0.lock().unwrap() += chrono::Duration::seconds(61);
    assert!(matches!(
        begin(&deps, &who, "k", "POST", "/v1/customers", b"B")
            .await
            .unwrap(),
        Begin::Proceed(_)
    ));
}

#[tokio::test]
async fn the_local_server_serves_the_api_document() {
    let app = spawn_app().await;
    let r = app.get("", "/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body, functions::openapi::document());
    assert_eq!(r.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_operator_lists_its_keys_and_revokes_another_but_not_the_one_in_use() {
    let app = spawn_app().await;
    let second = "tk_a_second_operator_key_for_revocation_0001";
    let second_id = tenantry::service::auth::register_operator_key(&app.deps, second)
        .await
        .unwrap();
    let list = app.get(&app.admin_key, "/v1/operator-keys").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let keys = list.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 2, "{}", list.body);
    assert!(
        !list.body.to_string().contains("secret"),
        "no secret and no hash: {}",
        list.body
    );
    assert!(keys.iter().any(|k| k["hint"] == second[..9]));
    // A tenant's key is not the operator, and cannot be registered as one.
    let t = app.new_tenant("opkeys").await;
    assert!(
        tenantry::service::auth::register_operator_key(&app.deps, &t.owner_key)
            .await
            .is_err()
    );
    assert_eq!(
        app.get(&t.owner_key, "/v1/operator-keys").await.status,
        StatusCode::FORBIDDEN
    );
    // Not the key in use.
    let me = app.get(&app.admin_key, "/v1/me").await;
    let own = me.body["key_id"].as_str().unwrap_or_default().to_owned();
    let r = app
        .delete(&app.admin_key, &format!("/v1/operator-keys/{own}"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.problem_type(), "urn:tenantry:problem:key-in-use");
    // Another: gone, and its next request is 401.
    assert_eq!(app.get(second, "/v1/tenants").await.status, StatusCode::OK);
    let r = app
        .delete(&app.admin_key, &format!("/v1/operator-keys/{second_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        app.get(second, "/v1/tenants").await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .delete(&app.admin_key, &format!("/v1/operator-keys/{second_id}"))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&app.admin_key, "/v1/operator-keys").await.body["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// The fields the document says a create must carry (`a`, `b.c`), from its `...Create`
/// schema.
fn documented_required(doc: &Value, body_ref: &str) -> Vec<String> {
    fn walk(schema: &Value, at: &str, out: &mut Vec<String>) {
        for field in schema["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap();
            let inner = &schema["properties"][field];
            if inner["required"].is_array() {
                walk(inner, &format!("{at}{field}."), out);
            } else {
                out.push(format!("{at}{field}"));
            }
        }
    }
    let name = body_ref.rsplit('/').next().unwrap();
    let mut out = Vec::new();
    walk(
        &doc["components"]["schemas"][name]["allOf"][1],
        "",
        &mut out,
    );
    out.sort();
    out
}

#[tokio::test]
async fn every_create_requires_what_the_document_says_it_requires() {
    let (app, _dir) = tenantry_tests::app::spawn_app_with_logins().await;
    let t = app.new_tenant("required").await;
    // A customer's own routes (`/v1/me/...`) take its user's token.
    let (_, _, own_token) = app.customer_signed_in(&t, "Asker", "Sup3r$ecret!").await;
    let customer = app
        .new_customer(&t.owner_key, "Required Co", "admin@required.example.com")
        .await;
    let doc = functions::openapi::document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(body_ref) =
            item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .filter(|r| r.ends_with("Create"))
        else {
            continue;
        };
        // A body is checked before the invoice is looked for.
        let concrete = path
            .replace("{tenant_id}", &t.id)
            .replace("{customer_id}", &customer)
            .replace("{invoice_id}", "inv_202611000000000000000000000000aa");
        assert!(!concrete.contains('{'), "no id for {path}");
        let operator = [
            "/v1/tenants",
            "/v1/plans",
            "/v1/billable-metrics",
            "/v1/invoices",
            "/v1/connectors",
        ];
        let key = if operator.iter().any(|p| path.starts_with(p)) {
            &app.admin_key
        } else if path.starts_with("/v1/me/") {
            &own_token
        } else {
            &t.owner_key
        };
        let required = documented_required(doc, body_ref);
        assert!(!required.is_empty(), "{path}: {body_ref} requires nothing");
        // Nothing sent: every required field is named (the nested ones by their object).
        let r = app.post(key, &concrete, json!({})).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            r.body
        );
        let mut top: Vec<String> = required
            .iter()
            .map(|f| f.split('.').next().unwrap().to_owned())
            .collect();
        top.dedup();
        let mut named = r.error_fields();
        named.sort();
        top.sort();
        assert_eq!(named, top, "{path}: the server and {body_ref} disagree");
        // Each nested object sent empty: its required fields are named one by one.
        let mut body = json!({});
        for f in &required {
            if let Some((outer, _)) = f.split_once('.') {
                body[outer] = json!({});
            }
        }
        let r = app.post(key, &concrete, body).await;
        let mut named = r.error_fields();
        named.sort();
        assert_eq!(
            named, required,
            "{path}: the server and {body_ref} disagree"
        );
        checked += 1;
    }
    assert_eq!(checked, 19, "the create operations with a documented body");
}
