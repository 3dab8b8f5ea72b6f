//! Events to the tenant's webhook endpoints: written with the change that causes them,
//! delivered apart, signed, with retries.
//!
//! A change adds [`emit`]'s writes to its own transaction: one message (its payload in
//! the Standard Webhooks shape `{type, timestamp, data}`, its id the `webhook-id`) and
//! its due-work entry. Delivery runs like the email outbox's: on the table's stream in
//! AWS, in a background task locally, and from the due-work sweep for retries. A run
//! claims the message with a versioned write; the first run finds the tenant's enabled
//! endpoints that want the type (the fan-out) and tries each; every attempt is recorded
//! under its endpoint (status, duration, the first 1 KiB of the answer), and a failed
//! delivery is tried again on Svix's schedule ([`RETRY_AFTER`]: 5 s, 5 min, 30 min, 2 h,
//! 5 h, 10 h, 10 h), 8 tries in all. A 2xx answer is a delivery; anything else, a refused
//! address or no answer in 10 s is a failure. An endpoint whose deliveries keep failing
//! for [`DISABLE_AFTER_DAYS`] (no success in between) is disabled, and the tenant's
//! owners get an email.
//!
//! A delivery may happen twice (a run that dies after the receiver answered and before
//! it recorded so): receivers deduplicate by `webhook-id`, as the scheme expects.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::audit::{self, Entry, Log};
use super::outbound::{self, WebhookEndpoint};
use super::{due, from_item, mail, signing, to_data};
use crate::Deps;
use crate::error::Error;
use crate::model::customer::{CustomerStatus, CustomerUserView, CustomerView};
use crate::model::ids::{TenantId, WebhookEndpointId, WebhookMessageId};
use crate::model::invoice::InvoiceSummary;
use crate::model::member::{Member, MemberStatus};
use crate::model::subscription::SubscriptionView;
use crate::ports::{Condition, Item, WebhookSendError, WebhookSender, WriteOp};
use crate::store::keys;
use crate::webhooks::{self, SigningSecret};

pub use crate::model::event::{EVENT_TYPES, EventType};

/// The envelope every event shares (payload version 1): `{type, timestamp, data}`,
/// `data` being the changed resource as the API shows it.
macro_rules! event_schema {
    ($(#[$doc:meta])* $name:ident, $data:ty, $example:literal) => {
        $(#[$doc])*
        #[derive(Serialize, utoipa::ToSchema)]
        pub struct $name {
            #[serde(rename = "type")]
            #[schema(example = $example)]
            pub event_type: String,
            /// When the change happened (RFC 3339, UTC).
            #[schema(example = "2026-12-02T10:15:30.123Z")]
            pub timestamp: String,
            pub data: $data,
        }
    };
}

event_schema!(
    /// `customer.created`, `customer.updated`, `customer.deleted`: the customer as
    /// `GET /v1/customers/{id}` shows it after the change.
    CustomerEvent,
    CustomerView,
    "customer.created"
);
event_schema!(
    /// `customer.status_changed`: the customer after the change, and its status before.
    CustomerStatusEvent,
    CustomerStatusChange,
    "customer.status_changed"
);
event_schema!(
    /// `customer_user.created`, `customer_user.removed`: the user as the API shows it.
    CustomerUserEvent,
    CustomerUserView,
    "customer_user.created"
);
event_schema!(
    /// `subscription.created`, `subscription.changed`, `subscription.canceled`: the
    /// subscription after the change.
    SubscriptionEvent,
    SubscriptionView,
    "subscription.changed"
);
event_schema!(
    /// `invoice.drafted`, `invoice.finalized`, `invoice.paid`, `invoice.overdue`: the
    /// invoice's totals and dates, without its lines (`GET /v1/invoices/{id}` has them).
    InvoiceEvent,
    InvoiceSummary,
    "invoice.finalized"
);

/// A customer's status change: the customer after it, and the status before.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerStatusChange {
    #[serde(flatten)]
    pub customer: CustomerView,
    pub previous_status: CustomerStatus,
}

/// What a `webhook.test` delivery carries (payload version 1).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestEvent {
    #[serde(rename = "type")]
    #[schema(example = "webhook.test")]
    pub event_type: String,
    pub timestamp: String,
    pub data: TestEventData,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TestEventData {
    #[schema(example = "whe_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub endpoint_id: String,
    pub message: String,
}

/// The wait before each retry, after the first try (at once): 8 tries in all.
pub const RETRY_AFTER: [i64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];
/// An endpoint failing this long, with no success, is disabled.
pub const DISABLE_AFTER_DAYS: i64 = 5;
/// Failures further apart than this (more than a message's whole retry schedule,
/// about 27.5 h) are not one streak.
const STREAK_GAP_HOURS: i64 = 30;
/// A sweep takes no new message after this long, so it ends within its function's time
/// (240 s in AWS) with every message it took recorded.
const SWEEP_SECONDS: u64 = 120;
/// Deliveries one run of a message tries, at most (each has 10 s); the rest stay due.
const PER_RUN: usize = 5;
/// How long a run owns a message: more than `PER_RUN` tries of 10 s.
const CLAIM_SECONDS: i64 = 90;
/// Endpoints of one tenant an event goes to, at most.
const MAX_ENDPOINTS: usize = outbound::MAX_ENDPOINTS;
/// Messages and attempts are kept this long (DynamoDB TTL).
const KEEP_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

/// A message's delivery to one endpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub endpoint_id: WebhookEndpointId,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An event as stored, with its deliveries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    pub id: WebhookMessageId,
    #[serde(rename = "type")]
    pub event_type: String,
    /// What is sent: `{type, timestamp, data}`.
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// The endpoints were looked up (the first run does it).
    pub fanned_out: bool,
    #[serde(default)]
    pub deliveries: Vec<Delivery>,
    /// Every delivery is delivered or given up on.
    pub done: bool,
    pub due_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn item_of(tenant_id: &TenantId, m: &Message, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::webhook_message(tenant_id, &m.id), to_data(m)?);
    item.version = version;
    if m.done {
        item.expires_at =
            Some((m.due_at.max(m.created_at) + Duration::days(KEEP_DAYS)).timestamp());
    }
    Ok(item)
}

