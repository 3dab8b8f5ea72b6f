//! Usage: events from a tenant's systems, each counted once, aggregated per customer and
//! period in one item; what it costs so far; the limits a customer's admin sets.
//!
//! Cost. An accepted event is one write: its marker (`T#<tenant>#UE#<shard>`, keyed by
//! the hash of its id). Markers are read first (batch gets), so an id counted before is
//! a duplicate without a write; one counted concurrently fails its marker's condition.
//! The aggregates the events change are written in the same transactions, once per
//! customer and month per transaction; events are grouped by customer and month first,
//! so a batch of N events for K customers writes about N + N/99 + K items. Reading a
//! period is one item per customer (`USAGE#<period>`), whatever the number of events.
//!
//! Audit. A batch that counts anything writes one `usage.reported` event, in its first
//! transaction that lands: what the batch brought to count (events, customers, metrics);
//! the answer tells what was accepted in the end.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit::{self, Entry, Log};
use super::{catalog, from_item, to_data};
use crate::Deps;
use crate::access::{CustomerScope, TenantScope};
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::billing::{Aggregation, MAX_QUANTITY, Metric, Period, charge};
use crate::model::customer::{Customer, CustomerStatus};
use crate::model::ids::{CustomerId, TenantId};
use crate::model::subscription::Subscription;
use crate::ports::{Condition, Item, Key, StoreError, WriteOp};
use crate::store::keys;

/// The most events one call may carry.
pub const MAX_EVENTS: usize = 1000;
/// How far in the future an event's timestamp may be (clocks drift).
const FUTURE_TOLERANCE_SECONDS: i64 = 300;
/// How long an event's id is remembered after its period (it is also the record of it).
const EVENT_RETENTION_DAYS: i64 = 400;
/// The oldest event taken (well inside the retention, so its id is still remembered).
const MAX_AGE_DAYS: i64 = 365;
/// The most a metric may total in one customer's month: with prices at most
/// `MAX_AMOUNT`, no charge can overflow.
const MAX_TOTAL: u64 = MAX_QUANTITY;
const MAX_TX: usize = crate::ports::MAX_TRANSACTION_ACTIONS;
/// Rounds of retry when other calls keep changing the same aggregates.
const MAX_ROUNDS: usize = 50;

/// One metric's aggregate over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    pub sum: u64,
    pub count: u64,
    pub max: u64,
}

impl Aggregate {
    pub fn value(&self, a: Aggregation) -> u64 {
        match a {
            Aggregation::Sum => self.sum,
            Aggregation::Count => self.count,
            Aggregation::Max => self.max,
        }
    }

    fn with(self, v: u64) -> Self {
        Self {
            sum: self.sum.saturating_add(v),
            count: self.count + 1,
            max: self.max.max(v),
        }
    }
}

/// A customer's usage in one period: every metric's aggregate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodUsage {
    pub metrics: BTreeMap<String, Aggregate>,
    /// How each metric aggregates (kept here so the period's values read from this item
    /// alone).
    #[serde(default)]
    pub aggregations: BTreeMap<String, Aggregation>,
}

impl PeriodUsage {
    /// A metric's value in the period (0 without events).
    pub fn value_of(&self, metric: &str) -> u64 {
        let a = self
            .aggregations
            .get(metric)
            .copied()
            .unwrap_or(Aggregation::Sum);
        self.metrics.get(metric).map_or(0, |x| x.value(a))
    }
}

/// The limits a customer's admin set for its own company (at most the plan's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageLimits {
    /// Per metric: at most this value per period.
    #[serde(default)]
    pub limits: BTreeMap<String, u64>,
}

/// `POST /v1/usage`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    /// 1 to 1,000 events; each is checked on its own.
    #[schema(value_type = Vec<UsageEvent>, min_items = 1, max_items = 1000)]
    pub events: Vec<Value>,
}

