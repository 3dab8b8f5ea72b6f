//! The due-work index: the upgrade step that gives work scheduled before the index its
//! entries (emails still being retried, customers waiting for their purge), so nothing
//! scheduled then is forgotten by the sweeps that now read only the index.

use std::sync::Arc;

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::json;
use tenantry::Deps;
use tenantry::access::TenantScope;
use tenantry::adapters::embedded::{EmbeddedStore, FileMailer};
use tenantry::model::customer::Transition;
use tenantry::model::ids::EmailId;
use tenantry::ports::{Condition, Item, ItemStore, Key};
use tenantry::service::due::{self, Kind};
use tenantry::service::mail::{self, MailSettings, OutboxEmail, State, Template};
use tenantry::service::{customers, purge, tenants};
use tenantry::store::keys;
use tenantry_tests::app::{TestClock, customer_body};

fn store(dir: &tempfile::TempDir) -> Arc<EmbeddedStore> {
    Arc::new(EmbeddedStore::open(dir.path().join("d.redb")).unwrap())
}

async fn tenant(deps: &Deps, slug: &str) -> TenantScope {
    let draft = serde_json::from_value(json!({
        "name": slug, "slug": slug, "kind": "partner",
        "owner": {"email": format!("o@{slug}.example.com"), "first_name": "O", "last_name": "W"}
    }))
    .unwrap();
    let t = tenants::create(deps, &draft).await.unwrap();
    tenantry_tests::owner_scope(t.tenant.tenant.id.as_str())
}

#[tokio::test]
async fn an_email_pending_before_the_index_is_delivered_once_the_backfill_has_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let deps = Deps::new(store.clone());
    let tenant_id = tenant(&deps, "legacy-mail").await.tenant_id().clone();
    // An email as the outbox stored it before the index: pending, indexed only in the
    // tenant's own due partition (GSI1), with no due-work entry.
    let now = Utc::now();
    let email = OutboxEmail {
        id: EmailId::parse("eml_0197b2a7f3b27e5d8c6f708192a3b4c5").unwrap(),
        template: Template::CustomerWelcome,
        to: "legacy@legacy-mail.example.com".into(),
        context: serde_json::from_value(json!({"first_name": "L", "company_name": "Legacy Co"}))
            .unwrap(),
        state: State::Pending,
        attempts: 2,
        due_at: now - Duration::minutes(1),
        claimed_until: None,
        created_at: now - Duration::minutes(10),
        sent_at: None,
        last_error: Some("the mail service was down".into()),
        secrets_dropped: false,
        attachments: Vec::new(),
    };
    let stamp = email.due_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let item = Item::new(
        keys::outbox_email(&tenant_id, &email.id),
        serde_json::to_value(&email)
            .unwrap()
            .as_object()
            .unwrap()
            .clone(),
    )
    .with_gsi1(Key {
        pk: keys::outbox_due_partition(&tenant_id),
        sk: format!("{stamp}#{}", email.id),
    });
    store.put(item, Condition::None).await.unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(outbox.path().to_path_buf()).unwrap();
    let settings = MailSettings {
        sender_domain: "mail.example.com".into(),
        public_url: "https://api.example.com".into(),
    };
    let sent = |name: &str| outbox.path().join(format!("{name}.eml")).exists();

    // Before the backfill the sweep, which reads only the index, cannot see it (the
    // owner's invitation, queued with its entry, goes out).
    let first = mail::deliver_due(&deps, &mailer, &settings).await.unwrap();
    assert_eq!((first.due, first.sent), (1, 1), "{first:?}");
    assert!(!sent(email.id.as_str()));

    assert_eq!(mail::backfill_due(&deps).await.unwrap(), 1);
    let second = mail::deliver_due(&deps, &mailer, &settings).await.unwrap();
    assert_eq!((second.due, second.sent), (1, 1), "{second:?}");
    assert!(sent(email.id.as_str()), "the legacy email went out");

    // Sent: no entry remains, and running the backfill again schedules nothing.
    assert_eq!(mail::backfill_due(&deps).await.unwrap(), 0);
    let third = mail::deliver_due(&deps, &mailer, &settings).await.unwrap();
    assert_eq!(third.due, 0, "{third:?}");
}

