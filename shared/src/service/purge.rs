//! The purge job: removes customers whose 30-day restore window has passed.

use chrono::{DateTime, Utc};

use super::due::{Kind, Sweep};
use crate::Deps;
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::customer::{Customer, CustomerStatus};
use crate::model::fields;
use crate::model::ids::{CustomerId, TenantId};
use crate::ports::{Condition, Item, Key, MAX_TRANSACTION_ACTIONS, Query, SortRange, WriteOp};
use serde_json::Value;

use super::audit::{self, Entry, Log};
use super::customers::purge_key;
use super::from_item;
use crate::store::keys;

/// The due-work entry of a deleted customer's purge; `None` when the customer is gone or
/// not deleted.
pub(crate) async fn scheduled_purge(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<Option<Key>, Error> {
    let Some(item) = deps
        .store
        .get(&keys::customer(tenant_id, customer_id))
        .await?
    else {
        return Ok(None);
    };
    let c: Customer = from_item(&item)?;
    Ok(match c.status {
        CustomerStatus::Deleted => purge_key(tenant_id, &c),
        _ => None,
    })
}

/// True when nothing of the customer is left to bill: it never subscribed, or the invoice
/// run of the month it was deleted in is done for its tenant. A purge waits for that run
/// (its subscription, seats and usage are what the run reads).
async fn billed(deps: &Deps, tenant_id: &TenantId, c: &Customer) -> Result<bool, Error> {
    if deps
        .store
        .get(&keys::subscriber(tenant_id, &c.id))
        .await?
        .is_none()
    {
        return Ok(true);
    }
    let Some(deleted) = c.deleted_at else {
        return Ok(true);
    };
    let period = crate::model::billing::Period::of(deleted.date_naive());
    Ok(super::invoice_run::state(deps, tenant_id, period)
        .await?
        .is_some_and(|(s, _)| s.done))
}

/// What `purge_one` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purge {
    /// Purged: every item of its partition, its markers and its due entry are gone.
    Purged,
    /// Deleted, its restore window still open: its due entry is `entry`.
    NotYet { entry: Key },
    /// Not deleted (restored since), or no profile at all (a purge cut off after the
    /// profile went): nothing is due.
    NothingDue,
}

/// Purges one deleted customer whose restore window has passed: every item of its
/// partition, its markers and its purge entry.
pub async fn purge_one(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    now: DateTime<Utc>,
) -> Result<Purge, Error> {
    let item = deps
        .store
        .get(&keys::customer(tenant_id, customer_id))
        .await?;
    let Some(item) = item else {
        return Ok(Purge::NothingDue);
    };
    let c: Customer = from_item(&item)?;
    match (
        c.status == CustomerStatus::Deleted,
        purge_key(tenant_id, &c),
    ) {
        (true, Some(entry)) if c.purge_after.is_some_and(|p| p > now) => {
            return Ok(Purge::NotYet { entry });
        }
        (true, Some(entry)) if !billed(deps, tenant_id, &c).await? => {
            return Ok(Purge::NotYet { entry });
        }
        (true, Some(_)) => {}
        _ => return Ok(Purge::NothingDue),
    }
    // Users (and their email markers) first, in chunks; the profile goes last, so a
    // purge cut off half-way is simply resumed by the next run.
    let pk = keys::customer_partition(tenant_id, customer_id);
    let mut rest = super::page::all_under(deps, pk, "", usize::MAX).await?;
    rest.retain(|i| i.sk != item.sk);
    for chunk in rest.chunks(MAX_TRANSACTION_ACTIONS / 3) {
        let mut ops = Vec::with_capacity(chunk.len() * 2);
        let mut logins = Vec::new();
        for i in chunk {
            if let Some(email) = i
                .data
                .get("email")
                .and_then(Value::as_str)
                .filter(|_| keys::is_customer_user(&i.sk))
            {
                ops.push(WriteOp::delete(keys::user_email_marker(
                    tenant_id,
                    &fields::email_key(email),
                )));
                if let Some(sub) = i.data.get("login_subject").and_then(Value::as_str) {
                    ops.push(WriteOp::delete(keys::login_subject(tenant_id, sub)));
                    logins.push(email.to_owned());
                }
            }
            // A connection's marker: the connection (and its credentials) go too.
            if let Some(id) = keys::connection_id_of(&i.sk) {
                ops.push(WriteOp::delete(keys::connection(tenant_id, &id)));
            }
            // A support request's copy: the request (in the staff's lists) goes too; an
            // escalation entry keeps ids only, and lists nothing once it is gone.
            if let Some(id) = keys::support_request_id_of(&i.sk) {
                ops.push(WriteOp::delete(keys::support_request(tenant_id, &id)));
            }
            ops.push(WriteOp::delete(i.key()));
        }
        // The logins go first: once the records (and the email markers) are gone, the
        // email may be claimed again, and its new login must not be deleted here.
        for email in logins {
            super::identity::delete_login(deps, tenant_id, &email).await?;
        }
        deps.store.transact(ops).await?;
    }
    // The admin's email marker went with the admin's user record above: deleting it
    // again here could delete a marker a new customer has claimed since.
    let mut ops = vec![
        WriteOp::Delete {
            key: item.key(),
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::delete(keys::company_name_marker(tenant_id, &c.company.name_key())),
    ];
    ops.extend(purge_key(tenant_id, &c).map(WriteOp::delete));
    ops.push(WriteOp::delete(keys::subscriber(tenant_id, customer_id)));
    // Its external_id is free again (held by the deleted customer until now).
    ops.extend(
        c.external_id
            .as_ref()
            .map(|e| WriteOp::delete(keys::external_id_marker(tenant_id, e))),
    );
    // Its event goes with the profile, the write that ends the customer: a purge cut off
    // before it and resumed later still records one.
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new("customer.purged", Target::new("customer", customer_id))
                .customer(customer_id),
        )
        .await?,
    );
    deps.store.transact(ops).await?;
    Ok(Purge::Purged)
}

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Due-work entries read (each names one deleted customer).
    pub due: u64,
    pub customers_purged: u64,
    /// Customers whose purge failed this run; they stay due and are retried.
    pub failures: u64,
}