/// One usage event.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageEvent {
    /// The caller's id for the event: it is counted once, however often it is sent.
    #[schema(min_length = 1, max_length = 200, example = "evt-2026-12-01-000017")]
    pub id: String,
    /// The customer (or name it by `external_id`).
    pub customer_id: Option<String>,
    pub external_id: Option<String>,
    #[schema(example = "ai_operations")]
    pub metric: String,
    /// A whole number of the metric's unit.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub value: u64,
    /// When it happened (RFC 3339): it counts in that month (UTC).
    #[schema(example = "2026-12-01T10:15:00Z")]
    pub timestamp: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Accepted,
    /// Its id was counted before (by this call or an earlier one): nothing changed.
    Duplicate,
    Rejected,
}

/// What happened to one event.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventResult {
    pub id: Option<String>,
    pub status: EventStatus,
    /// Why it was rejected: `invalid`, `unknown-customer`, `customer-deleted`,
    /// `unknown-metric`, `future-timestamp`, `period-closed`, `limit-reached`,
    /// `id-reused`, `busy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// With `limit-reached`: the limit it would pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// The answer to `POST /v1/usage`: one result per event, in order.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub accepted: u32,
    pub duplicates: u32,
    pub rejected: u32,
    pub results: Vec<EventResult>,
}

fn rejected(id: Option<String>, reason: &'static str, detail: impl Into<String>) -> EventResult {
    EventResult {
        id,
        status: EventStatus::Rejected,
        reason: Some(reason),
        detail: Some(detail.into()),
        limit: None,
    }
}

fn duplicate(id: &str) -> EventResult {
    EventResult {
        id: Some(id.to_owned()),
        status: EventStatus::Duplicate,
        reason: None,
        detail: None,
        limit: None,
    }
}

/// An event that passed its own checks.
struct Candidate {
    at: usize,
    id: String,
    id_hash: String,
    customer: CustomerRef,
    metric: String,
    value: u64,
    timestamp: DateTime<Utc>,
}

enum CustomerRef {
    Id(CustomerId),
    External(String),
}

fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Items of `keys`, by key, in batches the store takes.
async fn read_all(deps: &Deps, keys: Vec<Key>) -> Result<HashMap<Key, Item>, Error> {
    let mut out = HashMap::new();
    let mut unique: Vec<Key> = keys;
    unique.sort();
    unique.dedup();
    for chunk in unique.chunks(crate::ports::MAX_BATCH_GET) {
        for item in deps.store.get_many(chunk).await? {
            out.insert(item.key(), item);
        }
    }
    Ok(out)
}

/// The limit on `metric` for a customer on `day`: its plan's (from the segment in force)
/// and its admin's own, the lower of the two.
pub(crate) fn limit_of(
    sub: Option<&Subscription>,
    own: Option<&UsageLimits>,
    metric: &str,
    day: NaiveDate,
) -> Option<u64> {
    let plan = sub
        .and_then(|s| s.segment_on(day))
        .and_then(|seg| seg.entitlements.limits.get(metric).copied());
    crate::model::billing::lower(plan, own.and_then(|l| l.limits.get(metric).copied()))
}