fn new_message(event_type: &str, data: Value, now: DateTime<Utc>) -> Message {
    Message {
        id: WebhookMessageId::generate(),
        event_type: event_type.to_owned(),
        payload: json!({"type": event_type, "timestamp": stamp(now), "data": data}),
        created_at: now,
        fanned_out: false,
        deliveries: Vec::new(),
        done: false,
        due_at: now,
        claimed_until: None,
    }
}

/// The writes that send an event to the tenant's endpoints: add them to the
/// transaction of the change that causes it.
pub fn emit(
    tenant_id: &TenantId,
    event: EventType,
    data: &impl Serialize,
    now: DateTime<Utc>,
) -> Result<[WriteOp; 2], Error> {
    let data = serde_json::to_value(data).map_err(anyhow::Error::from)?;
    let m = new_message(event.as_str(), data, now);
    Ok([
        WriteOp::create(item_of(tenant_id, &m, 1)?),
        due::schedule(due::Kind::Webhook, tenant_id, m.id.as_str(), now),
    ])
}

/// What a test event answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TestSent {
    /// The message's id: its `webhook-id`, and in the endpoint's attempts.
    #[schema(value_type = String, example = "msg_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub message_id: WebhookMessageId,
}

/// `POST /v1/webhook-endpoints/{id}/test`: a `webhook.test` event to this endpoint
/// alone, delivered like any other (enabled or not: a test is how an owner checks a
/// fixed receiver before enabling it).
pub async fn send_test(
    deps: &Deps,
    scope: &crate::access::TenantScope,
    id: &WebhookEndpointId,
) -> Result<TestSent, Error> {
    let tenant_id = scope.tenant_id();
    outbound::load(deps, tenant_id, id).await?;
    let now = deps.clock.now();
    let mut m = new_message(
        EventType::WebhookTest.as_str(),
        json!({"endpoint_id": id, "message": "a test event, sent on request"}),
        now,
    );
    m.fanned_out = true;
    m.deliveries = vec![Delivery {
        endpoint_id: id.clone(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_at: now,
        last_error: None,
    }];
    let entry =
        Entry::new("webhook_endpoint.tested", outbound::target(id)).value("message_id", &m.id);
    deps.store
        .transact(vec![
            WriteOp::create(item_of(tenant_id, &m, 1)?),
            due::schedule(due::Kind::Webhook, tenant_id, m.id.as_str(), now),
            audit::op(deps, Log::Tenant(tenant_id), entry).await?,
        ])
        .await?;
    Ok(TestSent { message_id: m.id })
}

/// `POST /v1/webhook-endpoints/{id}/redeliver`: which message to send again.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redelivery {
    /// The message's id (`webhook-id`), as the endpoint's attempts list it.
    #[schema(example = "msg_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub message_id: Option<String>,
}

