//! The monthly invoice run: every tenant's customers billed for a closed month.
//!
//! A tenant is billed in steps of at most `STEP` customers. Each step is one transaction:
//! the invoices (or a consolidated invoice's customer lines) of the customers it covers,
//! claimed by conditional writes on ids derived from their identity, and the tenant's run
//! state (its cursor) moved past them under its version. A step therefore counts in full or
//! not at all: a rerun, a duplicate message or a crash half-way resumes from the stored
//! cursor and produces the same invoices, never a second one. Two workers on the same
//! tenant race on the run state's version; the loser re-reads it and goes on from there.
//!
//! The first step claims the month for the tenant (the run state, created only if absent)
//! and closes the month for usage in the same transaction (`period-closed`): what the run
//! reads is what it bills.
//!
//! Who pays (the billing model):
//! - a partner, `consolidated`: one invoice per currency, its lines grouped by customer
//!   (each customer's lines in an item of their own, so a big tenant's invoice grows by
//!   items, not inside one);
//! - a partner, `per_customer`: one invoice per customer, addressed to the partner;
//! - a reseller: one invoice per customer, addressed to the customer, issued by the
//!   reseller (and indexed for the customer's admin: `GET /v1/me/invoices`).
//!
//! Each new draft writes its `invoice.drafted` audit event (actor: the `invoice-run`
//! job) in the step that claims it; a consolidated draft's later steps add customers'
//! lines to it as the same drafting.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Entry, Log};
use super::charges::{self, LineKind as ChargeKind};
use super::due::{self, Kind};
use super::seats;
use super::usage::PeriodUsage;
use super::{catalog, events, from_item, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::billing::{Metric, Period, Plan, Pricing};
use crate::model::customer::Customer;
use crate::model::event::EventType;
use crate::model::ids::{CustomerId, InvoiceId, TenantId};
use crate::model::invoice::{
    CustomerLines, Invoice, InvoiceLine, InvoiceStatus, Issuer, LineKind, Payer, PayerKind,
};
use crate::model::subscription::{Segment, Subscription};
use crate::model::tenant::{InvoiceMode, Tenant, TenantKind};
use crate::ports::{Condition, Item, Key, Position, Query, SortRange, StoreError, WriteOp};
use crate::store::keys;

/// Customers per step: a step's writes (at most three per customer, plus a consolidated
/// invoice with its owner and due entry per currency, plus each new draft's audit event,
/// plus the run state) fit one transaction; a step that would overflow stops early and
/// the next goes on.
pub const STEP: usize = 32;
/// A step's writes stay well under a transaction's 4 MB.
const MAX_STEP_BYTES: usize = 3 * 1024 * 1024;
const MAX_OPS: usize = crate::ports::MAX_TRANSACTION_ACTIONS;

/// A tenant's progress through one month's run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub period: String,
    /// The last customer billed (the subscribers partition's sort key).
    pub cursor: Option<String>,
    pub done: bool,
    /// Customers read, and invoices (or consolidated customer lines) written.
    pub customers: u64,
    pub billed: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Customers whose bill could not be made (logged with the cause): to look at and
    /// bill by hand; the run went on without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_aside: Vec<String>,
    /// The currencies of the consolidated invoices this run made: each is announced
    /// (`invoice.drafted`) when the run ends, complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub currencies: Vec<String>,
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Customers remain: run another step (now, or in the next message). `seen` is the
    /// run state's version this step started from (0 before the claim): two steps in a
    /// row that saw the same one made no progress.
    More {
        seen: u64,
    },
    Done,
}

/// What the run read once and keeps for the steps of a tenant: the tenant, plan versions
/// at its prices, and the metrics.
#[derive(Default)]
pub struct Cache {
    tenant: Option<Tenant>,
    plans: HashMap<(String, u32), Option<Plan>>,
    overrides: HashMap<String, Option<crate::model::billing::PriceOverride>>,
    metrics: Option<Vec<Metric>>,
}

