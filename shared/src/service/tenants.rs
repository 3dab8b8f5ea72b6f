//! Operator use cases: provision tenants with their first owner, read and change them.

use serde_json::{Value, json};

use super::{from_item, page, to_data};
use crate::Deps;
use crate::access::StaffRole;
use crate::error::Error;
use crate::model::branding::{Branding, BrandingDraft};
use crate::model::ids;
use crate::model::input::{from_value, merge_patch, to_value};
use crate::model::member::{Member, MemberStatus};
use crate::model::tenant::{Tenant, TenantDraft, TenantStatus};
use crate::ports::{Condition, Item, Key, Query, SortRange, StoreError, WriteOp};
use crate::store::keys;

pub fn view(t: &Tenant, version: u64) -> Value {
    let mut v = to_value(t);
    if let Some(o) = v.as_object_mut() {
        o.insert("version".into(), json!(version));
    }
    v
}

/// Creates the tenant, its slug marker, its directory entry and its first owner in one
/// transaction: a taken slug is a 409 and leaves nothing behind.
pub async fn create(deps: &Deps, draft: &TenantDraft) -> Result<Value, Error> {
    let input = draft.parse(true)?;
    let (owner_email, owner_first, owner_last) = input
        .owner
        .clone()
        .ok_or_else(|| Error::invalid("owner", "is required"))?;
    let now = deps.clock.now();
    let tenant = Tenant {
        id: ids::new_id(ids::TENANT),
        slug: input.slug,
        name: input.name,
        kind: input.kind,
        commission_rate_bps: input.commission_rate_bps,
        // With an identity provider, active once its customer login pool exists.
        status: if deps.identity()?.is_some() {
            TenantStatus::Provisioning
        } else {
            TenantStatus::Active
        },
        contact: input.contact,
        billing: input.billing,
        invoice_mode: input.invoice_mode,
        customer_pool: None,
        provisioning_error: None,
        branding: None,
        created_at: now,
        updated_at: now,
    };
    let owner = Member {
        id: ids::new_id(ids::MEMBER),
        email: owner_email,
        first_name: owner_first,
        last_name: owner_last,
        role: StaffRole::Owner,
        status: MemberStatus::Active,
        created_at: now,
        updated_at: now,
        login_subject: None,
        link_generation: 0,
    };
    let tenant_item = Item::new(keys::tenant(&tenant.id), to_data(&tenant)?);
    let link = super::staff::invitation_link(deps, &tenant.id, &owner)?;
    let mut ops = vec![
        // The slug names the tenant on its login pages: the marker says which tenant.
        WriteOp::create(Item::new(
            keys::slug_marker(&tenant.slug),
            to_data(&json!({ "tenant_id": tenant.id }))?,
        )),
        WriteOp::create(tenant_item.clone()),
        WriteOp::create(Item::marker(keys::tenant_directory(&tenant.id))),
        WriteOp::create(Item::new(
            keys::member(&tenant.id, &owner.id),
            to_data(&owner)?,
        )),
        WriteOp::create(super::staff::email_marker(
            &tenant.id,
            &owner.email,
            &owner.id,
        )?),
    ];
    ops.extend(super::mail::staff_invitation(
        &tenant.id,
        &owner,
        link.as_ref().map(|(_, t)| t.as_str()),
        now,
    )?);
    ops.extend(link.map(|(op, _)| op));
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            let mut e = Error::conflict(
                "duplicate-slug",
                format!("the slug {} is taken; choose another", tenant.slug),
            );
            if let Error::Conflict { extra, .. } = &mut e {
                extra.insert("field".into(), json!("slug"));
            }
            return Err(e);
        }
        Err(e) => return Err(e.into()),
    }
    let mut v = if deps.identity()?.is_some() {
        // Created either way (201): any failure here leaves it `provisioning` (with the
        // reason, when the provider gave one), for POST .../provision to continue.
        match super::identity::provision_loaded(deps, tenant.clone(), tenant_item).await {
            Ok(v) => v,
            Err(e) => {
                if !matches!(e, Error::Unavailable(_)) {
                    tracing::warn!(error = format!("{e:#}"), tenant_id = %tenant.id, "provisioning after create failed");
                }
                get(deps, &tenant.id).await?
            }
        }
    } else {
        view(&tenant, 1)
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("owner".into(), super::members::view(&owner, 1));
    }
    Ok(v)
}

pub(crate) async fn load(deps: &Deps, tenant_id: &str) -> Result<(Tenant, Item), Error> {
    if !ids::is_valid(ids::TENANT, tenant_id) {
        return Err(Error::NotFound("tenant"));
    }
    let item = deps
        .store
        .get(&keys::tenant(tenant_id))
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    Ok((from_item(&item)?, item))
}

