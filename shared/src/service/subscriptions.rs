//! Subscriptions: a customer's plan, as dated segments. Tenant owners start, change and
//! cancel them; any staff reads them. Periods are calendar months in UTC.

use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::audit::{self, Entry, Log};
use super::{catalog, commit, events, from_item, to_data};
use crate::Deps;
use crate::access::{CustomerScope, TenantScope};
use crate::error::{Error, ProblemKind};
use crate::model::audit::Target;
use crate::model::billing::{Period, Plan};
use crate::model::customer::CustomerStatus;
use crate::model::event::EventType;
use crate::model::ids::{CustomerId, SubscriptionId, TenantId};
use crate::model::input::Checks;
use crate::model::subscription::{Segment, Subscription, SubscriptionState, SubscriptionView};
use crate::ports::{Condition, Item, WriteOp};
use crate::store::keys;

/// `POST /v1/customers/{id}/subscription`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionDraft {
    /// The plan's code.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "growth")]
    pub plan: Option<String>,
    /// The first day (`YYYY-MM-DD`, UTC): from the first of this month to today; today
    /// when left out.
    #[schema(example = "2026-12-01")]
    pub starts_at: Option<String>,
}

/// `PATCH` (a change of plan) and `DELETE` (a cancellation): when it takes effect.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionChange {
    #[schema(required = true, pattern = "^[a-z][a-z0-9_]{0,39}$", example = "scale")]
    pub plan: Option<String>,
    /// `now`, or `period_end`. A change to a plan with a lower base fee waits for the
    /// next period unless `now`; any other change is at once. A cancellation ends the
    /// subscription at the period's end unless `now` (then today is its last day).
    #[schema(example = "now")]
    pub at: Option<String>,
}

fn today(deps: &Deps) -> NaiveDate {
    deps.clock.now().date_naive()
}

fn at_now(at: Option<&str>, c: &mut Checks) -> bool {
    c.optional("at", at, |s| match s {
        "now" => Ok(true),
        "period_end" => Ok(false),
        _ => Err("must be now or period_end".to_owned()),
    })
    .unwrap_or(false)
}

fn segment(plan: &Plan, from: NaiveDate) -> Segment {
    Segment {
        plan: plan.code.clone(),
        plan_version: plan.version,
        from,
        to: None,
        entitlements: plan.entitlements.clone(),
    }
}

/// The customer's current subscription as stored, if any.
pub(crate) async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<Option<(Subscription, Item)>, Error> {
    match deps
        .store
        .get(&keys::subscription(tenant_id, customer_id))
        .await?
    {
        Some(item) => Ok(Some((from_item(&item)?, item))),
        None => Ok(None),
    }
}

fn put(tenant_id: &TenantId, s: &Subscription, was: Option<u64>) -> Result<WriteOp, Error> {
    let mut item = Item::new(keys::subscription(tenant_id, &s.customer_id), to_data(s)?);
    Ok(match was {
        Some(v) => {
            item.version = v + 1;
            WriteOp::Put {
                item,
                condition: Condition::VersionIs(v),
            }
        }
        None => WriteOp::create(item),
    })
}

/// The audit entry of a change to a customer's subscription.
fn entry(action: &str, sub: &Subscription) -> Entry {
    Entry::new(action, Target::new("subscription", &sub.id)).customer(&sub.customer_id)
}

/// Writes a changed subscription over the item it was read from (a change made
/// meanwhile is a 409), with its audit entry, and answers its view.
async fn save(
    deps: &Deps,
    scope: &CustomerScope,
    mut sub: Subscription,
    item: &Item,
    today: NaiveDate,
    event: EventType,
    entry: Entry,
) -> Result<SubscriptionView, Error> {
    let now = deps.clock.now();
    sub.updated_at = now;
    let view = sub.view(today, item.version + 1);
    let mut ops = vec![put(scope.tenant_id(), &sub, Some(item.version))?];
    ops.extend(events::emit(scope.tenant_id(), event, &view, now)?);
    ops.push(audit::op(deps, Log::Tenant(scope.tenant_id()), entry).await?);
    commit(deps, ops).await?;
    Ok(view)
}

