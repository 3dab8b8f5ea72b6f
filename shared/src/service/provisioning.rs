//! Provisioning requests: a partner's system creates, updates, deletes, suspends and
//! reactivates its customers by `external_id`, by signed webhook (`service::inbound`)
//! or by API (`POST /v1/provisioning`).
//!
//! A request is parsed and checked when it arrives, then recorded in one transaction
//! with its due-work entry (and, for a webhook, the answer to its `webhook-id`) and
//! answered `202` with its id. The work runs apart, like the email outbox: on the
//! table's stream in AWS, in a background task locally, and from the due-work sweep
//! for retries. A run claims the request with a versioned write, so two runs never
//! work it at once. The work itself is keyed by `external_id`: a run that dies after
//! creating the customer and before recording it finds the customer on its retry and
//! completes it as an update, so a request makes its customer once.
//!
//! A request fails for good, with the fields to fix, when the work meets a problem in
//! the request (an unknown plan, a company name another customer has); a failure of a
//! service it needs is retried with backoff, [`MAX_ATTEMPTS`] times at most.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit::{self, Entry, Log};
use super::{customers, due, from_item, subscriptions, to_data, users};
use crate::Deps;
use crate::access::{CustomerScope, Scope, TenantScope, customer_of};
use crate::error::{Error, ProblemKind};
use crate::model::audit::{Actor, ActorKind, Origin, Target};
use crate::model::customer::{
    AdminDraft, CompanyDraft, CustomerBillingDraft, CustomerDraft, CustomerStatus, Transition,
};
use crate::model::event::EventType;
use crate::model::ids::{CustomerId, InboundEndpointId, ProvisioningId, TenantId};
use crate::model::input::{Checks, ContactDraft, from_value};
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::store::keys;

/// The event types a provisioning request may have.
pub const EVENT_TYPES: [&str; 4] = [
    "customer.provision",
    "customer.deprovision",
    "customer.suspend",
    "customer.reactivate",
];
/// Tries before a request whose work keeps failing on a service is given up on.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long a run owns a request it claimed: longer than the worker's Lambda timeout
/// (240 s), so a run still working is never taken over.
const CLAIM_SECONDS: i64 = 300;
/// Users to invite in one request, at most.
const MAX_USERS: usize = 50;
/// Requests are kept this long after they finish (DynamoDB TTL), and so are the
/// answers to their `webhook-id`s: a resend within it is answered the same.
const KEEP_DAYS: i64 = 30;

/// A provisioning request as sent: the Standard Webhooks payload shape.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDraft {
    /// One of `customer.provision`, `customer.deprovision`, `customer.suspend`,
    /// `customer.reactivate`.
    #[serde(rename = "type")]
    #[schema(example = "customer.provision")]
    pub event_type: Option<String>,
    /// When the sender made the event (RFC 3339); kept, not checked (the signature's
    /// timestamp is).
    pub timestamp: Option<String>,
    #[schema(value_type = Option<ProvisionData>)]
    pub data: Option<Value>,
}

/// `data` of a request. `customer.provision` creates the customer when no customer of
/// the tenant has its `external_id` (then `company` and `admin` are required) and
/// updates it otherwise (`company`, `primary_contact`, `max_users`, `billing` are
/// merged into what is there, as a `PATCH` would; `admin` is used only at creation). `plan` subscribes it or changes
/// its plan; `users` are invited unless a user with that email is there. The other
/// types take `external_id` alone.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionData {
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,100}$", example = "crm-4711")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<CompanyDraft>,
    /// The admin, without a password: it gets a link to set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminDraft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_contact: Option<ContactDraft>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<CustomerBillingDraft>,
    /// A plan's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "growth")]
    pub plan: Option<String>,
    /// Users to invite (each gets an invitation email), at most 50. Each may be given
    /// one of the template's permission sets by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<users::UserDraft>>,
    /// A customer template's code: used when the request creates the customer (its
    /// plan, feature switches, `max_users` and permission sets, in the creation's one
    /// transaction); `plan` and `max_users`, when given, take precedence: the customer
    /// starts on `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "agency_standard")]
    pub template: Option<String>,
}

