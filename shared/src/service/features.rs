//! Feature management and entitlements. What a customer may use = its plan's feature
//! areas ∩ the tenant's default for each ∩ the customer's own override. A tenant turns
//! areas off for everyone or for one customer; it never turns on what the plan lacks.
//!
//! The entitlements check (`GET .../entitlements`) is one batch read of the customer's
//! profile, subscription, overrides, limits and this month's usage, and the tenant's
//! defaults: plan versions never change, so a subscription keeps its segments'
//! entitlements with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::audit::{self, Entry, Log};
use super::{from_item, to_data};
use crate::Deps;
use crate::access::{CustomerScope, TenantScope};
use crate::error::{Error, ProblemKind};
use crate::model::audit::Target;
use crate::model::billing::{Period, STANDARD_FEATURES, lower};
use crate::model::customer::{Customer, CustomerStatus};
use crate::model::ids::{CustomerId, TenantId};
use crate::model::input::Checks;
use crate::model::subscription::Subscription;
use crate::ports::{Condition, Item, Key, WriteOp};
use crate::store::keys;

use super::usage::{PeriodUsage, UsageLimits};

/// Areas switched on (`true`) or off (`false`); an area not named inherits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureSwitches {
    #[serde(default)]
    pub features: BTreeMap<String, bool>,
}

/// `PUT`: areas to switch on or off; `null` forgets a switch (the area inherits again).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureChange {
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, Option<bool>>)]
    pub features: BTreeMap<String, Option<bool>>,
}

/// One feature area of one customer, and why it is as it is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FeatureState {
    pub feature: String,
    pub enabled: bool,
    /// The plan includes it (true without a subscription: no plan narrows it).
    pub plan: bool,
    /// The tenant's default for it.
    pub tenant: bool,
    /// The customer's own switch, if any.
    pub customer: Option<bool>,
    /// `plan`, `tenant` or `customer`: what turned it off; `enabled` when on.
    pub because: &'static str,
}

/// A customer's features, each with its reason.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerFeatures {
    pub customer_id: CustomerId,
    /// The plan in force, if any.
    pub plan: Option<String>,
    pub features: Vec<FeatureState>,
}

/// The tenant's defaults.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenantFeatures {
    /// Every area known to the tenant (the standard ones and any it switched), `true`
    /// unless switched off.
    pub features: BTreeMap<String, bool>,
}

async fn switches(deps: &Deps, key: Key) -> Result<(FeatureSwitches, Option<u64>), Error> {
    Ok(match deps.store.get(&key).await? {
        Some(i) => (from_item(&i)?, Some(i.version)),
        None => (FeatureSwitches::default(), None),
    })
}

fn apply(current: &FeatureSwitches, change: &FeatureChange, c: &mut Checks) -> FeatureSwitches {
    let mut next = current.clone();
    for (area, on) in &change.features {
        if c.check(
            &format!("features.{area}"),
            crate::model::fields::code(area),
        )
        .is_none()
        {
            continue;
        }
        match on {
            Some(v) => {
                next.features.insert(area.clone(), *v);
            }
            None => {
                next.features.remove(area);
            }
        }
    }
    if next.features.len() > 100 {
        c.fail("features", "at most 100 areas");
    }
    next
}

/// The areas whose switch differs between two states, each with its new switch (`null`:
/// it inherits again).
fn switched(before: &FeatureSwitches, after: &FeatureSwitches) -> Vec<(String, Option<bool>)> {
    let mut areas: Vec<&String> = before
        .features
        .keys()
        .chain(after.features.keys())
        .collect();
    areas.sort();
    areas.dedup();
    areas
        .into_iter()
        .filter(|a| before.features.get(*a) != after.features.get(*a))
        .map(|a| (a.clone(), after.features.get(a).copied()))
        .collect()
}

