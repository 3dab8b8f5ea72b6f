//! The operator's catalog: billable metrics, versioned plans, and each tenant's price
//! overrides. Tenant staff read plans with their own prices in place.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Entry, Log};
use super::{from_item, page, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::{Error, ProblemKind};
use crate::model::audit::Target;
use crate::model::billing::{Metric, MetricDraft, Plan, PlanDraft, PriceOverride};
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::store::keys;

/// The most metrics and plans a catalog holds (each read whole where it is checked).
pub const MAX_METRICS: usize = 200;

/// Every billable metric of the catalog.
pub async fn metrics(deps: &Deps) -> Result<Vec<Metric>, Error> {
    page::all_under(deps, keys::metrics_partition(), "", MAX_METRICS)
        .await?
        .iter()
        .map(from_item)
        .collect()
}

pub async fn list_metrics(
    deps: &Deps,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<Metric>, Error> {
    page::list_prefix(
        deps,
        "metrics",
        keys::metrics_partition(),
        "",
        limit,
        cursor,
        from_item::<Metric>,
    )
    .await
}

pub async fn create_metric(deps: &Deps, draft: &MetricDraft) -> Result<Metric, Error> {
    let metric = draft.parse(deps.clock.now())?;
    let known = metrics(deps).await?;
    if known.len() >= MAX_METRICS {
        return Err(Error::invalid(
            "code",
            format!("the catalog holds at most {MAX_METRICS} metrics"),
        ));
    }
    let item = Item::new(keys::metric(&metric.code), to_data(&metric)?);
    let entry = Entry::new("metric.created", Target::new("metric", &metric.code))
        .value("aggregation", metric.aggregation)
        .fields(["name", "unit"]);
    let ops = vec![
        WriteOp::create(item),
        audit::op(deps, Log::Platform, entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(metric),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(duplicate_code("metric", &metric.code))
        }
        Err(e) => Err(e.into()),
    }
}

fn duplicate_code(what: &str, code: &str) -> Error {
    Error::duplicate(
        ProblemKind::DuplicateCode,
        "code",
        format!("a {what} with the code {code} exists already"),
    )
}

/// A plan as a caller sees it: for a tenant, its own prices in place of the plan's.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    #[serde(flatten)]
    pub plan: Plan,
    /// The prices are this tenant's own (set by the operator), not the plan's.
    pub custom_pricing: bool,
}

fn view(plan: Plan, o: Option<&PriceOverride>) -> PlanView {
    PlanView {
        custom_pricing: o.is_some(),
        plan: plan.priced_for(o),
    }
}

/// A tenant's price override as stored.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceOverrideView {
    pub plan: String,
    /// The tenant's prices; what they leave out comes from the plan.
    pub prices: PriceOverride,
    pub updated_at: DateTime<Utc>,
}

async fn overrides(deps: &Deps, tenant: &TenantScope) -> Result<Vec<PriceOverrideView>, Error> {
    page::all_under(
        deps,
        keys::tenant_partition(tenant.tenant_id()),
        "PRICE#",
        1000,
    )
    .await?
    .iter()
    .map(from_item)
    .collect()
}

/// A tenant's override of one plan, if any.
pub(crate) async fn override_of(
    deps: &Deps,
    tenant: &TenantScope,
    plan: &str,
) -> Result<Option<PriceOverride>, Error> {
    let item = deps
        .store
        .get(&keys::price_override(tenant.tenant_id(), plan))
        .await?;
    Ok(match item {
        Some(i) => Some(from_item::<PriceOverrideView>(&i)?.prices),
        None => None,
    })
}

/// Plans of the catalog; for a tenant's staff (`tenant`), with its prices.
pub async fn list_plans(
    deps: &Deps,
    tenant: Option<&TenantScope>,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<PlanView>, Error> {
    let own = match tenant {
        Some(t) => overrides(deps, t).await?,
        None => Vec::new(),
    };
    page::list_prefix(
        deps,
        "plans",
        keys::plans_partition(),
        "",
        limit,
        cursor,
        |item| {
            let plan: Plan = from_item(item)?;
            let o = own.iter().find(|o| o.plan == plan.code).map(|o| &o.prices);
            Ok(view(plan, o))
        },
    )
    .await
}

/// A plan's current version as stored, and the item's version.
async fn current(deps: &Deps, code: &str) -> Result<(Plan, u64), Error> {
    let item = deps
        .store
        .get(&keys::plan(code))
        .await?
        .ok_or(Error::NotFound("plan"))?;
    Ok((from_item(&item)?, item.version))
}

/// A plan code from a path: anything that cannot be a code cannot exist.
pub fn plan_code(raw: &str) -> Result<&str, Error> {
    crate::model::fields::code(raw)
        .map(|_| raw)
        .map_err(|_| Error::NotFound("plan"))
}

pub async fn get_plan(
    deps: &Deps,
    tenant: Option<&TenantScope>,
    code: &str,
) -> Result<PlanView, Error> {
    let (plan, _) = current(deps, code).await?;
    let o = match tenant {
        Some(t) => override_of(deps, t, code).await?,
        None => None,
    };
    Ok(view(plan, o.as_ref()))
}

/// One version of a plan, as stored (subscriptions name theirs).
pub(crate) async fn plan_version(deps: &Deps, code: &str, version: u32) -> Result<Plan, Error> {
    let item = deps
        .store
        .get(&keys::plan_version(code, version))
        .await?
        .ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "plan {code} version {version} is named but not stored"
            ))
        })?;
    from_item(&item)
}

