//! First-line support over HTTP (the local server, embedded store and logins):
//!
//! - a tenant's support settings are its own (owners set them; bad values are named),
//!   and show on its pages and in its customers' emails (footer, reply-to);
//! - a customer user opens a request: mailed to the tenant's support address with
//!   replies to the user, listed for the staff, listed for the user without the staff's
//!   notes; staff note, escalate (once) and close it; the operator lists escalations;
//!   every step is one audit event;
//! - another tenant's staff and the customer's users reach none of the tenant's side,
//!   and another customer's user does not see the request;
//! - in `platform` mode a request goes to the platform's address, and an escalation is
//!   mailed there with the tenant's notes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::model::audit::{Actor, ActorKind};
use tenantry::model::ids::{CustomerId, SupportRequestId, TenantId, UserId};
use tenantry::ports::{Query, SortRange};
use tenantry::service::helpdesk;
use tenantry::service::mail::{MailSettings, OutboxEmail, render};
use tenantry_tests::app::{TestApp, spawn_app_with_logins_at};

const PASSWORD: &str = "Sup3r$ecret!";

/// Every email in the tenant's outbox, oldest first.
async fn outbox(app: &TestApp, tenant_id: &str) -> Vec<OutboxEmail> {
    let tid = TenantId::from_record(tenant_id);
    let page = app
        .deps
        .store
        .query(Query::partition(
            tenantry::store::keys::outbox_partition(&tid),
            SortRange::All,
            100,
        ))
        .await
        .expect("the outbox");
    page.items
        .iter()
        .map(|i| serde_json::from_value(Value::Object(i.data.clone())).expect("an outbox email"))
        .collect()
}

/// The newest email of `template` in the tenant's outbox, rendered as it goes out.
async fn rendered(
    app: &TestApp,
    tenant_id: &str,
    template: &str,
) -> (OutboxEmail, tenantry::ports::Email) {
    let email = outbox(app, tenant_id)
        .await
        .into_iter()
        .rev()
        .find(|e| e.template.name() == template)
        .unwrap_or_else(|| panic!("no {template} email"));
    let (tenant, _) =
        tenantry::service::directory::load(&app.deps, &TenantId::from_record(tenant_id))
            .await
            .expect("the tenant");
    let settings = MailSettings {
        sender_domain: "mail.example.com".into(),
        public_url: "https://api.example.com".into(),
    };
    let out = render(&settings, &tenant, &email).expect("it renders");
    (email, out)
}

const SETTINGS: &str = "/v1/support-settings";