/// What the request asks, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Provision,
    Deprovision,
    Suspend,
    Reactivate,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "customer.provision" => Kind::Provision,
            "customer.deprovision" => Kind::Deprovision,
            "customer.suspend" => Kind::Suspend,
            "customer.reactivate" => Kind::Reactivate,
            _ => return None,
        })
    }
    pub fn event_type(&self) -> &'static str {
        match self {
            Kind::Provision => "customer.provision",
            Kind::Deprovision => "customer.deprovision",
            Kind::Suspend => "customer.suspend",
            Kind::Reactivate => "customer.reactivate",
        }
    }
}

/// Where a request came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Source {
    /// A signed webhook: its endpoint and its `webhook-id`.
    Webhook {
        #[schema(value_type = String)]
        endpoint_id: InboundEndpointId,
        message_id: String,
    },
    /// `POST /v1/provisioning`: the caller (a member or a key id).
    Api { actor: String },
}

impl Source {
    /// Who sent the request: its endpoint, or the staff member or API key that posted
    /// it (an operator key cannot). The changes its work makes are theirs.
    fn actor(&self) -> Actor {
        match self {
            Source::Webhook { endpoint_id, .. } => {
                Actor::new(ActorKind::WebhookEndpoint, endpoint_id.as_str())
            }
            Source::Api { actor } if actor.starts_with("mem_") => {
                Actor::new(ActorKind::Member, actor.as_str())
            }
            Source::Api { actor } => Actor::new(ActorKind::ApiKey, actor.as_str()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for its work, or for a retry (`last_error` says why).
    Pending,
    Succeeded,
    /// Given up on: `error` says what to fix.
    Failed,
}

/// What a request did to its customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Deleted,
    Suspended,
    Reactivated,
    /// It was so already.
    Unchanged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    #[schema(value_type = String)]
    pub customer_id: CustomerId,
    pub action: Action,
}

/// One field to fix, in the request's terms (`data.company.name`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailedField {
    pub field: String,
    pub detail: String,
}

/// Why a request failed for good: a problem type as the API's, what to fix, and the
/// fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    /// `urn:tenantry:problem:<kind>`, as the API's problems.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FailedField>,
}

/// What a `provisioning.succeeded` or `provisioning.failed` delivery carries (payload
/// version 1: fields may be added, none removed or changed).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProvisioningEvent {
    #[serde(rename = "type")]
    #[schema(example = "provisioning.succeeded")]
    pub event_type: String,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// The provisioning request as `GET /v1/provisioning/{id}` shows it.
    pub data: Provisioning,
}

/// A provisioning request as stored and shown.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provisioning {
    #[schema(value_type = String, example = "prv_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub id: ProvisioningId,
    /// The event type.
    #[serde(rename = "type")]
    #[schema(example = "customer.provision")]
    pub event_type: String,
    pub external_id: String,
    pub source: Source,
    pub state: State,
    pub attempts: u32,
    /// The request's `data` as sent.
    pub data: Value,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Why the last try failed, while it is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the next try is due (pending).
    #[schema(value_type = Option<String>)]
    pub due_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub claimed_until: Option<DateTime<Utc>>,
}

impl Provisioning {
    fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.event_type)
    }
}

/// A checked request, ready to record.
pub struct Checked {
    kind: Kind,
    external_id: String,
    data: Value,
}

fn prefixed(e: Error) -> Error {
    match e {
        Error::Invalid(fields) => Error::Invalid(
            fields
                .into_iter()
                .map(|mut f| {
                    f.field = format!("data.{}", f.field);
                    f
                })
                .collect(),
        ),
        Error::BadRequest {
            kind,
            detail,
            field,
        } => Error::BadRequest {
            kind,
            detail,
            field: Some(format!("data.{}", field.unwrap_or_default()))
                .map(|f| f.trim_end_matches('.').to_owned()),
        },
        other => other,
    }
}