impl Cache {
    async fn plan(
        &mut self,
        deps: &Deps,
        tenant_id: &TenantId,
        code: &str,
        version: u32,
    ) -> Result<Option<Plan>, Error> {
        if let Some(p) = self.plans.get(&(code.to_owned(), version)) {
            return Ok(p.clone());
        }
        let plan = match deps.store.get(&keys::plan_version(code, version)).await? {
            Some(item) => Some(from_item::<Plan>(&item)?),
            None => {
                tracing::error!(
                    plan = code,
                    version,
                    "a subscription names a plan version that is not stored"
                );
                None
            }
        };
        let priced = match plan {
            Some(p) => {
                if !self.overrides.contains_key(code) {
                    let scope = TenantScope::acting_for(tenant_id.clone());
                    let o = catalog::override_of(deps, &scope, code).await?;
                    self.overrides.insert(code.to_owned(), o);
                }
                Some(p.priced_for(self.overrides.get(code).and_then(Option::as_ref)))
            }
            None => None,
        };
        self.plans
            .insert((code.to_owned(), version), priced.clone());
        Ok(priced)
    }

    async fn metric_name(&mut self, deps: &Deps, code: &str) -> Result<String, Error> {
        if self.metrics.is_none() {
            self.metrics = Some(catalog::metrics(deps).await?);
        }
        Ok(self
            .metrics
            .iter()
            .flatten()
            .find(|m| m.code == code)
            .map_or_else(|| code.to_owned(), |m| format!("{} ({})", m.name, m.unit)))
    }
}

/// One customer's charges for the month, in its subscription's currency.
struct Bill {
    customer: Customer,
    currency: String,
    lines: Vec<InvoiceLine>,
}

fn state_key(tenant_id: &TenantId, period: Period) -> Key {
    keys::invoice_run(tenant_id, &period.to_string())
}

/// The tenant's run state for `period`, as stored, if the run began.
pub async fn state(
    deps: &Deps,
    tenant_id: &TenantId,
    period: Period,
) -> Result<Option<(RunState, u64)>, Error> {
    Ok(match deps.store.get(&state_key(tenant_id, period)).await? {
        Some(item) => Some((from_item(&item)?, item.version)),
        None => None,
    })
}

/// The subscriptions of a customer with days in `period`: its current one and, when that
/// began after the month did, earlier ones kept as history.
async fn subscriptions_in(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    current: Option<Subscription>,
    period: Period,
) -> Result<Vec<Subscription>, Error> {
    let mut out = Vec::new();
    let earlier_possible = current
        .as_ref()
        .is_none_or(|s| s.started_on > period.first_day());
    if earlier_possible {
        let sub_key = keys::subscription(tenant_id, customer_id);
        let past =
            super::page::all_under(deps, sub_key.pk.clone(), &format!("{}#", sub_key.sk), 100)
                .await?;
        for item in &past {
            let s: Subscription = from_item(item)?;
            if !s.days_in(period).is_empty() {
                out.push(s);
            }
        }
    }
    if let Some(s) = current.filter(|s| !s.days_in(period).is_empty()) {
        out.push(s);
    }
    out.sort_by_key(|s| s.started_on);
    Ok(out)
}

fn day_range(from: chrono::NaiveDate, to: chrono::NaiveDate) -> String {
    if from == to {
        from.format("%-d %b %Y").to_string()
    } else {
        format!("{} – {}", from.format("%-d %b"), to.format("%-d %b %Y"))
    }
}

/// What a customer's month is billed from, read from the store.
struct Facts {
    customer: Customer,
    subs: Vec<Subscription>,
    usage: PeriodUsage,
    daily: Vec<u32>,
}

/// Customers whose facts a step reads at once.
const CONCURRENT_READS: usize = 16;

