//! The audit log: one event per change, written in the change's own transaction.
//!
//! A service that changes something adds `audit::op(deps, log, entry)` to the writes of
//! its transaction, so the event exists exactly when the change does. The actor and the
//! request's trace come from the origin the HTTP edge (or a job) set on `Deps`; a public
//! route that learns who acted (a sign-in, a link) names the actor on the entry.
//!
//! Layout: a day of a tenant's log is written across `keys::AUDIT_SHARDS` partitions,
//! ordered by time within each; an event that concerns a customer is also indexed
//! (GSI1) in that customer's history. Nothing updates or deletes an event; each expires
//! (TTL) after its tenant's retention, 400 days unless the operator sets another.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::error::Error;
use crate::model::audit::{Actor, AuditEvent, FieldChange, Origin, Target};
use crate::model::ids::{AuditEventId, CustomerId, TenantId};
use crate::ports::{Item, Query, SortRange, WriteOp, check_key};
use crate::service::{from_item, to_data};
use crate::store::keys;

/// Days an event is kept unless the operator sets the tenant's own retention.
pub const RETENTION_DAYS: u32 = 400;

/// How long a process trusts a tenant's retention it read (a change applies to events
/// written after it; those already written keep their expiry).
const RETENTION_CACHE: StdDuration = StdDuration::from_secs(60);

/// Which log: one tenant's, or the platform's own (the operator's catalog and keys).
#[derive(Clone, Copy, Debug)]
pub enum Log<'a> {
    Tenant(&'a TenantId),
    Platform,
}

impl<'a> Log<'a> {
    fn tenant(self) -> Option<&'a TenantId> {
        match self {
            Log::Tenant(t) => Some(t),
            Log::Platform => None,
        }
    }
}

/// What one change records, besides who and when.
#[derive(Clone, Debug)]
pub struct Entry {
    action: String,
    target: Target,
    customer_id: Option<CustomerId>,
    changes: Vec<FieldChange>,
    actor: Option<Actor>,
}

impl Entry {
    /// `action` is `<thing>.<verb>` (`customer.suspended`); `target` what it acted on.
    pub fn new(action: &str, target: Target) -> Self {
        Self {
            action: action.to_owned(),
            target,
            customer_id: None,
            changes: Vec::new(),
            actor: None,
        }
    }

    /// The customer the change concerns: the event shows in its history.
    pub fn customer(mut self, customer_id: &CustomerId) -> Self {
        self.customer_id = Some(customer_id.clone());
        self
    }