/// `POST /v1/usage`: records a batch of events; one result per event.
pub async fn report(
    deps: &Deps,
    scope: &TenantScope,
    batch: &UsageBatch,
) -> Result<UsageReport, Error> {
    let tenant_id = scope.tenant_id();
    if batch.events.is_empty() || batch.events.len() > MAX_EVENTS {
        return Err(Error::invalid(
            "events",
            format!("must hold 1 to {MAX_EVENTS} events; send more in further calls"),
        ));
    }
    let now = deps.clock.now();
    let metrics: HashMap<String, Metric> = catalog::metrics(deps)
        .await?
        .into_iter()
        .map(|m| (m.code.clone(), m))
        .collect();
    let mut results: Vec<Option<EventResult>> = vec![None; batch.events.len()];
    let mut candidates = Vec::new();
    let mut seen = HashSet::new();
    for (at, raw) in batch.events.iter().enumerate() {
        let id = raw.get("id").and_then(Value::as_str).map(str::to_owned);
        let e: UsageEvent = match serde_json::from_value(raw.clone()) {
            Ok(e) => e,
            Err(err) => {
                let message = err.to_string();
                let detail = message.split(" at line").next().unwrap_or(&message);
                results[at] = Some(rejected(id, "invalid", format!("events[{at}]: {detail}")));
                continue;
            }
        };
        let reject = |reason, detail: String| Some(rejected(Some(e.id.clone()), reason, detail));
        if e.id.is_empty() || e.id.len() > 200 || e.id.chars().any(char::is_control) {
            results[at] = reject("invalid", "id must be 1 to 200 characters".into());
            continue;
        }
        let customer = match (&e.customer_id, &e.external_id) {
            (Some(c), None) => match CustomerId::parse(c) {
                Ok(c) => CustomerRef::Id(c),
                Err(_) => {
                    results[at] = reject("unknown-customer", "no such customer".into());
                    continue;
                }
            },
            (None, Some(x)) if crate::model::customer::external_id(x).is_ok() => {
                CustomerRef::External(x.clone())
            }
            (None, Some(_)) => {
                results[at] = reject(
                    "unknown-customer",
                    "no customer has this external_id".into(),
                );
                continue;
            }
            _ => {
                results[at] = reject(
                    "invalid",
                    "name the customer by customer_id or by external_id (one of them)".into(),
                );
                continue;
            }
        };
        if !metrics.contains_key(&e.metric) {
            results[at] = reject(
                "unknown-metric",
                format!("{} is not a billable metric", e.metric),
            );
            continue;
        }
        if e.value > MAX_QUANTITY {
            results[at] = reject("invalid", format!("value must be at most {MAX_QUANTITY}"));
            continue;
        }
        let Ok(timestamp) = DateTime::parse_from_rfc3339(&e.timestamp) else {
            results[at] = reject(
                "invalid",
                "timestamp must be RFC 3339, e.g. 2026-12-01T10:15:00Z".into(),
            );
            continue;
        };
        let timestamp = timestamp.with_timezone(&Utc);
        if timestamp > now + Duration::seconds(FUTURE_TOLERANCE_SECONDS) {
            results[at] = reject(
                "future-timestamp",
                "the event's time is in the future".into(),
            );
            continue;
        }
        // Its id is remembered for 400 days after its month: older events could not be
        // counted once.
        if timestamp < now - Duration::days(MAX_AGE_DAYS) {
            results[at] = reject(
                "invalid",
                format!("timestamp must be within the last {MAX_AGE_DAYS} days"),
            );
            continue;
        }
        if !seen.insert(e.id.clone()) {
            results[at] = Some(EventResult {
                detail: Some("the same id came earlier in this call".into()),
                ..duplicate(&e.id)
            });
            continue;
        }
        candidates.push(Candidate {
            at,
            id_hash: id_hash(&e.id),
            id: e.id,
            customer,
            metric: e.metric,
            value: e.value,
            timestamp,
        });
    }

    // Who the events are for: external ids first, then the customers themselves.
    let externals = read_all(
        deps,
        candidates
            .iter()
            .filter_map(|c| match &c.customer {
                CustomerRef::External(x) => Some(keys::external_id_marker(tenant_id, x)),
                CustomerRef::Id(_) => None,
            })
            .collect(),
    )
    .await?;
    let mut resolved: Vec<(Candidate, CustomerId)> = Vec::new();
    for c in candidates {
        let id = match &c.customer {
            CustomerRef::Id(id) => Some(id.clone()),
            CustomerRef::External(x) => externals
                .get(&keys::external_id_marker(tenant_id, x))
                .and_then(|i| i.data.get("customer_id"))
                .and_then(Value::as_str)
                .map(CustomerId::from_record),
        };
        match id {
            Some(id) => resolved.push((c, id)),
            None => {
                results[c.at] = Some(rejected(Some(c.id), "unknown-customer", "no such customer"))
            }
        }
    }
    let customer_ids: Vec<CustomerId> = {
        let mut v: Vec<_> = resolved.iter().map(|(_, c)| c.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let mut wanted = Vec::new();
    for c in &customer_ids {
        wanted.push(keys::customer(tenant_id, c));
        wanted.push(keys::subscription(tenant_id, c));
        wanted.push(keys::usage_limits(tenant_id, c));
    }
    let mut periods: Vec<(CustomerId, String)> = resolved
        .iter()
        .map(|(c, id)| (id.clone(), Period::of(c.timestamp.date_naive()).to_string()))
        .collect();
    periods.sort();
    periods.dedup();
    for (c, p) in &periods {
        wanted.push(keys::usage(tenant_id, c, p));
        wanted.push(keys::period_closed(tenant_id, p));
    }
    let found = read_all(deps, wanted).await?;
    let customers: HashMap<CustomerId, Customer> = customer_ids
        .iter()
        .filter_map(|c| found.get(&keys::customer(tenant_id, c)).map(|i| (c, i)))
        .map(|(c, i)| Ok((c.clone(), from_item::<Customer>(i)?)))
        .collect::<Result<_, Error>>()?;
    let subs: HashMap<CustomerId, Subscription> = customer_ids
        .iter()
        .filter_map(|c| found.get(&keys::subscription(tenant_id, c)).map(|i| (c, i)))
        .map(|(c, i)| Ok((c.clone(), from_item::<Subscription>(i)?)))
        .collect::<Result<_, Error>>()?;
    let own: HashMap<CustomerId, UsageLimits> = customer_ids
        .iter()
        .filter_map(|c| found.get(&keys::usage_limits(tenant_id, c)).map(|i| (c, i)))
        .map(|(c, i)| Ok((c.clone(), from_item::<UsageLimits>(i)?)))
        .collect::<Result<_, Error>>()?;

    let mut pending = Vec::new();
    for (c, customer_id) in resolved {
        let period = Period::of(c.timestamp.date_naive()).to_string();
        let result = match customers.get(&customer_id) {
            None => Some(rejected(
                Some(c.id.clone()),
                "unknown-customer",
                "no such customer",
            )),
            Some(x) if x.status == CustomerStatus::Deleted => Some(rejected(
                Some(c.id.clone()),
                "customer-deleted",
                "the customer is deleted",
            )),
            Some(_) if found.contains_key(&keys::period_closed(tenant_id, &period)) => {
                Some(rejected(
                    Some(c.id.clone()),
                    "period-closed",
                    format!("the invoices of {period} are final"),
                ))
            }
            Some(_) => None,
        };
        match result {
            Some(r) => results[c.at] = Some(r),
            None => pending.push((c, customer_id, period)),
        }
    }
    // Ids counted by an earlier call are duplicates: found by reading their markers, so
    // a resent batch costs reads, not refused writes. (One counted concurrently is told
    // by its marker's condition below.)
    let counted = read_all(
        deps,
        pending
            .iter()
            .map(|(c, _, _)| keys::usage_event(tenant_id, &c.id_hash))
            .collect(),
    )
    .await?;
    pending.retain(|(c, customer_id, _)| {
        let Some(marker) = counted.get(&keys::usage_event(tenant_id, &c.id_hash)) else {
            return true;
        };
        // The same id for another event (another customer, metric, value or time) is the
        // caller's mistake, not a resend: say so rather than drop it quietly.
        let same = marker.data.get("customer_id") == Some(&serde_json::json!(customer_id))
            && marker.data.get("metric") == Some(&Value::String(c.metric.clone()))
            && marker.data.get("value") == Some(&serde_json::json!(c.value))
            && marker
                .data
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t == c.timestamp);
        results[c.at] = Some(if same {
            duplicate(&c.id)
        } else {
            rejected(
                Some(c.id.clone()),
                "id-reused",
                "this id was counted for another event (customer, metric, value or time); ids are unique in the tenant",
            )
        });
        false
    });
    // One customer's events of one month together (in their order): each transaction
    // then carries few aggregates, so a batch writes close to one item per event.
    pending.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));

    // The aggregates as stored (and their versions), changed as events are taken.
    let mut stored: Stored = HashMap::new();
    keep(tenant_id, &periods, &found, &mut stored)?;
    let mut reported = Some(reported_entry(tenant_id, &pending));
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        let mut working: HashMap<(CustomerId, String), PeriodUsage> = HashMap::new();
        let mut taken = Vec::new();
        let mut left = Vec::new();
        // Refusals are final only once this round's writes hold: they were decided
        // against aggregates that include the round's own events, some of which may turn
        // out to be duplicates.
        let mut refused: Vec<(Candidate, CustomerId, String, EventResult)> = Vec::new();
        for (c, customer_id, period) in pending {
            let key = (customer_id.clone(), period.clone());
            let writes = taken.len() + working.len() + usize::from(!working.contains_key(&key));
            // The batch's audit event rides in its first write.
            if writes + 1 + usize::from(reported.is_some()) > MAX_TX {
                left.push((c, customer_id, period));
                continue;
            }
            let usage = working
                .entry(key.clone())
                .or_insert_with(|| stored[&key].0.clone());
            let agg = usage.metrics.get(&c.metric).copied().unwrap_or_default();
            let next = agg.with(c.value);
            let aggregation = metrics[&c.metric].aggregation;
            let limit = limit_of(
                subs.get(&customer_id),
                own.get(&customer_id),
                &c.metric,
                c.timestamp.date_naive(),
            );
            let refusal = if next.sum > MAX_TOTAL {
                Some(rejected(
                    Some(c.id.clone()),
                    "invalid",
                    format!("{} would total over {MAX_TOTAL} in {period}", c.metric),
                ))
            } else {
                match limit {
                    Some(limit) if next.value(aggregation) > limit => Some(EventResult {
                        limit: Some(limit),
                        ..rejected(
                            Some(c.id.clone()),
                            "limit-reached",
                            format!("{} would pass its limit of {limit} for {period}", c.metric),
                        )
                    }),
                    _ => None,
                }
            };
            if let Some(r) = refusal {
                if usage.metrics.is_empty() && stored[&key].1.is_none() {
                    working.remove(&key);
                }
                refused.push((c, customer_id, period, r));
                continue;
            }
            usage.metrics.insert(c.metric.clone(), next);
            usage.aggregations.insert(c.metric.clone(), aggregation);
            taken.push((c, customer_id, period));
        }
        if taken.is_empty() {
            // Decided against the aggregates as stored: final.
            for (c, _, _, r) in refused {
                results[c.at] = Some(r);
            }
            pending = left;
            continue;
        }
        let mut ops = Vec::with_capacity(taken.len() + working.len());
        for (c, customer_id, period) in &taken {
            let mut data = serde_json::Map::new();
            data.insert("id".into(), Value::String(c.id.clone()));
            data.insert("customer_id".into(), serde_json::json!(customer_id));
            data.insert("metric".into(), Value::String(c.metric.clone()));
            data.insert("value".into(), serde_json::json!(c.value));
            data.insert("timestamp".into(), serde_json::json!(c.timestamp));
            let mut item = Item::new(keys::usage_event(tenant_id, &c.id_hash), data);
            let end = Period::parse(period)
                .map(Period::end)
                .unwrap_or_else(|_| c.timestamp.date_naive());
            item.expires_at = end
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp() + EVENT_RETENTION_DAYS * 86_400);
            ops.push(WriteOp::create(item));
        }
        let keys_written: Vec<(CustomerId, String)> = working.keys().cloned().collect();
        for key in &keys_written {
            let (_, version) = &stored[key];
            let mut item = Item::new(
                keys::usage(tenant_id, &key.0, &key.1),
                to_data(&working[key])?,
            );
            ops.push(match version {
                Some(v) => {
                    item.version = v + 1;
                    WriteOp::Put {
                        item,
                        condition: Condition::VersionIs(*v),
                    }
                }
                None => WriteOp::create(item),
            });
        }
        if let Some(entry) = &reported {
            ops.push(audit::op(deps, Log::Tenant(tenant_id), entry.clone()).await?);
        }
        match deps.store.transact(ops).await {
            Ok(()) => {
                reported = None;
                for key in keys_written {
                    let v = stored[&key].1.map_or(1, |v| v + 1);
                    let usage = working.remove(&key).unwrap_or_default();
                    stored.insert(key, (usage, Some(v)));
                }
                for (c, _, _, r) in refused {
                    results[c.at] = Some(r);
                }
                for (c, _, _) in taken {
                    results[c.at] = Some(EventResult {
                        id: Some(c.id),
                        status: EventStatus::Accepted,
                        reason: None,
                        detail: None,
                        limit: None,
                    });
                }
                pending = left;
            }
            Err(StoreError::TransactionCanceled { failed })
                if failed.iter().any(|i| *i < taken.len()) =>
            {
                // Ids counted before (by an earlier or a concurrent call): duplicates.
                // The rest go again, over fresh aggregates.
                let mut again = Vec::new();
                for (i, t) in taken.into_iter().enumerate() {
                    if failed.contains(&i) {
                        results[t.0.at] = Some(duplicate(&t.0.id));
                    } else {
                        again.push(t);
                    }
                }
                again.extend(left);
                again.extend(refused.into_iter().map(|(c, id, p, _)| (c, id, p)));
                again.sort_by(|a, b| (&a.1, &a.2, a.0.at).cmp(&(&b.1, &b.2, b.0.at)));
                pending = again;
                reload(deps, tenant_id, &keys_written, &mut stored).await?;
            }
            Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {
                // Another call changed the same aggregates: read them again and retry.
                let mut again = taken;
                again.extend(left);
                again.extend(refused.into_iter().map(|(c, id, p, _)| (c, id, p)));
                again.sort_by(|a, b| (&a.1, &a.2, a.0.at).cmp(&(&b.1, &b.2, b.0.at)));
                pending = again;
                reload(deps, tenant_id, &keys_written, &mut stored).await?;
                let pause = rand::random::<u64>() % (5 * rounds.min(20) as u64 + 1);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            Err(e) => return Err(e.into()),
        }
        if rounds >= MAX_ROUNDS && !pending.is_empty() {
            for (c, _, _) in pending.drain(..) {
                results[c.at] = Some(rejected(
                    Some(c.id),
                    "busy",
                    "other calls kept changing the same aggregates; send it again (it is counted once)",
                ));
            }
        }
    }
    let results: Vec<EventResult> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| rejected(None, "invalid", "not processed")))
        .collect();
    let count = |s: EventStatus| results.iter().filter(|r| r.status == s).count() as u32;
    Ok(UsageReport {
        accepted: count(EventStatus::Accepted),
        duplicates: count(EventStatus::Duplicate),
        rejected: count(EventStatus::Rejected),
        results,
    })
}