/// A customer's facts for the month: its profile, the subscriptions with days in it,
/// the month's usage and seats. `None`: nothing to bill (purged, or no subscription).
async fn read_customer(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: CustomerId,
    period: Period,
) -> Result<Option<Facts>, Error> {
    let customer_id = &customer_id;
    let p = period.to_string();
    let found = deps
        .store
        .get_many(&[
            keys::customer(tenant_id, customer_id),
            keys::subscription(tenant_id, customer_id),
            keys::usage(tenant_id, customer_id, &p),
        ])
        .await?;
    let by_sk = |k: Key| found.iter().find(|i| i.pk == k.pk && i.sk == k.sk);
    let Some(profile) = by_sk(keys::customer(tenant_id, customer_id)) else {
        // Purged: nothing left to bill from (the purge waits for the month's run).
        return Ok(None);
    };
    let customer: Customer = from_item(profile)?;
    let current: Option<Subscription> = by_sk(keys::subscription(tenant_id, customer_id))
        .map(from_item)
        .transpose()?;
    let usage: PeriodUsage = by_sk(keys::usage(tenant_id, customer_id, &p))
        .map(from_item)
        .transpose()?
        .unwrap_or_default();
    let subs = subscriptions_in(deps, tenant_id, customer_id, current, period).await?;
    if subs.is_empty() {
        return Ok(None);
    }
    let daily = seats::daily(deps, tenant_id, customer_id, period, customer.user_count).await?;
    Ok(Some(Facts {
        customer,
        subs,
        usage,
        daily,
    }))
}

/// The invoice lines of one customer's month, from its facts (plans and metric names
/// through the run's cache).
async fn bill_customer(
    deps: &Deps,
    cache: &mut Cache,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    period: Period,
    facts: Option<Facts>,
) -> Result<Vec<Bill>, Error> {
    let Some(Facts {
        customer,
        subs,
        usage,
        daily,
    }) = facts
    else {
        return Ok(Vec::new());
    };
    // Every segment's plan, read before the pure arithmetic.
    let mut plans: HashMap<(String, u32), Option<Plan>> = HashMap::new();
    for s in &subs {
        for seg in &s.segments {
            let k = (seg.plan.clone(), seg.plan_version);
            if let std::collections::hash_map::Entry::Vacant(e) = plans.entry(k) {
                e.insert(
                    cache
                        .plan(deps, tenant_id, &seg.plan, seg.plan_version)
                        .await?,
                );
            }
        }
    }
    let plan_of = |seg: &Segment| {
        plans
            .get(&(seg.plan.clone(), seg.plan_version))
            .cloned()
            .flatten()
    };
    let days = period.days();
    // Lines by the currency of the subscription they come from: a customer that moved
    // to a plan in another currency mid-month gets a bill in each.
    let mut by_currency: BTreeMap<String, Vec<InvoiceLine>> = BTreeMap::new();
    let last = subs.len() - 1;
    for (i, s) in subs.iter().enumerate() {
        let lines = by_currency.entry(s.currency.clone()).or_default();
        // Usage is billed once, by the subscription the month ends on.
        let none = PeriodUsage::default();
        let u = if i == last { &usage } else { &none };
        for l in charges::month_lines(period, s, &plan_of, &daily, u) {
            let plan = plans
                .get(&(l.plan.clone(), l.plan_version))
                .cloned()
                .flatten();
            let plan_name = plan.as_ref().map_or(l.plan.clone(), |p| p.name.clone());
            let range = day_range(l.from, l.to);
            let (description, unit_amount) = match l.kind {
                ChargeKind::Base => (
                    format!("{plan_name} plan, {range} ({} of {days} days)", l.quantity),
                    plan.as_ref().map(|p| p.base_amount),
                ),
                ChargeKind::Seats => (
                    format!(
                        "{plan_name} seats beyond {}, {range}",
                        plan.as_ref().map_or(0, |p| p.included_seats),
                    ),
                    plan.as_ref().map(|p| p.seat_amount),
                ),
                ChargeKind::Usage => {
                    let metric = l.metric.clone().unwrap_or_default();
                    let name = cache.metric_name(deps, &metric).await?;
                    let unit = plan
                        .as_ref()
                        .and_then(|p| p.charge_for(&metric))
                        .and_then(|c| match c {
                            Pricing::PerUnit { unit_amount } => Some(*unit_amount),
                            _ => None,
                        });
                    (format!("{name}, {} units", l.quantity), unit)
                }
            };
            lines.push(InvoiceLine {
                customer_id: Some(customer_id.clone()),
                kind: match l.kind {
                    ChargeKind::Base => LineKind::Base,
                    ChargeKind::Seats => LineKind::Seats,
                    ChargeKind::Usage => LineKind::Usage,
                },
                description,
                quantity: l.quantity,
                unit_amount,
                amount: l.amount,
                plan: Some(l.plan),
                metric: l.metric,
                from: Some(l.from),
                to: Some(l.to),
            });
        }
    }
    // Nothing to bill (a month in trial with no usage): no invoice, no empty line.
    Ok(by_currency
        .into_iter()
        .filter(|(_, lines)| lines.iter().any(|l| l.amount != 0))
        .map(|(currency, lines)| Bill {
            customer: customer.clone(),
            currency,
            lines,
        })
        .collect())
}