/// Writes the switches over `version` with the change's audit event; nothing when they
/// are as they were.
async fn save(
    deps: &Deps,
    key: Key,
    before: &FeatureSwitches,
    s: &FeatureSwitches,
    version: Option<u64>,
    log: Log<'_>,
    entry: Entry,
) -> Result<(), Error> {
    let changed = switched(before, s);
    if changed.is_empty() {
        return Ok(());
    }
    let entry = changed.into_iter().fold(entry, |e, (area, on)| {
        e.value(&format!("features.{area}"), on)
    });
    let mut item = Item::new(key, to_data(s)?);
    let condition = match version {
        Some(v) => {
            item.version = v + 1;
            Condition::VersionIs(v)
        }
        None => Condition::NotExists,
    };
    let ops = vec![
        WriteOp::Put { item, condition },
        audit::op(deps, log, entry).await?,
    ];
    deps.store.transact(ops).await?;
    Ok(())
}

fn tenant_view(s: &FeatureSwitches) -> TenantFeatures {
    let mut features: BTreeMap<String, bool> = STANDARD_FEATURES
        .iter()
        .map(|f| ((*f).to_owned(), true))
        .collect();
    features.extend(s.features.clone());
    TenantFeatures { features }
}

pub async fn tenant_defaults(deps: &Deps, scope: &TenantScope) -> Result<TenantFeatures, Error> {
    let (s, _) = switches(deps, keys::tenant_features(scope.tenant_id())).await?;
    Ok(tenant_view(&s))
}

pub async fn set_tenant_defaults(
    deps: &Deps,
    scope: &TenantScope,
    change: &FeatureChange,
) -> Result<TenantFeatures, Error> {
    let key = keys::tenant_features(scope.tenant_id());
    let (current, version) = switches(deps, key.clone()).await?;
    let mut c = Checks::new();
    let next = apply(&current, change, &mut c);
    c.finish()?;
    let tenant_id = scope.tenant_id();
    let entry = Entry::new("feature_defaults.updated", Target::new("tenant", tenant_id));
    let log = Log::Tenant(tenant_id);
    save(deps, key, &current, &next, version, log, entry).await?;
    Ok(tenant_view(&next))
}

/// Everything the effective state of one customer depends on, in one batch read.
struct Snapshot {
    customer: Customer,
    sub: Option<Subscription>,
    tenant: FeatureSwitches,
    own: FeatureSwitches,
    own_version: Option<u64>,
    limits: UsageLimits,
    usage: PeriodUsage,
}