/// The audit entry of a batch, from the events it brings to count (new ids): how many,
/// for which customers, of which metrics.
fn reported_entry(tenant_id: &TenantId, pending: &[(Candidate, CustomerId, String)]) -> Entry {
    let mut customers: Vec<&CustomerId> = pending.iter().map(|(_, c, _)| c).collect();
    customers.sort();
    customers.dedup();
    let mut metrics: Vec<&str> = pending.iter().map(|(c, _, _)| c.metric.as_str()).collect();
    metrics.sort();
    metrics.dedup();
    let mut entry = Entry::new("usage.reported", Target::new("tenant", tenant_id))
        .value("events", pending.len())
        .value("customers", &customers)
        .value("metrics", &metrics);
    if let [only] = customers.as_slice() {
        entry = entry.customer(only);
    }
    entry
}

/// Each (customer, month)'s aggregate as stored, and its item's version (none: not yet).
type Stored = HashMap<(CustomerId, String), (PeriodUsage, Option<u64>)>;

/// Records in `stored` the aggregates of `which` among the items `found`.
fn keep(
    tenant_id: &TenantId,
    which: &[(CustomerId, String)],
    found: &HashMap<Key, Item>,
    stored: &mut Stored,
) -> Result<(), Error> {
    for (c, p) in which {
        let entry = match found.get(&keys::usage(tenant_id, c, p)) {
            Some(i) => (from_item::<PeriodUsage>(i)?, Some(i.version)),
            None => (PeriodUsage::default(), None),
        };
        stored.insert((c.clone(), p.clone()), entry);
    }
    Ok(())
}