/// A reseller's customer as payer: its billing email, else its primary contact's, else
/// its admin's; its tax id.
fn customer_payer(c: &Customer) -> Payer {
    let contact = c.primary_contact.as_ref();
    let billing = c.billing.as_ref();
    Payer {
        kind: PayerKind::Customer,
        id: c.id.to_string(),
        name: c.company.name.clone(),
        email: billing
            .and_then(|b| b.email.clone())
            .or_else(|| contact.and_then(|p| p.email.clone()))
            .or_else(|| Some(c.admin.email.clone())),
        address: c.company.address.clone(),
        tax_id: billing.and_then(|b| b.tax_id.clone()),
    }
}

fn tenant_payer(t: &Tenant) -> Payer {
    let b = t.billing.as_ref();
    Payer {
        kind: PayerKind::Tenant,
        id: t.id.to_string(),
        name: b
            .and_then(|b| b.company_name.clone())
            .unwrap_or_else(|| t.name.clone()),
        email: b
            .and_then(|b| b.email.clone())
            .or_else(|| t.contact.as_ref().and_then(|c| c.email.clone())),
        address: b.and_then(|b| b.address.clone()),
        tax_id: b.and_then(|b| b.tax_id.clone()),
    }
}

fn new_invoice(
    t: &Tenant,
    period: Period,
    currency: &str,
    customer: Option<&Customer>,
    now: DateTime<Utc>,
) -> Invoice {
    let reseller = t.kind == TenantKind::Reseller;
    let (issuer, payer, tax) = if reseller {
        let c = customer.expect("a reseller's invoices are per customer");
        (
            Issuer::Tenant {
                tenant_id: t.id.clone(),
            },
            customer_payer(c),
            c.billing.as_ref().and_then(|b| b.tax_rate_bps).unwrap_or(0),
        )
    } else {
        (
            Issuer::Platform,
            tenant_payer(t),
            t.billing.as_ref().and_then(|b| b.tax_rate_bps).unwrap_or(0),
        )
    };
    let customer_id = customer.map(|c| c.id.clone());
    let customer_name = customer.map(|c| c.company.name.clone());
    Invoice {
        id: InvoiceId::of(&t.id, period, currency, customer_id.as_ref()),
        tenant_id: t.id.clone(),
        status: InvoiceStatus::Draft,
        period: period.to_string(),
        currency: currency.to_owned(),
        issuer,
        payer,
        customer_id,
        customer_name,
        lines: Vec::new(),
        customers: 0,
        customers_subtotal: 0,
        tax_rate_bps: tax,
        number: None,
        review_ends_at: now + Duration::days(i64::from(t.review_days())),
        finalized_at: None,
        due_at: None,
        suspend_after_days: None,
        payments: Vec::new(),
        dunning: Vec::new(),
        suspended_payer: false,
        payer_suspended_at: None,
        credit_notes: Vec::new(),
        documents: Vec::new(),
        commission_rate_bps: None,
        created_at: now,
        updated_at: now,
    }
}

/// The item of an invoice (indexed for its customer when the customer pays it).
pub(crate) fn invoice_item(inv: &Invoice, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::invoice(&inv.tenant_id, &inv.id), to_data(inv)?);
    item.version = version;
    if let (PayerKind::Customer, Some(c)) = (inv.payer.kind, &inv.customer_id) {
        item = item.with_gsi1(keys::customer_invoice_index(&inv.tenant_id, c, &inv.id));
    }
    Ok(item)
}