/// Parses and checks a request's body: its envelope, its type, and its `data` (what can
/// be checked without reading anything: every field's form; a new customer's company
/// and admin are checked in full when both are given).
pub fn check(body: &[u8]) -> Result<Checked, Error> {
    let draft: RequestDraft = crate::model::input::parse_json(body)?;
    let mut c = Checks::new();
    let kind = c.required("type", draft.event_type.as_deref(), |s| {
        Kind::parse(s).ok_or_else(|| format!("must be one of {}", EVENT_TYPES.join(", ")))
    });
    let Some(raw) = draft.data else {
        c.fail("data", "is required");
        c.finish()?;
        return Err(Error::invalid("data", "is required"));
    };
    c.finish()?;
    let kind = kind.ok_or_else(|| Error::invalid("type", "is required"))?;
    let data: ProvisionData = from_value(raw.clone()).map_err(prefixed)?;
    let mut c = Checks::new();
    let external_id = c.required(
        "data.external_id",
        data.external_id.as_deref(),
        crate::model::customer::external_id,
    );
    if kind != Kind::Provision {
        let extra = data.company.is_some()
            || data.admin.is_some()
            || data.primary_contact.is_some()
            || data.max_users.is_some()
            || data.billing.is_some()
            || data.plan.is_some()
            || data.template.is_some()
            || data.users.is_some();
        if extra {
            c.fail(
                "data",
                format!("{} takes external_id alone", kind.event_type()),
            );
        }
    }
    if data.admin.as_ref().is_some_and(|a| a.password.is_some()) {
        c.fail(
            "data.admin.password",
            "provisioning never takes a password: the admin gets a link to set one",
        );
    }
    if let Some(plan) = &data.plan {
        c.check("data.plan", crate::model::fields::code(plan));
    }
    if let Some(template) = &data.template {
        c.check("data.template", crate::model::fields::code(template));
    }
    if let Some(list) = &data.users {
        if list.len() > MAX_USERS {
            c.fail("data.users", format!("at most {MAX_USERS} users at once"));
        }
        for (i, u) in list.iter().enumerate() {
            if u.password.is_some() {
                c.fail(
                    &format!("data.users[{i}].password"),
                    "provisioning never takes a password: each user gets an invitation",
                );
            }
            c.required(
                &format!("data.users[{i}].email"),
                u.email.as_deref(),
                crate::model::fields::email,
            );
        }
    }
    c.finish()?;
    if data.company.is_some() && data.admin.is_some() {
        customer_draft(&data, external_id.clone())
            .parse()
            .map_err(prefixed)?;
    }
    Ok(Checked {
        kind,
        external_id: external_id.unwrap_or_default(),
        data: raw,
    })
}

fn customer_draft(data: &ProvisionData, external_id: Option<String>) -> CustomerDraft {
    CustomerDraft {
        company: data.company.clone(),
        admin: data.admin.clone(),
        primary_contact: data.primary_contact.clone(),
        max_users: data.max_users,
        external_id,
        billing: data.billing.clone(),
        template: data.template.clone(),
        support_access: None,
    }
}

/// The answer to a request: its id and where to follow it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Accepted {
    #[schema(value_type = String, example = "prv_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub id: ProvisioningId,
    pub state: State,
    /// `GET` it to follow the request.
    #[schema(example = "/v1/provisioning/prv_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub url: String,
}

/// A recorded request: its answer, and whether it was recorded before (a resend).
pub struct Recorded {
    pub accepted: Accepted,
    pub replayed: bool,
}

fn item_of(tenant_id: &TenantId, p: &Provisioning, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::provisioning(tenant_id, &p.id), to_data(p)?);
    item.version = version;
    if p.state != State::Pending {
        item.expires_at =
            Some((p.finished_at.unwrap_or(p.created_at) + Duration::days(KEEP_DAYS)).timestamp());
    }
    Ok(item)
}

