//! The email outbox: written in the same transaction as the change, delivered once, retried
//! with backoff when the mail service fails, dead-lettered when it rejects. Embedded
//! (`.eml` files) always; SES v2 in moto's server when `scripts/test` runs it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use tenantry::adapters::embedded::FileMailer;
use tenantry::ports::{Clock, Email, Item, MailError, Mailer};
use tenantry::service::mail::{self, MailSettings, Outcome};
use tenantry_tests::app::{customer_body, spawn_app};

use tenantry_tests::app::TestClock;

/// Counts what reaches the real mailer it wraps.
struct Counting<M> {
    inner: M,
    sent: AtomicUsize,
}

fn tid(id: &str) -> tenantry::model::ids::TenantId {
    tenantry::model::ids::TenantId::from_record(id)
}

fn eid(id: &str) -> tenantry::model::ids::EmailId {
    tenantry::model::ids::EmailId::from_record(id)
}

#[async_trait]
impl<M: Mailer> Mailer for Counting<M> {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.inner.send(email).await?;
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn settings() -> MailSettings {
    MailSettings {
        sender_domain: "mail.tenantry.test".into(),
        public_url: "https://app.tenantry.test".into(),
    }
}

fn outbox(items: &[Item], tenant_id: &str) -> Vec<Value> {
    items
        .iter()
        .filter(|i| i.pk == format!("T#{tenant_id}#MAIL"))
        .map(|i| Value::Object(i.data.clone()))
        .collect()
}

#[tokio::test]
async fn creating_a_tenant_and_a_customer_queues_emails_that_go_out_once() {
    let app = spawn_app().await;
    let t = app.new_tenant("mailers").await;
    let created = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body("Öl & Wein GmbH", "anna@wein.example.com"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);

    let queued = outbox(&app.all_items(), &t.id);
    let templates: Vec<&str> = queued
        .iter()
        .filter_map(|e| e["template"].as_str())
        .collect();
    assert!(templates.contains(&"staff_invitation"), "{templates:?}");
    assert!(templates.contains(&"customer_welcome"), "{templates:?}");
    assert!(queued.iter().all(|e| e["state"] == "pending"), "{queued:?}");

    let dir = tempfile::tempdir().expect("a temp dir");
    let mailer = Counting {
        inner: FileMailer::new(dir.path()).expect("mail dir"),
        sent: AtomicUsize::new(0),
    };
    let first = mail::deliver_due(&app.deps, &mailer, &settings())
        .await
        .expect("delivery");
    assert_eq!(first.sent as usize, queued.len(), "{first:?}");
    let again = mail::deliver_due(&app.deps, &mailer, &settings())
        .await
        .expect("delivery");
    assert_eq!(again.sent, 0, "a sent email is not sent again: {again:?}");
    assert_eq!(mailer.sent.load(Ordering::SeqCst), queued.len());

    let welcome = queued
        .iter()
        .find(|e| e["template"] == "customer_welcome")
        .expect("the welcome");
    let eml = std::fs::read_to_string(
        dir.path()
            .join(format!("{}.eml", welcome["id"].as_str().expect("id"))),
    )
    .expect("the welcome's .eml");
    assert!(eml.contains("To: anna@wein.example.com"), "{eml}");
    assert!(eml.contains("no-reply@mail.tenantry.test"), "{eml}");
    assert!(
        eml.contains(&format!("https://app.tenantry.test/t/{}/login", t.slug)),
        "the welcome carries the tenant's login link: {eml}"
    );
    assert!(eml.contains("multipart/alternative"), "{eml}");
    let sent = outbox(&app.all_items(), &t.id);
    assert!(sent.iter().all(|e| e["state"] == "sent"), "{sent:?}");
}

#[tokio::test]
async fn two_deliveries_of_the_same_email_send_it_once() {
    let app = spawn_app().await;
    let t = app.new_tenant("racers").await;
    let email_id = outbox(&app.all_items(), &t.id)[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mailer = Counting {
        inner: FileMailer::new(dir.path()).expect("mail dir"),
        sent: AtomicUsize::new(0),
    };
    let s = settings();
    let (tenant_id, email_id) = (tid(&t.id), eid(&email_id));
    let (a, b) = tokio::join!(
        mail::deliver(&app.deps, &mailer, &s, &tenant_id, &email_id),
        mail::deliver(&app.deps, &mailer, &s, &tenant_id, &email_id),
    );
    let outcomes = [a.expect("first"), b.expect("second")];
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Sent).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(mailer.sent.load(Ordering::SeqCst), 1);
}

/// A mailer whose service is down: what SES looks like when unreachable.
struct Down;
#[async_trait]
impl Mailer for Down {
    async fn send(&self, _: &Email) -> Result<(), MailError> {
        Err(MailError::Unavailable(anyhow::anyhow!(
            "connection refused"
        )))
    }
}

#[tokio::test]
async fn a_failing_mail_service_keeps_the_change_and_retries_with_backoff_until_dead() {
    let app = spawn_app().await;
    let t = app.new_tenant("outage").await;
    // Whole seconds: due times are stored to the millisecond.
    let clock = Arc::new(TestClock(Mutex::new(
        Utc::now().trunc_subsecs(0) + Duration::seconds(1),
    )));
    let deps = app.deps.clone().with_clock(clock.clone());
    let email_id = outbox(&app.all_items(), &t.id)[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let s = settings();
    let mut waits = Vec::new();
    for attempt in 1..=mail::MAX_ATTEMPTS {
        let outcome = mail::deliver(&deps, &Down, &s, &tid(&t.id), &eid(&email_id))
            .await
            .expect("a failed send is recorded, not an error");
        if attempt < mail::MAX_ATTEMPTS {
            let Outcome::Retrying { due_at } = outcome else {
                panic!("attempt {attempt}: {outcome:?}");
            };
            let due: DateTime<Utc> = due_at.parse().expect("a time");
            waits.push((due - clock.now()).num_seconds());
            // Not due yet: nothing happens.
            assert_eq!(
                mail::deliver(&deps, &Down, &s, &tid(&t.id), &eid(&email_id))
                    .await
                    .expect("skip"),
                Outcome::Skipped
            );
            clock.advance(due - clock.now() + Duration::seconds(1));
        } else {
            assert_eq!(outcome, Outcome::Dead);
        }
    }
    assert_eq!(
        waits,
        vec![30, 60, 120, 240, 480, 960, 1920],
        "exponential backoff"
    );
    let tenant = app
        .get(&app.admin_key, &format!("/v1/tenants/{}", t.id))
        .await;
    assert_eq!(tenant.status, StatusCode::OK, "the tenant is kept");
    let dead = app
        .get(
            &app.admin_key,
            &format!("/v1/tenants/{}/emails?state=dead", t.id),
        )
        .await;
    assert_eq!(dead.status, StatusCode::OK, "{:?}", dead.body);
    let dead = dead.body["data"].as_array().expect("data").clone();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["id"], email_id.as_str());
    assert_eq!(dead[0]["attempts"], mail::MAX_ATTEMPTS);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("connection refused"))
    );
    // Staff of the tenant cannot list it; a tenant that does not exist is a 404; only
    // dead letters are listed.
    let forbidden = app
        .get(
            &t.owner_key,
            &format!("/v1/tenants/{}/emails?state=dead", t.id),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let missing = app
        .get(
            &app.admin_key,
            "/v1/tenants/ten_0197b2a4c3e07d1a9f2b3c4d5e6f7a81/emails?state=dead",
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = app
        .get(
            &app.admin_key,
            &format!("/v1/tenants/{}/emails?state=pending", t.id),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_fields(), vec!["state".to_owned()]);
}

mod ses {
    use super::*;
    use aws_sdk_sesv2::Client;
    use tenantry::adapters::aws::SesMailer;

    fn moto() -> Option<String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty());
        if endpoint.is_none() {
            assert!(
                std::env::var("CI").is_err(),
                "CI is set but AWS_ENDPOINT_URL is not: run the tests through scripts/test"
            );
            eprintln!("skipped: run scripts/test to run it against SES in moto");
        }
        endpoint
    }

    async fn verified_sender(client: &Client, domain: &str) {
        client
            .create_email_identity()
            .email_identity(domain)
            .send()
            .await
            .expect("the sender domain is verified in moto");
    }

    #[tokio::test]
    async fn ses_down_then_back_the_customer_is_kept_and_the_welcome_goes_out_once() {
        let Some(endpoint) = moto() else { return };
        let config = tenantry::adapters::aws::sdk_config().await;
        let client = Client::new(&config);
        verified_sender(&client, "mail.tenantry.test").await;

        let app = spawn_app().await;
        let t = app.new_tenant("sesdown").await;
        let recipient = format!("admin-{}@ses.example.com", uuid::Uuid::new_v4().simple());
        let created = app
            .post(
                &t.owner_key,
                "/v1/customers",
                customer_body("Outage Inc", &recipient),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);

        // SES unreachable: a closed loopback port.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let down = SesMailer::new(
            Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(&config)
                    .endpoint_url(format!("http://127.0.0.1:{port}"))
                    .build(),
            ),
            None,
        );
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        let deps = app.deps.clone().with_clock(clock.clone());
        let report = mail::deliver_due(&deps, &down, &settings())
            .await
            .expect("a run");
        assert_eq!(report.sent, 0, "{report:?}");
        assert!(report.retrying >= 1, "{report:?}");
        let customer = app
            .get(
                &t.owner_key,
                &format!("/v1/customers/{}", created.field("id")),
            )
            .await;
        assert_eq!(customer.status, StatusCode::OK, "the customer is kept");
        assert!(
            tenantry_tests::dynamo::ses_sent_to(&endpoint, &recipient)
                .await
                .is_empty()
        );

        // SES back, the retry due: the welcome goes out, once.
        clock.advance(Duration::minutes(2));
        let up = SesMailer::new(client.clone(), None);
        let report = mail::deliver_due(&deps, &up, &settings())
            .await
            .expect("a run");
        assert!(report.sent >= 1, "{report:?}");
        clock.advance(Duration::hours(2));
        mail::deliver_due(&deps, &up, &settings())
            .await
            .expect("a run");
        let sent = tenantry_tests::dynamo::ses_sent_to(&endpoint, &recipient).await;
        assert_eq!(sent.len(), 1, "sent once: {sent:?}");
        assert!(sent[0].contains("Welcome to sesdown"), "{}", sent[0]);
        assert!(
            sent[0].contains(&format!("/t/{}/login", t.slug)),
            "{}",
            sent[0]
        );
    }

    #[tokio::test]
    async fn an_unverified_sender_is_dead_lettered_at_once() {
        if moto().is_none() {
            return;
        }
        let client = Client::new(&tenantry::adapters::aws::sdk_config().await);
        let app = spawn_app().await;
        let t = app.new_tenant("unverified").await;
        let s = MailSettings {
            sender_domain: format!("never-verified-{}.test", uuid::Uuid::new_v4().simple()),
            public_url: "https://app.tenantry.test".into(),
        };
        let report = mail::deliver_due(&app.deps, &SesMailer::new(client, None), &s)
            .await
            .expect("a run");
        assert!(report.dead >= 1, "{report:?}");
        let scope = tenantry_tests::owner_scope(&t.id);
        let dead = mail::list(&app.deps, &scope, Some("dead"), None, None)
            .await
            .expect("dead letters");
        assert_eq!(dead.data.len(), 1, "{dead:?}");
    }
}