async fn snapshot(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<Snapshot, Error> {
    let period = Period::of(deps.clock.now().date_naive()).to_string();
    let wanted = [
        keys::customer(tenant_id, customer_id),
        keys::subscription(tenant_id, customer_id),
        keys::tenant_features(tenant_id),
        keys::customer_features(tenant_id, customer_id),
        keys::usage_limits(tenant_id, customer_id),
        keys::usage(tenant_id, customer_id, &period),
    ];
    let found = deps.store.get_many(&wanted).await?;
    let get = |k: &Key| found.iter().find(|i| i.pk == k.pk && i.sk == k.sk);
    let customer: Customer = from_item(get(&wanted[0]).ok_or(Error::NotFound("customer"))?)?;
    let read = |k: &Key| -> Result<FeatureSwitches, Error> {
        get(k)
            .map(from_item)
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(Snapshot {
        customer,
        sub: get(&wanted[1]).map(from_item).transpose()?,
        tenant: read(&wanted[2])?,
        own: read(&wanted[3])?,
        own_version: get(&wanted[3]).map(|i| i.version),
        limits: get(&wanted[4])
            .map(from_item)
            .transpose()?
            .unwrap_or_default(),
        usage: get(&wanted[5])
            .map(from_item)
            .transpose()?
            .unwrap_or_default(),
    })
}

impl Snapshot {
    fn plan_features(&self, deps: &Deps) -> (Option<String>, Option<Vec<String>>) {
        let today = deps.clock.now().date_naive();
        match &self.sub {
            // Never subscribed: no plan narrows anything.
            None => (None, None),
            Some(sub) => match sub.segment_on(today) {
                Some(seg) => (
                    Some(seg.plan.clone()),
                    Some(seg.entitlements.features.clone()),
                ),
                // Its subscription has ended: no plan, so no area.
                None => (None, Some(Vec::new())),
            },
        }
    }

    fn states(&self, deps: &Deps) -> (Option<String>, Vec<FeatureState>) {
        let (plan, included) = self.plan_features(deps);
        let mut areas: Vec<String> = STANDARD_FEATURES.iter().map(|s| (*s).to_owned()).collect();
        areas.extend(included.iter().flatten().cloned());
        areas.extend(self.tenant.features.keys().cloned());
        areas.extend(self.own.features.keys().cloned());
        areas.sort();
        areas.dedup();
        let states = areas
            .into_iter()
            .map(|f| {
                let in_plan = included.as_ref().is_none_or(|i| i.contains(&f));
                let tenant = self.tenant.features.get(&f).copied().unwrap_or(true);
                let customer = self.own.features.get(&f).copied();
                let because = if !in_plan {
                    "plan"
                } else if !tenant {
                    "tenant"
                } else if customer == Some(false) {
                    "customer"
                } else {
                    "enabled"
                };
                FeatureState {
                    enabled: because == "enabled",
                    feature: f,
                    plan: in_plan,
                    tenant,
                    customer,
                    because,
                }
            })
            .collect();
        (plan, states)
    }
}

pub async fn of_customer(deps: &Deps, scope: &CustomerScope) -> Result<CustomerFeatures, Error> {
    let snap = snapshot(deps, scope.tenant_id(), scope.customer_id()).await?;
    let (plan, features) = snap.states(deps);
    Ok(CustomerFeatures {
        customer_id: scope.customer_id().clone(),
        plan,
        features,
    })
}

/// Switches areas for one customer. Switching on an area its plan lacks is a 409 that
/// names the plan.
pub async fn set_for_customer(
    deps: &Deps,
    scope: &CustomerScope,
    change: &FeatureChange,
) -> Result<CustomerFeatures, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let snap = snapshot(deps, tenant_id, customer_id).await?;
    if snap.customer.status == CustomerStatus::Deleted {
        return Err(Error::conflict(
            ProblemKind::CustomerDeleted,
            "a deleted customer cannot be changed; restore it first",
        ));
    }
    let mut c = Checks::new();
    let next = apply(&snap.own, change, &mut c);
    c.finish()?;
    let (plan, included) = snap.plan_features(deps);
    if let Some(included) = &included {
        let missing: Vec<&String> = change
            .features
            .iter()
            .filter(|(f, on)| **on == Some(true) && !included.contains(f))
            .map(|(f, _)| f)
            .collect();
        if !missing.is_empty() {
            let e = Error::conflict(
                ProblemKind::FeatureNotInPlan,
                match &plan {
                    Some(p) => format!(
                        "the plan {p} does not include {}; change the customer's plan to one that does",
                        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    None => "the customer's subscription has ended: no plan includes any area; start a new one".to_owned(),
                },
            );
            return Err(e.with("plan", plan).with("features", missing));
        }
    }
    let entry = Entry::new(
        "customer_features.updated",
        Target::new("customer", customer_id),
    )
    .customer(customer_id);
    save(
        deps,
        keys::customer_features(tenant_id, customer_id),
        &snap.own,
        &next,
        snap.own_version,
        Log::Tenant(tenant_id),
        entry,
    )
    .await?;
    let snap = Snapshot { own: next, ..snap };
    let (plan, features) = snap.states(deps);
    Ok(CustomerFeatures {
        customer_id: customer_id.clone(),
        plan,
        features,
    })
}

/// One metric's limit and what is left of it this month.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MetricLimit {
    pub limit: u64,
    pub used: u64,
    pub remaining: u64,
}

/// What a customer may use right now: the check a partner's application makes.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerEntitlements {
    pub customer_id: CustomerId,
    /// Only an `active` customer's users may sign in.
    pub status: CustomerStatus,
    pub plan: Option<String>,
    /// The enabled feature areas.
    pub features: Vec<String>,
    /// The lower of the plan's and the customer's own `max_users`, if any.
    pub max_users: Option<u32>,
    pub users: u32,
    /// Per metric with a limit this month (the lower of the plan's and the admin's own).
    pub limits: BTreeMap<String, MetricLimit>,
    /// The month `used` counts in (`YYYY-MM`, UTC).
    pub period: String,
}

