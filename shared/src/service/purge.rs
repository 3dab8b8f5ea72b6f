//! The purge job: removes customers whose 30-day restore window has passed.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::Deps;
use crate::error::Error;
use crate::ports::{Query, SortRange};
use crate::store::keys;

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub tenants_checked: u64,
    pub customers_purged: u64,
    /// Customers whose purge failed this run; they stay due and are retried.
    pub failures: u64,
}

async fn purge_entry(
    deps: &Deps,
    tenant_id: &str,
    customer_id: &str,
    entry: &crate::ports::Key,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    if super::customers::purge_one(deps, tenant_id, customer_id, now).await? {
        return Ok(true);
    }
    if deps
        .store
        .get(&keys::customer(tenant_id, customer_id))
        .await?
        .is_none()
    {
        // A leftover entry of a purge that stopped after removing the profile.
        deps.store
            .delete(entry, crate::ports::Condition::None)
            .await?;
    }
    Ok(false)
}

/// Walks every tenant's purge partition up to `now`; no scan: the tenant directory and
/// one range query per tenant.
pub async fn run(deps: &Deps, now: DateTime<Utc>) -> Result<PurgeReport, Error> {
    let mut report = PurgeReport::default();
    let upper = format!("{}~", now.to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut directory = super::tenants::Directory::default();
    while let Some(tenant_id) = directory.next(deps).await? {
        let tenant_id = &tenant_id;
        report.tenants_checked += 1;
        let mut start = None;
        loop {
            let due = deps
                .store
                .query(
                    Query::partition(
                        keys::purge_partition(tenant_id),
                        SortRange::Between("0".into(), upper.clone()),
                        100,
                    )
                    .after(start),
                )
                .await?;
            for entry in &due.items {
                let Some(customer_id) = keys::customer_id_from_purge_entry(&entry.sk) else {
                    continue;
                };
                // One customer that fails (a concurrent change, a bad record) is
                // reported and retried next run; it never stops the others.
                match purge_entry(deps, tenant_id, customer_id, &entry.key(), now).await {
                    Ok(true) => report.customers_purged += 1,
                    Ok(false) => {}
                    Err(e) => {
                        report.failures += 1;
                        tracing::warn!(tenant_id = %tenant_id, customer_id = %customer_id, error = %e, "purge of one customer failed");
                    }
                }
            }
            match due.next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
    }
    tracing::info!(
        tenants = report.tenants_checked,
        purged = report.customers_purged,
        failures = report.failures,
        "purge finished"
    );
    Ok(report)
}