/// A new subscription for a customer, built (not stored): for `create`, and for a new
/// customer's default plan.
pub(crate) fn new_subscription(
    plan: &Plan,
    customer_id: &CustomerId,
    start: NaiveDate,
    deps: &Deps,
) -> Subscription {
    let now = deps.clock.now();
    Subscription {
        id: SubscriptionId::generate(),
        customer_id: customer_id.clone(),
        currency: plan.currency.clone(),
        started_on: start,
        trial_ends_on: (plan.trial_days > 0)
            .then(|| start + Duration::days(plan.trial_days as i64)),
        ends_on: None,
        canceled_at: None,
        segments: vec![segment(plan, start)],
        created_at: now,
        updated_at: now,
    }
}

/// The tenant's default plan, which a new customer subscribes to (none when the tenant
/// has none, or when the plan was archived since: the customer is still created).
pub(crate) async fn default_plan(deps: &Deps, tenant_id: &TenantId) -> Result<Option<Plan>, Error> {
    let Some(item) = deps.store.get(&keys::tenant(tenant_id)).await? else {
        return Ok(None);
    };
    let tenant: crate::model::tenant::Tenant = from_item(&item)?;
    let Some(code) = tenant.default_plan else {
        return Ok(None);
    };
    let Some(item) = deps.store.get(&keys::plan(&code)).await? else {
        tracing::warn!(plan = %code, tenant = %tenant_id, "the default plan is not in the catalog");
        return Ok(None);
    };
    let plan: Plan = from_item(&item)?;
    if plan.archived {
        tracing::warn!(plan = %code, tenant = %tenant_id, "the default plan is archived");
        return Ok(None);
    }
    Ok(Some(plan))
}

/// The writes of a new customer's first subscription, from today (its tenant's default
/// plan), for the creation's own transaction.
pub(crate) fn first_subscription(
    deps: &Deps,
    tenant_id: &TenantId,
    plan: &Plan,
    customer_id: &CustomerId,
) -> Result<Vec<WriteOp>, Error> {
    let sub = new_subscription(plan, customer_id, today(deps), deps);
    let view = sub.view(today(deps), 1);
    let mut ops = vec![
        put(tenant_id, &sub, None)?,
        subscriber(tenant_id, customer_id),
    ];
    ops.extend(events::emit(
        tenant_id,
        EventType::SubscriptionCreated,
        &view,
        sub.created_at,
    )?);
    Ok(ops)
}

/// The customer's entry among those the invoice run reads (written again harmlessly).
fn subscriber(tenant_id: &TenantId, customer_id: &CustomerId) -> WriteOp {
    WriteOp::put(Item::marker(keys::subscriber(tenant_id, customer_id)))
}