/// Records a checked request (with, for a webhook, the answer to its `webhook-id`) and
/// its due-work entry, in one transaction. A `webhook-id` recorded before answers what
/// it answered then, and nothing is written.
pub async fn record(
    deps: &Deps,
    scope: &TenantScope,
    checked: Checked,
    source: Source,
) -> Result<Recorded, Error> {
    let tenant_id = scope.tenant_id();
    let now = deps.clock.now();
    let p = Provisioning {
        id: ProvisioningId::generate(),
        event_type: checked.kind.event_type().to_owned(),
        external_id: checked.external_id,
        source: source.clone(),
        state: State::Pending,
        attempts: 0,
        data: checked.data,
        created_at: now,
        finished_at: None,
        result: None,
        error: None,
        last_error: None,
        due_at: now,
        claimed_until: None,
    };
    let accepted = Accepted {
        id: p.id.clone(),
        state: State::Pending,
        url: format!("/v1/provisioning/{}", p.id),
    };
    let mut ops = Vec::with_capacity(4);
    let message_key = match &source {
        Source::Webhook {
            endpoint_id,
            message_id,
        } => {
            let hash = hex::encode(Sha256::digest(message_id.as_bytes()));
            let key = keys::inbound_message(tenant_id, endpoint_id, &hash);
            let mut answer = Item::new(key.clone(), to_data(&accepted)?);
            answer.expires_at = Some((now + Duration::days(KEEP_DAYS)).timestamp());
            ops.push(WriteOp::create(answer));
            Some(key)
        }
        Source::Api { .. } => None,
    };
    ops.push(WriteOp::create(item_of(tenant_id, &p, 1)?));
    ops.push(due::schedule(
        due::Kind::Provision,
        tenant_id,
        p.id.as_str(),
        now,
    ));
    // A signed webhook's request has no principal: its endpoint is who acted.
    let entry = Entry::new("provisioning.received", Target::new("provisioning", &p.id))
        .value("type", &p.event_type)
        .by(source.actor());
    ops.push(audit::op(deps, Log::Tenant(tenant_id), entry).await?);
    match deps.store.transact(ops).await {
        Ok(()) => Ok(Recorded {
            accepted,
            replayed: false,
        }),
        Err(e) => {
            // Sent before (the answer's create was refused), or sent twice at the same
            // moment (DynamoDB cancels one of two transactions on one item as a
            // conflict): the first answer, once it is there.
            let resent = matches!(&e, StoreError::TransactionCanceled { failed } if failed.contains(&0))
                || matches!(e, StoreError::Conflict);
            let Some(key) = message_key.filter(|_| resent) else {
                return Err(e.into());
            };
            for wait in [0, 50, 200, 500] {
                if wait > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                if let Some(item) = deps.store.get(&key).await? {
                    return Ok(Recorded {
                        accepted: from_item(&item)?,
                        replayed: true,
                    });
                }
            }
            Err(Error::concurrent_update())
        }
    }
}

/// `GET /v1/provisioning/{id}`.
pub async fn get(
    deps: &Deps,
    scope: &TenantScope,
    id: &ProvisioningId,
) -> Result<Provisioning, Error> {
    let item = deps
        .store
        .get(&keys::provisioning(scope.tenant_id(), id))
        .await?
        .ok_or(Error::NotFound("provisioning request"))?;
    from_item(&item)
}

/// What one run of a request did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Worked {
    Succeeded,
    Failed,
    Retrying,
    /// Nothing to do: finished, not due, claimed by another run, or gone.
    Skipped,
}

fn moved(
    tenant_id: &TenantId,
    p: &Provisioning,
    version: u64,
    scheduled: DateTime<Utc>,
) -> Result<Vec<WriteOp>, Error> {
    let mut ops = vec![WriteOp::Put {
        item: item_of(tenant_id, p, version + 1)?,
        condition: Condition::VersionIs(version),
    }];
    let next = (p.state == State::Pending).then_some(p.due_at);
    ops.extend(due::reschedule(
        due::Kind::Provision,
        tenant_id,
        p.id.as_str(),
        scheduled,
        next,
    ));
    Ok(ops)
}

