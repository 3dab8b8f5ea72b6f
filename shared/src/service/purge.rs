//! The purge job: removes customers whose 30-day restore window has passed.

use chrono::{DateTime, Utc};

use super::customers::Purge;
use super::due::{Kind, Sweep};
use crate::Deps;
use crate::error::Error;
use crate::model::ids::{CustomerId, TenantId};
use crate::ports::{Item, Query, SortRange, WriteOp};
use crate::store::keys;

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
    let outcome = super::customers::purge_one(deps, tenant_id, customer_id, now).await?;
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
                if let Some(entry) =
                    super::customers::scheduled_purge(deps, &tenant_id, &customer_id).await?
                {
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