#[tokio::test]
async fn settings_are_the_tenants_and_show_on_its_pages_and_in_its_emails() {
    let (app, _dir) = spawn_app_with_logins_at(None).await;
    let t = app.new_tenant("helpline").await;
    let other = app.new_tenant("elsewhere").await;

    let r = app.get(&t.owner_key, SETTINGS).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["mode"], "first_line", "the default: {}", r.body);

    let r = app
        .put(
            &t.owner_key,
            SETTINGS,
            json!({"email": "nope", "url": "http://help.example.com", "hours": "x".repeat(201)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "hours", "url"], "{}", r.body);
    let r = app
        .put(&t.owner_key, SETTINGS, json!({"mode": "sometimes"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // A member does not change them.
    let r = app
        .put(&t.member_key, SETTINGS, json!({"phone": "+49 30 1234567"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    let wanted = json!({
        "mode": "first_line",
        "email": "help@helpline.example.com",
        "phone": "+49 30 1234567",
        "url": "https://help.helpline.example.com/start",
        "hours": "Mon-Fri 9:00-17:00 CET"
    });
    let r = app.put(&t.owner_key, SETTINGS, wanted.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The phone is kept in E.164.
    let mut stored = wanted.clone();
    stored["phone"] = json!("+49301234567");
    assert_eq!(r.body, stored);
    assert_eq!(app.get(&t.owner_key, SETTINGS).await.body, stored);
    // Another tenant's are its own.
    let r = app.get(&other.owner_key, SETTINGS).await;
    assert_eq!(r.body["mode"], "first_line");
    assert!(r.body.get("phone").is_none(), "{}", r.body);

    // Its login page shows them.
    let page = reqwest::get(format!("{}/t/helpline/login", app.base))
        .await
        .expect("the login page")
        .text()
        .await
        .expect("its html");
    for shown in [
        "help@helpline.example.com",
        "+49301234567",
        // (a link; the page escapes its slashes)
        "help.helpline.example.com",
        "Mon-Fri 9:00-17:00 CET",
    ] {
        assert!(page.contains(shown), "the login page shows {shown}");
    }
    let page = reqwest::get(format!("{}/t/elsewhere/login", app.base))
        .await
        .expect("the other login page")
        .text()
        .await
        .expect("its html");
    assert!(
        !page.contains("+49301234567"),
        "not on another tenant's page"
    );

    // A customer's email: replies to the support address, the contact in its footer.
    app.new_customer(&t.owner_key, "Mango", "admin@mango.example.com")
        .await;
    let (email, out) = rendered(&app, &t.id, "customer_welcome").await;
    assert_eq!(email.to, "admin@mango.example.com");
    assert_eq!(out.reply_to.as_deref(), Some("help@helpline.example.com"));
    for shown in [
        "Phone: +49301234567",
        "Help: https://help.helpline.example.com/start",
        "Hours: Mon-Fri 9:00-17:00 CET",
    ] {
        assert!(
            out.text.contains(shown),
            "text footer: {shown}\n{}",
            out.text
        );
    }
    assert!(out.html.contains("+49301234567"), "html footer");
}

#[tokio::test]
async fn a_customer_user_asks_the_tenant_and_staff_note_escalate_and_close() {
    let (app, _dir) = spawn_app_with_logins_at(None).await;
    let t = app.new_tenant("helpful").await;
    let other = app.new_tenant("nosy").await;
    let r = app
        .put(
            &t.owner_key,
            SETTINGS,
            json!({"email": "help@helpful.example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_quince, _, token) = app.customer_signed_in(&t, "Quince", PASSWORD).await;
    let (_, _, rowan) = app.customer_signed_in(&t, "Rowan", PASSWORD).await;
    let mine = "/v1/me/support-requests";

    // Bad input is named, field by field, and stores nothing.
    let r = app.post(&token, mine, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["category", "message", "subject"], "{}", r.body);
    let r = app
        .post(
            &token,
            mine,
            json!({"subject": "Hi", "message": "Help", "category": "urgent"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["category"], "{}", r.body);
    assert_eq!(
        app.get(&t.owner_key, "/v1/support-requests").await.body["data"],
        json!([])
    );

    let r = app
        .post(
            &token,
            mine,
            json!({"subject": "Export stops", "message": "The export stops at 1,000 rows.\nWhy?", "category": "technical"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.field("id").to_owned();
    assert!(id.starts_with("srq_"), "{}", r.body);
    assert_eq!(r.body["status"], "open");

    // Mailed to the tenant's support address; replies go to the user who asked.
    let (email, out) = rendered(&app, &t.id, "support_request").await;
    assert_eq!(email.to, "help@helpful.example.com");
    assert_eq!(out.reply_to.as_deref(), Some("admin@quince.example.com"));
    assert!(
        out.text.contains("The export stops at 1,000 rows."),
        "{}",
        out.text
    );
    assert!(out.subject.contains("Export stops"), "{}", out.subject);

    // Listed for the staff (members too) and for the user; not for another customer's.
    for key in [&t.owner_key, &t.member_key] {
        let r = app.get(key, "/v1/support-requests").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["data"][0]["id"], id.as_str(), "{}", r.body);
    }
    let r = app.get(&token, mine).await;
    assert_eq!(r.body["data"][0]["id"], id.as_str(), "{}", r.body);
    let r = app.get(&rowan, mine).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["data"],
        json!([]),
        "another customer's user sees none"
    );
    // The customer's users reach nothing of the tenant's side.
    for (path, body) in [
        ("/v1/support-requests".to_owned(), None),
        (
            format!("/v1/support-requests/{id}/notes"),
            Some(json!({"text": "mine"})),
        ),
        (format!("/v1/support-requests/{id}/close"), Some(json!({}))),
        (
            format!("/v1/support-requests/{id}/escalate"),
            Some(json!({})),
        ),
        ("/v1/escalations".to_owned(), None),
        (SETTINGS.to_owned(), None),
    ] {
        let r = match body {
            None => app.get(&token, &path).await,
            Some(b) => app.post(&token, &path, b).await,
        };
        assert!(
            matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "a customer's user on {path}: {} {}",
            r.status,
            r.body
        );
    }
    // Another tenant's staff find no such request.
    for path in [
        format!("/v1/support-requests/{id}/notes"),
        format!("/v1/support-requests/{id}/close"),
        format!("/v1/support-requests/{id}/escalate"),
    ] {
        let r = app
            .post(&other.owner_key, &path, json!({"text": "x"}))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    assert_eq!(
        app.get(&other.owner_key, "/v1/support-requests").await.body["data"],
        json!([])
    );

    // A note: for the staff only.
    let notes = format!("/v1/support-requests/{id}/notes");
    let r = app.post(&t.member_key, &notes, json!({"text": ""})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.error_fields(), ["text"]);
    let r = app
        .post(
            &t.member_key,
            &notes,
            json!({"text": "Customer on the old plan."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["notes"][0]["text"], "Customer on the old plan.");
    let own = app.get(&token, mine).await;
    assert!(own.body["data"][0].get("notes").is_none(), "{}", own.body);

    // Escalated once: listed for the operator, with the tenant's notes.
    let escalate = format!("/v1/support-requests/{id}/escalate");
    let r = app
        .post(
            &t.owner_key,
            &escalate,
            json!({"text": "Looks like a platform limit."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["escalated_at"].is_string(), "{}", r.body);
    let again = app.post(&t.owner_key, &escalate, json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["escalated_at"], r.body["escalated_at"]);
    // A note sent with a second escalation is not dropped in silence.
    let again = app
        .post(&t.owner_key, &escalate, json!({"text": "Any news?"}))
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.body
    );
    assert_eq!(again.error_fields(), ["text"]);
    let r = app.get(&t.owner_key, "/v1/escalations").await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "a tenant does not read the platform's escalations: {}",
        r.status
    );
    let r = app.get(&app.admin_key, "/v1/escalations").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ours: Vec<&Value> = r.body["data"]
        .as_array()
        .expect("a page")
        .iter()
        .filter(|e| e["request"]["id"] == id.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "escalated once: {}", r.body);
    assert_eq!(ours[0]["tenant_id"], t.id.as_str());
    assert_eq!(
        ours[0]["request"]["notes"].as_array().map(Vec::len),
        Some(2)
    );

    // Closed: it moves from the open list to the closed one.
    let r = app
        .post(
            &t.owner_key,
            &format!("/v1/support-requests/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "closed");
    assert_eq!(
        app.get(&t.owner_key, "/v1/support-requests").await.body["data"],
        json!([])
    );
    let r = app
        .get(&t.owner_key, "/v1/support-requests?status=closed")
        .await;
    assert_eq!(r.body["data"][0]["id"], id.as_str(), "{}", r.body);
    let r = app
        .get(&t.owner_key, "/v1/support-requests?status=later")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        app.get(&token, mine).await.body["data"][0]["status"],
        "closed"
    );

    // Each step is one audit event on the request, in its customer's history.
    let r = app
        .get(&t.owner_key, &format!("/v1/audit-events?target={id}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut actions: Vec<&str> = r.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "support_request.closed",
            "support_request.escalated",
            "support_request.noted",
            "support_request.opened"
        ],
        "{}",
        r.body
    );

    // The escalation shows the request as it is now (closed, its notes).
    let r = app.get(&app.admin_key, "/v1/escalations").await;
    let ours = r.body["data"]
        .as_array()
        .expect("a page")
        .iter()
        .find(|e| e["request"]["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(ours["request"]["status"], "closed", "{ours}");

    // The customer's purge takes its requests: from the staff's lists and the operator's.
    let quince = _quince;
    let r = app
        .delete(
            &t.owner_key,
            &format!("/v1/customers/{quince}?confirm=true"),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    let purged = tenantry::service::purge::run(&app.deps, later)
        .await
        .expect("a purge");
    assert_eq!(purged.customers_purged, 1, "{purged:?}");
    let r = app
        .get(&t.owner_key, "/v1/support-requests?status=closed")
        .await;
    assert_eq!(r.body["data"], json!([]), "{}", r.body);
    let r = app.get(&app.admin_key, "/v1/escalations").await;
    assert!(
        !r.body["data"]
            .as_array()
            .expect("a page")
            .iter()
            .any(|e| e["request"]["id"] == id.as_str()),
        "{}",
        r.body
    );
    let left: Vec<_> = app
        .all_items()
        .into_iter()
        .filter(|i| i.pk.contains(&id) || i.sk.contains(&id))
        .filter(|i| !i.pk.contains("#AUDIT#") && !i.pk.starts_with("P#ESCALATIONS"))
        .map(|i| (i.pk, i.sk))
        .collect();
    assert!(
        left.is_empty(),
        "the request's items outlive the purge: {left:?}"
    );
}

#[tokio::test]
async fn in_platform_mode_requests_and_escalations_go_to_the_platform_address() {
    let (app, _dir) = spawn_app_with_logins_at(None).await;
    let t = app.new_tenant("handsoff").await;
    let r = app
        .put(
            &t.owner_key,
            SETTINGS,
            json!({"mode": "platform", "email": "help@handsoff.example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (customer, admin, _) = app.customer_signed_in(&t, "Juniper", PASSWORD).await;
    let tenant = tenantry_tests::owner_scope(&t.id);
    let scope = tenantry::access::customer_of(
        &tenantry::access::Scope::Tenant(tenant.clone()),
        CustomerId::from_record(customer),
    )
    .expect("its customer");
    let admin = UserId::from_record(admin);
    let draft: helpdesk::RequestDraft = serde_json::from_value(
        json!({"subject": "Invoice", "message": "Wrong VAT?", "category": "billing"}),
    )
    .expect("a draft");
    let platform = "support@platform.example.com";
    let count = |emails: &[OutboxEmail], to: &str, template: &str| {
        emails
            .iter()
            .filter(|e| e.to == to && e.template.name() == template)
            .count()
    };

    // With the platform's address: it goes there, not to the tenant.
    let first = helpdesk::open(&app.deps, &scope, &admin, &draft, Some(platform))
        .await
        .expect("opened");
    let emails = outbox(&app, &t.id).await;
    assert_eq!(count(&emails, platform, "support_request"), 1);
    assert_eq!(
        count(&emails, "help@handsoff.example.com", "support_request"),
        0
    );
    // Without one: listed only.
    helpdesk::open(&app.deps, &scope, &admin, &draft, None)
        .await
        .expect("opened");
    let emails = outbox(&app, &t.id).await;
    assert_eq!(
        emails
            .iter()
            .filter(|e| e.template.name() == "support_request")
            .count(),
        1
    );
    let r = app.get(&t.owner_key, "/v1/support-requests").await;
    assert_eq!(
        r.body["data"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.body
    );

    // An escalation is mailed to the platform with the tenant's notes.
    let by = Actor::new(ActorKind::ApiKey, "key_test");
    let id = SupportRequestId::from_record(first.id.to_string());
    let note: helpdesk::NoteDraft =
        serde_json::from_value(json!({"text": "Their VAT id changed in May."})).expect("a note");
    helpdesk::escalate(&app.deps, &tenant, by, &id, &note, Some(platform))
        .await
        .expect("escalated");
    let (email, out) = rendered(&app, &t.id, "support_escalation").await;
    assert_eq!(email.to, platform);
    assert!(
        out.text.contains("Their VAT id changed in May."),
        "{}",
        out.text
    );
    assert!(out.text.contains("Wrong VAT?"), "{}", out.text);
}