/// The writes that add a new draft: the invoice, claimed only if absent, the end of its
/// review window as due work, and its audit event.
async fn claim(deps: &Deps, inv: &Invoice) -> Result<[WriteOp; 4], Error> {
    let mut owner = serde_json::Map::new();
    owner.insert("tenant_id".into(), inv.tenant_id.as_str().into());
    // A draft is the tenant's to review: it shows in no customer's history.
    let entry = Entry::new("invoice.drafted", Target::new("invoice", &inv.id))
        .value("status", inv.status)
        .value("period", &inv.period)
        .value("currency", &inv.currency);
    Ok([
        WriteOp::create(invoice_item(inv, 1)?),
        WriteOp::put(Item::new(keys::invoice_owner(&inv.id), owner)),
        due::schedule(
            Kind::Review,
            &inv.tenant_id,
            inv.id.as_str(),
            inv.review_ends_at,
        ),
        audit::op(deps, Log::Tenant(&inv.tenant_id), entry).await?,
    ])
}

/// One step of a tenant's run: claims the month if unclaimed, then bills the next
/// customers after the stored cursor in one transaction.
pub async fn step(
    deps: &Deps,
    cache: &mut Cache,
    tenant_id: &TenantId,
    period: Period,
) -> Result<Step, Error> {
    let now = deps.clock.now();
    let tenant = match cache.tenant.clone() {
        Some(t) => t,
        None => {
            let (t, _) = super::directory::load(deps, tenant_id).await?;
            cache.tenant = Some(t.clone());
            t
        }
    };
    let (state, version) = match state(deps, tenant_id, period).await? {
        Some(s) => s,
        None => {
            let fresh = RunState {
                period: period.to_string(),
                started_at: Some(now),
                ..RunState::default()
            };
            let claim = vec![
                WriteOp::create(Item::new(state_key(tenant_id, period), to_data(&fresh)?)),
                WriteOp::put(Item::marker(keys::period_closed(
                    tenant_id,
                    &period.to_string(),
                ))),
            ];
            match deps.store.transact(claim).await {
                Ok(()) | Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(Step::More { seen: 0 });
        }
    };
    if state.done {
        return Ok(Step::Done);
    }
    let pk = keys::subscribers_partition(tenant_id);
    let after = state.cursor.as_ref().map(|sk| Position {
        pk: pk.clone(),
        sk: sk.clone(),
        gsi1pk: None,
        gsi1sk: None,
    });
    let page = deps
        .store
        .query(Query::partition(pk, SortRange::All, STEP).after(after))
        .await?;
    let mut ops: Vec<WriteOp> = Vec::new();
    let mut next = state.clone();
    let mut consolidated: BTreeMap<String, (Invoice, Option<u64>)> = BTreeMap::new();
    let mode_consolidated =
        tenant.kind == TenantKind::Partner && tenant.invoice_mode == InvoiceMode::Consolidated;
    let mut stopped_early = false;
    let mut bytes = 0usize;
    // The page's customers are read at once (the store's latency, not its work, is what
    // a step waits for), then billed in order.
    let reads: Vec<_> = page
        .items
        .iter()
        .map(|entry| {
            read_customer(
                deps,
                tenant_id,
                CustomerId::from_record(entry.sk.clone()),
                period,
            )
        })
        .collect();
    let read: Vec<Result<Option<Facts>, Error>> = {
        use futures::StreamExt;
        futures::stream::iter(reads)
            .buffered(CONCURRENT_READS)
            .collect()
            .await
    };
    for (entry, facts) in page.items.iter().zip(read) {
        let customer_id = CustomerId::from_record(entry.sk.clone());
        // A customer whose bill cannot be made (a record that does not read) is set
        // aside in the run state, logged, and passed: it never stops the others.
        let billed = match facts {
            Ok(f) => bill_customer(deps, cache, tenant_id, &customer_id, period, f).await,
            Err(e) => Err(e),
        };
        let bills = match billed {
            Ok(b) => b,
            Err(Error::Unexpected(e)) => {
                tracing::error!(tenant = %tenant_id, customer = %customer_id, error = format!("{e:#}"), "a customer could not be billed; set aside");
                next.set_aside.push(customer_id.to_string());
                next.customers += 1;
                next.cursor = Some(entry.sk.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        // Room for this customer's writes (three per bill), a consolidated invoice per
        // new currency with its owner, due entry and audit event, those already in, and
        // the run state; and for their size (a transaction carries at most 4 MB).
        let new_headers = bills
            .iter()
            .filter(|b| !consolidated.contains_key(&b.currency))
            .count();
        // A per-customer draft is announced as it is written (its event's two writes,
        // with its audit event); consolidated ones when the run ends, so room is kept
        // for theirs.
        let adds = if mode_consolidated { 1 } else { 6 } * bills.len();
        let announce = if mode_consolidated {
            2 * (next.currencies.len() + new_headers)
        } else {
            0
        };
        let size: usize = bills
            .iter()
            .map(|b| serde_json::to_vec(&b.lines).map_or(0, |v| v.len()) + 2048)
            .sum();
        if ops.len() + adds + announce + (consolidated.len() + new_headers) * 4 + 1 > MAX_OPS
            || bytes + size > MAX_STEP_BYTES
        {
            stopped_early = true;
            break;
        }
        bytes += size;
        for bill in bills {
            if mode_consolidated {
                if !consolidated.contains_key(&bill.currency) {
                    let id = InvoiceId::of(tenant_id, period, &bill.currency, None);
                    let pair = match deps.store.get(&keys::invoice(tenant_id, &id)).await? {
                        Some(item) => (from_item::<Invoice>(&item)?, Some(item.version)),
                        None => {
                            if !next.currencies.contains(&bill.currency) {
                                next.currencies.push(bill.currency.clone());
                            }
                            (
                                new_invoice(&tenant, period, &bill.currency, None, now),
                                None,
                            )
                        }
                    };
                    consolidated.insert(bill.currency.clone(), pair);
                }
                let (inv, _) = consolidated
                    .get_mut(&bill.currency)
                    .expect("inserted above");
                let group = CustomerLines::new(
                    customer_id.clone(),
                    bill.customer.company.name.clone(),
                    bill.lines,
                );
                inv.customers += 1;
                inv.customers_subtotal += group.subtotal;
                inv.updated_at = now;
                ops.push(WriteOp::create(Item::new(
                    keys::invoice_lines(tenant_id, &inv.id, &customer_id),
                    to_data(&group)?,
                )));
            } else {
                let mut inv =
                    new_invoice(&tenant, period, &bill.currency, Some(&bill.customer), now);
                inv.lines = bill.lines;
                ops.extend(claim(deps, &inv).await?);
                ops.extend(events::emit(
                    tenant_id,
                    EventType::InvoiceDrafted,
                    &inv.summary(now, 1),
                    now,
                )?);
            }
            next.billed += 1;
        }
        next.customers += 1;
        next.cursor = Some(entry.sk.clone());
    }
    for (inv, was) in consolidated.values() {
        match was {
            Some(v) => ops.push(WriteOp::Put {
                item: invoice_item(inv, v + 1)?,
                condition: Condition::VersionIs(*v),
            }),
            None => ops.extend(claim(deps, inv).await?),
        }
    }
    if stopped_early && next.cursor == state.cursor {
        // Not even one customer fits a transaction: stop rather than loop.
        return Err(Error::Unexpected(anyhow::anyhow!(
            "the next customer of {tenant_id}'s run for {period} does not fit one transaction"
        )));
    }
    if page.next.is_none() && !stopped_early {
        next.done = true;
        next.finished_at = Some(now);
        // The consolidated drafts are complete: each is announced, as this step leaves it.
        for currency in &next.currencies {
            let summary = match consolidated.get(currency) {
                Some((inv, was)) => inv.summary(now, was.map_or(1, |v| v + 1)),
                None => {
                    let id = InvoiceId::of(tenant_id, period, currency, None);
                    match deps.store.get(&keys::invoice(tenant_id, &id)).await? {
                        Some(item) => from_item::<Invoice>(&item)?.summary(now, item.version),
                        None => continue,
                    }
                }
            };
            ops.extend(events::emit(
                tenant_id,
                EventType::InvoiceDrafted,
                &summary,
                now,
            )?);
        }
    }
    let mut item = Item::new(state_key(tenant_id, period), to_data(&next)?);
    item.version = version + 1;
    ops.push(WriteOp::Put {
        item,
        condition: Condition::VersionIs(version),
    });
    match deps.store.transact(ops).await {
        Ok(()) => Ok(if next.done {
            Step::Done
        } else {
            Step::More { seen: version }
        }),
        // Another worker moved the run on meanwhile: go on from where it stands.
        Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {
            Ok(Step::More { seen: version })
        }
        Err(e) => Err(e.into()),
    }
}

/// The origin of the run's work: its audit events name the job.
fn run_origin(deps: &Deps) -> Deps {
    deps.acting(audit::job_origin("invoice-run"))
}

/// Runs one tenant's month to its end, step after step.
pub async fn run_tenant(deps: &Deps, tenant_id: &TenantId, period: Period) -> Result<(), Error> {
    let deps = &run_origin(deps);
    let mut cache = Cache::default();
    // A step that loses a race makes no progress; that many in a row means something
    // else is wrong.
    let mut stalled = 0;
    let mut last = None;
    loop {
        match step(deps, &mut cache, tenant_id, period).await? {
            Step::Done => return Ok(()),
            Step::More { seen } => {
                if last == Some(seen) {
                    stalled += 1;
                    if stalled > 20 {
                        return Err(Error::Unexpected(anyhow::anyhow!(
                            "the invoice run of {tenant_id} for {period} makes no progress"
                        )));
                    }
                } else {
                    stalled = 0;
                }
                last = Some(seen);
            }
        }
    }
}

/// What a whole run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunReport {
    pub period: String,
    pub tenants: u64,
    pub failed: Vec<String>,
    /// The tenants were handed out as messages (AWS) rather than billed here.
    pub queued: bool,
}

/// The month for every tenant, `workers` tenants at a time (the local worker pool; in
/// AWS the planner sends one message per tenant instead). A tenant that fails is
/// reported and left to the next run; the others are billed.
pub async fn run_all(deps: &Deps, period: Period, workers: usize) -> Result<RunReport, Error> {
    use futures::StreamExt;
    let mut dir = super::directory::Directory::default();
    let mut tenants = Vec::new();
    while let Some(t) = dir.next(deps).await? {
        tenants.push(t);
    }
    let results: Vec<(TenantId, Result<(), Error>)> = futures::stream::iter(tenants)
        .map(|t| async move {
            let r = run_tenant(deps, &t, period).await;
            (t, r)
        })
        .buffer_unordered(workers.max(1))
        .collect()
        .await;
    let mut report = RunReport {
        period: period.to_string(),
        ..RunReport::default()
    };
    for (t, r) in results {
        report.tenants += 1;
        if let Err(e) = r {
            tracing::error!(tenant = %t, error = %e, "the invoice run failed for a tenant");
            report.failed.push(t.to_string());
        }
    }
    Ok(report)
}

/// The message that hands one tenant's month to a worker (AWS: one SQS message). A
/// worker that runs out of time hands the rest on in a new one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMessage {
    pub tenant_id: String,
    pub period: String,
    /// The run state's version the last step of the message before started from, and
    /// how many steps in a row (across messages) started from the same one: a chain
    /// that makes no progress stops instead of running for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stalls: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RunMessage {
    pub fn new(tenant_id: &TenantId, period: Period) -> Self {
        Self {
            tenant_id: tenant_id.to_string(),
            period: period.to_string(),
            seen: None,
            stalls: 0,
        }
    }

    /// A message's text, read: its JSON, a tenant id and a month, or why not.
    pub fn read(body: &str) -> Result<(Self, TenantId, Period), String> {
        let m: Self = serde_json::from_str(body).map_err(|e| format!("not a run message: {e}"))?;
        let tenant = TenantId::parse(&m.tenant_id)
            .map_err(|_| format!("tenant_id {:?} is not a tenant id", m.tenant_id))?;
        let period = Period::parse(&m.period).map_err(|e| format!("period: {e}"))?;
        Ok((m, tenant, period))
    }

    fn text(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::Unexpected(e.into()))
    }
}

/// Steps in a row (across a chain of messages) that start from the same run state
/// before the chain stops.
const MAX_STALLS: u32 = 20;

/// Tenants' messages sent together: SQS takes ten per request.
const PLAN_BATCH: usize = 10;

fn queue_failed(e: crate::ports::QueueError) -> Error {
    Error::Unexpected(anyhow::Error::new(e))
}

/// Hands the month out: one message per tenant of the directory, sent ten at a time as
/// the directory is read. Answers the number of tenants. A planner cut off half-way is
/// simply run again: a tenant sent twice is billed once (its steps resume from its
/// stored cursor, and a finished tenant's message costs two reads: the tenant and its
/// run state).
pub async fn plan(
    deps: &Deps,
    queue: &dyn crate::ports::WorkQueue,
    period: Period,
) -> Result<u64, Error> {
    hand_out(deps, queue, period, false).await
}

/// Sends again every tenant whose run of `period` is not done (one read of its run
/// state each); answers how many.
pub async fn replan_unfinished(
    deps: &Deps,
    queue: &dyn crate::ports::WorkQueue,
    period: Period,
) -> Result<u64, Error> {
    hand_out(deps, queue, period, true).await
}

/// One message per tenant of the directory (only those whose run is not done, with
/// `unfinished_only`), sent ten at a time as the directory is read.
async fn hand_out(
    deps: &Deps,
    queue: &dyn crate::ports::WorkQueue,
    period: Period,
    unfinished_only: bool,
) -> Result<u64, Error> {
    let mut dir = super::directory::Directory::default();
    let mut batch = Vec::with_capacity(PLAN_BATCH);
    let mut tenants = 0u64;
    while let Some(t) = dir.next(deps).await? {
        if unfinished_only && state(deps, &t, period).await?.is_some_and(|(s, _)| s.done) {
            continue;
        }
        batch.push(RunMessage::new(&t, period).text()?);
        tenants += 1;
        if batch.len() == PLAN_BATCH {
            queue.send(&batch).await.map_err(queue_failed)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        queue.send(&batch).await.map_err(queue_failed)?;
    }
    Ok(tenants)
}

/// What a worker did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worked {
    /// The tenant's month is billed.
    Done,
    /// Time ran out: the rest is in a new message.
    Continued,
    /// Nothing to bill: the tenant no longer exists.
    Gone,
}

/// A worker's share of one message: steps of the tenant's month, at least one, until
/// it is done or `until` has passed; then the rest goes on in a new message. Errors of
/// the store are the caller's to retry (the message is received again and resumes from
/// the stored cursor).
pub async fn work(
    deps: &Deps,
    queue: &dyn crate::ports::WorkQueue,
    message: &RunMessage,
    tenant_id: &TenantId,
    period: Period,
    until: std::time::Instant,
) -> Result<Worked, Error> {
    let deps = &run_origin(deps);
    let mut cache = Cache::default();
    let (mut last, mut stalls) = (message.seen, message.stalls);
    loop {
        let seen = match step(deps, &mut cache, tenant_id, period).await {
            Ok(Step::Done) => return Ok(Worked::Done),
            Ok(Step::More { seen }) => seen,
            Err(Error::NotFound("tenant")) => {
                tracing::warn!(tenant = %tenant_id, %period, "a run message names a tenant that is not stored; dropped");
                return Ok(Worked::Gone);
            }
            Err(e) => return Err(e),
        };
        if last == Some(seen) {
            stalls += 1;
            if stalls > MAX_STALLS {
                return Err(Error::Unexpected(anyhow::anyhow!(
                    "the invoice run of {tenant_id} for {period} makes no progress"
                )));
            }
        } else {
            stalls = 0;
        }
        last = Some(seen);
        if std::time::Instant::now() >= until {
            let next = RunMessage {
                seen: last,
                stalls,
                ..message.clone()
            };
            queue.send(&[next.text()?]).await.map_err(queue_failed)?;
            return Ok(Worked::Continued);
        }
    }
}