    /// Fields it changed, by name only (personal or secret values stay out).
    pub fn fields<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        for n in names {
            self.changes.push(FieldChange {
                field: n.as_ref().to_owned(),
                value: None,
            });
        }
        self
    }

    /// A field it changed, with its new value: only for values that are neither personal
    /// nor secret (a status, a role, a code, a number).
    pub fn value(mut self, name: &str, value: impl Serialize) -> Self {
        self.changes.push(FieldChange {
            field: name.to_owned(),
            value: serde_json::to_value(value).ok(),
        });
        self
    }

    /// The top-level fields that differ between two states of an entity, by name only
    /// (times of the change itself left out).
    pub fn diff(self, before: &impl Serialize, after: &impl Serialize) -> Self {
        let (b, a) = (
            serde_json::to_value(before).unwrap_or_default(),
            serde_json::to_value(after).unwrap_or_default(),
        );
        let empty = serde_json::Map::new();
        let (b, a) = (
            b.as_object().unwrap_or(&empty),
            a.as_object().unwrap_or(&empty),
        );
        let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
        names.sort();
        names.dedup();
        let changed = names
            .into_iter()
            .filter(|n| !matches!(n.as_str(), "updated_at" | "version"))
            .filter(|n| b.get(n.as_str()) != a.get(n.as_str()));
        self.fields(changed)
    }

    /// Who acted, where the request had no principal and the service found out (a
    /// sign-in, a link's holder, a signed webhook's endpoint).
    pub fn by(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// A time as the audit log's, support sessions' and support requests' sort keys hold
/// it: fixed-width, so text order is time order.
pub(crate) fn sort_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

static RETENTION: LazyLock<Mutex<HashMap<TenantId, (u32, Instant)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A tenant's retention in days, from its record (cached briefly per process).
async fn retention(deps: &Deps, log: Log<'_>) -> Result<u32, Error> {
    let Some(tenant_id) = log.tenant() else {
        return Ok(RETENTION_DAYS);
    };
    if let Some((days, at)) = RETENTION
        .lock()
        .ok()
        .and_then(|m| m.get(tenant_id).copied())
        && at.elapsed() < RETENTION_CACHE
    {
        return Ok(days);
    }
    let days = match deps.store.get(&keys::tenant(tenant_id)).await? {
        Some(item) => from_item::<crate::model::tenant::Tenant>(&item)?.audit_retention_days(),
        None => RETENTION_DAYS,
    };
    if let Ok(mut m) = RETENTION.lock() {
        m.insert(tenant_id.clone(), (days, Instant::now()));
    }
    Ok(days)
}

/// Forget a tenant's cached retention (its operator just changed it here).
pub fn forget_retention(tenant_id: &TenantId) {
    if let Ok(mut m) = RETENTION.lock() {
        m.remove(tenant_id);
    }
}

/// The write of one audit event: add it to the transaction of the change it records.
pub async fn op(deps: &Deps, log: Log<'_>, entry: Entry) -> Result<WriteOp, Error> {
    let days = retention(deps, log).await?;
    Ok(WriteOp::create(item(deps, log, entry, days)?))
}

/// `op` with the retention given: a tenant's creation, before its record exists.
pub fn op_kept(deps: &Deps, log: Log<'_>, entry: Entry, days: u32) -> Result<WriteOp, Error> {
    Ok(WriteOp::create(item(deps, log, entry, days)?))
}

fn item(deps: &Deps, log: Log<'_>, entry: Entry, days: u32) -> Result<Item, Error> {
    let at = deps.clock.now();
    let origin = deps.origin();
    let actor = entry
        .actor
        .or_else(|| origin.map(|o| o.actor.clone()))
        .unwrap_or_else(Actor::anonymous);
    let event = AuditEvent {
        id: AuditEventId::generate(),
        at,
        actor,
        on_behalf_of: origin.and_then(|o| o.on_behalf_of.clone()),
        support_session_id: origin.and_then(|o| o.support_session_id.clone()),
        action: entry.action,
        target: entry.target,
        customer_id: entry.customer_id,
        request_id: origin.and_then(|o| o.request_id.clone()),
        source_ip: origin.and_then(|o| o.source_ip.clone()),
        user_agent: origin.and_then(|o| o.user_agent.clone()),
        changes: entry.changes,
    };
    let day = at.format("%Y-%m-%d").to_string();
    let time = sort_time(at);
    let mut item = Item::new(
        keys::audit_event(log.tenant(), &day, &time, &event.id),
        to_data(&event)?,
    );
    if let (Some(t), Some(c)) = (log.tenant(), &event.customer_id) {
        item = item.with_gsi1(keys::audit_by_customer(t, c, &time, &event.id));
    }
    item.expires_at = Some((at + Duration::days(i64::from(days))).timestamp());
    Ok(item)
}

/// Which events a listing wants. Every condition must hold.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// An actor's id (`mem_…`, `key_…`, `usr_…`, a job's name).
    pub actor: Option<String>,
    /// An action (`customer.suspended`), or a prefix ending in `.` (`customer.`).
    pub action: Option<String>,
    /// A target's id.
    pub target: Option<String>,
    pub customer_id: Option<CustomerId>,
    /// Only what was done in this support session (not a query parameter: a session's
    /// own listing).
    pub support_session_id: Option<crate::model::ids::SupportSessionId>,
    /// Read by the customer itself: the address and user agent of anyone but its own
    /// users (the tenant's staff, its systems) are left out.
    pub for_customer: bool,
    /// From this time (inclusive); none: 30 days before `until`.
    pub since: Option<DateTime<Utc>>,
    /// Up to this time (exclusive); none: now.
    pub until: Option<DateTime<Utc>>,
}

