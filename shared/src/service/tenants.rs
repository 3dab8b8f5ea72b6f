//! Operator use cases: provision tenants with their first owner, read and change them.

use crate::error::ProblemKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::audit::{self, Entry, Log};
use super::identity::{customer_issuer, issuer_key};
use super::members::MemberView;
use super::{from_item, page, to_data};
use crate::Deps;
use crate::access::{StaffRole, TenantScope};
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::branding::{Branding, BrandingDraft};
use crate::model::ids::{MemberId, TenantId};
use crate::model::input::{from_value, merge_patch, to_value};
use crate::model::member::{Member, MemberStatus};
use crate::model::tenant::{Tenant, TenantDraft, TenantStatus};
use crate::ports::{Condition, Item, Key, Query, SortRange, StoreError, WriteOp};
use crate::store::keys;

/// A tenant as the operator sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    #[serde(flatten)]
    pub tenant: Tenant,
    /// For `If-Match`.
    pub version: u64,
}

/// A tenant just created, with its first owner.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedTenant {
    #[serde(flatten)]
    pub tenant: TenantView,
    pub owner: MemberView,
}

pub fn view(t: &Tenant, version: u64) -> TenantView {
    TenantView {
        tenant: t.clone(),
        version,
    }
}

/// A default plan must be a plan of the catalog that takes subscriptions.
async fn known_plan(deps: &Deps, code: Option<String>) -> Result<Option<String>, Error> {
    match code {
        Some(c) => {
            super::catalog::plan_to_subscribe(deps, &c, "default_plan").await?;
            Ok(Some(c))
        }
        None => Ok(None),
    }
}