/// Reads the aggregates of `which` again (another call changed them).
async fn reload(
    deps: &Deps,
    tenant_id: &TenantId,
    which: &[(CustomerId, String)],
    stored: &mut Stored,
) -> Result<(), Error> {
    let found = read_all(
        deps,
        which
            .iter()
            .map(|(c, p)| keys::usage(tenant_id, c, p))
            .collect(),
    )
    .await?;
    keep(tenant_id, which, &found, stored)
}

/// One metric in a customer's period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MetricUsage {
    pub metric: String,
    pub aggregation: Aggregation,
    /// The period's value so far.
    pub value: u64,
    /// The lower of the plan's limit and the customer's own, if any.
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// What the value costs so far on the plan in force, in minor units of `currency`.
    pub charge: Option<i64>,
}

/// A customer's usage in one period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    pub customer_id: CustomerId,
    /// `YYYY-MM`.
    pub period: String,
    /// The plan whose prices and limits apply (the one in force at the period's last day
    /// so far), if the customer has a subscription.
    pub plan: Option<String>,
    pub currency: Option<String>,
    pub metrics: Vec<MetricUsage>,
}

fn period_or_now(deps: &Deps, raw: Option<&str>) -> Result<Period, Error> {
    match raw {
        None => Ok(Period::of(deps.clock.now().date_naive())),
        Some(r) => Period::parse(r).map_err(|d| Error::invalid("period", d)),
    }
}