/// Days a listing reaches back when it names no `since`.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest period one listing or export spans (each day is `AUDIT_SHARDS` reads).
pub const MAX_DAYS: i64 = 366;
/// Partition queries one page may make before it answers with what it found and a
/// cursor (a filter that matches little must not make one request read a year).
const QUERY_BUDGET: usize = 48;

impl Filter {
    /// From a listing's query parameters, at `now`.
    pub fn parse(q: &impl Fn(&str) -> Option<String>, now: DateTime<Utc>) -> Result<Self, Error> {
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, Error> {
            q(name)
                .map(|s| {
                    DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| {
                            Error::invalid(
                                name,
                                "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z",
                            )
                        })
                })
                .transpose()
        };
        let customer_id = q("customer_id")
            .map(|s| {
                CustomerId::parse(&s)
                    .map_err(|_| Error::invalid("customer_id", "must be a customer id (cus_…)"))
            })
            .transpose()?;
        let short = |name: &str| -> Result<Option<String>, Error> {
            match q(name) {
                Some(s) if s.is_empty() || s.len() > 200 => {
                    Err(Error::invalid(name, "must be 1 to 200 characters"))
                }
                other => Ok(other),
            }
        };
        let f = Filter {
            actor: short("actor")?,
            action: short("action")?,
            target: short("target")?,
            customer_id,
            support_session_id: None,
            for_customer: false,
            since: time("since")?,
            until: time("until")?,
        };
        let (since, until) = f.window(now);
        if since >= until {
            return Err(Error::invalid("since", "must be before until"));
        }
        if until - since > Duration::days(MAX_DAYS) {
            return Err(Error::invalid(
                "since",
                format!(
                    "a listing or an export spans at most {MAX_DAYS} days; narrow since and until"
                ),
            ));
        }
        Ok(f)
    }

    fn window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let until = self.until.unwrap_or(now + Duration::seconds(1));
        let since = self.since.unwrap_or(until - Duration::days(DEFAULT_DAYS));
        (since, until)
    }

    fn matches(&self, e: &AuditEvent, since: DateTime<Utc>, until: DateTime<Utc>) -> bool {
        e.at >= since
            && e.at < until
            && self.actor.as_ref().is_none_or(|a| e.actor.id == *a)
            && self.action.as_ref().is_none_or(|a| {
                if a.ends_with('.') {
                    e.action.starts_with(a.as_str())
                } else {
                    e.action == *a
                }
            })
            && self.target.as_ref().is_none_or(|t| e.target.id == *t)
            && self
                .customer_id
                .as_ref()
                .is_none_or(|c| e.customer_id.as_ref() == Some(c))
            && self
                .support_session_id
                .as_ref()
                .is_none_or(|s| e.support_session_id.as_ref() == Some(s))
    }
}

/// Where a listing stopped: a day and the sort key below which it goes on.
#[derive(Serialize, Deserialize)]
struct Cursor {
    l: String,
    d: String,
    b: String,
}

fn bad_cursor() -> Error {
    Error::invalid(
        "cursor",
        "is not a cursor of this listing; pass next_cursor back unchanged",
    )
}

fn encode_cursor(listing: &str, day: NaiveDate, below: &str) -> String {
    let c = Cursor {
        l: listing.to_owned(),
        d: day.format("%Y-%m-%d").to_string(),
        b: below.to_owned(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default())
}

fn decode_cursor(raw: &str, listing: &str) -> Result<(NaiveDate, String), Error> {
    if raw.len() > 1024 {
        return Err(bad_cursor());
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad_cursor())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
    let day = NaiveDate::parse_from_str(&c.d, "%Y-%m-%d").map_err(|_| bad_cursor())?;
    if c.l != listing || check_key("x", &c.b).is_err() {
        return Err(bad_cursor());
    }
    Ok((day, c.b))
}

/// One page of events, newest first.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEvent>,
    /// Pass back as `cursor` for older events; `null` when there are none. A page may
    /// hold fewer than `limit` events (even none) and still have a cursor: the filter
    /// matched little of what it read.
    pub next_cursor: Option<String>,
}