/// Works one request if it is pending and due: claim, do, record.
pub async fn work(deps: &Deps, tenant_id: &TenantId, id: &ProvisioningId) -> Result<Worked, Error> {
    let now = deps.clock.now();
    let Some(item) = deps.store.get(&keys::provisioning(tenant_id, id)).await? else {
        return Ok(Worked::Skipped);
    };
    let mut p: Provisioning = from_item(&item)?;
    let scheduled = p.due_at;
    if p.state != State::Pending || p.due_at > now || p.claimed_until.is_some_and(|t| t > now) {
        return Ok(Worked::Skipped);
    }
    // The customer's changes the work makes are its sender's, as if it had made them.
    let deps = &deps.acting(Origin::of_actor(p.source.actor()));
    if p.attempts >= MAX_ATTEMPTS {
        p.state = State::Failed;
        p.claimed_until = None;
        p.finished_at = Some(now);
        p.error = Some(Failure {
            problem_type: ProblemKind::DependencyUnavailable.type_uri(),
            detail: format!(
                "the work failed {MAX_ATTEMPTS} times on a service it needs ({}); send the request again",
                p.last_error
                    .clone()
                    .unwrap_or_else(|| "a crash or a timeout".into())
            ),
            errors: Vec::new(),
        });
        let mut ops = moved(tenant_id, &p, item.version, scheduled)?;
        ops.extend(super::events::emit(
            tenant_id,
            EventType::ProvisioningFailed,
            &p,
            now,
        )?);
        return match deps.store.transact(ops).await {
            Ok(()) => Ok(Worked::Failed),
            Err(e) if e.lost_to_another_writer() => Ok(Worked::Skipped),
            Err(e) => Err(e.into()),
        };
    }
    // Claim: a versioned write; the due time moves past the claim, so a run that dies
    // is retried on the same schedule as one that failed.
    p.attempts += 1;
    p.claimed_until = Some(now + Duration::seconds(CLAIM_SECONDS));
    p.due_at = now + due::backoff(p.attempts).max(Duration::seconds(CLAIM_SECONDS));
    match deps
        .store
        .transact(moved(tenant_id, &p, item.version, scheduled)?)
        .await
    {
        Ok(()) => {}
        Err(e) if e.lost_to_another_writer() => return Ok(Worked::Skipped),
        Err(e) => return Err(e.into()),
    }
    let (version, scheduled) = (item.version + 1, p.due_at);

    let scope = TenantScope::acting_for(tenant_id.clone());
    let result = match (p.kind(), super::directory::tenant_gate(deps, tenant_id).await) {
        (_, Ok(true) | Err(Error::Unauthenticated)) => Err(Error::Forbidden(
            "the tenant was suspended when the request was worked; send it again once the tenant is active".into(),
        )),
        (_, Err(e)) => Err(e),
        (Some(kind), Ok(false)) => perform(deps, &scope, &kind, &p).await,
        (None, Ok(false)) => Err(Error::invalid("type", "is not a provisioning event type")),
    };
    let done = deps.clock.now();
    p.claimed_until = None;
    let worked = match result {
        Ok(outcome) => {
            p.state = State::Succeeded;
            p.result = Some(outcome);
            p.finished_at = Some(done);
            p.last_error = None;
            Worked::Succeeded
        }
        Err(e) => match failure(&e) {
            Some(f) => {
                p.state = State::Failed;
                p.error = Some(f);
                p.finished_at = Some(done);
                Worked::Failed
            }
            None => {
                let why = match &e {
                    Error::Unavailable(d) => d.clone(),
                    _ => "an unexpected error (see the log)".into(),
                };
                tracing::warn!(error = format!("{e:#}"), provisioning = %p.id, tenant = %tenant_id, "provisioning failed; retrying");
                p.last_error = Some(why);
                p.due_at = done + due::backoff(p.attempts);
                Worked::Retrying
            }
        },
    };
    let mut ops = moved(tenant_id, &p, version, scheduled)?;
    // The partner's systems hear how it ended, with the change that records it.
    let finished = match p.state {
        State::Succeeded => Some(EventType::ProvisioningSucceeded),
        State::Failed => Some(EventType::ProvisioningFailed),
        State::Pending => None,
    };
    if let Some(event) = finished {
        ops.extend(super::events::emit(tenant_id, event, &p, done)?);
    }
    match deps.store.transact(ops).await {
        Ok(()) => Ok(worked),
        // Another run took over after this claim expired; its record stands.
        Err(e) if e.lost_to_another_writer() => Ok(Worked::Skipped),
        Err(e) => Err(e.into()),
    }
}