pub async fn create(
    deps: &Deps,
    scope: &CustomerScope,
    draft: &SubscriptionDraft,
) -> Result<SubscriptionView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let (customer, profile) = super::load_customer(deps, tenant_id, customer_id).await?;
    let today = today(deps);
    let mut c = Checks::new();
    let code = c.required("plan", draft.plan.as_deref(), crate::model::fields::code);
    let start = c
        .optional("starts_at", draft.starts_at.as_deref(), |s| {
            let d = s
                .get(..10)
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .ok_or("must be a day as YYYY-MM-DD")?;
            let first = Period::of(today).first_day();
            if d < first || d > today {
                return Err(format!(
                    "must be from the first of this month ({first}) to today ({today})"
                ));
            }
            Ok(d)
        })
        .unwrap_or(today);
    c.finish()?;
    if customer.status == CustomerStatus::Deleted {
        return Err(Error::conflict(
            ProblemKind::CustomerDeleted,
            "a deleted customer cannot subscribe; restore it first",
        ));
    }
    let plan =
        catalog::plan_to_subscribe(deps, code.as_deref().unwrap_or_default(), "plan").await?;
    let mut existing = load(deps, tenant_id, customer_id).await?;
    let mut ops = Vec::new();
    // One canceled whose last day is today (a cancel `at: now`, its customer's deletion,
    // or a cancel at the period's end on the month's last day) gives way to a new one
    // from today: today is billed once, by the new one, and the old one's end moves to
    // today (announced as such). A customer deleted and restored the same day
    // subscribes again at once.
    let tomorrow = today + Duration::days(1);
    let mut replaced = None;
    if let Some((s, item)) = existing.as_mut()
        && s.state(today) == SubscriptionState::Canceled
        && s.ends_on == Some(tomorrow)
    {
        if start != today {
            return Err(Error::invalid(
                "starts_at",
                format!("must be today ({today}): the current subscription runs until tonight"),
            ));
        }
        let (canceled_at, now) = (s.canceled_at, deps.clock.now());
        s.end_on(today.max(s.started_on), now);
        // When it was canceled stays what it was.
        s.canceled_at = canceled_at;
        s.updated_at = now;
        ops.extend(events::emit(
            tenant_id,
            EventType::SubscriptionCanceled,
            &s.view(today, item.version),
            now,
        )?);
        replaced = Some(s.id.clone());
    }
    let was = match &existing {
        Some((s, _)) if s.state(today) != SubscriptionState::Ended => {
            return Err(Error::conflict(
                ProblemKind::SubscriptionExists,
                "the customer has a current subscription; change its plan with PATCH, or cancel it first",
            ));
        }
        // An ended one is kept as history.
        Some((s, item)) => {
            ops.push(WriteOp::create(Item::new(
                keys::past_subscription(tenant_id, customer_id, s.id.as_str()),
                to_data(s)?,
            )));
            Some(item.version)
        }
        None => None,
    };
    if existing
        .as_ref()
        .is_some_and(|(s, _)| s.ends_on.is_some_and(|e| start < e))
    {
        return Err(Error::invalid(
            "starts_at",
            "must be on or after the day the previous subscription ended",
        ));
    }
    let sub = new_subscription(&plan, customer_id, start, deps);
    ops.push(put(tenant_id, &sub, was)?);
    ops.push(subscriber(tenant_id, customer_id));
    // The customer is still there, and was not deleted meanwhile.
    ops.push(WriteOp::Check {
        key: profile.key(),
        condition: Condition::VersionIs(profile.version),
    });
    let view = sub.view(today, was.map_or(1, |v| v + 1));
    ops.extend(events::emit(
        tenant_id,
        EventType::SubscriptionCreated,
        &view,
        sub.created_at,
    )?);
    let mut entry = entry("subscription.created", &sub)
        .value("plan", &plan.code)
        .value("plan_version", plan.version)
        .value("started_on", sub.started_on);
    if let Some(id) = &replaced {
        entry = entry.value("replaces", id);
    }
    ops.push(audit::op(deps, Log::Tenant(tenant_id), entry).await?);
    commit(deps, ops).await?;
    Ok(view)
}

pub async fn get(deps: &Deps, scope: &CustomerScope) -> Result<SubscriptionView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let Some((sub, item)) = load(deps, tenant_id, customer_id).await? else {
        // A customer of another tenant looks exactly like one without a subscription.
        super::load_customer(deps, tenant_id, customer_id).await?;
        return Err(Error::NotFound("subscription"));
    };
    Ok(sub.view(today(deps), item.version))
}

async fn current(
    deps: &Deps,
    scope: &CustomerScope,
    if_version: Option<u64>,
) -> Result<(Subscription, Item), Error> {
    let (sub, item) = load(deps, scope.tenant_id(), scope.customer_id())
        .await?
        .ok_or(Error::NotFound("subscription"))?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(format!(
            "the subscription is at version {}; read it again",
            item.version
        )));
    }
    if sub.state(today(deps)) == SubscriptionState::Ended {
        return Err(Error::conflict(
            ProblemKind::SubscriptionEnded,
            "the subscription has ended; start a new one (POST)",
        ));
    }
    Ok((sub, item))
}

