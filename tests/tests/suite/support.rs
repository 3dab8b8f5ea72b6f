//! Support sessions over HTTP (the local server, embedded store and logins):
//!
//! - a staff member starts one in a customer that allows it; its token acts as the
//!   customer's admin (its users, its feature switches), every change recorded with the
//!   staff member as actor, on behalf of the admin, with the session's id; the admin
//!   lists the session with what was done, and ends it: the token is refused at once;
//! - its expiry, the customer's suspension, the key's revocation and the admin
//!   disabling support access each refuse the token at once;
//! - walking every route, a session token of customer A reaches nothing of another
//!   customer, nothing of the tenant's, nothing of another tenant, and never the
//!   consent that is the customer's alone; staff cannot start one in another tenant.

use std::sync::Arc;

use functions::routes::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry_tests::app::{
    TestApp, TestClock, TestTenant, pending_email_value, spawn_app_with_logins_at,
};

const PASSWORD: &str = "Sup3r$ecret!";

/// A customer whose admin signs in: (customer id, admin's user id, admin's token).
async fn customer(app: &TestApp, t: &TestTenant, name: &str) -> (String, String, String) {
    app.customer_signed_in(t, name, PASSWORD).await
}

async fn start(app: &TestApp, key: &str, customer: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .post(
            key,
            &format!("/v1/customers/{customer}/support-sessions"),
            body,
        )
        .await;
    (r.status, r.body)
}

/// A session started by the tenant's owner key; its token.
async fn session(app: &TestApp, key: &str, customer: &str, body: Value) -> String {
    let (status, s) = start(app, key, customer, body).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    s["token"].as_str().unwrap_or_default().to_owned()
}

/// What `GET /v1/me` answers the token.
async fn works(app: &TestApp, token: &str) -> StatusCode {
    app.get(token, "/v1/me").await.status
}