/// A mail service that never answers: the delivery is abandoned mid-send, as when a
/// Lambda times out or a process dies.
struct Hangs;
#[async_trait]
impl Mailer for Hangs {
    async fn send(&self, _: &Email) -> Result<(), MailError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test]
async fn deliveries_that_die_mid_send_back_off_and_end_in_the_dead_letters() {
    let app = spawn_app().await;
    let t = app.new_tenant("crashers").await;
    let clock = Arc::new(TestClock(Mutex::new(
        Utc::now().trunc_subsecs(0) + Duration::seconds(1),
    )));
    let deps = app.deps.clone().with_clock(clock.clone());
    let email_id = outbox(&app.all_items(), &t.id)[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let s = settings();
    for attempt in 1..=mail::MAX_ATTEMPTS {
        let abandoned = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            mail::deliver(&deps, &Hangs, &s, &tid(&t.id), &eid(&email_id)),
        )
        .await;
        assert!(abandoned.is_err(), "attempt {attempt} hangs in the send");
        // Within the claim (and the backoff) nobody takes it over.
        clock.advance(Duration::seconds(59));
        assert_eq!(
            mail::deliver(&deps, &Down, &s, &tid(&t.id), &eid(&email_id))
                .await
                .expect("skip"),
            Outcome::Skipped,
            "attempt {attempt}"
        );
        clock.advance(Duration::hours(2));
    }
    assert_eq!(
        mail::deliver(&deps, &Down, &s, &tid(&t.id), &eid(&email_id))
            .await
            .expect("dead"),
        Outcome::Dead,
        "after the last try's claim expires, the email is dead-lettered"
    );
}