/// `PATCH`: moves the subscription to another plan (or the same plan's current version).
/// A plan with a base fee at least the current one's is an upgrade and takes effect
/// today; a lower one waits for the next period unless `at: now`. Fees compare at the
/// tenant's own prices.
pub async fn change(
    deps: &Deps,
    tenant: &TenantScope,
    scope: &CustomerScope,
    draft: &SubscriptionChange,
    if_version: Option<u64>,
) -> Result<SubscriptionView, Error> {
    // Another tenant's customer is 404 whatever the body.
    let (mut sub, item) = current(deps, scope, if_version).await?;
    let mut c = Checks::new();
    let code = c.required("plan", draft.plan.as_deref(), crate::model::fields::code);
    let now = at_now(draft.at.as_deref(), &mut c);
    c.finish()?;
    let today = today(deps);
    let plan =
        catalog::plan_to_subscribe(deps, code.as_deref().unwrap_or_default(), "plan").await?;
    if plan.currency != sub.currency {
        return Err(Error::conflict(
            ProblemKind::CurrencyMismatch,
            format!(
                "the plan is in {}, the subscription in {}; cancel it and subscribe anew",
                plan.currency, sub.currency
            ),
        ));
    }
    let on = sub.current(today).cloned().ok_or_else(|| {
        Error::Unexpected(anyhow::anyhow!("subscription {} has no segments", sub.id))
    })?;
    if on.plan == plan.code && on.plan_version == plan.version && sub.pending(today).is_none() {
        return Err(Error::invalid(
            "plan",
            "is the subscription's plan (and version) already",
        ));
    }
    let was = catalog::plan_version(deps, &on.plan, on.plan_version).await?;
    let own = catalog::override_of(deps, tenant, &plan.code).await?;
    let own_was = catalog::override_of(deps, tenant, &was.code).await?;
    let upgrade =
        plan.priced_for(own.as_ref()).base_amount >= was.priced_for(own_was.as_ref()).base_amount;
    let from = if upgrade || now {
        today.max(sub.started_on)
    } else {
        Period::of(today).end()
    };
    if sub.ends_on.is_some_and(|e| from >= e) {
        return Err(Error::conflict(
            ProblemKind::SubscriptionEnded,
            "the subscription ends before the change would take effect; start a new one after it",
        ));
    }
    let before = sub.clone();
    sub.switch(from, segment(&plan, from));
    if sub == before {
        // The same change again (a pending downgrade asked for twice): nothing to write
        // and nothing to announce.
        return Ok(before.view(today, item.version));
    }
    let entry = entry("subscription.changed", &sub)
        .value("plan", &plan.code)
        .value("plan_version", plan.version)
        .value("from", from);
    save(
        deps,
        scope,
        sub,
        &item,
        today,
        EventType::SubscriptionChanged,
        entry,
    )
    .await
}

/// `DELETE`: cancels at the period's end, or `at: now` (today is its last day).
pub async fn cancel(
    deps: &Deps,
    scope: &CustomerScope,
    at: Option<&str>,
    if_version: Option<u64>,
) -> Result<SubscriptionView, Error> {
    let (mut sub, item) = current(deps, scope, if_version).await?;
    let mut c = Checks::new();
    let now = at_now(at, &mut c);
    c.finish()?;
    let today = today(deps);
    let end = if now {
        today + Duration::days(1)
    } else {
        Period::of(today).end()
    };
    let end = sub
        .ends_on
        .map_or(end, |e| e.min(end))
        .max(sub.started_on + Duration::days(1));
    if sub.ends_on == Some(end) {
        // Canceled already, to end that day: a repeat changes and announces nothing.
        return Ok(sub.view(today, item.version));
    }
    sub.end_on(end, deps.clock.now());
    let entry = entry("subscription.canceled", &sub).value("ends_on", end);
    save(
        deps,
        scope,
        sub,
        &item,
        today,
        EventType::SubscriptionCanceled,
        entry,
    )
    .await
}

/// The writes that end a deleted customer's subscription on the day of the deletion
/// (that day still counts), with its `subscription.canceled` event, for the deletion's
/// own transaction; none without one.
pub(crate) async fn end_with_customer(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<Vec<WriteOp>, Error> {
    let Some((mut sub, item)) = load(deps, tenant_id, customer_id).await? else {
        return Ok(Vec::new());
    };
    let today = today(deps);
    if sub.state(today) == SubscriptionState::Ended {
        return Ok(Vec::new());
    }
    let now = deps.clock.now();
    let end = (today + Duration::days(1)).max(sub.started_on + Duration::days(1));
    let end = sub.ends_on.map_or(end, |e| e.min(end));
    if sub.ends_on == Some(end) {
        // It ends that day already: nothing changes, nothing to announce.
        return Ok(Vec::new());
    }
    sub.end_on(end, now);
    sub.updated_at = now;
    let view = sub.view(today, item.version + 1);
    let mut ops = vec![put(tenant_id, &sub, Some(item.version))?];
    ops.extend(events::emit(
        tenant_id,
        EventType::SubscriptionCanceled,
        &view,
        now,
    )?);
    Ok(ops)
}