pub async fn entitlements(
    deps: &Deps,
    scope: &CustomerScope,
) -> Result<CustomerEntitlements, Error> {
    let snap = snapshot(deps, scope.tenant_id(), scope.customer_id()).await?;
    let today = deps.clock.now().date_naive();
    let (plan, states) = snap.states(deps);
    let segment = snap.sub.as_ref().and_then(|s| s.segment_on(today));
    let max_users = lower(
        segment.and_then(|s| s.entitlements.max_users),
        snap.customer.max_users,
    );
    let mut limits = BTreeMap::new();
    let mut metrics: Vec<String> = segment
        .map(|s| s.entitlements.limits.keys().cloned().collect())
        .unwrap_or_default();
    metrics.extend(snap.limits.limits.keys().cloned());
    metrics.sort();
    metrics.dedup();
    for m in metrics {
        let Some(limit) = super::usage::limit_of(snap.sub.as_ref(), Some(&snap.limits), &m, today)
        else {
            continue;
        };
        let used = snap.usage.value_of(&m);
        limits.insert(
            m,
            MetricLimit {
                limit,
                used,
                remaining: limit.saturating_sub(used),
            },
        );
    }
    Ok(CustomerEntitlements {
        customer_id: scope.customer_id().clone(),
        status: snap.customer.status,
        plan,
        features: states
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| s.feature)
            .collect(),
        max_users,
        users: snap.customer.user_count,
        limits,
        period: Period::of(today).to_string(),
    })
}

/// The most users a customer may have: its plan's `max_users`, lowered by its own.
pub(crate) async fn max_users(
    deps: &Deps,
    tenant_id: &TenantId,
    customer: &Customer,
) -> Result<Option<u32>, Error> {
    let today = deps.clock.now().date_naive();
    let plan = match deps
        .store
        .get(&keys::subscription(tenant_id, &customer.id))
        .await?
    {
        Some(i) => from_item::<Subscription>(&i)?
            .segment_on(today)
            .and_then(|s| s.entitlements.max_users),
        None => None,
    };
    Ok(lower(plan, customer.max_users))
}

/// Is `area` enabled for this customer? (For routes of that area, to its users.)
pub async fn area_enabled(deps: &Deps, scope: &CustomerScope, area: &str) -> Result<bool, Error> {
    let snap = snapshot(deps, scope.tenant_id(), scope.customer_id()).await?;
    let (_, states) = snap.states(deps);
    Ok(states.iter().any(|s| s.feature == area && s.enabled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedStore;
    use crate::model::audit::{Actor, ActorKind, Origin};
    use std::sync::Arc;

    /// A change of the tenant's defaults writes one event naming the areas switched and
    /// who switched them; the same change again writes nothing.
    #[tokio::test]
    async fn a_change_of_defaults_writes_one_event_and_a_repeat_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("f.redb")).unwrap();
        let member = Actor::new(ActorKind::Member, "mem_1");
        let deps = Deps::new(Arc::new(store)).acting(Origin::of_actor(member.clone()));
        let tenant_id = TenantId::generate();
        let scope = TenantScope::acting_for(tenant_id.clone());
        let change = FeatureChange {
            features: BTreeMap::from([("reports".to_owned(), Some(false))]),
        };
        set_tenant_defaults(&deps, &scope, &change).await.unwrap();
        set_tenant_defaults(&deps, &scope, &change).await.unwrap();
        let filter = audit::Filter::default();
        let page = audit::list(&deps, Log::Tenant(&tenant_id), &filter, 10, None)
            .await
            .unwrap();
        assert_eq!(page.data.len(), 1);
        let e = &page.data[0];
        assert_eq!(e.action, "feature_defaults.updated");
        assert_eq!(e.actor, member);
        assert_eq!(e.changes.len(), 1);
        assert_eq!(e.changes[0].field, "features.reports");
        assert_eq!(e.changes[0].value, Some(serde_json::json!(false)));
    }
}