/// One page of a log, newest first, `limit` events at most.
pub async fn list(
    deps: &Deps,
    log: Log<'_>,
    filter: &Filter,
    limit: usize,
    cursor: Option<&str>,
) -> Result<AuditPage, Error> {
    if let (Log::Tenant(t), Some(c)) = (log, &filter.customer_id) {
        return list_customer(deps, t, c, filter, limit, cursor).await;
    }
    let listing = "audit";
    let (since, until) = filter.window(deps.clock.now());
    let first_day = since.date_naive();
    let (mut day, mut below) = match cursor {
        Some(raw) => decode_cursor(raw, listing)?,
        None => (until.date_naive(), sort_time(until)),
    };
    let mut data = Vec::new();
    let mut queries = 0;
    while day >= first_day {
        let day_text = day.format("%Y-%m-%d").to_string();
        // Each shard's newest events below the position; merged, they are the day's
        // newest, as far as every shard has been read.
        let mut read: Vec<AuditEvent> = Vec::new();
        let mut frontier: Option<String> = None;
        for shard in 0..keys::AUDIT_SHARDS {
            let q = Query {
                forward: false,
                ..Query::partition(
                    keys::audit_partition(log.tenant(), &day_text, shard),
                    SortRange::Between(String::new(), below.clone()),
                    limit + 1,
                )
            };
            let page = deps.store.query(q).await?;
            queries += 1;
            let full = page.items.len() > limit;
            let mut last = None;
            for i in &page.items {
                if i.sk < below {
                    read.push(from_item(i)?);
                }
                last = Some(i.sk.clone());
            }
            // This shard is read down to `last` only: past it, it may hold more.
            if full && let Some(l) = last {
                frontier = Some(match frontier {
                    Some(f) if f > l => f,
                    _ => l,
                });
            }
        }
        read.sort_by(|a, b| sort_time(b.at).cmp(&sort_time(a.at)).then(b.id.cmp(&a.id)));
        for e in read {
            let sk = format!("{}#{}", sort_time(e.at), e.id);
            if frontier.as_ref().is_some_and(|f| sk < *f) {
                break;
            }
            if filter.matches(&e, since, until) {
                data.push(e);
                if data.len() == limit {
                    return Ok(AuditPage {
                        data,
                        next_cursor: Some(encode_cursor(listing, day, &sk)),
                    });
                }
            }
        }
        match frontier {
            // The day goes on below the frontier.
            Some(f) => below = f,
            None => {
                day = match day.pred_opt() {
                    Some(d) => d,
                    None => break,
                };
                below = format!("{}~", day.format("%Y-%m-%d"));
            }
        }
        if queries >= QUERY_BUDGET && day >= first_day {
            return Ok(AuditPage {
                data,
                next_cursor: Some(encode_cursor(listing, day, &below)),
            });
        }
    }
    Ok(AuditPage {
        data,
        next_cursor: None,
    })
}

/// One page of one customer's history (GSI1), newest first.
async fn list_customer(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    filter: &Filter,
    limit: usize,
    cursor: Option<&str>,
) -> Result<AuditPage, Error> {
    let listing = "audit-customer";
    let (since, until) = filter.window(deps.clock.now());
    let mut below = match cursor {
        Some(raw) => decode_cursor(raw, listing)?.1,
        None => sort_time(until),
    };
    let low = sort_time(since);
    let mut data = Vec::new();
    for _ in 0..QUERY_BUDGET {
        let q = Query {
            forward: false,
            ..Query::gsi1(
                keys::audit_customer_partition(tenant_id, customer_id),
                SortRange::Between(low.clone(), below.clone()),
                limit + 1,
            )
        };
        let page = deps.store.query(q).await?;
        let more = page.items.len() > limit;
        for i in &page.items {
            let sk = i.gsi1sk.clone().unwrap_or_default();
            if sk >= below {
                continue;
            }
            let mut e: AuditEvent = from_item(i)?;
            below = sk.clone();
            if filter.matches(&e, since, until) {
                if filter.for_customer
                    && e.actor.kind != crate::model::audit::ActorKind::CustomerUser
                {
                    e.source_ip = None;
                    e.user_agent = None;
                }
                data.push(e);
                if data.len() == limit {
                    let day = since.date_naive();
                    return Ok(AuditPage {
                        data,
                        next_cursor: Some(encode_cursor(listing, day, &sk)),
                    });
                }
            }
        }
        if !more {
            return Ok(AuditPage {
                data,
                next_cursor: None,
            });
        }
    }
    Ok(AuditPage {
        next_cursor: Some(encode_cursor(listing, since.date_naive(), &below)),
        data,
    })
}