/// A plan's current version, for a new subscription: archived plans take none.
pub(crate) async fn plan_to_subscribe(deps: &Deps, code: &str, field: &str) -> Result<Plan, Error> {
    let item = deps.store.get(&keys::plan(code)).await?;
    let plan: Plan = match item {
        Some(i) => from_item(&i)?,
        None => {
            return Err(Error::invalid(
                field,
                "is not a plan of the catalog (GET /v1/plans)",
            ));
        }
    };
    if plan.archived {
        return Err(Error::conflict(
            ProblemKind::PlanArchived,
            format!("the plan {code} is archived and takes no new subscriptions"),
        ));
    }
    Ok(plan)
}

fn is_known(metrics: &[Metric]) -> impl Fn(&str) -> bool + '_ {
    move |m: &str| metrics.iter().any(|x| x.code == m)
}

pub async fn create_plan(deps: &Deps, draft: &PlanDraft) -> Result<PlanView, Error> {
    let metrics = metrics(deps).await?;
    let plan = draft.parse_new(&is_known(&metrics), deps.clock.now())?;
    let data = to_data(&plan)?;
    let entry = Entry::new("plan.created", Target::new("plan", &plan.code))
        .value("version", plan.version)
        .value("currency", &plan.currency);
    let ops = vec![
        WriteOp::create(Item::new(keys::plan(&plan.code), data.clone())),
        WriteOp::create(Item::new(keys::plan_version(&plan.code, 1), data)),
        audit::op(deps, Log::Platform, entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(view(plan, None)),
        Err(StoreError::TransactionCanceled { .. }) => Err(duplicate_code("plan", &plan.code)),
        Err(e) => Err(e.into()),
    }
}

/// Changes a plan. A change of a price or an entitlement makes a new version, which new
/// subscriptions get; running ones keep theirs until moved. A change to what the plan
/// is already writes nothing.
pub async fn patch_plan(deps: &Deps, code: &str, draft: &PlanDraft) -> Result<PlanView, Error> {
    let (plan, version) = current(deps, code).await?;
    let metrics = metrics(deps).await?;
    let (next, _) = draft.apply(&plan, &is_known(&metrics), deps.clock.now())?;
    if next == plan {
        return Ok(view(next, None));
    }
    // A new version's own time is no field the caller changed.
    let was = Plan {
        created_at: next.created_at,
        ..plan.clone()
    };
    let entry = Entry::new("plan.updated", Target::new("plan", code))
        .diff(&was, &next)
        .value("version", next.version);
    let data = to_data(&next)?;
    let mut current_item = Item::new(keys::plan(code), data.clone());
    current_item.version = version + 1;
    let ops = vec![
        WriteOp::Put {
            item: current_item,
            condition: Condition::VersionIs(version),
        },
        // A new version is created; a rename rewrites the version it belongs to.
        WriteOp::put(Item::new(keys::plan_version(code, next.version), data)),
        audit::op(deps, Log::Platform, entry).await?,
    ];
    deps.store.transact(ops).await?;
    Ok(view(next, None))
}

/// Archives a plan: no new subscriptions; running ones go on. An archived plan is
/// answered as it is.
pub async fn archive_plan(deps: &Deps, code: &str) -> Result<PlanView, Error> {
    let (mut plan, version) = current(deps, code).await?;
    if plan.archived {
        return Ok(view(plan, None));
    }
    plan.archived = true;
    let mut item = Item::new(keys::plan(code), to_data(&plan)?);
    item.version = version + 1;
    let entry = Entry::new("plan.archived", Target::new("plan", code)).value("archived", true);
    let ops = vec![
        WriteOp::Put {
            item,
            condition: Condition::VersionIs(version),
        },
        audit::op(deps, Log::Platform, entry).await?,
    ];
    deps.store.transact(ops).await?;
    Ok(view(plan, None))
}

/// Sets the tenant's prices for a plan (replacing any earlier override).
pub async fn put_override(
    deps: &Deps,
    tenant: &TenantScope,
    code: &str,
    prices: &PriceOverride,
) -> Result<PriceOverrideView, Error> {
    let (plan, _) = current(deps, code).await?;
    let metrics = metrics(deps).await?;
    prices.check(&is_known(&metrics))?;
    let v = PriceOverrideView {
        plan: plan.code,
        prices: prices.clone(),
        updated_at: deps.clock.now(),
    };
    let mut entry = Entry::new("price_override.set", Target::new("price_override", code));
    if let Some(v) = prices.base_amount {
        entry = entry.value("base_amount", v);
    }
    if let Some(v) = prices.seat_amount {
        entry = entry.value("seat_amount", v);
    }
    if let Some(v) = prices.included_seats {
        entry = entry.value("included_seats", v);
    }
    if !prices.charges.is_empty() {
        entry = entry.value(
            "charges",
            prices.charges.iter().map(|c| &c.metric).collect::<Vec<_>>(),
        );
    }
    let tenant_id = tenant.tenant_id();
    let ops = vec![
        WriteOp::Check {
            key: keys::tenant(tenant_id),
            condition: Condition::Exists,
        },
        WriteOp::put(Item::new(
            keys::price_override(tenant_id, code),
            to_data(&v)?,
        )),
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(v),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::NotFound("tenant"))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_override(deps: &Deps, tenant: &TenantScope, code: &str) -> Result<(), Error> {
    let tenant_id = tenant.tenant_id();
    let entry = Entry::new(
        "price_override.removed",
        Target::new("price_override", code),
    );
    let ops = vec![
        WriteOp::Delete {
            key: keys::price_override(tenant_id, code),
            condition: Condition::Exists,
        },
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::NotFound("price override"))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedStore;
    use crate::model::audit::{Actor, AuditEvent, Origin};
    use crate::model::ids::TenantId;
    use std::sync::Arc;

    async fn events(deps: &Deps, log: Log<'_>) -> Vec<AuditEvent> {
        let filter = audit::Filter::default();
        audit::list(deps, log, &filter, 100, None)
            .await
            .unwrap()
            .data
    }

    /// Each catalog change writes one event, named for the operator, in the platform's
    /// log; a change that changes nothing, and a refused one, write none.
    #[tokio::test]
    async fn catalog_changes_write_one_event_each_in_the_platform_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("c.redb")).unwrap();
        let operator = Actor::new(crate::model::audit::ActorKind::Operator, "key_op");
        let deps = Deps::new(Arc::new(store)).acting(Origin::of_actor(operator.clone()));
        let metric = MetricDraft {
            code: Some("ai_operations".into()),
            name: Some("AI operations".into()),
            unit: Some("operation".into()),
            aggregation: Some("sum".into()),
        };
        create_metric(&deps, &metric).await.unwrap();
        assert!(create_metric(&deps, &metric).await.is_err());
        let plan = PlanDraft {
            code: Some("growth".into()),
            name: Some("Growth".into()),
            currency: Some("EUR".into()),
            base_amount: Some(4900),
            ..PlanDraft::default()
        };
        create_plan(&deps, &plan).await.unwrap();
        let same = PlanDraft {
            base_amount: Some(4900),
            ..PlanDraft::default()
        };
        patch_plan(&deps, "growth", &same).await.unwrap();
        let dearer = PlanDraft {
            base_amount: Some(5900),
            ..PlanDraft::default()
        };
        patch_plan(&deps, "growth", &dearer).await.unwrap();
        archive_plan(&deps, "growth").await.unwrap();
        archive_plan(&deps, "growth").await.unwrap();

        let mut seen = events(&deps, Log::Platform).await;
        seen.reverse();
        let actions: Vec<&str> = seen.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "metric.created",
                "plan.created",
                "plan.updated",
                "plan.archived"
            ]
        );
        assert!(seen.iter().all(|e| e.actor == operator));
        let updated = &seen[2];
        assert_eq!(updated.target.id, "growth");
        let fields: Vec<&str> = updated.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["base_amount", "version"]);
    }

    /// A price override for a tenant that does not exist, or the removal of one that
    /// does not, keeps its 404 and writes no event.
    #[tokio::test]
    async fn refused_override_changes_keep_their_answer_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("o.redb")).unwrap();
        let deps = Deps::new(Arc::new(store)).acting(audit::job_origin("test"));
        let plan = PlanDraft {
            code: Some("basic".into()),
            name: Some("Basic".into()),
            currency: Some("EUR".into()),
            base_amount: Some(0),
            ..PlanDraft::default()
        };
        create_plan(&deps, &plan).await.unwrap();
        let tenant_id = TenantId::generate();
        let tenant = TenantScope::acting_for(tenant_id.clone());
        let prices = PriceOverride {
            base_amount: Some(100),
            ..PriceOverride::default()
        };
        let put = put_override(&deps, &tenant, "basic", &prices).await;
        assert!(matches!(put, Err(Error::NotFound("tenant"))), "{put:?}");
        let gone = delete_override(&deps, &tenant, "basic").await;
        assert!(
            matches!(gone, Err(Error::NotFound("price override"))),
            "{gone:?}"
        );
        assert!(events(&deps, Log::Tenant(&tenant_id)).await.is_empty());
    }
}
