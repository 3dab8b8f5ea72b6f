//! The monthly invoice run, end to end on the embedded store: who pays, every line and
//! total worked out by hand, review and finalisation with gap-free numbers, commission
//! statements, payments; crashes and reruns; concurrent finalisations.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::model::billing::Period;
use tenantry::model::ids::TenantId;
use tenantry::ports::{Item, ItemStore, Key, Page, Query, StoreError, WriteOp};
use tenantry::service::{invoice_run, jobs};
use tenantry_tests::app::{TestApp, TestClock, spawn_app_with};

async fn app_on(store: Arc<dyn ItemStore>, now: &str) -> (TestApp, Arc<TestClock>) {
    let clock = Arc::new(TestClock::at(now.parse().unwrap()));
    let deps = tenantry::Deps::new(store).with_clock(clock.clone());
    (spawn_app_with(deps).await, clock)
}

fn embedded(dir: &tempfile::TempDir) -> Arc<dyn ItemStore> {
    embedded_store(dir)
}

/// The embedded store itself, for a test that also walks it.
fn embedded_store(dir: &tempfile::TempDir) -> Arc<tenantry::adapters::embedded::EmbeddedStore> {
    Arc::new(tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("t.redb")).unwrap())
}

fn set(clock: &TestClock, at: &str) {
    *clock.0.lock().unwrap() = at.parse().unwrap();
}