#[tokio::test]
async fn a_customer_deleted_before_the_index_is_purged_once_the_backfill_has_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let clock = Arc::new(TestClock::at(Utc::now()));
    let deps = Deps::new(store.clone()).with_clock(clock.clone());
    let scope = tenant(&deps, "legacy-purge").await;
    let tenant_id = scope.tenant_id().clone();
    let draft =
        serde_json::from_value(customer_body("Legacy Bakery", "a@legacy.example.com")).unwrap();
    let c = customers::create(&deps, &scope, &draft).await.unwrap();
    let customer_id = c.id;
    let deleted = customers::transition(&deps, &scope, &customer_id, Transition::Delete, true)
        .await
        .unwrap();
    let purge_after = deleted.purge_after.unwrap();
    // Make it look as it did before the index: the purge entry in the tenant's
    // partition, no due-work entry.
    store
        .delete(
            &due::entry(Kind::Purge, &tenant_id, customer_id.as_str(), purge_after),
            Condition::Exists,
        )
        .await
        .expect("deleting a customer schedules its purge in the index");
    let legacy = keys::purge_entry(
        &tenant_id,
        &purge_after.to_rfc3339_opts(SecondsFormat::Secs, true),
        &customer_id,
    );
    store
        .put(Item::marker(legacy.clone()), Condition::None)
        .await
        .unwrap();

    clock.advance(Duration::days(31));
    let before = purge::run(&deps, clock.0.lock().map(|t| *t).unwrap())
        .await
        .unwrap();
    assert_eq!(before.customers_purged, 0, "the index does not know it yet");

    assert_eq!(purge::backfill_due(&deps).await.unwrap(), 1);
    assert!(
        store.get(&legacy).await.unwrap().is_none(),
        "the former entry is moved, not copied"
    );
    let after = purge::run(&deps, clock.0.lock().map(|t| *t).unwrap())
        .await
        .unwrap();
    assert_eq!((after.due, after.customers_purged), (1, 1), "{after:?}");
    assert!(
        customers::get(&deps, &scope, &customer_id).await.is_err(),
        "the customer is gone"
    );
    assert_eq!(purge::backfill_due(&deps).await.unwrap(), 0);
    let mut sweep = due::Sweep::new(Kind::Purge, Utc::now() + Duration::days(400));
    assert_eq!(
        sweep.next(&deps).await.unwrap(),
        None,
        "no purge entry is left"
    );
}

#[tokio::test]
async fn an_entry_left_for_a_restored_customer_is_dropped_by_the_next_purge_and_purges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let clock = Arc::new(TestClock::at(Utc::now()));
    let deps = Deps::new(store.clone()).with_clock(clock.clone());
    let scope = tenant(&deps, "leftover").await;
    let tenant_id = scope.tenant_id().clone();
    let draft =
        serde_json::from_value(customer_body("Leftover Bakery", "a@leftover.example.com")).unwrap();
    let c = customers::create(&deps, &scope, &draft).await.unwrap();
    let customer_id = c.id;
    customers::transition(&deps, &scope, &customer_id, Transition::Delete, true)
        .await
        .unwrap();
    // An entry at another instant than the customer's own (as a move from an older
    // schedule could leave), then the restore, which removes only the customer's own.
    let stray = due::entry(
        Kind::Purge,
        &tenant_id,
        customer_id.as_str(),
        Utc::now() + Duration::days(29),
    );
    store
        .put(Item::marker(stray.clone()), Condition::None)
        .await
        .unwrap();
    customers::transition(&deps, &scope, &customer_id, Transition::Restore, true)
        .await
        .unwrap();

    clock.advance(Duration::days(31));
    let now = *clock.0.lock().unwrap();
    let first = purge::run(&deps, now).await.unwrap();
    assert_eq!((first.due, first.customers_purged), (1, 0), "{first:?}");
    assert!(
        store.get(&stray).await.unwrap().is_none(),
        "the stray entry is gone"
    );
    assert!(customers::get(&deps, &scope, &customer_id).await.is_ok());
    let second = purge::run(&deps, now).await.unwrap();
    assert_eq!(second.due, 0, "{second:?}");
}