/// The problem in the request, or `None` when the work should be tried again (a service
/// it needs failed).
fn failure(e: &Error) -> Option<Failure> {
    let data = |f: &str| format!("data.{f}");
    Some(match e {
        Error::Invalid(fields) => Failure {
            problem_type: ProblemKind::Validation.type_uri(),
            detail: "invalid values; errors names every field to fix".into(),
            errors: fields
                .iter()
                .map(|f| FailedField {
                    field: data(&f.field),
                    detail: f.detail.clone(),
                })
                .collect(),
        },
        Error::BadRequest {
            kind,
            detail,
            field,
        } => Failure {
            problem_type: kind.type_uri(),
            detail: detail.clone(),
            errors: field
                .iter()
                .map(|f| FailedField {
                    field: data(f),
                    detail: detail.clone(),
                })
                .collect(),
        },
        // A write raced another (a staff edit, a transaction conflict): try again.
        Error::Conflict {
            kind: ProblemKind::ConcurrentUpdate,
            ..
        } => return None,
        Error::Conflict {
            kind,
            detail,
            extra,
        } => Failure {
            problem_type: kind.type_uri(),
            detail: detail.clone(),
            errors: extra
                .get("field")
                .and_then(Value::as_str)
                .map(|f| FailedField {
                    field: data(f),
                    detail: detail.clone(),
                })
                .into_iter()
                .collect(),
        },
        Error::NotFound(what) => Failure {
            problem_type: ProblemKind::NotFound.type_uri(),
            detail: format!("{what} not found"),
            errors: Vec::new(),
        },
        Error::Forbidden(detail) | Error::PreconditionFailed(detail) => Failure {
            problem_type: ProblemKind::Forbidden.type_uri(),
            detail: detail.clone(),
            errors: Vec::new(),
        },
        Error::Unauthenticated
        | Error::InvalidLogin
        | Error::Throttled { .. }
        | Error::Unavailable(_)
        | Error::Unexpected(_) => return None,
    })
}

fn no_customer() -> Error {
    Error::invalid(
        "external_id",
        "no customer of this tenant has this external_id",
    )
}

async fn perform(
    deps: &Deps,
    scope: &TenantScope,
    kind: &Kind,
    p: &Provisioning,
) -> Result<Outcome, Error> {
    let tenant_id = scope.tenant_id();
    let found = customers::by_external_id(deps, tenant_id, &p.external_id).await?;
    let transition = match kind {
        Kind::Provision => return provision(deps, scope, p, found).await,
        Kind::Deprovision => (Transition::Delete, CustomerStatus::Deleted, Action::Deleted),
        Kind::Suspend => (
            Transition::Suspend,
            CustomerStatus::Suspended,
            Action::Suspended,
        ),
        Kind::Reactivate => (
            Transition::Reactivate,
            CustomerStatus::Active,
            Action::Reactivated,
        ),
    };
    let customer_id = found.ok_or_else(no_customer)?;
    let (t, target, action) = transition;
    let (current, _) = super::load_customer(deps, tenant_id, &customer_id).await?;
    if current.status == target {
        return Ok(Outcome {
            customer_id,
            action: Action::Unchanged,
        });
    }
    customers::transition(deps, scope, &customer_id, t, true).await?;
    Ok(Outcome {
        customer_id,
        action,
    })
}