/// What an export is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON event per line (`application/x-ndjson`).
    Ndjson,
    /// A header row, then one row per event (`text/csv`); `changes` as JSON.
    Csv,
}

impl Format {
    /// `format=` of a listing: none is a page of JSON; `ndjson` or `csv` the whole
    /// period, streamed.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, Error> {
        match raw {
            None | Some("json") => Ok(None),
            Some("ndjson") => Ok(Some(Format::Ndjson)),
            Some("csv") => Ok(Some(Format::Csv)),
            Some(_) => Err(Error::invalid(
                "format",
                "must be json (a page), ndjson or csv (the whole period)",
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Events read per page of an export: what one chunk holds in memory.
const EXPORT_PAGE: usize = 500;

const CSV_HEADER: [&str; 14] = [
    "id",
    "at",
    "actor_kind",
    "actor_id",
    "on_behalf_of_kind",
    "on_behalf_of_id",
    "action",
    "target_type",
    "target_id",
    "customer_id",
    "request_id",
    "source_ip",
    "user_agent",
    "changes",
];

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a
/// carriage return first) is kept as text with a leading `'`.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

fn kind_of(a: &Actor) -> String {
    serde_json::to_value(a.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn chunk(events: &[AuditEvent], format: Format, header: bool) -> Result<Vec<u8>, Error> {
    match format {
        Format::Ndjson => {
            let mut out = Vec::new();
            for e in events {
                serde_json::to_writer(&mut out, e).map_err(anyhow::Error::from)?;
                out.push(b'\n');
            }
            Ok(out)
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let failed = |e: csv::Error| Error::Unexpected(anyhow::Error::from(e));
            if header {
                w.write_record(CSV_HEADER).map_err(failed)?;
            }
            for e in events {
                let (bk, bi) = e
                    .on_behalf_of
                    .as_ref()
                    .map(|a| (kind_of(a), a.id.clone()))
                    .unwrap_or_default();
                let changes = if e.changes.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&e.changes).map_err(anyhow::Error::from)?
                };
                w.write_record([
                    e.id.to_string(),
                    sort_time(e.at),
                    kind_of(&e.actor),
                    cell(&e.actor.id),
                    bk,
                    cell(&bi),
                    cell(&e.action),
                    cell(&e.target.kind),
                    cell(&e.target.id),
                    e.customer_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    cell(e.request_id.as_deref().unwrap_or_default()),
                    cell(e.source_ip.as_deref().unwrap_or_default()),
                    cell(e.user_agent.as_deref().unwrap_or_default()),
                    cell(&changes),
                ])
                .map_err(failed)?;
            }
            w.into_inner()
                .map_err(|e| Error::Unexpected(anyhow::anyhow!("csv: {e}")))
        }
    }
}

/// The events of a log the filter keeps, newest first, as chunks of `format`: one page
/// read at a time, so an export of any size holds one page in memory.
pub fn export(
    deps: Deps,
    tenant_id: Option<TenantId>,
    filter: Filter,
    format: Format,
) -> impl futures::Stream<Item = Result<Vec<u8>, Error>> + Send + 'static {
    struct State {
        deps: Deps,
        tenant_id: Option<TenantId>,
        filter: Filter,
        cursor: Option<String>,
        started: bool,
        done: bool,
    }
    // The period is fixed when the export starts, not as it goes.
    let until = filter.until.unwrap_or_else(|| deps.clock.now());
    let state = State {
        deps,
        tenant_id,
        filter: Filter {
            until: Some(until),
            ..filter
        },
        cursor: None,
        started: false,
        done: false,
    };
    futures::stream::unfold(state, move |mut s| async move {
        if s.done {
            return None;
        }
        let log = match &s.tenant_id {
            Some(t) => Log::Tenant(t),
            None => Log::Platform,
        };
        let page = match list(&s.deps, log, &s.filter, EXPORT_PAGE, s.cursor.as_deref()).await {
            Ok(p) => p,
            Err(e) => {
                s.done = true;
                return Some((Err(e), s));
            }
        };
        let header = !s.started;
        s.started = true;
        s.cursor = page.next_cursor;
        s.done = s.cursor.is_none();
        Some((chunk(&page.data, format, header), s))
    })
}

/// The origin of work with no request (a job): events it records name it.
pub fn job_origin(name: &str) -> Origin {
    Origin::of_actor(Actor::job(name))
}

/// What the services' tests of their audit events share.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use crate::Deps;
    use crate::adapters::embedded::EmbeddedStore;
    use crate::model::audit::{Actor, ActorKind, Origin};

    /// Dependencies over a fresh embedded store, acting as `kind` `id` (keep the
    /// directory as long as them).
    pub(crate) fn deps_acting(kind: ActorKind, id: &str) -> (tempfile::TempDir, Deps) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = EmbeddedStore::open(dir.path().join("a.redb")).expect("a store");
        let deps = Deps::new(Arc::new(store)).acting(Origin::of_actor(Actor::new(kind, id)));
        (dir, deps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedStore;
    use std::sync::Arc;

    struct At(std::sync::Mutex<DateTime<Utc>>);
    impl crate::ports::Clock for At {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    /// Events written across days and shards list newest first, each once, through
    /// pages of every size, and a filter keeps only its own.
    #[tokio::test]
    async fn pages_merge_shards_and_days_newest_first_each_event_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(At(std::sync::Mutex::new(
            "2026-11-28T22:00:00Z".parse().unwrap(),
        )));
        let mut deps = Deps::new(Arc::new(
            EmbeddedStore::open(dir.path().join("a.redb")).unwrap(),
        ));
        deps.clock = clock.clone();
        let tenant = TenantId::generate();
        let mut written = Vec::new();
        for n in 0..137 {
            *clock.0.lock().unwrap() += Duration::minutes(37);
            let action = if n % 3 == 0 {
                "customer.updated"
            } else {
                "member.updated"
            };
            let op = op(
                &deps,
                Log::Tenant(&tenant),
                Entry::new(action, Target::new("customer", format!("c{n}"))).by(Actor::job("test")),
            )
            .await
            .unwrap();
            deps.store.transact(vec![op]).await.unwrap();
            written.push((n, action));
        }
        let filter = Filter {
            since: Some("2026-11-01T00:00:00Z".parse().unwrap()),
            ..Filter::default()
        };
        for limit in [1, 7, 100] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = list(
                    &deps,
                    Log::Tenant(&tenant),
                    &filter,
                    limit,
                    cursor.as_deref(),
                )
                .await
                .unwrap();
                assert!(page.data.len() <= limit);
                seen.extend(page.data.into_iter().map(|e| e.target.id));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            let expected: Vec<String> = (0..137).rev().map(|n| format!("c{n}")).collect();
            assert_eq!(seen, expected, "limit {limit}");
        }
        let only = Filter {
            action: Some("customer.".into()),
            ..filter.clone()
        };
        let page = list(&deps, Log::Tenant(&tenant), &only, 100, None)
            .await
            .unwrap();
        let n = written
            .iter()
            .filter(|(_, a)| a.starts_with("customer."))
            .count();
        assert_eq!(page.data.len(), n);
        assert!(page.data.iter().all(|e| e.action == "customer.updated"));
        // Another tenant's log is another set of partitions.
        let other = TenantId::generate();
        let page = list(&deps, Log::Tenant(&other), &filter, 100, None)
            .await
            .unwrap();
        assert!(page.data.is_empty());
    }
}