pub async fn get(deps: &Deps, tenant_id: &str) -> Result<Value, Error> {
    let (t, item) = load(deps, tenant_id).await?;
    Ok(view(&t, item.version))
}

/// Lists tenants in id (creation) order.
pub async fn list(deps: &Deps, limit: Option<&str>, cursor: Option<&str>) -> Result<Value, Error> {
    let limit = page::limit(limit)?;
    let pk = keys::tenant_directory_pk();
    let start = page::decode(cursor, "tenants", &pk, false)?;
    let dir = deps
        .store
        .query(Query::partition(pk, SortRange::All, limit).after(start))
        .await?;
    let wanted: Vec<Key> = dir.items.iter().map(|i| keys::tenant(&i.sk)).collect();
    let mut found = if wanted.is_empty() {
        vec![]
    } else {
        deps.store.get_many(&wanted).await?
    };
    found.sort_by(|a, b| a.pk.cmp(&b.pk));
    let data = found
        .iter()
        .map(|i| from_item::<Tenant>(i).map(|t| view(&t, i.version)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "data": data, "next_cursor": dir.next.map(|p| page::encode("tenants", &p)) }))
}

/// Applies a JSON merge patch; the slug and the owner are not changed here.
pub async fn patch(
    deps: &Deps,
    tenant_id: &str,
    patch: &Value,
    if_version: Option<u64>,
) -> Result<Value, Error> {
    if !patch.is_object() {
        return Err(Error::invalid(
            "body",
            "must be a JSON object (a merge patch)",
        ));
    }
    let (tenant, item) = load(deps, tenant_id).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(
            "the tenant changed since that version; read it again".into(),
        ));
    }
    let mut doc = to_value(&TenantDraft::from_tenant(&tenant));
    merge_patch(&mut doc, patch);
    let draft: TenantDraft = from_value(doc)?;
    let input = draft.parse(false)?;
    if input.slug != tenant.slug {
        return Err(Error::invalid(
            "slug",
            "cannot be changed: login pages and links use it",
        ));
    }
    if input.kind != tenant.kind {
        return Err(Error::invalid("kind", "cannot be changed after creation"));
    }
    let status = input.status.unwrap_or(tenant.status);
    if (status == TenantStatus::Provisioning) != (tenant.status == TenantStatus::Provisioning) {
        return Err(Error::conflict(
            "invalid-transition",
            format!(
                "a tenant becomes active through POST /v1/tenants/{tenant_id}/provision, and never goes back to provisioning"
            ),
        ));
    }
    let updated = Tenant {
        name: input.name,
        commission_rate_bps: input.commission_rate_bps,
        status,
        contact: input.contact,
        billing: input.billing,
        invoice_mode: input.invoice_mode,
        updated_at: deps.clock.now(),
        ..tenant
    };
    let version = item.version + 1;
    let new_item = Item {
        data: to_data(&updated)?,
        version,
        ..item.clone()
    };
    match deps
        .store
        .put(new_item, Condition::VersionIs(item.version))
        .await
    {
        Ok(()) => Ok(view(&updated, version)),
        Err(StoreError::ConditionFailed) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// The tenant's branding, or what it shows without one (its name, default colours).
pub async fn branding(deps: &Deps, tenant_id: &str) -> Result<Value, Error> {
    let (t, _) = load(deps, tenant_id).await?;
    let b = t
        .branding
        .clone()
        .unwrap_or_else(|| Branding::default_for(&t.name));
    Ok(to_value(&b))
}

/// Replaces the tenant's branding (one read, one conditional write).
pub async fn set_branding(
    deps: &Deps,
    tenant_id: &str,
    draft: &BrandingDraft,
) -> Result<Value, Error> {
    let b = draft.parse()?;
    let (tenant, item) = load(deps, tenant_id).await?;
    let updated = Tenant {
        branding: Some(b.clone()),
        updated_at: deps.clock.now(),
        ..tenant
    };
    let new_item = Item {
        data: to_data(&updated)?,
        version: item.version + 1,
        ..item.clone()
    };
    match deps
        .store
        .put(new_item, Condition::VersionIs(item.version))
        .await
    {
        Ok(()) => Ok(to_value(&b)),
        Err(StoreError::ConditionFailed) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// Every tenant's id, from the tenant directory a page at a time (no scan): the walk the
/// scheduled jobs (mail delivery, purge) make.
#[derive(Default)]
pub struct Directory {
    page: std::vec::IntoIter<String>,
    next: Option<crate::ports::Position>,
    started: bool,
}

impl Directory {
    /// The next tenant id, or `None` once every tenant was seen.
    pub async fn next(&mut self, deps: &Deps) -> Result<Option<String>, Error> {
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
                .map(|t| t.sk)
                .collect::<Vec<_>>()
                .into_iter();
        }
    }
}