/// Creates the tenant, its slug marker, its directory entry and its first owner in one
/// transaction with its `tenant.created` event: a taken slug is a 409 and leaves nothing
/// behind. The provisioning that follows is part of the creation: no event of its own.
pub async fn create(deps: &Deps, draft: &TenantDraft) -> Result<CreatedTenant, Error> {
    let input = draft.parse(true)?;
    let (owner_email, owner_first, owner_last) = input
        .owner
        .clone()
        .ok_or_else(|| Error::invalid("owner", "is required"))?;
    let now = deps.clock.now();
    let tenant = Tenant {
        id: TenantId::generate(),
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
        default_plan: known_plan(deps, input.default_plan).await?,
        allowed_origins: Vec::new(),
        dunning_holds: Vec::new(),
        invoice_review_days: input.terms.invoice_review_days,
        due_days: input.terms.due_days,
        suspend_after_days: input.terms.suspend_after_days,
        dunning_suspends_customer_logins: input.terms.dunning_suspends_customer_logins,
        audit_retention_days: input.terms.audit_retention_days,
        support: None,
        created_at: now,
        updated_at: now,
    };
    let owner = Member {
        id: MemberId::generate(),
        email: owner_email,
        first_name: owner_first,
        last_name: owner_last,
        role: StaffRole::Owner,
        status: MemberStatus::Active,
        created_at: now,
        updated_at: now,
        login_subject: None,
        link_generation: 0,
        sessions_ended_at: None,
    };
    let tenant_item = Item::new(keys::tenant(&tenant.id), to_data(&tenant)?);
    let link = super::links::staff_invitation_link(deps, &tenant.id, &owner)?;
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
        WriteOp::create(super::members::email_marker(
            &tenant.id,
            &owner.email,
            &owner.id,
        )?),
    ];
    ops.extend(super::members::invitation_email(
        &tenant.id,
        &owner,
        link.as_ref().map(|(_, t)| t.as_str()),
        now,
    )?);
    ops.extend(link.map(|(op, _)| op));
    // The tenant's record does not exist yet: its retention is the one it is created with.
    ops.push(audit::op_kept(
        deps,
        Log::Tenant(&tenant.id),
        Entry::new("tenant.created", Target::new("tenant", &tenant.id))
            .value("kind", tenant.kind)
            .value("status", tenant.status)
            .value("owner", &owner.id),
        input
            .terms
            .audit_retention_days
            .unwrap_or(audit::RETENTION_DAYS),
    )?);
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            return Err(Error::duplicate(
                ProblemKind::DuplicateSlug,
                "slug",
                format!("the slug {} is taken; choose another", tenant.slug),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let tenant = if deps.identity()?.is_some() {
        // Created either way (201): any failure here leaves it `provisioning` (with the
        // reason, when the provider gave one), for POST .../provision to continue.
        match provision_loaded(deps, tenant.clone(), tenant_item, false).await {
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
    Ok(CreatedTenant {
        tenant,
        owner: super::members::view(&owner, 1),
    })
}

pub use super::directory::load;

pub async fn get(deps: &Deps, tenant_id: &TenantId) -> Result<TenantView, Error> {
    let (t, item) = load(deps, tenant_id).await?;
    Ok(view(&t, item.version))
}

/// Lists tenants in id (creation) order.
pub async fn list(
    deps: &Deps,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<TenantView>, Error> {
    let limit = page::limit(limit)?;
    let pk = keys::tenant_directory_pk();
    let start = page::decode(cursor, "tenants", &pk, false)?;
    let dir = deps
        .store
        .query(Query::partition(pk, SortRange::All, limit).after(start))
        .await?;
    let wanted: Vec<Key> = dir
        .items
        .iter()
        .map(|i| keys::tenant(&TenantId::from_record(i.sk.as_str())))
        .collect();
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
    Ok(page::Page {
        data,
        next_cursor: dir.next.map(|p| page::encode("tenants", &p)),
    })
}

/// Applies a JSON merge patch; the slug and the owner are not changed here.
pub async fn patch(
    deps: &Deps,
    tenant_id: &TenantId,
    patch: &Value,
    if_version: Option<u64>,
) -> Result<TenantView, Error> {
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
            ProblemKind::InvalidTransition,
            format!(
                "a tenant becomes active through POST /v1/tenants/{tenant_id}/provision, and never goes back to provisioning"
            ),
        ));
    }
    let default_plan = match input.default_plan {
        p if p == tenant.default_plan => p,
        p => known_plan(deps, p).await?,
    };
    // The operator setting the status by hand takes over from dunning: a suspension by
    // hand is not lifted by a payment, and a reactivation by hand ends the holds.
    let dunning_holds = if patch.get("status").is_some_and(|v| !v.is_null()) {
        Vec::new()
    } else {
        tenant.dunning_holds.clone()
    };
    let mut updated = Tenant {
        default_plan,
        dunning_holds,
        name: input.name,
        commission_rate_bps: input.commission_rate_bps,
        status,
        contact: input.contact,
        billing: input.billing,
        invoice_mode: input.invoice_mode,
        updated_at: deps.clock.now(),
        ..tenant.clone()
    };
    updated.set_terms(input.terms);
    // Field names only: the contact and billing details are personal.
    let entry =
        Entry::new("tenant.updated", Target::new("tenant", tenant_id)).diff(&tenant, &updated);
    let version = replace(deps, &updated, &item, entry).await?;
    // Its events from now on are kept as long as it now says, here at once.
    audit::forget_retention(tenant_id);
    Ok(view(&updated, version))
}

/// Writes `updated` over the tenant `item` it was read from, under that item's version
/// (a change made meanwhile is a 409), with the change's audit event; answers the new
/// version.
async fn replace(deps: &Deps, updated: &Tenant, item: &Item, entry: Entry) -> Result<u64, Error> {
    let version = item.version + 1;
    let new_item = Item {
        data: to_data(updated)?,
        version,
        ..item.clone()
    };
    let ops = vec![
        WriteOp::Put {
            item: new_item,
            condition: Condition::VersionIs(item.version),
        },
        audit::op(deps, Log::Tenant(&updated.id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(version),
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// The tenant's branding, or what it shows without one (its name, default colours).
pub async fn branding(deps: &Deps, scope: &TenantScope) -> Result<Branding, Error> {
    let (t, _) = load(deps, scope.tenant_id()).await?;
    Ok(t.branding
        .clone()
        .unwrap_or_else(|| Branding::default_for(&t.name)))
}

/// Replaces the tenant's branding (one read, one conditional write).
pub async fn set_branding(
    deps: &Deps,
    scope: &TenantScope,
    draft: &BrandingDraft,
) -> Result<Branding, Error> {
    let b = draft.parse()?;
    let (tenant, item) = load(deps, scope.tenant_id()).await?;
    let entry = Entry::new(
        "tenant.branding_updated",
        Target::new("tenant", scope.tenant_id()),
    )
    .diff(&tenant.branding, &Some(&b));
    let updated = Tenant {
        branding: Some(b.clone()),
        updated_at: deps.clock.now(),
        ..tenant
    };
    replace(deps, &updated, &item, entry).await?;
    Ok(b)
}

/// The plan a tenant's new customers subscribe to (`null`: none).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultPlan {
    #[schema(
        required = true,
        pattern = "^[a-z][a-z0-9_]{0,39}$",
        example = "growth"
    )]
    pub plan: Option<String>,
}

pub async fn default_plan(deps: &Deps, scope: &TenantScope) -> Result<DefaultPlan, Error> {
    let (t, _) = load(deps, scope.tenant_id()).await?;
    Ok(DefaultPlan {
        plan: t.default_plan,
    })
}

/// Sets (or with `null` clears) the plan new customers subscribe to: one that takes
/// subscriptions.
pub async fn set_default_plan(
    deps: &Deps,
    scope: &TenantScope,
    wanted: &DefaultPlan,
) -> Result<DefaultPlan, Error> {
    if let Some(p) = &wanted.plan {
        crate::model::fields::code(p).map_err(|d| Error::invalid("plan", d))?;
    }
    let plan = match &wanted.plan {
        Some(p) => {
            super::catalog::plan_to_subscribe(deps, p, "plan").await?;
            Some(p.clone())
        }
        None => None,
    };
    let (tenant, item) = load(deps, scope.tenant_id()).await?;
    let updated = Tenant {
        default_plan: plan.clone(),
        updated_at: deps.clock.now(),
        ..tenant
    };
    let entry = Entry::new(
        "tenant.default_plan_updated",
        Target::new("tenant", scope.tenant_id()),
    )
    .value("default_plan", &plan);
    replace(deps, &updated, &item, entry).await?;
    Ok(DefaultPlan { plan })
}

/// The most origins a tenant lists.
pub const MAX_ORIGINS: usize = 10;

/// The origins that may embed the tenant's connect page in a frame or open it in a
/// pop-up, and receive its result (`postMessage`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowedOrigins {
    /// Origins only (`https://host[:port]`, no path); `http` for `localhost` and
    /// `127.0.0.1` alone. At most 10; `[]` allows none.
    #[schema(required = true, example = json!(["https://app.partner.example.com"]))]
    pub origins: Option<Vec<String>>,
}

pub async fn allowed_origins(deps: &Deps, scope: &TenantScope) -> Result<AllowedOrigins, Error> {
    let (t, _) = load(deps, scope.tenant_id()).await?;
    Ok(AllowedOrigins {
        origins: Some(t.allowed_origins),
    })
}

/// `PUT /v1/allowed-origins`: the whole list, each checked and written as its origin.
pub async fn set_allowed_origins(
    deps: &Deps,
    scope: &TenantScope,
    wanted: &AllowedOrigins,
) -> Result<AllowedOrigins, Error> {
    let Some(list) = &wanted.origins else {
        return Err(Error::invalid(
            "origins",
            "is required (an empty list allows none)",
        ));
    };
    let mut c = crate::model::input::Checks::new();
    if list.len() > MAX_ORIGINS {
        c.fail("origins", format!("at most {MAX_ORIGINS} origins"));
    }
    let mut origins: Vec<String> = Vec::new();
    for (i, o) in list.iter().enumerate() {
        if let Some(o) = c.check(&format!("origins[{i}]"), crate::model::fields::origin(o))
            && !origins.contains(&o)
        {
            origins.push(o);
        }
    }
    c.finish()?;
    let (tenant, item) = load(deps, scope.tenant_id()).await?;
    let updated = Tenant {
        allowed_origins: origins.clone(),
        updated_at: deps.clock.now(),
        ..tenant
    };
    let entry = Entry::new(
        "tenant.allowed_origins_updated",
        Target::new("tenant", scope.tenant_id()),
    )
    .fields(["allowed_origins"]);
    replace(deps, &updated, &item, entry).await?;
    Ok(AllowedOrigins {
        origins: Some(origins),
    })
}

/// `PUT /v1/support-settings`: who answers the tenant's customers, and how to reach
/// them (the whole settings; a field left out is cleared).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportSettingsDraft {
    /// `first_line` (the tenant answers: the default) or `platform`.
    #[schema(value_type = Option<crate::model::helpdesk::SupportMode>)]
    pub mode: Option<crate::model::helpdesk::SupportMode>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// International format: `+` and the country code.
    pub phone: Option<String>,
    /// An https:// page of the tenant's help.
    #[schema(pattern = "^https://", max_length = 2048)]
    pub url: Option<String>,
    /// When it answers, in words (at most 200 characters).
    #[schema(max_length = 200)]
    pub hours: Option<String>,
}