/// `starter`: 30.00 a month, 2 seats included, 6.00 a month per extra seat.
/// `growth`: 60.00 a month, 3 seats included, 9.00 per extra seat, and AI operations
/// graduated: the first 1,000 free, the next 4,000 at 0.02, the rest at 0.01.
async fn seed_plans(app: &TestApp) {
    let m = app
        .post(&app.admin_key, "/v1/billable-metrics", json!({
            "code": "ai_operations", "name": "AI operations", "unit": "operation", "aggregation": "sum"}))
        .await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
    for plan in [
        json!({"code": "starter", "name": "Starter", "currency": "EUR", "base_amount": 3000,
            "included_seats": 2, "seat_amount": 600}),
        json!({"code": "growth", "name": "Growth", "currency": "EUR", "base_amount": 6000,
            "included_seats": 3, "seat_amount": 900,
            "charges": [{"metric": "ai_operations", "model": "graduated", "tiers": [
                {"up_to": 1000, "unit_amount": 0}, {"up_to": 5000, "unit_amount": 2},
                {"unit_amount": 1}]}]}),
    ] {
        let r = app.post(&app.admin_key, "/v1/plans", plan).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
}

/// A tenant of `kind` with its owner key.
async fn tenant(app: &TestApp, slug: &str, extra: Value) -> (String, String) {
    let mut body = json!({
        "name": format!("{slug} Ltd"), "slug": slug,
        "owner": {"email": format!("owner@{slug}.example.com"), "first_name": "Olive", "last_name": "Owner"},
        "billing": {"company_name": format!("{slug} Billing Ltd"), "email": format!("billing@{slug}.example.com")}
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "billing" {
            for (bk, bv) in v.as_object().unwrap() {
                body["billing"][bk] = bv.clone();
            }
        } else {
            body[k] = v.clone();
        }
    }
    let t = app.post(&app.admin_key, "/v1/tenants", body).await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let id = t.field("id").to_owned();
    let k = app
        .post(
            &app.admin_key,
            &format!("/v1/tenants/{id}/api-keys"),
            json!({"name": "owner", "role": "owner"}),
        )
        .await;
    (id, k.field("secret").to_owned())
}

async fn customer(app: &TestApp, key: &str, name: &str) -> String {
    let slug = name.to_lowercase().replace(' ', "-");
    app.new_customer(key, name, &format!("admin@{slug}.example.com"))
        .await
}

async fn subscribe(app: &TestApp, key: &str, c: &str, plan: &str) {
    let r = app
        .post(
            key,
            &format!("/v1/customers/{c}/subscription"),
            json!({"plan": plan}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

async fn add_users(app: &TestApp, key: &str, c: &str, n: usize) {
    for i in 0..n {
        let r = app
            .post(
                key,
                &format!("/v1/customers/{c}/users"),
                json!({"email": format!("u{i}-{c}@users.example.com"), "first_name": "U", "last_name": "Ser"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
}

async fn usage(app: &TestApp, key: &str, c: &str, id: &str, value: u64, at: &str) {
    let r = app
        .post(
            key,
            "/v1/usage",
            json!({"events": [{"id": id, "customer_id": c,
            "metric": "ai_operations", "value": value, "timestamp": at}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rejected"], 0, "{}", r.body);
}

/// A line as compared: (kind, quantity, amount).
type LineSummary = (String, u64, i64);

/// (kind, quantity, amount) of each line of one customer.
fn lines_of(inv: &Value, customer: &str) -> Vec<(String, u64, i64)> {
    inv["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["customer_id"] == customer)
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn l(kind: &str, q: u64, a: i64) -> (String, u64, i64) {
    (kind.to_owned(), q, a)
}

async fn invoices(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let r = app.get(key, &format!("/v1/invoices?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut out = Vec::new();
    for s in r.body["data"].as_array().unwrap() {
        let one = app
            .get(key, &format!("/v1/invoices/{}", s["id"].as_str().unwrap()))
            .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        out.push(one.body);
    }
    out
}

fn by_customer<'a>(all: &'a [Value], c: &str) -> &'a Value {
    all.iter()
        .find(|i| i["customer_id"] == c)
        .unwrap_or_else(|| panic!("no invoice for {c}"))
}

/// How a scenario runs what is due: here (the local pool of workers), or as in AWS
/// (the run handed out on an SQS queue, the worker function fed from it as Lambda's
/// event source feeds it: ten messages at a time, failures left for redelivery).
enum Runner {
    Here,
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

impl Runner {
    async fn run_due(&self, app: &TestApp, at: &str) -> jobs::JobsReport {
        let report = jobs::run_due(&app.deps, at.parse().unwrap()).await.unwrap();
        if let Runner::Sqs { client, url } = self {
            // Every tenant's message sent twice, as a planner rerun after a crash would:
            // the month's checks then find each invoice once.
            if let Some(run) = report.invoice_run.as_ref().filter(|r| r.tenants > 0) {
                assert!(run.queued, "{run:?}");
                let queue = app.deps.work_queue().expect("the queue");
                let period = Period::parse(&run.period).unwrap();
                invoice_run::plan(&app.deps, queue.as_ref(), period)
                    .await
                    .unwrap();
            }
            let mut batches = 0;
            loop {
                let got = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .expect("receive from the queue");
                let messages = got.messages();
                if messages.is_empty() {
                    break;
                }
                batches += 1;
                assert!(batches < 50, "the invoice run's messages do not end");
                let records: Vec<Value> = messages
                    .iter()
                    .map(|m| {
                        json!({"messageId": m.message_id(), "body": m.body(),
                            "eventSource": "aws:sqs"})
                    })
                    .collect();
                // A deadline already passed: each message does one step and hands the
                // rest on, so the continuations run through SQS too.
                let out = functions::lambda::invoices_worker(
                    &app.deps,
                    &json!({ "Records": records }),
                    std::time::Instant::now(),
                )
                .await
                .unwrap();
                assert_eq!(out["batchItemFailures"], json!([]), "{out}");
                for m in messages {
                    client
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .expect("delete a worked message");
                }
            }
        }
        report
    }
}

/// `GET` of an invoice's document (`path`), with `accept` as the Accept header (none: the
/// PDF by default).
async fn document(
    app: &TestApp,
    key: &str,
    path: &str,
    accept: Option<&str>,
) -> tenantry_tests::app::Resp {
    let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
    app.send(reqwest::Method::GET, key, path, None, &headers)
        .await
}

/// What later checks of a month need.
struct Month {
    consolidated_tenant: String,
    consolidated_key: String,
    consolidated_invoice: String,
}

/// November 2026 (30 days) for two partners and a reseller; every amount by hand.
#[tokio::test]
async fn a_month_of_two_partners_and_a_reseller_bills_every_payer_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = app_on(embedded(&dir), "2026-11-01T09:00:00Z").await;
    month_of_two_partners_and_a_reseller(&app, &clock, &Runner::Here).await;
}

/// The month above, from 1 November, run by `runner`.
async fn month_of_two_partners_and_a_reseller(
    app: &TestApp,
    clock: &TestClock,
    runner: &Runner,
) -> Month {
    seed_plans(app).await;
    let (p1, k1) = tenant(
        app,
        "cons",
        json!({"kind": "partner", "invoice_mode": "consolidated",
        "billing": {"tax_rate_bps": 1900, "tax_id": "DE123456789"}}),
    )
    .await;
    let (_p2, k2) = tenant(
        app,
        "percust",
        json!({"kind": "partner", "invoice_mode": "per_customer"}),
    )
    .await;
    let (r, kr) = tenant(
        app,
        "resell",
        json!({"kind": "reseller", "commission_rate_bps": 1500}),
    )
    .await;

    // 1 November.
    let a1 = customer(app, &k1, "Alpha One").await;
    subscribe(app, &k1, &a1, "starter").await;
    let b1 = customer(app, &k2, "Beta One").await;
    subscribe(app, &k2, &b1, "growth").await;
    let b2 = customer(app, &k2, "Beta Two").await;
    subscribe(app, &k2, &b2, "starter").await;
    add_users(app, &k2, &b2, 3).await;
    let c1 = customer(app, &kr, "Gamma One").await;
    subscribe(app, &kr, &c1, "starter").await;
    // A reseller's customer pays its own invoices: its billing details say where they
    // go and what tax they carry.
    let bad = app
        .patch(
            &kr,
            &format!("/v1/customers/{c1}"),
            json!({"billing": {"tax_rate_bps": 10001, "email": "not an email"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(
        bad.error_fields(),
        ["billing.email", "billing.tax_rate_bps"]
    );
    let billed = app
        .patch(
            &kr,
            &format!("/v1/customers/{c1}"),
            json!({"billing": {"email": "ap@gamma-one.example.com",
                "tax_id": "ATU12345678", "tax_rate_bps": 2000}}),
        )
        .await;
    assert_eq!(billed.status, StatusCode::OK, "{}", billed.body);
    assert_eq!(
        billed.body["billing"]["tax_rate_bps"], 2000,
        "{}",
        billed.body
    );
    let c2 = customer(app, &kr, "Gamma Two").await;
    subscribe(app, &kr, &c2, "growth").await;
    usage(app, &kr, &c2, "g2-a", 6000, "2026-11-01T08:00:00Z").await;
    usage(app, &kr, &c2, "g2-b", 500, "2026-11-01T08:30:00Z").await;
    // 10 November: a mid-month start.
    set(clock, "2026-11-10T09:00:00Z");
    let a2 = customer(app, &k1, "Alpha Two").await;
    subscribe(app, &k1, &a2, "starter").await;
    // 16 November: an upgrade, three users, usage (one event sent twice).
    set(clock, "2026-11-16T09:00:00Z");
    let up = app
        .patch(
            &k1,
            &format!("/v1/customers/{a2}/subscription"),
            json!({"plan": "growth"}),
        )
        .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    add_users(app, &k1, &a2, 3).await;
    usage(app, &k1, &a2, "a2-1", 2000, "2026-11-16T08:00:00Z").await;
    usage(app, &k1, &a2, "a2-2", 1000, "2026-11-16T08:30:00Z").await;
    usage(app, &k1, &a2, "a2-1", 2000, "2026-11-16T08:00:00Z").await;
    // 20 November: a cancellation; today is its last day.
    set(clock, "2026-11-20T09:00:00Z");
    let cancel = app
        .delete(&k2, &format!("/v1/customers/{b1}/subscription?at=now"))
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    assert_eq!(cancel.body["ends_on"], "2026-11-21", "{}", cancel.body);
    // 25 November: another start.
    set(clock, "2026-11-25T09:00:00Z");
    let c3 = customer(app, &kr, "Gamma Three").await;
    subscribe(app, &kr, &c3, "starter").await;

    // Before the run starts nothing is billed; at 02:00 on the 1st the run bills November.
    set(clock, "2026-12-01T01:00:00Z");
    let early = runner.run_due(app, "2026-12-01T01:00:00Z").await;
    assert_eq!(early.invoice_run.unwrap().period, "2026-10");
    set(clock, "2026-12-01T02:00:00Z");
    let report = runner.run_due(app, "2026-12-01T02:00:00Z").await;
    let run = report.invoice_run.expect("November's run");
    assert_eq!((run.period.as_str(), run.failed.len()), ("2026-11", 0));
    // Usage for November is closed now.
    let late = app
        .post(
            &k1,
            "/v1/usage",
            json!({"events": [{"id": "late", "customer_id": a1,
            "metric": "ai_operations", "value": 1, "timestamp": "2026-11-30T23:00:00Z"}]}),
        )
        .await;
    assert_eq!(
        late.body["results"][0]["reason"], "period-closed",
        "{}",
        late.body
    );

    // The consolidated partner: one invoice, lines grouped by customer, 19% tax.
    let cons = invoices(app, &k1, "status=draft").await;
    assert_eq!(cons.len(), 1);
    let inv = &cons[0];
    assert_eq!(inv["payer"]["type"], "tenant");
    assert_eq!(inv["payer"]["id"], p1.as_str());
    assert_eq!(inv["payer"]["email"], "billing@cons.example.com");
    assert_eq!(inv["payer"]["tax_id"], "DE123456789");
    assert_eq!(inv["issuer"]["type"], "platform");
    assert_eq!(inv["currency"], "EUR");
    assert_eq!(inv["period"], "2026-11");
    assert_eq!(inv["customer_id"], Value::Null);
    // Alpha One: the whole month of starter, one user.
    assert_eq!(lines_of(inv, &a1), [l("base", 30, 3000)]);
    // Alpha Two: starter 10-15 Nov (6 days: 3,000 × 6/30 = 600); growth 16-30 (15 days:
    // 6,000 × 15/30 = 3,000); 4 users from the 16th, 1 beyond growth's 3: 15 seat-days ×
    // 900 / 30 = 450; 3,000 AI operations (the resent event counts once): 1,000 free,
    // 2,000 × 2 = 4,000.
    assert_eq!(
        lines_of(inv, &a2),
        [
            l("base", 6, 600),
            l("base", 15, 3000),
            l("seats", 15, 450),
            l("usage", 3000, 4000)
        ]
    );
    let groups = inv["customers"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let sub_of = |c: &str| {
        groups.iter().find(|g| g["customer_id"] == c).unwrap()["subtotal"]
            .as_i64()
            .unwrap()
    };
    assert_eq!((sub_of(&a1), sub_of(&a2)), (3000, 8050));
    // 11,050 × 19% = 2,099.5: half to even, 2,100.
    assert_eq!(
        (
            inv["subtotal"].as_i64(),
            inv["tax"].as_i64(),
            inv["total"].as_i64()
        ),
        (Some(11050), Some(2100), Some(13150))
    );
    assert_eq!(inv["number"], Value::Null);

    // The per-customer partner: one invoice per customer, addressed to the partner.
    let per = invoices(app, &k2, "period=2026-11").await;
    assert_eq!(per.len(), 2);
    let ib1 = by_customer(&per, &b1);
    assert_eq!(ib1["payer"]["type"], "tenant");
    assert_eq!(ib1["customer_name"], "Beta One");
    // Beta One: growth 1-20 Nov (20 days: 6,000 × 20/30 = 4,000).
    assert_eq!(lines_of(ib1, &b1), [l("base", 20, 4000)]);
    // Beta Two: starter all month, 4 users: 2 beyond the 2 included × 30 days = 60
    // seat-days × 600 / 30 = 1,200.
    let ib2 = by_customer(&per, &b2);
    assert_eq!(
        lines_of(ib2, &b2),
        [l("base", 30, 3000), l("seats", 60, 1200)]
    );
    assert_eq!(ib2["total"], 4200);

    // The reseller: each customer its own invoice, issued by the reseller.
    let res = invoices(app, &kr, "").await;
    assert_eq!(res.len(), 3);
    let ic2 = by_customer(&res, &c2);
    assert_eq!(ic2["payer"]["type"], "customer");
    // The billing contact: the primary contact (else the admin).
    assert_eq!(ic2["payer"]["email"], "pat@example.com");
    assert_eq!(ic2["issuer"]["type"], "tenant");
    assert_eq!(ic2["issuer"]["tenant_id"], r.as_str());
    // Gamma Two: 6,500 operations: 1,000 free + 4,000 × 2 + 1,500 × 1 = 9,500.
    assert_eq!(
        lines_of(ic2, &c2),
        [l("base", 30, 6000), l("usage", 6500, 9500)]
    );
    // Gamma Three: starter 25-30 Nov (6 days: 600).
    assert_eq!(lines_of(by_customer(&res, &c3), &c3), [l("base", 6, 600)]);
    // Gamma One: to its billing email, with its tax id and 20% of 3,000.
    let ic1_draft = by_customer(&res, &c1);
    assert_eq!(ic1_draft["payer"]["email"], "ap@gamma-one.example.com");
    assert_eq!(ic1_draft["payer"]["tax_id"], "ATU12345678");
    assert_eq!(
        (
            ic1_draft["subtotal"].as_i64(),
            ic1_draft["tax"].as_i64(),
            ic1_draft["total"].as_i64()
        ),
        (Some(3000), Some(600), Some(3600))
    );
    // Gamma Two has none: no tax, to its primary contact.
    assert_eq!(
        (ic2["tax"].as_i64(), ic2["total"].as_i64()),
        (Some(0), Some(15500))
    );

    // A rerun (and a rerun of one tenant) finds every invoice and writes none again.
    let period = Period::parse("2026-11").unwrap();
    invoice_run::run_all(&app.deps, period, 2).await.unwrap();
    invoice_run::run_tenant(&app.deps, &TenantId::from_record(p1.clone()), period)
        .await
        .unwrap();
    assert_eq!(invoices(app, &k1, "").await, cons);
    assert_eq!(invoices(app, &k2, "").await.len(), 2);

    // Review: the operator adds a workshop to Beta One's draft; the partner's owner may
    // read but not adjust; the consolidated partner approves early.
    let ib1_id = ib1["id"].as_str().unwrap();
    let adj = app
        .post(
            &app.admin_key,
            &format!("/v1/invoices/{ib1_id}/adjustments"),
            json!({"description": "Onboarding workshop", "amount": 1500}),
        )
        .await;
    assert_eq!(adj.status, StatusCode::OK, "{}", adj.body);
    assert_eq!(adj.body["total"], 5500);
    let by_tenant = app
        .post(
            &k2,
            &format!("/v1/invoices/{ib1_id}/adjustments"),
            json!({"description": "Nope", "amount": 1}),
        )
        .await;
    assert_eq!(by_tenant.status, StatusCode::FORBIDDEN);
    let other = app.get(&k1, &format!("/v1/invoices/{ib1_id}")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let inv_id = inv["id"].as_str().unwrap();
    set(clock, "2026-12-02T10:00:00Z");
    let approved = app
        .post(&k1, &format!("/v1/invoices/{inv_id}/approve"), json!({}))
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "open");
    assert_eq!(approved.body["number"], "INV-2026-000001");
    assert_eq!(approved.body["due_at"], "2026-12-16T10:00:00Z");
    let late_adj = app
        .post(
            &app.admin_key,
            &format!("/v1/invoices/{inv_id}/adjustments"),
            json!({"description": "Too late", "amount": 100}),
        )
        .await;
    assert_eq!(late_adj.status, StatusCode::CONFLICT);

    // The review window ends on the 4th at 02:00: every other draft becomes final, each
    // issuer numbering its own from 1, without gaps.
    set(clock, "2026-12-04T02:00:00Z");
    let report = runner.run_due(app, "2026-12-04T02:00:00Z").await;
    assert_eq!(report.review.finalized, 5);
    let mut platform: Vec<String> = invoices(app, &k1, "")
        .await
        .into_iter()
        .chain(invoices(app, &k2, "").await)
        .map(|i| i["number"].as_str().unwrap().to_owned())
        .collect();
    platform.sort();
    assert_eq!(
        platform,
        ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
    );
    let mut reseller: Vec<String> = invoices(app, &kr, "status=open")
        .await
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_owned())
        .collect();
    reseller.sort();
    assert_eq!(
        reseller,
        ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
    );

    // The reseller's commission statement: 15% of each finalised invoice's net amount.
    let st = app
        .get(&kr, "/v1/commission-statements?period=2026-11")
        .await;
    assert_eq!(st.status, StatusCode::OK, "{}", st.body);
    let s = &st.body["data"][0];
    assert_eq!(s["commission_rate_bps"], 1500);
    let mut lines: Vec<(String, i64, i64)> = s["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["customer_id"].as_str().unwrap().to_owned(),
                x["net"].as_i64().unwrap(),
                x["commission"].as_i64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    let mut want = vec![
        (c1.clone(), 3000, 450),
        (c2.clone(), 15500, 2325),
        (c3.clone(), 600, 90),
    ];
    want.sort();
    assert_eq!(lines, want);
    assert_eq!(
        s["totals"],
        json!([{"currency": "EUR", "net": 19100, "commission": 2865, "invoices": 3}])
    );
    // A partner has no statement of its own to read from another tenant's.
    let none = app.get(&k1, "/v1/commission-statements").await;
    assert_eq!(none.body["data"], json!([]));

    // Payments: part, then the rest; more than is due is refused.
    let pay_path = format!("/v1/invoices/{inv_id}/payments");
    let pay = |amount: i64| {
        app.post(
            &app.admin_key,
            &pay_path,
            json!({"amount": amount, "date": "2026-12-04", "reference": "SEPA 1"}),
        )
    };
    let part = pay(10000).await;
    assert_eq!(part.body["status"], "partially_paid", "{}", part.body);
    assert_eq!(part.body["amount_due"], 3150);
    let over = pay(3151).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over.error_fields(), ["amount"]);
    let rest = pay(3150).await;
    assert_eq!(rest.body["status"], "paid", "{}", rest.body);
    // Operator listings name the tenant.
    let op = app.get(&app.admin_key, "/v1/invoices").await;
    assert_eq!(op.status, StatusCode::UNPROCESSABLE_ENTITY);
    let op = app
        .get(
            &app.admin_key,
            &format!("/v1/invoices?tenant_id={p1}&status=paid"),
        )
        .await;
    assert_eq!(op.body["data"].as_array().unwrap().len(), 1, "{}", op.body);

    // The documents: the consolidated invoice's PDF read back as text, and its HTML view;
    // the reseller's invoice in the reseller's name. The PDF is the one the document
    // sweep stores (each minute): until it has run, the route says so and when to ask
    // again.
    let doc_path = format!("/v1/invoices/{inv_id}/document");
    let early = document(app, &k1, &doc_path, Some("application/pdf")).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(
        early
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("60")
    );
    let early: Value = serde_json::from_slice(&early.raw).expect("problem details");
    assert_eq!(
        early["type"], "urn:tenantry:problem:document-pending",
        "{early}"
    );
    assert_eq!(early["retry_after_seconds"], 60, "{early}");
    let stored = tenantry::service::documents::store_due(
        &app.deps,
        &functions::document::render,
        app.deps.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(stored.stored, 6, "every final invoice's PDF: {stored:?}");
    let pdf = document(app, &k1, &doc_path, Some("application/pdf")).await;
    assert_eq!(pdf.status, StatusCode::OK);
    let bytes = pdf.raw.clone();
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    if let Some(text) = pdf_text(&bytes, "consolidated-invoice") {
        for want in [
            "INV-2026-000001",
            "cons Billing Ltd",
            "DE123456789",
            "Alpha One",
            "Alpha Two",
            "Subtotal Alpha Two",
            "€80.50",
            "Growth plan, 16 Nov – 30 Nov 2026 (15 of 30 days)",
            "AI operations (operation), 3000 units",
            "€110.50",
            "Tax (19.00%)",
            "€21.00",
            "€131.50",
        ] {
            assert!(text.contains(want), "the PDF lacks {want:?}:\n{text}");
        }
    }
    let page = document(app, &k1, &doc_path, Some("text/html")).await;
    let html = String::from_utf8_lossy(&page.raw).to_string();
    assert!(
        html.contains("Invoice INV-2026-000001") && html.contains("€131.50"),
        "{html}"
    );
    let ic1 = by_customer(&res, &c1)["id"].as_str().unwrap().to_owned();
    let reseller_pdf = document(app, &kr, &format!("/v1/invoices/{ic1}/document"), None).await;
    assert_eq!(reseller_pdf.status, StatusCode::OK);
    if let Some(text) = pdf_text(&reseller_pdf.raw, "reseller-invoice") {
        assert!(text.contains("resell Billing Ltd"), "{text}");
        assert!(text.contains("Gamma One"), "{text}");
        for want in ["ATU12345678", "Tax (20.00%)", "€6.00", "€36.00"] {
            assert!(text.contains(want), "the PDF lacks {want:?}:\n{text}");
        }
    }
    Month {
        consolidated_tenant: p1,
        consolidated_key: k1,
        consolidated_invoice: inv_id.to_owned(),
    }
}

/// The text of a PDF (poppler's pdftotext), and a PNG of its first page kept in
/// `target/test-artifacts/`. `None` only outside CI when poppler-utils is missing.
fn pdf_text(bytes: &[u8], name: &str) -> Option<String> {
    let have = std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_ok();
    if !have {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but pdftotext is missing: scripts/test installs poppler-utils"
        );
        eprintln!("pdftotext is not installed: the PDF's text is not checked");
        return None;
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join(format!("{name}.pdf"));
    std::fs::write(&pdf, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&pdf)
        .arg(dir.join(format!("{name}-page1")))
        .status()
        .unwrap();
    assert!(png.success());
    // Layout keeps columns apart with runs of spaces; one space is enough to compare.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    Some(
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// A store that fails the `n`th transaction (1-based), as a crash at that point would.
struct CrashAt {
    inner: Arc<dyn ItemStore>,
    transactions: AtomicUsize,
    crash_at: AtomicUsize,
}

#[async_trait]
impl ItemStore for CrashAt {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.inner.get_many(keys).await
    }
    async fn put(
        &self,
        item: Item,
        condition: tenantry::ports::Condition,
    ) -> Result<(), StoreError> {
        self.inner.put(item, condition).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: tenantry::ports::Condition,
    ) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let n = self.transactions.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.crash_at.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(anyhow::anyhow!("crashed at {n}")));
        }
        self.inner.transact(ops).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
}

/// A consolidated partner with 70 customers (three steps of the run) and a per-customer
/// one with 20; returns the app, the store's crash switch and the two owner keys.
async fn seventy_and_twenty(
    dir: &tempfile::TempDir,
) -> (TestApp, Arc<CrashAt>, Arc<TestClock>, String, String) {
    let store = embedded_store(dir);
    let crash = Arc::new(CrashAt {
        inner: store.clone(),
        transactions: AtomicUsize::new(0),
        crash_at: AtomicUsize::new(0),
    });
    let (mut app, clock) = app_on(crash.clone(), "2026-11-01T09:00:00Z").await;
    // Read back whole (the events written), under the crashing wrapper.
    app.embedded = Some(store);
    seed_plans(&app).await;
    let (_, big) = tenant(
        &app,
        "big",
        json!({"kind": "partner", "invoice_mode": "consolidated"}),
    )
    .await;
    let (_, per) = tenant(
        &app,
        "twenty",
        json!({"kind": "partner", "invoice_mode": "per_customer"}),
    )
    .await;
    for i in 0..70 {
        let c = customer(&app, &big, &format!("Big {i:02}")).await;
        subscribe(&app, &big, &c, "starter").await;
    }
    for i in 0..20 {
        let c = customer(&app, &per, &format!("Twenty {i:02}")).await;
        subscribe(&app, &per, &c, "starter").await;
    }
    set(&clock, "2026-12-01T02:00:00Z");
    (app, crash, clock, big, per)
}

/// Each invoice's (id, subtotal, customers) and the line ids, for comparison.
async fn snapshot(app: &TestApp, key: &str) -> Vec<(String, i64, usize, String)> {
    let mut out: Vec<_> = invoices(app, key, "")
        .await
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["subtotal"].as_i64().unwrap(),
                i["customers"].as_array().unwrap().len(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_run_cut_off_at_any_point_and_rerun_bills_every_customer_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, crash, _clock, big, per) = seventy_and_twenty(&dir).await;
    let period = Period::parse("2026-11").unwrap();
    // The big tenant bills in three steps. Cut off at its first step right after it
    // claimed the month (the other tenant is billed meanwhile), then at its third step
    // after two committed (mid-tenant), then at that step again.
    for at in [2, 3, 1] {
        crash.crash_at.store(
            crash.transactions.load(Ordering::SeqCst) + at,
            Ordering::SeqCst,
        );
        let cut = invoice_run::run_all(&app.deps, period, 1).await.unwrap();
        assert!(!cut.failed.is_empty(), "the crash at {at} was not hit");
    }
    crash.crash_at.store(0, Ordering::SeqCst);
    let done = invoice_run::run_all(&app.deps, period, 2).await.unwrap();
    assert!(done.failed.is_empty());
    let big_invoices = snapshot(&app, &big).await;
    // One invoice with every customer once: 70 × 3,000.
    assert_eq!(big_invoices.len(), 1);
    assert_eq!((big_invoices[0].1, big_invoices[0].2), (210_000, 70));
    let per_invoices = snapshot(&app, &per).await;
    assert_eq!(per_invoices.len(), 20);
    assert!(per_invoices.iter().all(|i| i.1 == 3000));
    // Each draft announced once, whatever the crashes: the consolidated one complete,
    // when the run ended.
    let tenant_of = async |key: &str| {
        invoices(&app, key, "").await[0]["tenant_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (big_id, per_id) = (tenant_of(&big).await, tenant_of(&per).await);
    let drafted = |tenant_id: &str| -> Vec<Value> {
        app.events_of(tenant_id)
            .into_iter()
            .filter(|(t, _)| t == "invoice.drafted")
            .map(|(_, d)| d)
            .collect()
    };
    let big_drafts = drafted(&big_id);
    assert_eq!(big_drafts.len(), 1);
    assert_eq!(big_drafts[0]["subtotal"], 210_000);
    assert_eq!(big_drafts[0]["id"], big_invoices[0].0.as_str());
    let mut per_drafts: Vec<String> = drafted(&per_id)
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    per_drafts.sort();
    let per_ids: Vec<String> = per_invoices.iter().map(|i| i.0.clone()).collect();
    assert_eq!(per_drafts, per_ids);
    // Two workers on the same tenants at once (a duplicate message) change nothing.
    let again = futures::future::join(
        invoice_run::run_all(&app.deps, period, 2),
        invoice_run::run_all(&app.deps, period, 2),
    )
    .await;
    assert!(again.0.unwrap().failed.is_empty() && again.1.unwrap().failed.is_empty());
    assert_eq!(snapshot(&app, &big).await, big_invoices);
    assert_eq!(snapshot(&app, &per).await, per_invoices);
    assert_eq!(drafted(&big_id).len(), 1);
    assert_eq!(drafted(&per_id).len(), 20);

    // Finalising cut off before it commits: the invoice stays a draft with no number,
    // and the next try takes number 1.
    let id = &big_invoices[0].0;
    crash.crash_at.store(
        crash.transactions.load(Ordering::SeqCst) + 1,
        Ordering::SeqCst,
    );
    let cut = app
        .post(&big, &format!("/v1/invoices/{id}/approve"), json!({}))
        .await;
    assert_eq!(cut.status, StatusCode::INTERNAL_SERVER_ERROR);
    let read = app.get(&big, &format!("/v1/invoices/{id}")).await;
    assert_eq!(
        (read.body["status"].as_str(), read.body["number"].as_str()),
        (Some("draft"), None)
    );
    let ok = app
        .post(&big, &format!("/v1/invoices/{id}/approve"), json!({}))
        .await;
    assert_eq!(ok.body["number"], "INV-2026-000001", "{}", ok.body);
    assert_eq!(ok.body["subtotal"], 210_000);
    assert_eq!(
        app.count_events(&big_id, "invoice.finalized"),
        1,
        "the cut-off try wrote none"
    );
}

#[tokio::test]
async fn twenty_concurrent_finalisations_take_twenty_numbers_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _crash, _clock, _big, per) = seventy_and_twenty(&dir).await;
    invoice_run::run_all(&app.deps, Period::parse("2026-11").unwrap(), 2)
        .await
        .unwrap();
    let ids: Vec<String> = snapshot(&app, &per)
        .await
        .into_iter()
        .map(|i| i.0)
        .collect();
    assert_eq!(ids.len(), 20);
    let answers = futures::future::join_all(ids.iter().map(|id| {
        let (app, per) = (&app, &per);
        async move {
            app.post(per, &format!("/v1/invoices/{id}/approve"), json!({}))
                .await
        }
    }))
    .await;
    let mut numbers: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            a.body["number"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    let want: Vec<String> = (1..=20).map(|n| format!("INV-2026-{n:06}")).collect();
    assert_eq!(numbers, want);
}

/// A tenant's own terms: a one-day review window, due a week after, suspended five days
/// overdue (the +7 reminder falls after that and is left out); bad terms are refused
/// by name; an invoice keeps the terms it was finalised under.
#[tokio::test]
async fn a_tenants_own_terms_set_its_review_window_due_date_and_suspension() {
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = app_on(embedded(&dir), "2026-11-01T09:00:00Z").await;
    seed_plans(&app).await;
    let (p, kp) = tenant(
        &app,
        "terms",
        json!({"kind": "partner", "invoice_mode": "consolidated",
            "invoice_review_days": 1, "due_days": 7, "suspend_after_days": 5}),
    )
    .await;
    let bad = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{p}"),
            json!({"invoice_review_days": 31, "due_days": -1, "suspend_after_days": 0}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(
        bad.error_fields(),
        ["invoice_review_days", "due_days", "suspend_after_days"]
    );
    let c = customer(&app, &kp, "Termed Co").await;
    subscribe(&app, &kp, &c, "starter").await;
    let at = |s: &str| {
        set(&clock, s);
        s.parse::<chrono::DateTime<chrono::Utc>>().unwrap()
    };
    jobs::run_due(&app.deps, at("2026-12-01T02:00:00Z"))
        .await
        .unwrap();
    let draft = invoices(&app, &kp, "").await[0].clone();
    assert_eq!(draft["review_ends_at"], "2026-12-02T02:00:00Z", "{draft}");
    // A draft has an HTML view but no PDF until it is final.
    let path = format!("/v1/invoices/{}/document", draft["id"].as_str().unwrap());
    let pdf = app.get(&kp, &path).await;
    assert_eq!(pdf.status, StatusCode::CONFLICT, "{}", pdf.body);
    assert_eq!(
        pdf.body["type"], "urn:tenantry:problem:document-not-issued",
        "{}",
        pdf.body
    );
    assert_eq!(pdf.body["invoice_status"], "draft", "{}", pdf.body);
    let html = document(&app, &kp, &path, Some("text/html")).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&html.raw).contains("Invoice (draft)"));
    let r = jobs::run_due(&app.deps, at("2026-12-02T02:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.review.finalized, 1);
    // Terms changed later do not touch an invoice already final.
    let later = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{p}"),
            json!({"due_days": 30, "suspend_after_days": 60}),
        )
        .await;
    assert_eq!(later.status, StatusCode::OK, "{}", later.body);
    assert_eq!(later.body["suspend_after_days"], 60, "{}", later.body);
    let fin = invoices(&app, &kp, "").await[0].clone();
    assert_eq!(fin["due_at"], "2026-12-09T02:00:00Z", "{fin}");
    let r = jobs::run_due(&app.deps, at("2026-12-10T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!((r.dunning.reminders, r.dunning.suspensions), (1, 0));
    let r = jobs::run_due(&app.deps, at("2026-12-14T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (r.dunning.reminders, r.dunning.suspensions),
        (0, 1),
        "{r:?}"
    );
    let t = app.get(&app.admin_key, &format!("/v1/tenants/{p}")).await;
    assert_eq!(t.body["status"], "suspended", "{}", t.body);
    let r = jobs::run_due(&app.deps, at("2026-12-17T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (r.dunning.reminders, r.dunning.suspensions),
        (0, 0),
        "no +7 reminder after the suspension: {r:?}"
    );
}

/// A draft credited down to nothing is paid as it becomes final: the partner hears of
/// both, once each, and nothing is left to dun.
#[tokio::test]
async fn an_invoice_with_nothing_to_pay_is_final_and_paid_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded_store(&dir);
    let (mut app, clock) = app_on(store.clone(), "2026-11-01T09:00:00Z").await;
    app.embedded = Some(store);
    seed_plans(&app).await;
    let (p, kp) = tenant(
        &app,
        "waived",
        json!({"kind": "partner", "invoice_mode": "consolidated"}),
    )
    .await;
    let c = customer(&app, &kp, "Waived Co").await;
    subscribe(&app, &kp, &c, "starter").await;
    set(&clock, "2026-12-01T02:00:00Z");
    jobs::run_due(&app.deps, "2026-12-01T02:00:00Z".parse().unwrap())
        .await
        .unwrap();
    let draft = invoices(&app, &kp, "").await[0].clone();
    let id = draft["id"].as_str().unwrap();
    let subtotal = draft["subtotal"].as_i64().unwrap();
    assert!(subtotal > 0, "{draft}");
    let waive = app
        .post(
            &app.admin_key,
            &format!("/v1/invoices/{id}/adjustments"),
            json!({"description": "First month waived", "amount": -subtotal}),
        )
        .await;
    assert_eq!(waive.status, StatusCode::OK, "{}", waive.body);
    let approved = app
        .post(&kp, &format!("/v1/invoices/{id}/approve"), json!({}))
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(
        (
            approved.body["status"].as_str(),
            approved.body["amount_due"].as_i64()
        ),
        (Some("paid"), Some(0)),
        "{}",
        approved.body
    );
    let again = app
        .post(&kp, &format!("/v1/invoices/{id}/approve"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    for step in ["invoice.finalized", "invoice.paid"] {
        assert_eq!(app.count_events(&p, step), 1, "{step}");
    }
    let paid = app
        .events_of(&p)
        .into_iter()
        .find(|(t, _)| t == "invoice.paid")
        .unwrap()
        .1;
    assert_eq!(
        (paid["id"].as_str(), paid["status"].as_str()),
        (Some(id), Some("paid"))
    );
    // Past the day it would have been due: nothing is overdue.
    set(&clock, "2026-12-20T03:00:00Z");
    let r = jobs::run_due(&app.deps, "2026-12-20T03:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!((r.dunning.reminders, r.dunning.suspensions), (0, 0));
    assert_eq!(app.count_events(&p, "invoice.overdue"), 0);
}

/// Overdue → two reminders → suspension → payment → reactivation, on a moved clock; a
/// customer suspended by hand, and a tenant suspended by hand, stay as they are.
#[tokio::test]
async fn an_unpaid_invoice_reminds_then_suspends_and_its_payment_lifts_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded_store(&dir);
    let (mut app, clock) = app_on(store.clone(), "2026-11-01T09:00:00Z").await;
    app.embedded = Some(store);
    seed_plans(&app).await;
    let (p, kp) = tenant(
        &app,
        "latepay",
        json!({"kind": "partner", "invoice_mode": "consolidated"}),
    )
    .await;
    let (r_id, kr) = tenant(
        &app,
        "lateres",
        json!({"kind": "reseller", "commission_rate_bps": 1000}),
    )
    .await;
    let pc = customer(&app, &kp, "Late Partner Co").await;
    subscribe(&app, &kp, &pc, "starter").await;
    let c = customer(&app, &kr, "Late Customer").await;
    subscribe(&app, &kr, &c, "starter").await;
    let d = customer(&app, &kr, "Held Customer").await;
    subscribe(&app, &kr, &d, "starter").await;
    // Suspended by dunning, then taken over by hand: reactivated and suspended again.
    let e = customer(&app, &kr, "Relapsed Customer").await;
    subscribe(&app, &kr, &e, "starter").await;

    let at = |s: &str| {
        set(&clock, s);
        s.parse::<chrono::DateTime<chrono::Utc>>().unwrap()
    };
    // Billed on 1 December, final on the 4th (the review window), due on the 18th.
    jobs::run_due(&app.deps, at("2026-12-01T02:00:00Z"))
        .await
        .unwrap();
    let r = jobs::run_due(&app.deps, at("2026-12-04T02:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.review.finalized, 4);
    let due = invoices(&app, &kp, "").await[0].clone();
    assert_eq!(due["due_at"], "2026-12-18T02:00:00Z");
    assert_eq!(due["overdue"], false);

    // A day overdue: the first reminder to each payer; a second sweep sends nothing again.
    let r = jobs::run_due(&app.deps, at("2026-12-19T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!((r.dunning.reminders, r.dunning.suspensions), (4, 0));
    let r = jobs::run_due(&app.deps, at("2026-12-19T04:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.dunning.reminders, 0);
    assert_eq!(invoices(&app, &kp, "").await[0]["overdue"], true);
    // The reseller suspends one of its customers by hand meanwhile.
    let held = app
        .post(&kr, &format!("/v1/customers/{d}/suspend"), json!({}))
        .await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    let r = jobs::run_due(&app.deps, at("2026-12-25T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!((r.dunning.reminders, r.dunning.suspensions), (4, 0));

    // 21 days overdue: the partner is suspended at once; the reseller's active customer
    // in the next round (its suspension is recorded first, then applied).
    let r = jobs::run_due(&app.deps, at("2027-01-08T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.dunning.suspensions, 1, "{r:?}");
    let r = jobs::run_due(&app.deps, at("2027-01-08T03:00:30Z"))
        .await
        .unwrap();
    assert_eq!(r.dunning.suspensions, 2, "{r:?}");
    let r = jobs::run_due(&app.deps, at("2027-01-08T03:00:40Z"))
        .await
        .unwrap();
    assert_eq!(
        r.dunning.suspensions, 0,
        "nothing is suspended twice: {r:?}"
    );
    let blocked = app.get(&kp, "/v1/customers").await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN, "{}", blocked.body);
    assert!(
        blocked.body["detail"]
            .as_str()
            .unwrap()
            .contains("overdue invoice")
    );
    assert_eq!(app.get(&kp, "/v1/invoices").await.status, StatusCode::OK);
    assert_eq!(app.get(&kp, "/v1/me").await.status, StatusCode::OK);
    let tenant_view = app.get(&app.admin_key, &format!("/v1/tenants/{p}")).await;
    assert_eq!(tenant_view.body["status"], "suspended");
    let status_of = async |id: &str| {
        app.get(&kr, &format!("/v1/customers/{id}")).await.body["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status_of(&c).await, "suspended");
    assert_eq!(status_of(&d).await, "suspended");
    assert_eq!(status_of(&e).await, "suspended");
    for (action, status) in [("reactivate", "active"), ("suspend", "suspended")] {
        let r = app
            .post(&kr, &format!("/v1/customers/{e}/{action}"), json!({}))
            .await;
        assert_eq!(r.body["status"], status, "{}", r.body);
    }

    // Paid in full: the suspensions dunning caused end; the one by hand stays.
    let pay = async |key: &str, customer: Option<&str>| {
        let list = invoices(&app, key, "period=2026-11").await;
        let inv = match customer {
            Some(c) => by_customer(&list, c).clone(),
            None => list[0].clone(),
        };
        let r = app
            .post(
                &app.admin_key,
                &format!("/v1/invoices/{}/payments", inv["id"].as_str().unwrap()),
                json!({"amount": inv["amount_due"], "date": "2027-01-08", "reference": "late"}),
            )
            .await;
        assert_eq!(r.body["status"], "paid", "{}", r.body);
    };
    pay(&kp, None).await;
    assert_eq!(app.get(&kp, "/v1/customers").await.status, StatusCode::OK);
    pay(&kr, Some(&c)).await;
    pay(&kr, Some(&d)).await;
    pay(&kr, Some(&e)).await;
    // The customer's reactivation (its login with it) is the scheduled jobs' next step.
    assert_eq!(status_of(&c).await, "suspended");
    jobs::run_due(&app.deps, at("2027-01-08T03:01:00Z"))
        .await
        .unwrap();
    assert_eq!(status_of(&c).await, "active");
    assert_eq!(status_of(&d).await, "suspended");
    assert_eq!(
        status_of(&e).await,
        "suspended",
        "suspended by hand after dunning: the payment does not lift it"
    );
    // No step is left for paid invoices.
    let r = jobs::run_due(&app.deps, at("2027-02-08T03:00:00Z"))
        .await
        .unwrap();
    assert_eq!((r.dunning.reminders, r.dunning.suspensions), (0, 0));
    // Each November invoice's life reached the tenant's webhook endpoints once per step:
    // the partner's one consolidated invoice, the reseller's three (later months are
    // billed on the way too).
    for (tenant_id, n) in [(&p, 1), (&r_id, 3)] {
        for step in [
            "invoice.drafted",
            "invoice.finalized",
            "invoice.overdue",
            "invoice.paid",
        ] {
            let november = app
                .events_of(tenant_id)
                .iter()
                .filter(|(t, d)| t == step && d["period"] == "2026-11")
                .count();
            assert_eq!(november, n, "{step} of {tenant_id}");
        }
    }
    let paid: Vec<Value> = app
        .events_of(&p)
        .into_iter()
        .filter(|(t, d)| t == "invoice.paid" && d["period"] == "2026-11")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        (paid[0]["status"].as_str(), paid[0]["amount_due"].as_i64()),
        (Some("paid"), Some(0))
    );
    assert!(paid[0].get("lines").is_none(), "the summary, without lines");

    // A tenant suspended by hand: its keys stop working altogether, billing included.
    let off = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{p}"),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(
        app.get(&kp, "/v1/invoices").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// `--test-clock`: the operator moves the clock, and the month's run, its review window
/// and the invoice's email happen on the way, in order, before the call answers.
#[tokio::test]
async fn the_test_clock_runs_what_falls_due_on_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(tenantry::ports::OffsetClock::default());
    let documents =
        tenantry::adapters::embedded::FileDocuments::new(dir.path().join("documents")).unwrap();
    let deps = tenantry::Deps::new(embedded(&dir))
        .with_clock(clock.clone())
        .with_documents(Arc::new(documents));
    let outbox = dir.path().join("outbox");
    let tc = Arc::new(functions::test_clock::TestClock {
        deps: deps.clone(),
        clock,
        mailer: Arc::new(tenantry::adapters::embedded::FileMailer::new(&outbox).unwrap()),
        settings: tenantry::service::mail::MailSettings {
            sender_domain: "clock.example.com".into(),
            public_url: "http://127.0.0.1".into(),
        },
        lock: Arc::new(tokio::sync::Mutex::new(())),
    });
    let app =
        tenantry_tests::app::spawn_app_routed(deps, Some(functions::test_clock::router(tc))).await;
    seed_plans(&app).await;
    let (_, key) = tenant(&app, "clocked", json!({"kind": "partner"})).await;
    let c = customer(&app, &key, "Clocked Co").await;
    subscribe(&app, &key, &c, "starter").await;
    let advance = |to: String, key: String| {
        let app = &app;
        async move {
            app.post(&key, "/v1/test-clock/advance", json!({ "to": to }))
                .await
        }
    };
    // Only the operator, only forward, only a time.
    assert_eq!(
        advance("2099-01-01T00:00:00Z".into(), key.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let back = advance("2001-01-01T00:00:00Z".into(), app.admin_key.clone()).await;
    assert_eq!(
        back.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        back.body
    );
    let bad = app
        .post(
            &app.admin_key,
            "/v1/test-clock/advance",
            json!({"to": "soon"}),
        )
        .await;
    assert_eq!(bad.error_fields(), ["to"]);

    // To the 5th of next month: this month is billed on the 1st, final on the 4th, mailed.
    let now = chrono::Utc::now();
    let this = Period::of(now.date_naive());
    let to = format!("{}T03:00:00Z", this.end() + chrono::Duration::days(4));
    let r = advance(to, app.admin_key.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // (The month before is billed in the first round: a fresh data folder never ran it.)
    assert_eq!(
        r.body["invoice_runs"].as_array().unwrap().last(),
        Some(&json!(this.to_string())),
        "{}",
        r.body
    );
    assert_eq!(r.body["invoices_finalized"], 1, "{}", r.body);
    assert_eq!(r.body["failures"], 0, "{}", r.body);
    assert!(r.body["emails_sent"].as_u64().unwrap() >= 1, "{}", r.body);
    let inv = &invoices(&app, &key, "").await[0];
    assert_eq!(inv["status"], "open");
    assert_eq!(inv["period"], this.to_string());
    assert_eq!(r.body["documents_stored"], 1, "{}", r.body);
    let number = inv["number"].as_str().unwrap();
    let eml = std::fs::read_dir(&outbox)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .find(|eml| eml.contains(number))
        .expect("the invoice's email is in the outbox");
    // It carries the stored PDF: the same bytes as the document store's, its text the
    // invoice's.
    let pdf = attachment(&eml, &format!("{number}.pdf")).expect("the PDF attached");
    let id = inv["id"].as_str().unwrap();
    let tenant_id = inv["tenant_id"].as_str().unwrap();
    let stored = std::fs::read(
        dir.path()
            .join(format!("documents/tenants/{tenant_id}/invoices/{id}.pdf")),
    )
    .expect("the stored document");
    assert_eq!(pdf, stored);
    if let Some(text) = pdf_text(&pdf, "mailed-invoice") {
        assert!(
            text.contains(number) && text.contains("Clocked Co"),
            "{text}"
        );
    }
}

/// The bytes of the attachment named `filename` in an RFC 5322 message (base64, as the
/// mailers write it).
fn attachment(eml: &str, filename: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let at = eml.find(&format!("filename=\"{filename}\""))?;
    let rest = &eml[at..];
    let body = &rest[rest.find("\r\n\r\n")? + 4..];
    let end = body.find("\r\n--").unwrap_or(body.len());
    let b64: String = body[..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// A customer that ends a euro plan and starts a dollar plan in the same month gets one
/// invoice in each currency, each with its own lines.
#[tokio::test]
async fn a_mid_month_move_to_another_currency_bills_each_currency_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = app_on(embedded(&dir), "2026-11-01T09:00:00Z").await;
    seed_plans(&app).await;
    let usd = app
        .post(
            &app.admin_key,
            "/v1/plans",
            json!({"code": "starter_usd", "name": "Starter USD",
            "currency": "USD", "base_amount": 3300}),
        )
        .await;
    assert_eq!(usd.status, StatusCode::CREATED, "{}", usd.body);
    let (_, key) = tenant(
        &app,
        "twocur",
        json!({"kind": "partner", "invoice_mode": "per_customer"}),
    )
    .await;
    let c = customer(&app, &key, "Two Currencies").await;
    subscribe(&app, &key, &c, "starter").await;
    set(&clock, "2026-11-10T09:00:00Z");
    let ended = app
        .delete(&key, &format!("/v1/customers/{c}/subscription?at=now"))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    set(&clock, "2026-11-11T09:00:00Z");
    subscribe(&app, &key, &c, "starter_usd").await;
    invoice_run::run_all(&app.deps, Period::parse("2026-11").unwrap(), 1)
        .await
        .unwrap();
    let all = invoices(&app, &key, "").await;
    let mut got: Vec<(String, Vec<LineSummary>)> = all
        .iter()
        .map(|i| (i["currency"].as_str().unwrap().to_owned(), lines_of(i, &c)))
        .collect();
    got.sort();
    // EUR: 1-10 Nov, 10 days of 3,000 = 1,000. USD: 11-30 Nov, 20 days of 3,300 = 2,200.
    assert_eq!(
        got,
        [
            ("EUR".to_owned(), vec![l("base", 10, 1000)]),
            ("USD".to_owned(), vec![l("base", 20, 2200)]),
        ]
    );
}

/// A reseller's customer's admin reads, and downloads, the final invoices addressed to its
/// own company, and nothing else: not another customer's, not a draft, not a partner's.
#[tokio::test]
async fn a_resellers_customer_admin_reads_only_its_own_final_invoices() {
    use tenantry::access::{Permission, Principal, Scope, authorize};
    use tenantry::model::customer::CustomerRole;
    use tenantry::model::ids::{CustomerId, InvoiceId, UserId};
    use tenantry::service::invoices::{self, Reach};
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = app_on(embedded(&dir), "2026-11-01T09:00:00Z").await;
    seed_plans(&app).await;
    let (r, kr) = tenant(
        &app,
        "ownres",
        json!({"kind": "reseller", "commission_rate_bps": 500}),
    )
    .await;
    let (_, kp) = tenant(&app, "ownpart", json!({"kind": "partner"})).await;
    let c1 = customer(&app, &kr, "Own One").await;
    subscribe(&app, &kr, &c1, "starter").await;
    let c2 = customer(&app, &kr, "Own Two").await;
    subscribe(&app, &kr, &c2, "starter").await;
    let pc = customer(&app, &kp, "Partner's Own").await;
    subscribe(&app, &kp, &pc, "starter").await;
    set(&clock, "2026-12-01T02:00:00Z");
    invoice_run::run_all(&app.deps, Period::parse("2026-11").unwrap(), 1)
        .await
        .unwrap();
    let all = invoices(&app, &kr, "").await;
    let mine = by_customer(&all, &c1)["id"].as_str().unwrap().to_owned();
    let theirs = by_customer(&all, &c2)["id"].as_str().unwrap().to_owned();
    let partner = invoices(&app, &kp, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The admin of the first customer, as its token's principal would be.
    let admin = Principal::Customer {
        tenant_id: TenantId::from_record(r.clone()),
        customer_id: CustomerId::from_record(c1.clone()),
        user_id: UserId::generate(),
        role: CustomerRole::Admin,
    };
    let Ok(Scope::Customer(own)) = authorize(&admin, Permission::ReadInvoices) else {
        panic!("a customer's admin reads its company's invoices");
    };
    let read = |id: String| {
        let (deps, own) = (&app.deps, &own);
        async move { invoices::get(deps, Reach::Customer(own), &InvoiceId::from_record(id)).await }
    };
    // A draft is not its yet.
    assert!(matches!(
        read(mine.clone()).await,
        Err(tenantry::Error::NotFound(_))
    ));
    let ok = app
        .post(&kr, &format!("/v1/invoices/{mine}/approve"), json!({}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let seen = read(mine.clone()).await.expect("its own final invoice");
    assert_eq!(
        seen.customer_id.as_ref().map(|c| c.as_str()),
        Some(c1.as_str())
    );
    let doc = invoices::for_document(
        &app.deps,
        Reach::Customer(&own),
        &InvoiceId::from_record(mine),
        None,
    )
    .await;
    assert!(doc.is_ok());
    for other in [theirs, partner] {
        assert!(
            matches!(read(other).await, Err(tenantry::Error::NotFound(_))),
            "another's invoice looks like none"
        );
    }
    // A user who is not the admin reaches no invoice route at all.
    let user = Principal::Customer {
        tenant_id: TenantId::from_record(r),
        customer_id: CustomerId::from_record(c1),
        user_id: UserId::generate(),
        role: CustomerRole::User,
    };
    assert!(authorize(&user, Permission::ReadInvoices).is_err());
}

/// The emails of `template` in a tenant's outbox.
async fn outbox(app: &TestApp, tenant_id: &str, template: &str) -> Vec<Value> {
    let t = TenantId::from_record(tenant_id);
    let page = app
        .deps
        .store
        .query(Query::partition(
            tenantry::store::keys::outbox_partition(&t),
            tenantry::ports::SortRange::All,
            1000,
        ))
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|i| Value::Object(i.data))
        .filter(|e| e["template"] == template)
        .collect()
}

#[tokio::test]
async fn credit_notes_correct_a_final_invoice_with_numbers_tax_and_commission_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = app_on(embedded(&dir), "2026-11-01T09:00:00Z").await;
    seed_plans(&app).await;
    // A consolidated partner at 19% tax: two customers on starter, 30.00 each.
    let (p, kp) = tenant(
        &app,
        "credpart",
        json!({"kind": "partner", "invoice_mode": "consolidated",
            "billing": {"tax_rate_bps": 1900}}),
    )
    .await;
    let c1 = customer(&app, &kp, "Credit One").await;
    subscribe(&app, &kp, &c1, "starter").await;
    let c2 = customer(&app, &kp, "Credit Two").await;
    subscribe(&app, &kp, &c2, "starter").await;
    // A reseller at 10% commission: one customer on starter.
    let (_, kr) = tenant(
        &app,
        "credres",
        json!({"kind": "reseller", "commission_rate_bps": 1000}),
    )
    .await;
    let rc = customer(&app, &kr, "Resold One").await;
    subscribe(&app, &kr, &rc, "starter").await;
    set(&clock, "2026-12-01T02:00:00Z");
    invoice_run::run_all(&app.deps, Period::parse("2026-11").unwrap(), 1)
        .await
        .unwrap();
    let inv = invoices(&app, &kp, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let credit = |id: &str, body: Value| {
        let (app, path) = (&app, format!("/v1/invoices/{id}/credit-notes"));
        async move { app.post(&app.admin_key, &path, body).await }
    };
    // A draft is adjusted or voided, never credited.
    let r0 = credit(&inv, json!({"reason": "too early"})).await;
    assert_eq!(r0.status, StatusCode::CONFLICT, "{}", r0.body);
    assert_eq!(
        r0.body["type"], "urn:tenantry:problem:invoice-not-open",
        "{}",
        r0.body
    );
    let a = app
        .post(&kp, &format!("/v1/invoices/{inv}/approve"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["number"], "INV-2026-000001");
    // 60.00 + 19% = 71.40.
    assert_eq!(
        (a.body["subtotal"].clone(), a.body["total"].clone()),
        (json!(6000), json!(7140))
    );

    // No reason, a zero amount, a stranger customer: each named.
    let bad = credit(&inv, json!({"amount": 0})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"reason") && fields.contains(&"amount"),
        "{}",
        bad.body
    );
    let stranger = credit(&inv, json!({"reason": "x", "customer_id": rc})).await;
    assert_eq!(
        stranger.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        stranger.body
    );

    // 12.50 off Credit One's lines: tax 2.375 → 2.38 (half to even), 14.88 credited.
    let n1 = credit(
        &inv,
        json!({"reason": "Two seats billed twice", "amount": 1250, "customer_id": c1}),
    )
    .await;
    assert_eq!(n1.status, StatusCode::CREATED, "{}", n1.body);
    let note = &n1.body["credit_notes"][0];
    assert_eq!(note["number"], "CN-2026-000001", "{}", n1.body);
    assert_eq!(
        (
            note["subtotal"].clone(),
            note["tax"].clone(),
            note["total"].clone()
        ),
        (json!(1250), json!(238), json!(1488))
    );
    assert_eq!(note["lines"][0]["customer_id"], c1.as_str());
    assert_eq!(n1.body["status"], "open");
    assert_eq!(n1.body["amount_due"], 7140 - 1488);
    // More than the net amount left (47.50) is refused, naming the field and the limit.
    let over = credit(&inv, json!({"reason": "x", "amount": 4751})).await;
    assert_eq!(
        over.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        over.body
    );
    assert!(over.body.to_string().contains("4750"), "{}", over.body);

    // A payment of 50.00 leaves 6.52 due.
    let pay = app
        .post(
            &app.admin_key,
            &format!("/v1/invoices/{inv}/payments"),
            json!({"amount": 5000, "date": "2026-12-01", "reference": "SEPA 1"}),
        )
        .await;
    assert_eq!(pay.status, StatusCode::OK, "{}", pay.body);
    assert_eq!(pay.body["status"], "partially_paid");
    assert_eq!(pay.body["amount_due"], 652);
    let n2 = credit(&inv, json!({"reason": "Goodwill", "amount": 548})).await;
    assert_eq!(n2.status, StatusCode::CREATED, "{}", n2.body);
    let second = &n2.body["credit_notes"][1];
    assert_eq!(second["number"], "CN-2026-000002");
    // 5.48 × 19% = 1.0412 → 1.04: 6.52 credited, and payments and credits cover 71.40.
    assert_eq!(second["total"], 652, "{}", n2.body);
    assert_eq!(n2.body["status"], "paid", "{}", n2.body);
    assert_eq!(n2.body["amount_due"], 0);
    // Without an amount the rest is credited: 42.02 net and the 7.98 of tax left
    // (11.40 − 2.38 − 1.04), 50.00 in all: credited in full, the invoice is void.
    let n3 = credit(&inv, json!({"reason": "Contract ended"})).await;
    assert_eq!(n3.status, StatusCode::CREATED, "{}", n3.body);
    let last = &n3.body["credit_notes"][2];
    assert_eq!(last["number"], "CN-2026-000003");
    assert_eq!(
        (
            last["subtotal"].clone(),
            last["tax"].clone(),
            last["total"].clone()
        ),
        (json!(4202), json!(798), json!(5000))
    );
    assert_eq!(n3.body["amount_credited"], 7140);
    assert_eq!(n3.body["status"], "void", "credited in full: {}", n3.body);
    assert_eq!(n3.body["amount_due"], 0);
    let again = credit(&inv, json!({"reason": "again"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let late_pay = app
        .post(
            &app.admin_key,
            &format!("/v1/invoices/{inv}/payments"),
            json!({"amount": 1, "date": "2026-12-01", "reference": "late"}),
        )
        .await;
    assert_eq!(late_pay.status, StatusCode::CONFLICT, "{}", late_pay.body);

    // Each credit note's email went to the partner's billing contact, naming its PDF,
    // which the document sweep stores where the email looks for it.
    let mails = outbox(&app, &p, "credit_note_issued").await;
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert!(
        mails
            .iter()
            .all(|m| m["to"] == "billing@credpart.example.com")
    );
    let stored = tenantry::service::documents::store_due(
        &app.deps,
        &functions::document::render,
        app.deps.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(
        stored.stored, 4,
        "the invoice and its three credit notes: {stored:?}"
    );
    let first_cn = n1.body["credit_notes"][0]["id"].as_str().unwrap();
    let key = format!("tenants/{p}/invoices/{inv}/{first_cn}.pdf");
    assert!(
        mails
            .iter()
            .any(|m| m["attachments"][0]["key"] == key.as_str()
                && m["attachments"][0]["filename"] == "CN-2026-000001.pdf"),
        "{mails:?}"
    );
    let pdf = app
        .deps
        .documents()
        .unwrap()
        .get(&key)
        .await
        .unwrap()
        .expect("stored");
    if let Some(text) = pdf_text(&pdf, "stored-credit-note") {
        // As it stood when issued: 71.40 − 14.88 still due then.
        assert!(
            text.contains("CN-2026-000001") && text.contains("€56.52"),
            "{text}"
        );
    }
    // The invoice's own PDF shows it as issued: 71.40 due, before any payment or credit.
    let own = app
        .deps
        .documents()
        .unwrap()
        .get(&format!("tenants/{p}/invoices/{inv}.pdf"))
        .await
        .unwrap()
        .expect("stored");
    if let Some(text) = pdf_text(&own, "stored-invoice") {
        assert!(
            text.contains("Amount due") && text.contains("€71.40"),
            "{text}"
        );
        assert!(!text.contains("€0.00"), "{text}");
    }

    // The credit note's document names itself and the invoice it credits.
    let cn = note["id"].as_str().unwrap();
    let page = document(
        &app,
        &kp,
        &format!("/v1/invoices/{inv}/document?credit_note={cn}"),
        Some("text/html"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.raw).to_string();
    for want in [
        "Credit note CN-2026-000001",
        "INV-2026-000001",
        "Two seats billed twice",
        "€14.88",
    ] {
        assert!(
            html.contains(want),
            "the credit note lacks {want:?}: {html}"
        );
    }
    let pdf = document(
        &app,
        &kp,
        &format!("/v1/invoices/{inv}/document?credit_note={cn}"),
        None,
    )
    .await;
    assert_eq!(pdf.status, StatusCode::OK);
    let stored_cn = app
        .deps
        .documents()
        .unwrap()
        .get(&format!("tenants/{p}/invoices/{inv}/{cn}.pdf"))
        .await
        .unwrap()
        .expect("stored");
    assert!(
        pdf.raw == stored_cn,
        "the route serves the stored credit note"
    );
    if let Some(text) = pdf_text(&pdf.raw, "credit-note") {
        assert!(
            text.contains("CN-2026-000001") && text.contains("€14.88"),
            "{text}"
        );
    }
    for q in ["cn_0197b2a7f3b27e5d8c6f708192a3b4c5", "nonsense"] {
        let none = app
            .get(&kp, &format!("/v1/invoices/{inv}/document?credit_note={q}"))
            .await;
        assert_eq!(none.status, StatusCode::NOT_FOUND, "{q}: {}", none.body);
    }

    // The reseller's customer: 30.00 final, 10.00 credited; its commission follows.
    let ri = invoices(&app, &kr, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = app
        .post(&kr, &format!("/v1/invoices/{ri}/approve"), json!({}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let rn = credit(&ri, json!({"reason": "Outage on 12 Nov", "amount": 1000})).await;
    assert_eq!(rn.status, StatusCode::CREATED, "{}", rn.body);
    // The reseller's own series: its first credit note.
    assert_eq!(rn.body["credit_notes"][0]["number"], "CN-2026-000001");
    let st = app
        .get(&kr, "/v1/commission-statements?period=2026-11")
        .await;
    assert_eq!(st.status, StatusCode::OK, "{}", st.body);
    let s = &st.body["data"][0];
    assert_eq!(s["totals"][0]["net"], 2000, "{}", st.body);
    assert_eq!(s["totals"][0]["commission"], 200, "{}", st.body);
    assert_eq!(s["totals"][0]["invoices"], 1, "{}", st.body);
    let lines = s["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{}", st.body);
    assert!(
        lines.iter().any(|l| l["net"] == -1000
            && l["commission"] == -100
            && l["number"] == "CN-2026-000001"),
        "{}",
        st.body
    );
}

/// An invoice's email waits for its PDF without spending its tries, goes out with it
/// once stored, and is dead-lettered with the reason if the PDF never comes; other
/// emails flow meanwhile.
#[tokio::test]
async fn an_invoice_email_waits_for_its_pdf_and_gives_up_after_a_day() {
    use tenantry::service::{documents, mail};
    let dir = tempfile::tempdir().unwrap();
    let (app, clock) = app_on(embedded(&dir), "2026-11-01T09:00:00Z").await;
    seed_plans(&app).await;
    let (p, kp) = tenant(
        &app,
        "waitpdf",
        json!({"kind": "partner", "invoice_mode": "per_customer"}),
    )
    .await;
    let c1 = customer(&app, &kp, "Wait One").await;
    subscribe(&app, &kp, &c1, "starter").await;
    let c2 = customer(&app, &kp, "Wait Two").await;
    subscribe(&app, &kp, &c2, "starter").await;
    set(&clock, "2026-12-01T02:00:00Z");
    invoice_run::run_all(&app.deps, Period::parse("2026-11").unwrap(), 1)
        .await
        .unwrap();
    let all = invoices(&app, &kp, "").await;
    let (i1, i2) = (
        by_customer(&all, &c1)["id"].as_str().unwrap().to_owned(),
        by_customer(&all, &c2)["id"].as_str().unwrap().to_owned(),
    );
    let folder = dir.path().join("outbox");
    let mailer = tenantry::adapters::embedded::FileMailer::new(&folder).unwrap();
    let settings = mail::MailSettings {
        sender_domain: "wait.example.com".into(),
        public_url: "http://127.0.0.1".into(),
    };
    // The welcome emails of before go first.
    mail::deliver_due(&app.deps, &mailer, &settings)
        .await
        .unwrap();
    for id in [&i1, &i2] {
        let ok = app
            .post(&kp, &format!("/v1/invoices/{id}/approve"), json!({}))
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    }
    // Nothing rendered yet: both invoices' emails wait, no try spent.
    let r = mail::deliver_due(&app.deps, &mailer, &settings)
        .await
        .unwrap();
    assert_eq!((r.sent, r.dead), (0, 0), "{r:?}");
    let waiting = outbox(&app, &p, "invoice_issued").await;
    assert!(
        waiting
            .iter()
            .all(|e| e["attempts"] == 0 && e["state"] == "pending"),
        "{waiting:?}"
    );
    // The first invoice's PDF is stored (the second's renderer fails every time).
    let id1 = i1.clone();
    let picky = move |v: &tenantry::model::invoice::InvoiceView,
                      t: &tenantry::model::tenant::Tenant,
                      n: Option<&tenantry::model::invoice::CreditNote>| {
        if v.id.as_str() == id1 {
            functions::document::render(v, t, n)
        } else {
            Err(tenantry::Error::Unexpected(anyhow::anyhow!(
                "a poisoned invoice"
            )))
        }
    };
    let s = documents::store_due(&app.deps, &picky, app.deps.clock.now())
        .await
        .unwrap();
    assert_eq!((s.stored, s.failed), (1, 1), "{s:?}");
    set(&clock, "2026-12-01T02:02:00Z");
    let r = mail::deliver_due(&app.deps, &mailer, &settings)
        .await
        .unwrap();
    assert_eq!((r.sent, r.dead), (1, 0), "the stored one goes: {r:?}");
    // A day later the other is given up on, with the reason, and its invoice is intact.
    set(&clock, "2026-12-02T02:05:00Z");
    let s = documents::store_due(&app.deps, &picky, app.deps.clock.now())
        .await
        .unwrap();
    assert_eq!(s.failed, 1, "still due: {s:?}");
    let r = mail::deliver_due(&app.deps, &mailer, &settings)
        .await
        .unwrap();
    assert_eq!((r.sent, r.dead), (0, 1), "{r:?}");
    let dead: Vec<Value> = outbox(&app, &p, "invoice_issued")
        .await
        .into_iter()
        .filter(|e| e["state"] == "dead")
        .collect();
    assert_eq!(dead.len(), 1);
    let why = dead[0]["last_error"].as_str().unwrap();
    assert!(why.contains(&i2) && why.contains("not stored"), "{why}");
    let two = app.get(&kp, &format!("/v1/invoices/{i2}")).await;
    assert_eq!(two.body["status"], "open", "{}", two.body);
}

/// The month above on AWS's services in moto: the store on DynamoDB (a table of its
/// own, as the run reads the whole directory), the run handed out on SQS and billed by
/// the worker function from the queue, then the consolidated invoice's PDF kept in S3
/// and its email sent through SES with the PDF attached, read back from what moto
/// recorded and compared with the stored object.
#[tokio::test]
async fn on_aws_the_month_runs_through_sqs_and_its_invoice_is_kept_in_s3_and_mailed_through_ses() {
    use tenantry::adapters::aws::{S3Documents, SesMailer, SqsQueue};
    use tenantry::service::{documents, mail};
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let Some(store) =
        tenantry_tests::dynamo::fresh_store("the month on AWS", &format!("tenantry-month-{run}"))
            .await
    else {
        return;
    };
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("the emulator's endpoint");
    let config = tenantry::adapters::aws::sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("tenantry-documents-{run}");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("a bucket");
    let ses = aws_sdk_sesv2::Client::new(&config);
    ses.create_email_identity()
        .email_identity("mail.tenantry.test")
        .send()
        .await
        .expect("the sender domain is verified in moto");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name(format!("tenantry-invoice-run-{run}"))
        .send()
        .await
        .expect("a queue")
        .queue_url()
        .expect("its URL")
        .to_owned();
    let clock = Arc::new(TestClock::at("2026-11-01T09:00:00Z".parse().unwrap()));
    let deps = tenantry::Deps::new(Arc::new(store))
        .with_clock(clock.clone())
        .with_documents(Arc::new(S3Documents::from_config(&config, bucket.clone())))
        .with_work_queue(Arc::new(SqsQueue::from_config(&config, url.clone())));
    let app = spawn_app_with(deps).await;
    let month = month_of_two_partners_and_a_reseller(
        &app,
        &clock,
        &Runner::Sqs {
            client: sqs.clone(),
            url: url.clone(),
        },
    )
    .await;
    let (tid, inv) = (&month.consolidated_tenant, &month.consolidated_invoice);
    let number = "INV-2026-000001";

    let s = documents::store_due(
        &app.deps,
        &functions::document::render,
        app.deps.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.stored, 0,
        "the month stored every final invoice's PDF: {s:?}"
    );
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(format!("tenants/{tid}/invoices/{inv}.pdf"))
        .send()
        .await
        .expect("the PDF in S3");
    let stored = object.body.collect().await.unwrap().into_bytes().to_vec();
    assert!(stored.starts_with(b"%PDF-"));
    // The document route answers the object in S3, byte for byte.
    let served = document(
        &app,
        &month.consolidated_key,
        &format!("/v1/invoices/{inv}/document"),
        None,
    )
    .await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(served.raw == stored, "the route serves the stored PDF");

    let email = outbox(&app, tid, "invoice_issued").await;
    assert_eq!(email.len(), 1, "{email:?}");
    let email_id = tenantry::model::ids::EmailId::from_record(email[0]["id"].as_str().unwrap());
    let settings = mail::MailSettings {
        sender_domain: "mail.tenantry.test".into(),
        public_url: "https://app.tenantry.test".into(),
    };
    let t = TenantId::from_record(tid.clone());
    let sent = mail::deliver(
        &app.deps,
        &SesMailer::from_config(&config),
        &settings,
        &t,
        &email_id,
    )
    .await
    .unwrap();
    assert_eq!(sent, mail::Outcome::Sent);
    let raw = tenantry_tests::dynamo::ses_sent_to(&endpoint, "billing@cons.example.com").await;
    assert_eq!(
        raw.len(),
        1,
        "one email to the consolidated partner's billing contact"
    );
    let pdf = attachment(&raw[0], &format!("{number}.pdf")).expect("the PDF attached");
    assert_eq!(pdf, stored, "the attachment is the stored document");
    if let Some(text) = pdf_text(&pdf, "ses-invoice") {
        assert!(text.contains(number) && text.contains("€131.50"), "{text}");
    }
    // The payment the month recorded reads back from DynamoDB.
    let paid = app
        .get(&month.consolidated_key, &format!("/v1/invoices/{inv}"))
        .await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);
}