/// Sends a message to one endpoint again, by hand: its delivery there starts afresh
/// (eight tries on the schedule), whether it was given up on or delivered. Messages are
/// kept 30 days; one still being tried is left as it is.
pub async fn redeliver(
    deps: &Deps,
    scope: &crate::access::TenantScope,
    endpoint_id: &WebhookEndpointId,
    draft: &Redelivery,
) -> Result<TestSent, Error> {
    let tenant_id = scope.tenant_id();
    // Another tenant's endpoint is 404 whatever the body.
    let (endpoint, _) = outbound::load(deps, tenant_id, endpoint_id).await?;
    let mut c = crate::model::input::Checks::new();
    let id = c.required("message_id", draft.message_id.as_deref(), |s| {
        WebhookMessageId::parse(s).map_err(|_| "must be a message id (msg_...)".to_owned())
    });
    c.finish()?;
    let id = id.ok_or_else(|| Error::invalid("message_id", "is required"))?;
    if !endpoint.enabled {
        return Err(Error::conflict(
            crate::error::ProblemKind::EndpointDisabled,
            "the endpoint is disabled; enable it (PATCH {\"enabled\": true}) first",
        ));
    }
    let not_sent = || Error::NotFound("webhook message");
    let item = deps
        .store
        .get(&keys::webhook_message(tenant_id, &id))
        .await?
        .ok_or_else(not_sent)?;
    let mut m: Message = from_item(&item)?;
    let now = deps.clock.now();
    let claimed = m.claimed_until.is_some_and(|t| t > now);
    // Not handed to the endpoints yet: the first run gives it to this one, if it wants
    // the type (an endpoint enabled now, as this one is, is among them).
    if !m.fanned_out && !m.done {
        return match endpoint.wants(&m.event_type) {
            true => Ok(TestSent { message_id: id }),
            false => Err(not_sent()),
        };
    }
    let Some(d) = m
        .deliveries
        .iter_mut()
        .find(|d| &d.endpoint_id == endpoint_id)
    else {
        return Err(not_sent());
    };
    if d.state == DeliveryState::Pending {
        return Ok(TestSent { message_id: id });
    }
    // A run is sending it right now: its outcome stands; asking again later works.
    if claimed {
        return Err(Error::concurrent_update());
    }
    d.state = DeliveryState::Pending;
    d.attempts = 0;
    d.next_at = now;
    d.last_error = None;
    let mut ops = match m.done {
        // Done: its entry is gone; a new one, due now.
        true => vec![due::schedule(
            due::Kind::Webhook,
            tenant_id,
            m.id.as_str(),
            now,
        )],
        false => due::reschedule(
            due::Kind::Webhook,
            tenant_id,
            m.id.as_str(),
            m.due_at,
            Some(now.min(m.due_at)),
        ),
    };
    m.due_at = if m.done { now } else { now.min(m.due_at) };
    m.done = false;
    let mut next = item_of(tenant_id, &m, item.version + 1)?;
    next.expires_at = None;
    ops.push(WriteOp::Put {
        item: next,
        condition: Condition::VersionIs(item.version),
    });
    let entry = Entry::new(
        "webhook_endpoint.redelivered",
        outbound::target(endpoint_id),
    )
    .value("message_id", &m.id);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), entry).await?);
    match deps.store.transact(ops).await {
        Ok(()) => Ok(TestSent { message_id: m.id }),
        Err(e) if e.lost_to_another_writer() => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// What one run of a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Ran {
    pub delivered: u64,
    pub failed_attempts: u64,
    pub given_up: u64,
    /// Nothing to do: done, not due, claimed by another run, or gone.
    pub skipped: bool,
}

fn moved(
    tenant_id: &TenantId,
    m: &Message,
    version: u64,
    scheduled: DateTime<Utc>,
) -> Result<Vec<WriteOp>, Error> {
    let mut ops = vec![WriteOp::Put {
        item: item_of(tenant_id, m, version + 1)?,
        condition: Condition::VersionIs(version),
    }];
    ops.extend(due::reschedule(
        due::Kind::Webhook,
        tenant_id,
        m.id.as_str(),
        scheduled,
        (!m.done).then_some(m.due_at),
    ));
    Ok(ops)
}