/// A customer's usage in `period` (this month when none), with its charges so far.
pub async fn of_customer(
    deps: &Deps,
    tenant: Option<&TenantScope>,
    scope: &CustomerScope,
    period: Option<&str>,
) -> Result<UsageView, Error> {
    let period = period_or_now(deps, period)?;
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let found = read_all(
        deps,
        vec![
            keys::customer(tenant_id, customer_id),
            keys::subscription(tenant_id, customer_id),
            keys::usage_limits(tenant_id, customer_id),
            keys::usage(tenant_id, customer_id, &period.to_string()),
        ],
    )
    .await?;
    if !found.contains_key(&keys::customer(tenant_id, customer_id)) {
        return Err(Error::NotFound("customer"));
    }
    let get = |k: Key| found.get(&k);
    let sub: Option<Subscription> = get(keys::subscription(tenant_id, customer_id))
        .map(from_item)
        .transpose()?;
    let own: Option<UsageLimits> = get(keys::usage_limits(tenant_id, customer_id))
        .map(from_item)
        .transpose()?;
    let usage: PeriodUsage = get(keys::usage(tenant_id, customer_id, &period.to_string()))
        .map(from_item)
        .transpose()?
        .unwrap_or_default();
    let today = deps.clock.now().date_naive();
    let day = today.min(period.end() - Duration::days(1));
    let segment = sub.as_ref().and_then(|s| s.segment_on(day));
    let plan = match segment {
        Some(seg) => {
            let p = catalog::plan_version(deps, &seg.plan, seg.plan_version).await?;
            let scope = match tenant {
                Some(t) => t.clone(),
                None => TenantScope::acting_for(tenant_id.clone()),
            };
            let o = catalog::override_of(deps, &scope, &p.code).await?;
            Some(p.priced_for(o.as_ref()))
        }
        None => None,
    };
    let metrics = catalog::metrics(deps).await?;
    let mut out = Vec::new();
    for m in metrics {
        let agg = usage.metrics.get(&m.code).copied().unwrap_or_default();
        let limit = limit_of(sub.as_ref(), own.as_ref(), &m.code, day);
        let pricing = plan.as_ref().and_then(|p| p.charge_for(&m.code));
        if agg == Aggregate::default() && limit.is_none() && pricing.is_none() {
            continue;
        }
        let value = agg.value(m.aggregation);
        out.push(MetricUsage {
            metric: m.code.clone(),
            aggregation: m.aggregation,
            value,
            limit,
            remaining: limit.map(|l| l.saturating_sub(value)),
            charge: pricing.map(|p| charge(p, value)),
        });
    }
    Ok(UsageView {
        customer_id: customer_id.clone(),
        period: period.to_string(),
        plan: plan.as_ref().map(|p| p.code.clone()),
        currency: plan.map(|p| p.currency),
        metrics: out,
    })
}