/// A mail service that rejects every message: what an unverified sender looks like.
struct Rejects;
#[async_trait]
impl Mailer for Rejects {
    async fn send(&self, _: &Email) -> Result<(), MailError> {
        Err(MailError::Rejected(anyhow::anyhow!("sender not verified")))
    }
}

#[tokio::test]
async fn the_operator_redrives_a_dead_letter_which_then_goes_out_once() {
    let app = spawn_app().await;
    let t = app.new_tenant("redrive").await;
    // With a password: its welcome carries no one-time link, so it can be redriven.
    let mut body = customer_body("Redrive Co", "rita@redrive.example.com");
    body["admin"]["password"] = serde_json::json!("Sup3r$ecret!");
    let created = app.post(&t.owner_key, "/v1/customers", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let other = app.new_tenant("redrive-b").await;
    // A registration's code too: its code is dropped when it dies.
    let branding = app
        .send(
            reqwest::Method::PUT,
            &app.admin_key,
            &format!("/v1/tenants/{}/branding", t.id),
            Some(serde_json::json!({"product_name": "Redrive", "registration_enabled": true})),
            &[],
        )
        .await;
    assert_eq!(branding.status, StatusCode::OK, "{}", branding.body);
    let reg = app
        .post(
            "",
            "/t/redrive/register",
            serde_json::json!({"company_name": "Reg Co", "first_name": "R", "last_name": "G",
                "email": "reg@redrive.example.com"}),
        )
        .await;
    assert_eq!(reg.status, StatusCode::ACCEPTED, "{}", reg.body);
    let dead = mail::deliver_due(&app.deps, &Rejects, &settings())
        .await
        .expect("delivery");
    assert!(dead.dead >= 2, "{dead:?}");
    let list = app
        .get(
            &app.admin_key,
            &format!("/v1/tenants/{}/emails?state=dead", t.id),
        )
        .await;
    let welcome = list.body["data"]
        .as_array()
        .and_then(|d| d.iter().find(|e| e["template"] == "customer_welcome"))
        .expect("the dead welcome")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let redrive = |id: &str| format!("/v1/tenants/{}/emails/{id}/redrive", t.id);
    let code = list.body["data"]
        .as_array()
        .and_then(|d| d.iter().find(|e| e["template"] == "registration_code"))
        .expect("the dead code")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let r = app.post(&app.admin_key, &redrive(&code), Value::Null).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(
        r.problem_type(),
        "urn:tenantry:problem:email-secret-dropped"
    );

    // Only the operator; another tenant's id or an unknown email is 404.
    let staff = app
        .post(&t.owner_key, &redrive(&welcome), Value::Null)
        .await;
    assert_eq!(staff.status, StatusCode::FORBIDDEN, "{}", staff.body);
    let elsewhere = app
        .post(
            &app.admin_key,
            &format!("/v1/tenants/{}/emails/{welcome}/redrive", other.id),
            Value::Null,
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::NOT_FOUND,
        "{}",
        elsewhere.body
    );

    let r = app
        .post(&app.admin_key, &redrive(&welcome), Value::Null)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "pending");
    assert_eq!(r.body["attempts"], 0);
    // Pending now: not redriven twice.
    let again = app
        .post(&app.admin_key, &redrive(&welcome), Value::Null)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["state"], "pending");

    let dir = tempfile::tempdir().expect("a temp dir");
    let mailer = Counting {
        inner: FileMailer::new(dir.path()).expect("mail dir"),
        sent: AtomicUsize::new(0),
    };
    let report = mail::deliver_due(&app.deps, &mailer, &settings())
        .await
        .expect("delivery");
    assert_eq!(report.sent, 1, "only the redriven email: {report:?}");
    assert!(dir.path().join(format!("{welcome}.eml")).exists());
    let sent = app
        .post(&app.admin_key, &redrive(&welcome), Value::Null)
        .await;
    assert_eq!(sent.status, StatusCode::CONFLICT);
    assert_eq!(sent.body["state"], "sent");
    let list = app
        .get(
            &app.admin_key,
            &format!("/v1/tenants/{}/emails?state=dead", t.id),
        )
        .await;
    assert!(
        !list.body["data"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|e| e["id"] == welcome.as_str()),
        "{}",
        list.body
    );
}