/// The tenant's enabled endpoints that want `event_type`.
async fn subscribers(
    deps: &Deps,
    tenant_id: &TenantId,
    event_type: &str,
) -> Result<Vec<WebhookEndpoint>, Error> {
    let items = super::page::all_under(
        deps,
        keys::tenant_partition(tenant_id),
        keys::webhook_endpoints_prefix(),
        MAX_ENDPOINTS,
    )
    .await?;
    let mut out = Vec::new();
    for item in &items {
        let e: WebhookEndpoint = from_item(item)?;
        if e.enabled && e.wants(event_type) {
            out.push(e);
        }
    }
    out.truncate(MAX_ENDPOINTS);
    Ok(out)
}

/// Delivers one message's due deliveries if it is due: claim, fan out (first run), try
/// each, record.
pub async fn deliver(
    deps: &Deps,
    sender: &dyn WebhookSender,
    tenant_id: &TenantId,
    id: &WebhookMessageId,
) -> Result<Ran, Error> {
    let skipped = Ran {
        skipped: true,
        ..Ran::default()
    };
    // What the delivery changes beyond its own bookkeeping (an endpoint it disables)
    // is the delivery's.
    let deps = &deps.acting(audit::job_origin("webhook-delivery"));
    let now = deps.clock.now();
    let Some(item) = deps
        .store
        .get(&keys::webhook_message(tenant_id, id))
        .await?
    else {
        return Ok(skipped);
    };
    let mut m: Message = from_item(&item)?;
    let scheduled = m.due_at;
    if m.done || m.due_at > now || m.claimed_until.is_some_and(|t| t > now) {
        return Ok(skipped);
    }
    m.claimed_until = Some(now + Duration::seconds(CLAIM_SECONDS));
    m.due_at = now + Duration::seconds(CLAIM_SECONDS);
    match deps
        .store
        .transact(moved(tenant_id, &m, item.version, scheduled)?)
        .await
    {
        Ok(()) => {}
        Err(e) if e.lost_to_another_writer() => return Ok(skipped),
        Err(e) => return Err(e.into()),
    }
    let (version, scheduled) = (item.version + 1, m.due_at);

    if !m.fanned_out {
        m.deliveries = subscribers(deps, tenant_id, &m.event_type)
            .await?
            .into_iter()
            .map(|e| Delivery {
                endpoint_id: e.id,
                state: DeliveryState::Pending,
                attempts: 0,
                next_at: now,
                last_error: None,
            })
            .collect();
        m.fanned_out = true;
    }
    let body = serde_json::to_vec(&m.payload).map_err(anyhow::Error::from)?;
    let mut ran = Ran::default();
    let due_now: Vec<usize> = m
        .deliveries
        .iter()
        .enumerate()
        .filter(|(_, d)| d.state == DeliveryState::Pending && d.next_at <= now)
        .map(|(i, _)| i)
        .take(PER_RUN)
        .collect();
    for i in due_now {
        let endpoint_id = m.deliveries[i].endpoint_id.clone();
        // Whatever goes wrong with one endpoint (its secret, the store) counts as a
        // failed try of that endpoint: the others' results are still recorded.
        let outcome = match attempt(deps, sender, tenant_id, &m, &endpoint_id, &body).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), endpoint = %endpoint_id, message = %m.id, "a webhook attempt failed before or after sending");
                Tried::Failed("an error on our side (see the log); tried again".into())
            }
        };
        let d = &mut m.deliveries[i];
        d.attempts += 1;
        match outcome {
            Tried::Delivered => {
                d.state = DeliveryState::Delivered;
                d.last_error = None;
                ran.delivered += 1;
            }
            Tried::Gone(why) => {
                d.state = DeliveryState::Failed;
                d.last_error = Some(why);
                ran.given_up += 1;
            }
            Tried::Failed(why) => {
                ran.failed_attempts += 1;
                d.last_error = Some(why);
                match RETRY_AFTER.get(d.attempts as usize - 1) {
                    Some(wait) => d.next_at = deps.clock.now() + Duration::seconds(*wait),
                    None => {
                        d.state = DeliveryState::Failed;
                        ran.given_up += 1;
                    }
                }
            }
        }
    }
    m.claimed_until = None;
    let next = m
        .deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Pending)
        .map(|d| d.next_at)
        .min();
    match next {
        Some(t) => m.due_at = t,
        None => {
            m.done = true;
            m.due_at = deps.clock.now();
        }
    }
    match deps
        .store
        .transact(moved(tenant_id, &m, version, scheduled)?)
        .await
    {
        Ok(()) => Ok(ran),
        // Another run took over after this claim expired; its record stands.
        Err(e) if e.lost_to_another_writer() => Ok(skipped),
        Err(e) => Err(e.into()),
    }
}