/// The limits a customer's admin set, and its plan's.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UsageLimitsView {
    /// The company's own limits.
    pub limits: BTreeMap<String, u64>,
    /// The plan's limits, which its own may only lower.
    pub plan_limits: BTreeMap<String, u64>,
}

pub async fn limits(deps: &Deps, scope: &CustomerScope) -> Result<UsageLimitsView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let own = match deps
        .store
        .get(&keys::usage_limits(tenant_id, customer_id))
        .await?
    {
        Some(i) => from_item::<UsageLimits>(&i)?,
        None => UsageLimits::default(),
    };
    Ok(UsageLimitsView {
        limits: own.limits,
        plan_limits: plan_limits(deps, tenant_id, customer_id).await?,
    })
}

async fn plan_limits(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<BTreeMap<String, u64>, Error> {
    let today = deps.clock.now().date_naive();
    Ok(
        match deps
            .store
            .get(&keys::subscription(tenant_id, customer_id))
            .await?
        {
            Some(i) => from_item::<Subscription>(&i)?
                .segment_on(today)
                .map(|s| s.entitlements.limits.clone())
                .unwrap_or_default(),
            None => BTreeMap::new(),
        },
    )
}

/// `PUT /v1/me/usage-limits`: the company's own limits, each at most the plan's. The
/// limits it has already are answered as they are.
pub async fn set_limits(
    deps: &Deps,
    scope: &CustomerScope,
    wanted: &UsageLimits,
) -> Result<UsageLimitsView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let known: HashSet<String> = catalog::metrics(deps)
        .await?
        .into_iter()
        .map(|m| m.code)
        .collect();
    let plan = plan_limits(deps, tenant_id, customer_id).await?;
    let mut c = crate::model::input::Checks::new();
    for (metric, limit) in &wanted.limits {
        let field = format!("limits.{metric}");
        if !known.contains(metric) {
            c.fail(&field, "is not a billable metric");
        } else if let Some(max) = plan.get(metric)
            && limit > max
        {
            c.fail(&field, format!("must be at most the plan's limit, {max}"));
        } else if *limit > MAX_QUANTITY {
            c.fail(&field, format!("must be at most {MAX_QUANTITY}"));
        }
    }
    c.finish()?;
    let key = keys::usage_limits(tenant_id, customer_id);
    let own = match deps.store.get(&key).await? {
        Some(i) => from_item::<UsageLimits>(&i)?,
        None => UsageLimits::default(),
    };
    if own != *wanted {
        let entry = Entry::new("usage_limits.set", Target::new("usage_limits", customer_id))
            .customer(customer_id)
            .value("limits", &wanted.limits);
        let ops = vec![
            WriteOp::put(Item::new(key, to_data(wanted)?)),
            audit::op(deps, Log::Tenant(tenant_id), entry).await?,
        ];
        deps.store.transact(ops).await?;
    }
    Ok(UsageLimitsView {
        limits: wanted.limits.clone(),
        plan_limits: plan,
    })
}
