//! The tenant directory: every tenant's id a page at a time (for the few jobs that must
//! visit every tenant, such as a one-time backfill), and the tenant a login page's slug
//! names.

use super::from_item;
use crate::Deps;
use crate::error::Error;
use crate::model::ids::TenantId;
use crate::model::tenant::{self, Tenant};
use crate::ports::Item;
use crate::store::keys;

/// The tenant a login page's slug names, if it is a tenant with a login pool.
pub async fn tenant_of_slug(deps: &Deps, slug: &str) -> Result<TenantId, Error> {
    if tenant::slug(slug).is_err() {
        return Err(Error::NotFound("login page"));
    }
    let marker = deps
        .store
        .get(&keys::slug_marker(slug))
        .await?
        .ok_or(Error::NotFound("login page"))?;
    marker
        .data
        .get("tenant_id")
        .and_then(serde_json::Value::as_str)
        .map(TenantId::from_record)
        .ok_or(Error::NotFound("login page"))
}

/// Every tenant's id, from the tenant directory a page at a time (no scan): the walk the
/// one-time backfills of the due-work index make.
#[derive(Default)]
pub struct Directory {
    page: std::vec::IntoIter<TenantId>,
    next: Option<crate::ports::Position>,
    started: bool,
}

impl Directory {
    /// The next tenant id, or `None` once every tenant was seen.
    pub async fn next(&mut self, deps: &Deps) -> Result<Option<TenantId>, Error> {
        loop {
            if let Some(id) = self.page.next() {
                return Ok(Some(id));
            }
            if self.started && self.next.is_none() {
                return Ok(None);
            }
            self.started = true;
            let p = deps
                .store
                .query(
                    crate::ports::Query::partition(
                        keys::tenant_directory_pk(),
                        crate::ports::SortRange::All,
                        100,
                    )
                    .after(self.next.take()),
                )
                .await?;
            self.next = p.next;
            self.page = p
                .items
                .into_iter()
                .map(|t| TenantId::from_record(t.sk))
                .collect::<Vec<_>>()
                .into_iter();
        }
    }
}

pub async fn load(deps: &Deps, tenant_id: &TenantId) -> Result<(Tenant, Item), Error> {
    let item = deps
        .store
        .get(&keys::tenant(tenant_id))
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    Ok((from_item(&item)?, item))
}

/// Whether a tenant's staff may act, and how far: while it is active (or provisioning),
/// fully (`false`); suspended for an overdue invoice, on its billing routes only
/// (`true`); suspended otherwise, not at all (401). One read of the tenant per request.
pub(crate) async fn tenant_gate(
    deps: &Deps,
    tenant_id: &crate::model::ids::TenantId,
) -> Result<bool, Error> {
    use crate::model::tenant::{Tenant, TenantStatus};
    let Some(item) = deps.store.get(&keys::tenant(tenant_id)).await? else {
        return Err(Error::Unauthenticated);
    };
    let t: Tenant = from_item(&item)?;
    match t.status {
        TenantStatus::Suspended if !t.dunning_holds.is_empty() => Ok(true),
        TenantStatus::Suspended => Err(Error::Unauthenticated),
        TenantStatus::Active | TenantStatus::Provisioning => Ok(false),
    }
}