enum Tried {
    Delivered,
    /// Failed; tried again on the schedule.
    Failed(String),
    /// The endpoint is gone or disabled: not tried again.
    Gone(String),
}

/// One attempt to one endpoint: signed with its live secrets, sent, recorded under the
/// endpoint; the endpoint's failure streak moved (and the endpoint disabled when it has
/// failed long enough).
async fn attempt(
    deps: &Deps,
    sender: &dyn WebhookSender,
    tenant_id: &TenantId,
    m: &Message,
    endpoint_id: &WebhookEndpointId,
    body: &[u8],
) -> Result<Tried, Error> {
    let (mut endpoint, item) = match outbound::load(deps, tenant_id, endpoint_id).await {
        Ok(found) => found,
        Err(Error::NotFound(_)) => return Ok(Tried::Gone("the endpoint was removed".into())),
        Err(e) => return Err(e),
    };
    if !endpoint.enabled && m.event_type != EventType::WebhookTest.as_str() {
        return Ok(Tried::Gone("the endpoint is disabled".into()));
    }
    let now = deps.clock.now();
    let secrets: Vec<SigningSecret> = signing::open_live(
        deps,
        &outbound::context(tenant_id, endpoint_id),
        &endpoint.secrets,
        now,
    )
    .await?;
    let ts = now.timestamp();
    let headers = [
        (webhooks::ID_HEADER, m.id.to_string()),
        (webhooks::TIMESTAMP_HEADER, ts.to_string()),
        (
            webhooks::SIGNATURE_HEADER,
            webhooks::signature_header(&secrets, m.id.as_str(), ts, body),
        ),
    ];
    let started = std::time::Instant::now();
    let result = sender.post(&endpoint.url, &headers, body).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let (status, response, error) = match &result {
        Ok(a) => (Some(a.status), Some(a.body.clone()), None),
        Err(WebhookSendError::Refused(why) | WebhookSendError::Failed(why)) => {
            (None, None, Some(why.clone()))
        }
    };
    let succeeded = status.is_some_and(|s| (200..300).contains(&s));
    let record = outbound::Attempt {
        message_id: m.id.clone(),
        event_type: m.event_type.clone(),
        at: now,
        status,
        duration_ms,
        response,
        error: error.clone(),
        succeeded,
    };
    let mut attempt_item = Item::new(
        keys::webhook_attempt(tenant_id, endpoint_id, &stamp(now), &m.id),
        to_data(&record)?,
    );
    attempt_item.expires_at = Some((now + Duration::days(KEEP_DAYS)).timestamp());
    if let Err(e) = deps.store.put(attempt_item, Condition::None).await {
        // The delivery's outcome still counts; only its record in the list is missing.
        tracing::warn!(error = format!("{e:#}"), endpoint = %endpoint_id, "an attempt was not recorded");
    }

    // The endpoint's failure streak: cleared by a success, begun by a first failure;
    // an endpoint failing for long enough is disabled and its owners told.
    let mut ops = Vec::new();
    let mut changed = false;
    if succeeded {
        if endpoint.failing_since.take().is_some() {
            endpoint.last_failure_at = None;
            changed = true;
        }
    } else {
        // A streak is failures with no success and no long quiet between them: after
        // a gap longer than a message's retries, a failure starts a new one.
        let quiet = endpoint
            .last_failure_at
            .is_some_and(|t| now - t > Duration::hours(STREAK_GAP_HOURS));
        let was = endpoint.failing_since.filter(|_| !quiet);
        let since = was.unwrap_or(now);
        endpoint.failing_since = Some(since);
        endpoint.last_failure_at = Some(now);
        changed = true;
        if endpoint.enabled && now - since >= Duration::days(DISABLE_AFTER_DAYS) {
            endpoint.enabled = false;
            endpoint.disabled_reason = Some(format!(
                "its deliveries failed for {DISABLE_AFTER_DAYS} days (since {})",
                stamp(since)
            ));
            changed = true;
            ops.extend(disabled_emails(deps, tenant_id, &endpoint, since, now).await?);
            let entry = Entry::new("webhook_endpoint.disabled", outbound::target(endpoint_id))
                .value("enabled", false);
            ops.push(audit::op(deps, Log::Tenant(tenant_id), entry).await?);
            tracing::warn!(tenant = %tenant_id, endpoint = %endpoint_id, "a webhook endpoint was disabled after failing for days");
        }
    }
    if changed {
        endpoint.updated_at = now;
        ops.push(outbound::put_op(tenant_id, &endpoint, item.version)?);
        match deps.store.transact(ops).await {
            Ok(()) => {}
            // The endpoint changed meanwhile (an owner's edit, another delivery): the
            // streak moves on the next attempt.
            Err(e) if e.lost_to_another_writer() => {
                tracing::info!(endpoint = %endpoint_id, "the endpoint changed during a delivery");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(match (succeeded, result) {
        (true, _) => Tried::Delivered,
        (false, Ok(a)) => Tried::Failed(format!("answered {}", a.status)),
        (false, Err(e)) => Tried::Failed(e.to_string()),
    })
}

/// The emails telling the tenant's active owners an endpoint was disabled.
async fn disabled_emails(
    deps: &Deps,
    tenant_id: &TenantId,
    endpoint: &WebhookEndpoint,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<WriteOp>, Error> {
    let members = super::page::all_under(
        deps,
        keys::tenant_partition(tenant_id),
        keys::members_prefix(),
        100,
    )
    .await?;
    let mut ops = Vec::new();
    for item in &members {
        let Ok(member) = from_item::<Member>(item) else {
            continue;
        };
        if member.role != crate::access::StaffRole::Owner || member.status != MemberStatus::Active {
            continue;
        }
        let mut context = serde_json::Map::new();
        context.insert("first_name".into(), json!(member.first_name));
        // The address without its query: a token there stays out of the email.
        let shown = endpoint.url.split(['?', '#']).next().unwrap_or_default();
        context.insert("url".into(), json!(shown));
        context.insert("endpoint_id".into(), json!(endpoint.id));
        context.insert(
            "failing_since".into(),
            json!(since.format("%Y-%m-%d %H:%M UTC").to_string()),
        );
        ops.extend(mail::enqueue(
            tenant_id,
            mail::Template::WebhookEndpointDisabled,
            &member.email,
            context,
            now,
        )?);
        // A transaction holds 100 writes: a few owners are enough to tell.
        if ops.len() >= 20 {
            break;
        }
    }
    Ok(ops)
}

/// What a sweep found and did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct SendReport {
    pub due: u64,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub given_up: u64,
    /// Messages whose run hit a store error; they stay due.
    pub errors: u64,
}

/// Delivers every message that is due: the due-work index's webhook shards up to now.
pub async fn deliver_due(deps: &Deps, sender: &dyn WebhookSender) -> Result<SendReport, Error> {
    let mut report = SendReport::default();
    let mut sweep = due::Sweep::new(due::Kind::Webhook, deps.clock.now());
    let started = std::time::Instant::now();
    while let Some(page) = sweep.next(deps).await? {
        for entry in page {
            if started.elapsed() > std::time::Duration::from_secs(SWEEP_SECONDS) {
                // The rest stay due for the next sweep.
                return Ok(report);
            }
            report.due += 1;
            let id = WebhookMessageId::from_record(entry.item_id.as_str());
            match deliver(deps, sender, &entry.tenant_id, &id).await {
                Ok(ran) if ran.skipped => {
                    if let Err(e) = forget_if_stale(deps, &entry, &id).await {
                        tracing::warn!(error = format!("{e:#}"), message = %id, "a stale due entry stays");
                    }
                }
                Ok(ran) => {
                    report.delivered += ran.delivered;
                    report.failed_attempts += ran.failed_attempts;
                    report.given_up += ran.given_up;
                }
                Err(e) => {
                    report.errors += 1;
                    tracing::error!(error = format!("{e:#}"), tenant = %entry.tenant_id, message = %id, "delivering a webhook failed");
                }
            }
        }
    }
    Ok(report)
}

async fn forget_if_stale(
    deps: &Deps,
    entry: &due::Due,
    id: &WebhookMessageId,
) -> Result<(), Error> {
    let current = match deps
        .store
        .get(&keys::webhook_message(&entry.tenant_id, id))
        .await?
    {
        Some(item) => Some(from_item::<Message>(&item)?),
        None => None,
    };
    let stale = current.is_none_or(|m| {
        m.done
            || due::entry(
                due::Kind::Webhook,
                &entry.tenant_id,
                m.id.as_str(),
                m.due_at,
            ) != entry.entry
    });
    if stale {
        due::forget(deps, entry).await?;
    }
    Ok(())
}
