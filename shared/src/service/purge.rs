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
}

/// Walks every tenant's purge partition up to `now`; no scan: the tenant directory and
/// one range query per tenant.
pub async fn run(deps: &Deps, now: DateTime<Utc>) -> Result<PurgeReport, Error> {
    let mut report = PurgeReport::default();
    let upper = format!("{}~", now.to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut tenants_start = None;
    loop {
        let tenants = deps
            .store
            .query(
                Query::partition(keys::tenant_directory_pk(), SortRange::All, 100)
                    .after(tenants_start),
            )
            .await?;
        for t in &tenants.items {
            let tenant_id = &t.sk;
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
                    let Some(customer_id) = entry.sk.rsplit_once('#').map(|(_, id)| id) else {
                        continue;
                    };
                    if super::customers::purge_one(deps, tenant_id, customer_id, now).await? {
                        report.customers_purged += 1;
                    } else if deps
                        .store
                        .get(&keys::customer(tenant_id, customer_id))
                        .await?
                        .is_none()
                    {
                        // A leftover entry of a purge that stopped after removing the profile.
                        deps.store
                            .delete(&entry.key(), crate::ports::Condition::None)
                            .await?;
                    }
                }
                match due.next {
                    Some(n) => start = Some(n),
                    None => break,
                }
            }
        }
        match tenants.next {
            Some(n) => tenants_start = Some(n),
            None => break,
        }
    }
    tracing::info!(
        tenants = report.tenants_checked,
        purged = report.customers_purged,
        "purge finished"
    );
    Ok(report)
}