/// The tenant's support settings (the defaults when it set none).
pub async fn support_settings(
    deps: &Deps,
    scope: &TenantScope,
) -> Result<crate::model::helpdesk::SupportSettings, Error> {
    let (t, _) = load(deps, scope.tenant_id()).await?;
    Ok(t.support.unwrap_or_default())
}

pub async fn set_support_settings(
    deps: &Deps,
    scope: &TenantScope,
    draft: &SupportSettingsDraft,
) -> Result<crate::model::helpdesk::SupportSettings, Error> {
    use crate::model::fields;
    let mut c = crate::model::input::Checks::new();
    let settings = crate::model::helpdesk::SupportSettings {
        mode: draft.mode.unwrap_or_default(),
        email: c.optional("email", draft.email.as_deref(), fields::email),
        phone: c.optional("phone", draft.phone.as_deref(), fields::phone),
        url: c.optional("url", draft.url.as_deref(), |u| {
            crate::model::branding::https_url(u)
        }),
        hours: c.optional("hours", draft.hours.as_deref(), |h| fields::text(h, 200)),
    };
    c.finish()?;
    let (tenant, item) = load(deps, scope.tenant_id()).await?;
    let entry = Entry::new(
        "tenant.support_settings_updated",
        Target::new("tenant", scope.tenant_id()),
    )
    .diff(&tenant.support.clone().unwrap_or_default(), &settings);
    let updated = Tenant {
        support: Some(settings.clone()),
        updated_at: deps.clock.now(),
        ..tenant
    };
    replace(deps, &updated, &item, entry).await?;
    Ok(settings)
}