#[tokio::test]
async fn a_session_acts_as_the_admin_under_both_names_and_ends_at_once() {
    let (app, _dir) = spawn_app_with_logins_at(None).await;
    let t = app.new_tenant("helpdesk").await;
    let (x, x_admin_id, x_admin) = customer(&app, &t, "Xenon").await;
    let (y, _, _) = customer(&app, &t, "Yarrow").await;
    let staff = app
        .staff_token(
            &t.id,
            &t.slug,
            "owner@helpdesk.example.com",
            "Staff$ecret-42",
        )
        .await;
    let me = app.get(&staff, "/v1/me").await;
    let member_id = me.body["member"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(member_id.starts_with("mem_"), "{}", me.body);

    // A reason is required, and at most 60 minutes.
    let (status, body) = start(&app, &staff, &x, json!({"minutes": 90})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["reason", "minutes"], "{body}");

    let (status, started) = start(
        &app,
        &staff,
        &x,
        json!({"reason": "Set up SSO as asked in ticket 4711", "minutes": 20}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["status"], "active");
    assert_eq!(started["claims"]["sub"], json!(x_admin_id));
    assert_eq!(started["claims"]["act"]["sub"], json!(member_id));
    assert_eq!(started["claims"]["sid"], started["id"]);
    let token = started["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("sst_"));
    let session = started["id"].as_str().expect("an id").to_owned();
    assert!(
        pending_email_value(
            &app.deps,
            &t.id,
            "admin@xenon.example.com",
            "support_session_started",
            "reason"
        )
        .await
        .is_some_and(|r| r.contains("4711")),
        "the admin is told at once"
    );

    // The token acts as the admin, inside its one customer.
    let me = app.get(&token, "/v1/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["user"]["id"], json!(x_admin_id));
    assert_eq!(me.body["support_session"]["act"]["sub"], json!(member_id));
    let r = app
        .post(
            &token,
            &format!("/v1/customers/{x}/users"),
            json!({"email": "uma@xenon.example.com", "first_name": "Uma", "last_name": "User"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .put(
            &token,
            &format!("/v1/customers/{x}/features"),
            json!({"features": {"reports": false}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Connections: made and their contact invited inside the customer, not outside it.
    let made = app
        .post(
            &app.admin_key,
            "/v1/connectors",
            json!({"code": "desk_key", "name": "Desk key", "auth": "api_key",
                "fields": [{"name": "api_key", "label": "API key"}]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let conn = app
        .post(
            &token,
            &format!("/v1/customers/{x}/connections"),
            json!({"connector": "desk_key"}),
        )
        .await;
    assert_eq!(conn.status, StatusCode::CREATED, "{}", conn.body);
    let r = app
        .post(
            &token,
            &format!("/v1/connections/{}/invite", conn.field("id")),
            json!({"email": "it@xenon.example.com", "name": "Ines"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let theirs = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{y}/connections"),
            json!({"connector": "desk_key"}),
        )
        .await;
    let r = app
        .post(
            &token,
            &format!("/v1/connections/{}/invite", theirs.field("id")),
            json!({"email": "it@yarrow.example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    for (method, path) in [
        (Method::GET, format!("/v1/customers/{y}/users")),
        (Method::GET, "/v1/customers".to_owned()),
        (Method::GET, format!("/v1/customers/{x}")),
        (Method::GET, "/v1/audit-events".to_owned()),
        (Method::POST, format!("/v1/customers/{x}/support-sessions")),
        (Method::PUT, "/v1/me/support-access".to_owned()),
        (
            Method::POST,
            format!("/v1/me/support-sessions/{session}/approve"),
        ),
        (Method::POST, format!("/v1/support-sessions/{session}/end")),
    ] {
        let r = app
            .send(method.clone(), &token, &path, Some(json!({})), &[])
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.body
        );
    }

    // Each change is recorded under both names, with the session.
    let log = app
        .get(
            &t.owner_key,
            &format!("/v1/audit-events?customer_id={x}&limit=100"),
        )
        .await;
    let done: Vec<&Value> = log.body["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["support_session_id"] == json!(session))
                .collect()
        })
        .unwrap_or_default();
    let actions: Vec<&str> = done.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "connection.invited",
            "connection.created",
            "customer_features.updated",
            "user.created"
        ],
        "{}",
        log.body
    );
    for e in &done {
        assert_eq!(e["actor"], json!({"kind": "member", "id": member_id}));
        assert_eq!(
            e["on_behalf_of"],
            json!({"kind": "customer_user", "id": x_admin_id})
        );
    }

    // The admin sees who, when, why, and what was done.
    let mine = app.get(&x_admin, "/v1/me/support-sessions").await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let s = &mine.body["data"][0];
    assert_eq!(s["id"], json!(session));
    assert_eq!(s["reason"], "Set up SSO as asked in ticket 4711");
    assert_eq!(s["minutes"], 20);
    let listed: Vec<&str> = s["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        listed,
        [
            "user.created",
            "customer_features.updated",
            "connection.created",
            "connection.invited"
        ]
    );
    // Staff see the same; another customer's admin does not see it.
    let theirs = app
        .get(
            &t.member_key,
            &format!("/v1/customers/{x}/support-sessions"),
        )
        .await;
    assert_eq!(theirs.body["data"][0]["id"], json!(session));

    // The admin ends it: refused at once, the admin told what was done.
    let ended = app
        .post(
            &x_admin,
            &format!("/v1/support-sessions/{session}/end"),
            json!({}),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["status"], "ended");
    assert_eq!(ended.body["ended_by"]["id"], json!(x_admin_id));
    let r = app.get(&token, "/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let summary = app
        .all_items()
        .into_iter()
        .find(|i| i.data.get("template") == Some(&json!("support_session_ended")))
        .and_then(|i| i.data.get("context").map(|c| c["actions"].to_string()))
        .unwrap_or_default();
    assert!(summary.contains("user.created"), "the summary: {summary}");
    let again = app
        .post(
            &staff,
            &format!("/v1/support-sessions/{session}/end"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["session_status"], "ended");
    // The token never shows up in a listing, a log or the store as itself.
    let items = serde_json::to_string(&app.all_items().iter().map(|i| &i.data).collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(!items.contains(&token), "the token is stored only hashed");
}

#[tokio::test]
async fn expiry_suspension_revocation_and_a_disabled_setting_each_refuse_the_token_at_once() {
    let clock = Arc::new(TestClock::at(chrono::Utc::now()));
    let (app, _dir) = spawn_app_with_logins_at(Some(clock.clone())).await;
    let t = app.new_tenant("helpline").await;
    let (x, _, x_admin) = customer(&app, &t, "Xylo").await;
    let (y, _, _) = customer(&app, &t, "Yew").await;

    // Expiry.
    let token = session(
        &app,
        &t.owner_key,
        &x,
        json!({"reason": "Quick look", "minutes": 1}),
    )
    .await;
    assert_eq!(works(&app, &token).await, StatusCode::OK);
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(works(&app, &token).await, StatusCode::UNAUTHORIZED);

    // A revoked key's session ends with it.
    let k = app
        .post(
            &t.owner_key,
            "/v1/api-keys",
            json!({"name": "helper", "role": "member"}),
        )
        .await;
    let (key, key_id) = (k.field("secret").to_owned(), k.field("id").to_owned());
    let (status, s) = start(&app, &key, &y, json!({"reason": "Check the invoices"})).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let by_key = s["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(works(&app, &by_key).await, StatusCode::OK);
    // A member's session reads the customer's users but, like the member, does not
    // change them; no session changes an email.
    let r = app.get(&by_key, &format!("/v1/customers/{y}/users")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            &by_key,
            &format!("/v1/customers/{y}/users"),
            json!({"email": "sneaky@staff.example.com", "first_name": "S", "last_name": "S"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get(&by_key, "/v1/me/invoices").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let owners = session(&app, &t.owner_key, &y, json!({"reason": "Emails"})).await;
    let users = app.get(&owners, &format!("/v1/customers/{y}/users")).await;
    let admin_user = users.body["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let r = app
        .patch(
            &owners,
            &format!("/v1/customers/{y}/users/{admin_user}"),
            json!({"email": "staff@partner.example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Its answer holds the token: an Idempotency-Key replays nothing.
    let sessions = format!("/v1/customers/{y}/support-sessions");
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let r = app
            .send(
                Method::POST,
                &t.owner_key,
                &sessions,
                Some(json!({"reason": "Twice"})),
                &[("idempotency-key", "same-key-1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        tokens.push(r.body["token"].clone());
    }
    assert_ne!(tokens[0], tokens[1], "two sessions, two tokens");
    let r = app
        .delete(&t.owner_key, &format!("/v1/api-keys/{key_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(works(&app, &by_key).await, StatusCode::UNAUTHORIZED);

    // The admin disables support access: refused at once, and no new session starts.
    let token = session(&app, &t.owner_key, &x, json!({"reason": "Another look"})).await;
    let r = app
        .put(
            &x_admin,
            "/v1/me/support-access",
            json!({"support_access": "disabled"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["support_access"], "disabled");
    assert_eq!(works(&app, &token).await, StatusCode::UNAUTHORIZED);
    let (status, body) = start(&app, &t.owner_key, &x, json!({"reason": "Please"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], "urn:tenantry:problem:support-access-disabled");
    // The admin's choice wins over the staff's.
    let r = app
        .patch(
            &t.owner_key,
            &format!("/v1/customers/{x}"),
            json!({"support_access": "allowed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["support_access"], "disabled");
    let listed = app.get(&x_admin, "/v1/me/support-sessions").await;
    assert_eq!(listed.body["data"][0]["status"], "ended", "{}", listed.body);
    assert_eq!(listed.body["data"][0]["end_reason"], "access_disabled");
    let r = app
        .put(
            &x_admin,
            "/v1/me/support-access",
            json!({"support_access": null}),
        )
        .await;
    assert_eq!(r.body["support_access"], "allowed", "{}", r.body);

    // Suspending the customer ends it.
    let token = session(&app, &t.owner_key, &x, json!({"reason": "Last look"})).await;
    assert_eq!(works(&app, &token).await, StatusCode::OK);
    clock.advance(chrono::Duration::seconds(1));
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{x}/suspend"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(works(&app, &token).await, StatusCode::UNAUTHORIZED);
    let (status, body) = start(&app, &t.owner_key, &x, json!({"reason": "Suspended"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Reactivated, the customer's earlier session stays over, and says so.
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/customers/{x}/reactivate"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(works(&app, &token).await, StatusCode::UNAUTHORIZED);
    let listed = app
        .get(&t.owner_key, &format!("/v1/customers/{x}/support-sessions"))
        .await;
    assert_eq!(listed.body["data"][0]["status"], "ended", "{}", listed.body);
    assert_eq!(listed.body["data"][0]["end_reason"], "access_withdrawn");
    // A new one works.
    clock.advance(chrono::Duration::seconds(1));
    let fresh = session(&app, &t.owner_key, &x, json!({"reason": "After"})).await;
    assert_eq!(works(&app, &fresh).await, StatusCode::OK);
}

/// Every route, with a session token of customer A: only A's own admin routes and the
/// settings staff change for A answer; another customer's, the tenant's, another
/// tenant's and the operator's routes all look absent (or forbidden), never served.
#[tokio::test]
async fn a_session_token_reaches_only_its_own_customer_on_every_route() {
    let (app, _dir) = spawn_app_with_logins_at(None).await;
    let t = app.new_tenant("walkers").await;
    let other = app.new_tenant("strangers").await;
    let (a, _, _) = customer(&app, &t, "Alder").await;
    let (b, _, _) = customer(&app, &t, "Birch").await;
    let (c, _, _) = customer(&app, &other, "Cedar").await;
    let (status, s) = start(&app, &t.member_key, &a, json!({"reason": "Walk"})).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let token = s["token"].as_str().unwrap_or_default().to_owned();
    // Staff of one tenant cannot start a session in another's customer.
    let (status, body) = start(&app, &t.member_key, &c, json!({"reason": "Cross"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let fill = |path: &str, customer: &str| {
        path.replace("{customer_id}", customer)
            .replace("{tenant_id}", &other.id)
            .replace("{slug}", "strangers")
            .replace("{user_id}", "usr_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace("{member_id}", "mem_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace("{key_id}", "key_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace("{invoice_id}", "inv_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace("{connection_id}", "con_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace("{session_id}", s["id"].as_str().unwrap_or_default())
            .replace("{email_id}", "eml_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace("{endpoint_id}", "inb_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace(
                "{webhook_endpoint_id}",
                "whe_0197b2a7f3b27e5d8c6f708192a3b4c5",
            )
            .replace("{provisioning_id}", "prv_0197b2a7f3b27e5d8c6f708192a3b4c5")
            .replace("{code}", "growth")
            .replace("{token}", "feedface")
    };
    let mut served = Vec::new();
    for route in ROUTES.iter().filter(|r| !r.permission.is_public()) {
        for customer in [&b, &c] {
            let path = fill(route.path, customer);
            let r = app
                .send(route.method.clone(), &token, &path, Some(json!({})), &[])
                .await;
            assert!(
                !r.status.is_server_error(),
                "{} {path}: {}",
                route.method,
                r.body
            );
            if r.status.is_success() {
                // Answered: only what is the session's own customer's, whatever the path.
                let own = route.path.starts_with("/v1/me") || route.path == "/v1/invoices";
                if !own || r.body.to_string().contains(customer.as_str()) {
                    served.push(format!("{} {path} -> {}", route.method, r.status));
                }
            }
        }
    }
    assert!(
        served.is_empty(),
        "a session token reached:\n{}",
        served.join("\n")
    );
    // Its own customer answers on its admin's routes.
    let r = app.get(&token, &format!("/v1/customers/{a}/users")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