/// The sweep reads what is due, not every tenant: with 10,000 tenants in the directory
/// and 3 emails due, it makes one query per shard of the due-work index and two reads
/// per email (the email, its tenant), whatever the number of tenants.
#[tokio::test]
async fn a_sweep_over_ten_thousand_tenants_with_three_due_emails_costs_a_handful_of_reads() {
    use tenantry::ports::{ItemStore, WriteOp};
    use tenantry::service::due::SHARDS;
    use tenantry::store::counting::CountingStore;
    let dir = tempfile::tempdir().unwrap();
    let embedded = Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("s.redb")).unwrap(),
    );
    // 10,000 tenants in the directory, as many tenants as a large deployment.
    for chunk in 0..100 {
        let ops = (0..100)
            .map(|i| {
                let id = format!("ten_{:032x}", chunk * 100 + i);
                WriteOp::create(Item::marker(tenantry::store::keys::tenant_directory(&tid(
                    &id,
                ))))
            })
            .collect();
        embedded.transact(ops).await.unwrap();
    }
    let counting = Arc::new(CountingStore::new(embedded.clone()));
    let deps = tenantry::Deps::new(counting.clone());
    // Three more tenants, each with its owner's invitation queued.
    for n in 0..3 {
        let draft = serde_json::from_value(serde_json::json!({
            "name": format!("Sweep {n}"), "slug": format!("sweep-{n}"), "kind": "partner",
            "owner": {"email": format!("o{n}@sweep.example.com"), "first_name": "O", "last_name": "S"}
        }))
        .unwrap();
        tenantry::service::tenants::create(&deps, &draft)
            .await
            .unwrap();
    }
    let outbox_dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(outbox_dir.path().to_path_buf()).unwrap();

    counting.counts.take();
    let report = mail::deliver_due(&deps, &mailer, &settings())
        .await
        .unwrap();
    let (reads, _writes, _items) = counting.counts.take();

    assert_eq!(
        (report.due, report.sent, report.failures),
        (3, 3, 0),
        "{report:?}"
    );
    assert_eq!(
        reads,
        u64::from(SHARDS) + 3 * 2,
        "one query per shard, then the email and its tenant for each of the 3"
    );
    assert_eq!(std::fs::read_dir(outbox_dir.path()).unwrap().count(), 3);

    // Nothing is due any more: the next sweep is the shard queries alone.
    let again = mail::deliver_due(&deps, &mailer, &settings())
        .await
        .unwrap();
    assert_eq!(counting.counts.take().0, u64::from(SHARDS));
    assert_eq!(again.due, 0);
}