/// Provisioning a tenant's customer login pool, resumably: a tenant is created
/// `provisioning` (when an identity provider is configured). Its pool is then created (the
/// adapter finds an existing one by name, so a retry never makes a second), the issuer ->
/// tenant item (`P#ISSUER#...`) is written and the tenant becomes `active` with its pool
/// recorded, in one transaction. A failure is recorded on the tenant
/// (`provisioning_error`) and `POST /v1/tenants/{id}/provision` continues.
///
/// Provisions the tenant's customer pool if it has none yet (a `provisioning` tenant,
/// or one created before tenants had pools); returns the tenant. `Error::Unavailable`
/// (the reason, also recorded on the tenant) when the identity provider failed.
/// Its `tenant.provisioned` event is written with the provisioning, when there was any
/// to do.
pub async fn provision(deps: &Deps, tenant_id: &TenantId) -> Result<TenantView, Error> {
    let (tenant, item) = load(deps, tenant_id).await?;
    provision_loaded(deps, tenant, item, true).await
}

/// `provision` of a tenant already in hand with its stored item (a tenant just created
/// needs no read back). `audited`: whether the provisioning is a change of its own with
/// its own event (a creation's event covers the provisioning that follows it).
pub(crate) async fn provision_loaded(
    deps: &Deps,
    tenant: Tenant,
    item: Item,
    audited: bool,
) -> Result<TenantView, Error> {
    let tenant_id = &tenant.id.clone();
    if tenant.customer_pool.is_some() {
        return Ok(view(&tenant, item.version));
    }
    let Some(identity) = deps.identity()? else {
        return Err(Error::Unavailable(
            "no identity provider is configured; the tenant stays provisioning".into(),
        ));
    };
    let now = deps.clock.now();
    let pool = match identity.ensure_customer_pool(tenant_id).await {
        Ok(pool) => pool,
        Err(e) => {
            // The provider's own message (error chain included), for the operator.
            let cause = match &e {
                crate::ports::IdentityError::Unavailable(source) => format!("{source:#}"),
                other => other.to_string(),
            };
            let reason = format!("creating the customer login pool failed: {cause}");
            tracing::warn!(%tenant_id, error = ?e, "provisioning failed");
            let failed = Tenant {
                provisioning_error: Some(reason.clone()),
                updated_at: now,
                ..tenant
            };
            let record = Item {
                data: to_data(&failed)?,
                version: item.version + 1,
                ..item.clone()
            };
            // Best effort: a concurrent change keeps its own state.
            if let Err(e) = deps
                .store
                .put(record, Condition::VersionIs(item.version))
                .await
            {
                tracing::debug!(
                    error = format!("{e:#}"),
                    "provisioning failure not recorded"
                );
            }
            return Err(Error::Unavailable(format!(
                "{reason}; retry with POST /v1/tenants/{tenant_id}/provision"
            )));
        }
    };
    let issuer = customer_issuer(tenant_id, &pool);
    let slug = tenant.slug.clone();
    let active = Tenant {
        status: match tenant.status {
            TenantStatus::Provisioning => TenantStatus::Active,
            other => other,
        },
        customer_pool: Some(pool),
        provisioning_error: None,
        updated_at: now,
        ..tenant
    };
    let version = item.version + 1;
    let mut ops = vec![
        // Written whole each time: the same pool gives the same item.
        WriteOp::Put {
            item: Item::new(issuer_key(&issuer.iss), to_data(&issuer)?),
            condition: Condition::None,
        },
        WriteOp::Put {
            item: Item {
                data: to_data(&active)?,
                version,
                ..item.clone()
            },
            condition: Condition::VersionIs(item.version),
        },
        // The slug's marker names its tenant (markers of tenants made before it did).
        WriteOp::put(Item::new(
            keys::slug_marker(&slug),
            to_data(&serde_json::json!({ "tenant_id": tenant_id }))?,
        )),
    ];
    if audited {
        ops.push(
            audit::op(
                deps,
                Log::Tenant(tenant_id),
                Entry::new("tenant.provisioned", Target::new("tenant", tenant_id))
                    .value("status", active.status)
                    .fields(["customer_pool"]),
            )
            .await?,
        );
    }
    deps.store.transact(ops).await?;
    Ok(view(&active, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::{EmbeddedIdentity, EmbeddedStore, LocalIssuer};
    use crate::model::audit::{Actor, ActorKind, AuditEvent, Origin};
    use crate::service::sign_in::{self, SignIn};
    use std::sync::Arc;

    async fn events(deps: &Deps, tenant_id: &TenantId) -> Vec<AuditEvent> {
        let filter = audit::Filter::default();
        let page = audit::list(deps, Log::Tenant(tenant_id), &filter, 100, None)
            .await
            .unwrap();
        page.data.into_iter().rev().collect()
    }

    /// A creation writes `tenant.created` once (its provisioning none), a provision with
    /// nothing left to do writes nothing, an update names the fields it changed, and a
    /// wrong password at either login is a `sign_in.failed` by nobody known, without the
    /// email; a malformed email records nothing.
    #[tokio::test]
    async fn operator_changes_and_failed_sign_ins_write_one_event_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path().join("a.redb")).unwrap());
        let issuer =
            Arc::new(LocalIssuer::open(dir.path().join("identity"), "http://127.0.0.1/i").unwrap());
        let deps = Deps::new(store.clone())
            .with_identity_provider(Arc::new(EmbeddedIdentity::new(store, issuer)))
            .acting(Origin::of_actor(Actor::new(ActorKind::Operator, "key_op")));
        let draft: TenantDraft = serde_json::from_value(json!({
            "name": "Acme", "slug": "acme-audit", "kind": "partner",
            "owner": { "email": "owner@acme.example", "first_name": "Ona", "last_name": "Wu" },
        }))
        .unwrap();
        let created = create(&deps, &draft).await.unwrap();
        assert_eq!(created.tenant.tenant.status, TenantStatus::Active);
        let id = created.tenant.tenant.id.clone();
        let e = events(&deps, &id).await;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, "tenant.created");
        assert_eq!(e[0].actor, Actor::new(ActorKind::Operator, "key_op"));
        assert_eq!(e[0].target, Target::new("tenant", &id));

        provision(&deps, &id).await.unwrap();
        assert_eq!(events(&deps, &id).await.len(), 1);

        let v = patch(
            &deps,
            &id,
            &json!({ "name": "Acme Two", "audit_retention_days": 30 }),
            None,
        )
        .await
        .unwrap();
        assert_eq!(v.tenant.audit_retention_days, Some(30));
        let e = events(&deps, &id).await;
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].action, "tenant.updated");
        let fields: Vec<&str> = e[1].changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["audit_retention_days", "name"]);
        assert!(e[1].changes.iter().all(|c| c.value.is_none()));

        let wrong = |email: &str| SignIn {
            email: Some(email.into()),
            password: Some("Not-the-password-1".to_owned().into()),
        };
        let r = sign_in::sign_in(&deps, "acme-audit", &wrong("nobody@acme.example")).await;
        assert!(matches!(r, Err(Error::InvalidLogin)));
        let r =
            super::super::staff::sign_in(&deps, "acme-audit", &wrong("owner@acme.example")).await;
        assert!(matches!(r, Err(Error::InvalidLogin)));
        let r = sign_in::sign_in(&deps, "acme-audit", &wrong("not an email")).await;
        assert!(matches!(r, Err(Error::InvalidLogin)));
        let e = events(&deps, &id).await;
        assert_eq!(e.len(), 4);
        for (event, login) in e[2..].iter().zip(["acme-audit", "staff"]) {
            assert_eq!(event.action, "sign_in.failed");
            assert_eq!(event.actor, Actor::anonymous());
            assert_eq!(event.target, Target::new("login", login));
            assert!(event.changes.is_empty());
        }
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains('@'), "no email in any event: {text}");
    }
}