async fn purge_entry(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    entry: &crate::ports::Key,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let outcome = purge_one(deps, tenant_id, customer_id, now).await?;
    // The customer's own entry is the one at its `purge_after`; any other entry naming it
    // (purged, restored since, or gone) is a leftover, and the sweep would read it daily.
    let leftover = match &outcome {
        Purge::NotYet { entry: own } => own != entry,
        Purge::Purged | Purge::NothingDue => true,
    };
    if leftover {
        deps.store
            .delete(entry, crate::ports::Condition::None)
            .await?;
    }
    Ok(outcome == Purge::Purged)
}

/// Purges every customer whose restore window has passed: the purge shards of the
/// due-work index up to `now`, then each customer they name. No scan and no walk of the
/// tenants: the cost follows the customers that are due.
pub async fn run(deps: &Deps, now: DateTime<Utc>) -> Result<PurgeReport, Error> {
    let deps = &deps.acting(audit::job_origin("purge"));
    let mut report = PurgeReport::default();
    let mut sweep = Sweep::new(Kind::Purge, now);
    while let Some(page) = sweep.next(deps).await? {
        for entry in page {
            report.due += 1;
            let (tenant_id, customer_id) = (
                &entry.tenant_id,
                &CustomerId::from_record(entry.item_id.as_str()),
            );
            // One customer that fails (a concurrent change, a bad record) is reported
            // and retried next run; it never stops the others.
            match purge_entry(deps, tenant_id, customer_id, &entry.entry, now).await {
                Ok(true) => report.customers_purged += 1,
                Ok(false) => {}
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(tenant_id = %tenant_id, customer_id = %customer_id, error = format!("{e:#}"), "purge of one customer failed");
                }
            }
        }
    }
    tracing::info!(
        due = report.due,
        purged = report.customers_purged,
        failures = report.failures,
        "purge finished"
    );
    Ok(report)
}

/// A one-time step of the upgrade to the due-work index: customers deleted before it
/// have their purge entry in their tenant's former purge partition. This walks those
/// partitions once (the tenant directory, then one query per tenant), removes each
/// former entry and, for a customer still deleted, writes its due-work entry. Safe to
/// run again; the scheduled purge never does this. Returns the entries written.
pub async fn backfill_due(deps: &Deps) -> Result<u64, Error> {
    let mut moved = 0;
    let mut directory = super::directory::Directory::default();
    while let Some(tenant_id) = directory.next(deps).await? {
        let mut start = None;
        loop {
            let page = deps
                .store
                .query(
                    Query::partition(keys::purge_partition(&tenant_id), SortRange::All, 100)
                        .after(start),
                )
                .await?;
            for old in &page.items {
                let Some(customer_id) = keys::customer_id_from_purge_entry(&old.sk) else {
                    continue;
                };
                // The entry the customer's own record gives (its `purge_after`, to the
                // millisecond), and none for a customer restored or gone since.
                let mut ops = vec![WriteOp::delete(old.key())];
                if let Some(entry) = scheduled_purge(deps, &tenant_id, &customer_id).await? {
                    ops.push(WriteOp::put(Item::marker(entry)));
                    moved += 1;
                }
                deps.store.transact(ops).await?;
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::{Actor, ActorKind};
    use crate::model::customer::{CustomerDraft, Transition};
    use crate::service::audit::Filter;

    /// The purge writes one event per customer it purges, naming itself as the actor
    /// whoever started the run.
    #[tokio::test]
    async fn a_purge_names_the_job() {
        let (_dir, deps) = crate::service::audit::testing::deps_acting(ActorKind::ApiKey, "key_1");
        let tenant = TenantId::generate();
        let scope = crate::access::TenantScope::acting_for(tenant.clone());
        let draft: CustomerDraft = serde_json::from_value(serde_json::json!({
            "company": {"name": "Acme"},
            "admin": {"first_name": "Ada", "last_name": "Admin", "email": "ada@acme.example.com"}
        }))
        .unwrap();
        let c = super::super::customers::create(&deps, &scope, &draft)
            .await
            .unwrap();
        super::super::customers::transition(&deps, &scope, &c.id, Transition::Delete, true)
            .await
            .unwrap();
        let later = deps.clock.now() + chrono::Duration::days(31);
        let report = run(&deps, later).await.unwrap();
        assert_eq!(report.customers_purged, 1);
        let filter = Filter {
            action: Some("customer.purged".into()),
            ..Filter::default()
        };
        let page = super::audit::list(&deps, Log::Tenant(&tenant), &filter, 10, None)
            .await
            .unwrap();
        assert_eq!(page.data.len(), 1);
        assert_eq!(page.data[0].actor, Actor::job("purge"));
        assert_eq!(page.data[0].customer_id.as_ref(), Some(&c.id));
    }
}