/// A mailer that panics on one recipient's email (as a formatting library can on a
/// value it cannot write) and files every other.
struct PanicsFor {
    recipient: &'static str,
    inner: FileMailer,
}

#[async_trait]
impl Mailer for PanicsFor {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        if email.to.iter().any(|t| t == self.recipient) {
            panic!("a Display implementation returned an error unexpectedly");
        }
        self.inner.send(email).await
    }
}

#[tokio::test]
async fn one_poisoned_email_is_retried_with_its_reason_and_every_other_tenants_goes_out() {
    let app = spawn_app().await;
    let poisoned = app.new_tenant("poisoned").await;
    let healthy = app.new_tenant("healthy").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let mailer = PanicsFor {
        recipient: "owner@poisoned.example.com",
        inner: FileMailer::new(dir.path()).expect("mail dir"),
    };
    let report = mail::deliver_due(&app.deps, &mailer, &settings())
        .await
        .expect("the sweep goes on past a panicking email");
    assert_eq!((report.sent, report.retrying), (1, 1), "{report:?}");
    let items = app.all_items();
    let failed = &outbox(&items, &poisoned.id)[0];
    assert_eq!(failed["state"], "pending", "{failed}");
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("failed unexpectedly")),
        "{failed}"
    );
    // Its code or link (if any) stays until the last try: a fix in between can send it.
    assert!(failed.get("secrets_dropped").is_none(), "{failed}");
    assert_eq!(outbox(&items, &healthy.id)[0]["state"], "sent");
    // Not due again until its backoff has passed.
    let again = mail::deliver_due(&app.deps, &mailer, &settings())
        .await
        .expect("a sweep");
    assert_eq!(again.due, 0, "{again:?}");
}

#[tokio::test]
async fn a_line_break_in_a_name_that_reaches_an_email_header_is_refused() {
    let app = spawn_app().await;
    let t = app.new_tenant("headers").await;
    let r = app
        .put(
            &app.admin_key,
            &format!("/v1/tenants/{}/branding", t.id),
            serde_json::json!({"product_name": "Conf\nCloud"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.to_string().contains("product_name"), "{}", r.body);
    let r = app
        .patch(
            &app.admin_key,
            &format!("/v1/tenants/{}", t.id),
            serde_json::json!({"name": "Evil\r\nBcc: x@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .post(
            &t.owner_key,
            "/v1/customers",
            customer_body("Two\nLines", "two@lines.example.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}