async fn provision(
    deps: &Deps,
    scope: &TenantScope,
    p: &Provisioning,
    found: Option<CustomerId>,
) -> Result<Outcome, Error> {
    let data: ProvisionData = from_value(p.data.clone())?;
    let (customer_id, mut action) = match found {
        Some(id) => (id, Action::Unchanged),
        None => match customers::create_on_plan(
            deps,
            scope,
            &customer_draft(&data, Some(p.external_id.clone())),
            data.plan.as_deref(),
        )
        .await
        {
            Ok(view) => (view.id.clone(), Action::Created),
            // Made by another request for the same external_id meanwhile (its marker,
            // or the admin's email or the name it took first): update that customer.
            Err(
                e @ Error::Conflict {
                    kind:
                        ProblemKind::DuplicateExternalId
                        | ProblemKind::DuplicateEmail
                        | ProblemKind::DuplicateCompanyName,
                    ..
                },
            ) => match customers::by_external_id(deps, scope.tenant_id(), &p.external_id).await? {
                Some(id) => (id, Action::Unchanged),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        },
    };
    let customer = customer_of(&Scope::Tenant(scope.clone()), customer_id.clone())?;
    if action != Action::Created && update_profile(deps, scope, &customer_id, &p.data).await? {
        action = Action::Updated;
    }
    if let Some(plan) = &data.plan
        && subscribe(deps, scope, &customer, plan).await?
        && action == Action::Unchanged
    {
        action = Action::Updated;
    }
    for (i, u) in data.users.iter().flatten().enumerate() {
        match users::create(deps, &customer, u).await {
            Ok(_) => {
                if action == Action::Unchanged {
                    action = Action::Updated;
                }
            }
            // Invited before (this request's earlier try, or by hand).
            Err(Error::Conflict {
                kind: ProblemKind::DuplicateEmail,
                ..
            }) => {}
            Err(Error::Invalid(fields)) => {
                return Err(Error::Invalid(
                    fields
                        .into_iter()
                        .map(|mut f| {
                            f.field = format!("users[{i}].{}", f.field);
                            f
                        })
                        .collect(),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome {
        customer_id,
        action,
    })
}

/// Applies the profile fields a request gives to an existing customer (a merge patch:
/// what it leaves out stays); true when anything was given.
async fn update_profile(
    deps: &Deps,
    scope: &TenantScope,
    customer_id: &CustomerId,
    raw: &Value,
) -> Result<bool, Error> {
    // The fields as sent: a merge patch, so what a request leaves out stays as it is.
    let patch: serde_json::Map<String, Value> =
        ["company", "primary_contact", "max_users", "billing"]
            .into_iter()
            .filter_map(|name| raw.get(name).map(|v| (name.to_owned(), v.clone())))
            .collect();
    if patch.is_empty() {
        return Ok(false);
    }
    customers::patch(deps, scope, customer_id, &Value::Object(patch), None).await?;
    Ok(true)
}

/// Subscribes the customer to `plan`, or moves it there; true when anything changed.
async fn subscribe(
    deps: &Deps,
    scope: &TenantScope,
    customer: &CustomerScope,
    plan: &str,
) -> Result<bool, Error> {
    let draft = subscriptions::SubscriptionDraft {
        plan: Some(plan.to_owned()),
        starts_at: None,
    };
    match subscriptions::create(deps, customer, &draft).await {
        Ok(_) => Ok(true),
        Err(Error::Conflict {
            kind: ProblemKind::SubscriptionExists,
            ..
        }) => {
            let current = subscriptions::get(deps, customer).await?;
            if current.plan == plan && current.pending_change.is_none() {
                return Ok(false);
            }
            let change = subscriptions::SubscriptionChange {
                plan: Some(plan.to_owned()),
                at: None,
            };
            let changed = subscriptions::change(deps, scope, customer, &change, None).await?;
            Ok(changed.version != current.version)
        }
        Err(e) => Err(e),
    }
}

/// How many requests one sweep found and what became of them.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkReport {
    pub due: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub retrying: u64,
    /// Requests whose work hit a store error; they stay due.
    pub errors: u64,
}

/// Works every request that is due: the due-work index's provisioning shards up to now.
pub async fn work_due(deps: &Deps) -> Result<WorkReport, Error> {
    let mut report = WorkReport::default();
    let mut sweep = due::Sweep::new(due::Kind::Provision, deps.clock.now());
    while let Some(page) = sweep.next(deps).await? {
        for entry in page {
            report.due += 1;
            let id = ProvisioningId::from_record(entry.item_id.as_str());
            match work(deps, &entry.tenant_id, &id).await {
                Ok(Worked::Succeeded) => report.succeeded += 1,
                Ok(Worked::Failed) => report.failed += 1,
                Ok(Worked::Retrying) => report.retrying += 1,
                Ok(Worked::Skipped) => {
                    if let Err(e) = forget_if_stale(deps, &entry, &id).await {
                        tracing::warn!(error = format!("{e:#}"), provisioning = %id, "a stale due entry stays");
                    }
                }
                Err(e) => {
                    report.errors += 1;
                    tracing::error!(error = format!("{e:#}"), tenant = %entry.tenant_id, provisioning = %id, "provisioning failed");
                }
            }
        }
    }
    Ok(report)
}

async fn forget_if_stale(deps: &Deps, entry: &due::Due, id: &ProvisioningId) -> Result<(), Error> {
    let current = match deps
        .store
        .get(&keys::provisioning(&entry.tenant_id, id))
        .await?
    {
        Some(item) => Some(from_item::<Provisioning>(&item)?),
        None => None,
    };
    let stale = current.is_none_or(|p| {
        p.state != State::Pending
            || due::entry(
                due::Kind::Provision,
                &entry.tenant_id,
                p.id.as_str(),
                p.due_at,
            ) != entry.entry
    });
    if stale {
        due::forget(deps, entry).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedStore;
    use std::sync::Arc;

    /// A request is recorded with one event, named for its sender and carrying the
    /// request's trace; a resent `webhook-id` records nothing, so writes no event.
    #[tokio::test]
    async fn a_received_request_writes_one_event_by_its_sender() {
        let dir = tempfile::tempdir().unwrap();
        let deps = Deps::new(Arc::new(
            EmbeddedStore::open(dir.path().join("p.redb")).unwrap(),
        ))
        .acting(Origin {
            request_id: Some("req_1".into()),
            source_ip: Some("192.0.2.1".into()),
            ..Origin::of_actor(Actor::anonymous())
        });
        let tenant = TenantId::generate();
        let scope = TenantScope::acting_for(tenant.clone());
        let endpoint = InboundEndpointId::generate();
        let body = br#"{"type": "customer.suspend", "data": {"external_id": "crm-1"}}"#;
        let webhook = || Source::Webhook {
            endpoint_id: endpoint.clone(),
            message_id: "msg_1".into(),
        };
        let first = record(&deps, &scope, check(body).unwrap(), webhook())
            .await
            .unwrap();
        let again = record(&deps, &scope, check(body).unwrap(), webhook())
            .await
            .unwrap();
        assert!(again.replayed);
        let by_api = Source::Api {
            actor: "mem_0197b2a7f3b27e5d8c6f708192a3b4c5".into(),
        };
        record(&deps, &scope, check(body).unwrap(), by_api)
            .await
            .unwrap();

        let page = audit::list(
            &deps,
            Log::Tenant(&tenant),
            &audit::Filter::default(),
            10,
            None,
        )
        .await
        .unwrap();
        assert_eq!(page.data.len(), 2);
        assert!(
            page.data
                .iter()
                .all(|e| e.action == "provisioning.received")
        );
        let hook = page
            .data
            .iter()
            .find(|e| e.target.id == first.accepted.id.as_str())
            .expect("the webhook's event");
        assert_eq!(
            hook.actor,
            Actor::new(ActorKind::WebhookEndpoint, endpoint.as_str())
        );
        assert_eq!(hook.request_id.as_deref(), Some("req_1"));
        assert_eq!(hook.source_ip.as_deref(), Some("192.0.2.1"));
        assert!(page.data.iter().any(|e| e.actor.kind == ActorKind::Member));
    }
}
