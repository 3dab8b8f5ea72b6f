//! Support sessions: a tenant's staff member steps into one customer's account, as its
//! admin, for at most an hour, within the customer's setting (`allowed`, `approval`,
//! `disabled`), every step recorded under both names.
//!
//! The session's token (`sst_…`) is opaque and stored only as its hash, like an API
//! key: each request finds the session by it and checks, then and there, that the
//! session is active and not past its end, that its customer is active and still
//! allows sessions, and that the staff member (or key) is still there, with its current
//! role. Ending it, its expiry, a suspension, a removal or a disabled setting refuse the
//! next request at once; no signing key exists to manage or leak.

use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

use super::audit::{self, Entry, Log};
use super::{from_item, to_data};
use crate::Deps;
use crate::access::{CustomerScope, Principal, StaffRole, TenantScope};
use crate::error::{Error, ProblemKind};
use crate::model::api_key::{ApiKey, hash_secret};
use crate::model::audit::{Actor, ActorKind, Target};
use crate::model::customer::{Customer, CustomerStatus};
use crate::model::fields;
use crate::model::ids::{ApiKeyId, CustomerId, MemberId, SupportSessionId, TenantId};
use crate::model::member::MemberStatus;
use crate::model::support::{
    APPROVAL_HOURS, DEFAULT_MINUTES, MAX_MINUTES, SessionAction, SessionStatus, StartedSession,
    SupportAccess, SupportSession, SupportSessionView,
};
use crate::ports::{Condition, Item, Query, SortRange, WriteOp};
use crate::service::mail::{self, Template};
use crate::store::keys;

/// The prefix of a session's token.
pub const TOKEN_PREFIX: &str = "sst_";
/// The prefix of an approval link's token.
const APPROVAL_PREFIX: &str = "ssa_";

/// `POST /v1/customers/{id}/support-sessions`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportSessionDraft {
    /// Why: shown to the customer and kept in the session (1 to 500 characters).
    #[schema(
        min_length = 1,
        max_length = 500,
        example = "Set up their SSO as asked in ticket 4711"
    )]
    pub reason: Option<String>,
    /// How long it lasts once it starts, 1 to 60 (default 30).
    #[schema(minimum = 1, maximum = 60)]
    pub minutes: Option<i64>,
}

/// `PUT /v1/me/support-access`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessDraft {
    /// The company's own choice (it wins over the staff's); `null` leaves it to them.
    pub support_access: Option<SupportAccess>,
}

/// What `PUT /v1/me/support-access` answers.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AccessView {
    /// What holds now: the admin's choice, else the staff's, else `allowed`.
    pub support_access: SupportAccess,
    pub support_access_by_admin: Option<SupportAccess>,
}

/// A session's token lookup (by hash).
#[derive(Clone, Debug, serde::Serialize, Deserialize)]
struct TokenLookup {
    tenant_id: TenantId,
    session_id: SupportSessionId,
}

/// An approval link's item.
#[derive(Clone, Debug, serde::Serialize, Deserialize)]
struct ApprovalLink {
    session_id: SupportSessionId,
}

/// 32 random bytes, hex, after the prefix.
fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", super::links::random_token())
}

fn session_item(tenant_id: &TenantId, s: &SupportSession, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::support_session(tenant_id, &s.id), to_data(s)?).with_gsi1(
        keys::support_session_of(
            tenant_id,
            &s.customer_id,
            &audit::sort_time(s.requested_at),
            &s.id,
        ),
    );
    item.version = version;
    // Kept as long as the audit log keeps its events, by default.
    item.expires_at =
        Some((s.requested_at + Duration::days(i64::from(audit::RETENTION_DAYS))).timestamp());
    Ok(item)
}

/// A session's audit entry, in its customer's history.
fn entry(action: &str, s: &SupportSession) -> Entry {
    Entry::new(action, Target::new("support_session", &s.id)).customer(&s.customer_id)
}

async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &SupportSessionId,
) -> Result<(SupportSession, Item), Error> {
    let item = deps
        .store
        .get(&keys::support_session(tenant_id, id))
        .await?
        .ok_or(Error::NotFound("support session"))?;
    Ok((from_item(&item)?, item))
}

/// Who a staff actor is, for the customer's emails: a member's name, or a key's.
async fn staff_name(deps: &Deps, tenant_id: &TenantId, staff: &Actor) -> String {
    match staff.kind {
        ActorKind::Member => match MemberId::parse(&staff.id) {
            Ok(id) => match super::members::load(deps, tenant_id, &id).await {
                Ok((m, _)) => format!("{} {}", m.first_name, m.last_name),
                Err(_) => "a member of the team".into(),
            },
            Err(_) => "a member of the team".into(),
        },
        _ => "the team's systems".into(),
    }
}

/// The role a staff actor has now, from our records; `None` when it is gone (a
/// removed or disabled member, a revoked key).
/// The role a staff actor has now, from our records, and when its sessions last ended
/// (a member disabled since); `None` when it is gone (a removed or disabled member, a
/// revoked key).
async fn current_role(
    deps: &Deps,
    tenant_id: &TenantId,
    staff: &str,
) -> Result<Option<(StaffRole, Option<chrono::DateTime<chrono::Utc>>)>, Error> {
    if let Ok(id) = MemberId::parse(staff) {
        return Ok(match super::members::load(deps, tenant_id, &id).await {
            Ok((m, _)) if m.status == MemberStatus::Active => Some((m.role, m.sessions_ended_at)),
            Ok(_) | Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        });
    }
    if let Ok(id) = ApiKeyId::parse(staff) {
        return Ok(
            match deps.store.get(&keys::api_key(tenant_id, &id)).await? {
                Some(item) => Some((from_item::<ApiKey>(&item)?.role, None)),
                None => None,
            },
        );
    }
    Ok(None)
}

/// Whether something since a session started ended it for good: its customer was
/// suspended, deactivated or deleted, support access disabled, or its member disabled.
fn withdrawn(
    s: &SupportSession,
    customer_ended: Option<chrono::DateTime<chrono::Utc>>,
    member_ended: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    let started = s.started_at.unwrap_or(s.requested_at);
    [customer_ended, member_ended]
        .into_iter()
        .flatten()
        .any(|t| t > started)
}

/// The emails of a session to the customer's admin.
fn email(
    tenant_id: &TenantId,
    template: Template,
    customer: &Customer,
    s: &SupportSession,
    staff: &str,
    extra: serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<mail::Queued, Error> {
    let mut context = serde_json::Map::new();
    context.insert("name".into(), json!(customer.admin.first_name));
    context.insert("company_name".into(), json!(customer.company.name));
    context.insert("staff_name".into(), json!(staff));
    context.insert("reason".into(), json!(s.reason));
    context.insert("minutes".into(), json!(s.minutes));
    context.insert("session_id".into(), json!(s.id));
    if let serde_json::Value::Object(m) = extra {
        context.extend(m);
    }
    mail::enqueue(tenant_id, template, &customer.admin.email, context, now)
}

/// Starts a session on a customer, by the staff member (or key) `staff`: at once where
/// the customer allows it, or once its admin approves (an email with a link is sent).
/// Its token is answered this once.
pub async fn start(
    deps: &Deps,
    scope: &TenantScope,
    staff: Actor,
    customer_id: &CustomerId,
    draft: &SupportSessionDraft,
) -> Result<StartedSession, Error> {
    let tenant_id = scope.tenant_id();
    // Another tenant's customer is 404 whatever the body.
    let (customer, _) = super::load_customer(deps, tenant_id, customer_id).await?;
    let mut c = crate::model::input::Checks::new();
    let reason = c.required("reason", draft.reason.as_deref(), |s| {
        fields::paragraphs(s, 500)
    });
    let minutes = match draft.minutes {
        None => Some(DEFAULT_MINUTES),
        Some(m) => c.check(
            "minutes",
            u32::try_from(m)
                .ok()
                .filter(|m| (1..=MAX_MINUTES).contains(m))
                .ok_or_else(|| format!("must be a number of minutes from 1 to {MAX_MINUTES}")),
        ),
    };
    c.finish()?;
    let (Some(reason), Some(minutes)) = (reason, minutes) else {
        return Err(Error::invalid("body", "is incomplete"));
    };
    if customer.status != CustomerStatus::Active {
        return Err(Error::conflict(
            ProblemKind::CustomerInactive,
            "the customer is not active; a support session starts only in an active customer",
        ));
    }
    let access = customer.support_access();
    if access == SupportAccess::Disabled {
        return Err(Error::conflict(
            ProblemKind::SupportAccessDisabled,
            "the customer does not allow support sessions (support_access: disabled)",
        ));
    }
    let now = deps.clock.now();
    let token = new_token(TOKEN_PREFIX);
    let approval = (access == SupportAccess::Approval).then(|| new_token(APPROVAL_PREFIX));
    let session = SupportSession {
        id: SupportSessionId::generate(),
        customer_id: customer_id.clone(),
        staff: staff.clone(),
        acting_as: customer.admin.id.clone(),
        reason,
        minutes,
        status: if approval.is_some() {
            SessionStatus::PendingApproval
        } else {
            SessionStatus::Active
        },
        requested_at: now,
        approval_expires_at: approval
            .as_ref()
            .map(|_| now + Duration::hours(APPROVAL_HOURS)),
        approved_by: None,
        started_at: approval.is_none().then_some(now),
        expires_at: approval
            .is_none()
            .then(|| now + Duration::minutes(i64::from(minutes))),
        ended_at: None,
        ended_by: None,
        end_reason: None,
        token_hash: hash_secret(&token),
        approval_hash: approval.as_deref().map(hash_secret),
    };
    let name = staff_name(deps, tenant_id, &staff).await;
    let mut lookup = Item::new(
        keys::support_token(&session.token_hash),
        to_data(&TokenLookup {
            tenant_id: tenant_id.clone(),
            session_id: session.id.clone(),
        })?,
    );
    lookup.expires_at = Some((now + Duration::hours(APPROVAL_HOURS + 2)).timestamp());
    let mut ops = vec![
        WriteOp::create(session_item(tenant_id, &session, 1)?),
        WriteOp::create(lookup),
    ];
    match (&approval, &session.approval_hash) {
        (Some(link), Some(hash)) => {
            let mut item = Item::new(
                keys::support_approval(tenant_id, hash),
                to_data(&ApprovalLink {
                    session_id: session.id.clone(),
                })?,
            );
            item.expires_at = session.approval_expires_at.map(|t| t.timestamp());
            ops.push(WriteOp::create(item));
            ops.extend(email(
                tenant_id,
                Template::SupportSessionApproval,
                &customer,
                &session,
                &name,
                json!({"link_token": link, "expires": session.approval_expires_at}),
                now,
            )?);
        }
        _ => ops.extend(email(
            tenant_id,
            Template::SupportSessionStarted,
            &customer,
            &session,
            &name,
            json!({"expires": session.expires_at}),
            now,
        )?),
    }
    let action = if approval.is_some() {
        "support_session.requested"
    } else {
        "support_session.started"
    };
    let started = entry(action, &session)
        .value("minutes", minutes)
        .value("support_access", access)
        .fields(["reason"]);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), started).await?);
    super::commit(deps, ops).await?;
    Ok(StartedSession {
        session: session.view(now, Vec::new()),
        token,
    })
}

/// The principal of a session's token, if the session may act now: active and not
/// past its end, its customer active and still allowing sessions, its tenant not
/// suspended, and its staff member (or key) still there; its role is read now.
pub async fn principal(deps: &Deps, token: &str) -> Result<Principal, Error> {
    let hash = hash_secret(token);
    let Some(item) = deps.store.get(&keys::support_token(&hash)).await? else {
        return Err(Error::Unauthenticated);
    };
    let lookup: TokenLookup = from_item(&item)?;
    let (session, _) = match load(deps, &lookup.tenant_id, &lookup.session_id).await {
        Ok(s) => s,
        Err(Error::NotFound(_)) => return Err(Error::Unauthenticated),
        Err(e) => return Err(e),
    };
    let tenant_id = &lookup.tenant_id;
    // Found by this hash; compared anyway, in constant time.
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        session.token_hash.as_bytes(),
        hash.as_bytes(),
    )) {
        return Err(Error::Unauthenticated);
    }
    let now = deps.clock.now();
    if session.status_at(now) != SessionStatus::Active {
        return Err(Error::Unauthenticated);
    }
    let (customer, _) = match super::load_customer(deps, tenant_id, &session.customer_id).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Err(Error::Unauthenticated),
        Err(e) => return Err(e),
    };
    let Some((role, member_ended)) = current_role(deps, tenant_id, &session.staff.id).await? else {
        return Err(Error::Unauthenticated);
    };
    // Any of these refuses the token now, and whatever ended it since it started
    // (a suspension, a disabled setting or member) ends it for good, even if undone.
    if customer.status != CustomerStatus::Active
        || customer.support_access() == SupportAccess::Disabled
        || withdrawn(&session, customer.sessions_ended_at, member_ended)
    {
        return Err(Error::Unauthenticated);
    }
    if super::directory::tenant_gate(deps, tenant_id).await? {
        // A tenant suspended for an overdue invoice reaches its billing only.
        return Err(Error::Unauthenticated);
    }
    Ok(Principal::Support {
        tenant_id: tenant_id.clone(),
        customer_id: session.customer_id,
        user_id: session.acting_as,
        session_id: session.id,
        staff: session.staff.id,
        staff_role: role,
    })
}

/// Who may end or answer a session: the tenant's staff, or the customer's admin.
pub enum Party<'a> {
    Staff(&'a TenantScope),
    Customer(&'a CustomerScope),
}

impl Party<'_> {
    fn tenant_id(&self) -> &TenantId {
        match self {
            Party::Staff(s) => s.tenant_id(),
            Party::Customer(c) => c.tenant_id(),
        }
    }
}

/// Loads a session the party may see: any of the tenant's for staff, its own
/// company's for a customer's admin (another's looks absent).
async fn visible(
    deps: &Deps,
    party: &Party<'_>,
    id: &SupportSessionId,
) -> Result<(SupportSession, Item), Error> {
    let (s, item) = load(deps, party.tenant_id(), id).await?;
    if let Party::Customer(c) = party
        && s.customer_id != *c.customer_id()
    {
        return Err(Error::NotFound("support session"));
    }
    Ok((s, item))
}

/// What was done in a session, from its customer's audit history.
async fn actions(
    deps: &Deps,
    tenant_id: &TenantId,
    s: &SupportSession,
) -> Result<Vec<SessionAction>, Error> {
    let Some(started) = s.started_at else {
        return Ok(Vec::new());
    };
    let until = s
        .ended_at
        .or(s.expires_at)
        .unwrap_or_else(|| deps.clock.now())
        + Duration::seconds(1);
    let filter = audit::Filter {
        customer_id: Some(s.customer_id.clone()),
        support_session_id: Some(s.id.clone()),
        since: Some(started),
        until: Some(until),
        ..audit::Filter::default()
    };
    let page = audit::list(deps, Log::Tenant(tenant_id), &filter, 100, None).await?;
    let mut done: Vec<SessionAction> = page
        .data
        .into_iter()
        .map(|e| SessionAction {
            at: e.at,
            action: e.action,
            target: e.target,
        })
        .collect();
    done.reverse();
    Ok(done)
}

async fn view(
    deps: &Deps,
    tenant_id: &TenantId,
    s: &SupportSession,
) -> Result<SupportSessionView, Error> {
    Ok(s.view(deps.clock.now(), actions(deps, tenant_id, s).await?))
}

/// A customer's sessions, newest first.
pub async fn list(
    deps: &Deps,
    scope: &CustomerScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<super::page::Page<SupportSessionView>, Error> {
    let tenant_id = scope.tenant_id();
    // The customer must be the tenant's (staff name it in the path).
    let (customer, _) = super::load_customer(deps, tenant_id, scope.customer_id()).await?;
    let limit = super::page::limit(limit)?;
    let pk = keys::support_sessions_partition(tenant_id, scope.customer_id());
    let start = super::page::decode(cursor, "support-sessions", &pk, true)?;
    let q = Query {
        forward: false,
        ..Query::gsi1(pk, SortRange::All, limit).after(start)
    };
    let page = deps.store.query(q).await?;
    let mut data = Vec::with_capacity(page.items.len());
    for item in &page.items {
        let s: SupportSession = from_item(item)?;
        let mut v = view(deps, tenant_id, &s).await?;
        // Over since: its customer was suspended, deactivated or deleted, or support
        // access disabled (a disabled member's are refused, and shown as they stand).
        if matches!(
            v.status,
            SessionStatus::Active | SessionStatus::PendingApproval
        ) && withdrawn(&s, customer.sessions_ended_at, None)
        {
            v.status = SessionStatus::Ended;
            v.end_reason = Some("access_withdrawn".into());
        }
        data.push(v);
    }
    Ok(super::page::Page {
        data,
        next_cursor: page
            .next
            .map(|n| super::page::encode("support-sessions", &n)),
    })
}

/// Ends a session (waiting or active) at once: by the staff, or the customer's admin.
pub async fn end(
    deps: &Deps,
    party: Party<'_>,
    by: Actor,
    id: &SupportSessionId,
) -> Result<SupportSessionView, Error> {
    let tenant_id = party.tenant_id().clone();
    let (s, item) = visible(deps, &party, id).await?;
    finish(deps, &tenant_id, s, item, by, SessionStatus::Ended, "ended").await
}

/// The customer's admin approves a waiting session: it starts now, for its minutes.
pub async fn approve(
    deps: &Deps,
    scope: &CustomerScope,
    by: Actor,
    id: &SupportSessionId,
) -> Result<SupportSessionView, Error> {
    let tenant_id = scope.tenant_id();
    let (s, item) = visible(deps, &Party::Customer(scope), id).await?;
    let now = deps.clock.now();
    if s.status_at(now) != SessionStatus::PendingApproval {
        return Err(over(&s, now));
    }
    let (customer, _) = super::load_customer(deps, tenant_id, &s.customer_id).await?;
    if customer.status != CustomerStatus::Active
        || customer.support_access() == SupportAccess::Disabled
        || withdrawn(&s, customer.sessions_ended_at, None)
    {
        return Err(Error::conflict(
            ProblemKind::SupportAccessDisabled,
            "the customer is not active, or its support access was withdrawn since this was asked; start a new session",
        ));
    }
    let mut next = s.clone();
    next.status = SessionStatus::Active;
    next.approved_by = Some(by.clone());
    next.started_at = Some(now);
    next.expires_at = Some(now + Duration::minutes(i64::from(s.minutes)));
    next.approval_hash = None;
    let name = staff_name(deps, tenant_id, &s.staff).await;
    let mut ops = vec![WriteOp::Put {
        item: session_item(tenant_id, &next, item.version + 1)?,
        condition: Condition::VersionIs(item.version),
    }];
    if let Some(h) = &s.approval_hash {
        ops.push(WriteOp::delete(keys::support_approval(tenant_id, h)));
    }
    ops.extend(email(
        tenant_id,
        Template::SupportSessionStarted,
        &customer,
        &next,
        &name,
        json!({"expires": next.expires_at}),
        now,
    )?);
    let approved = entry("support_session.approved", &s)
        .by(by)
        .value("status", SessionStatus::Active);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), approved).await?);
    super::commit(deps, ops).await?;
    // It starts now: nothing done in it yet.
    Ok(next.view(now, Vec::new()))
}

/// The customer's admin declines a waiting session.
pub async fn decline(
    deps: &Deps,
    scope: &CustomerScope,
    by: Actor,
    id: &SupportSessionId,
) -> Result<SupportSessionView, Error> {
    let (s, item) = visible(deps, &Party::Customer(scope), id).await?;
    let now = deps.clock.now();
    if s.status_at(now) != SessionStatus::PendingApproval {
        return Err(over(&s, now));
    }
    finish(
        deps,
        scope.tenant_id(),
        s,
        item,
        by,
        SessionStatus::Declined,
        "declined",
    )
    .await
}

fn over(s: &SupportSession, now: chrono::DateTime<chrono::Utc>) -> Error {
    let status = serde_json::to_value(s.status_at(now)).unwrap_or_default();
    Error::conflict(
        ProblemKind::SupportSessionOver,
        format!(
            "the support session is {}",
            status.as_str().unwrap_or("over")
        ),
    )
    .with("session_status", status)
}

/// A waiting or active session ends (ended, or declined): its token and link stop,
/// and its customer's admin is told what was done.
async fn finish(
    deps: &Deps,
    tenant_id: &TenantId,
    s: SupportSession,
    item: Item,
    by: Actor,
    status: SessionStatus,
    why: &str,
) -> Result<SupportSessionView, Error> {
    let now = deps.clock.now();
    let was = s.status_at(now);
    if !matches!(was, SessionStatus::Active | SessionStatus::PendingApproval) {
        return Err(over(&s, now));
    }
    let (next, mut ops) = ended(tenant_id, &s, &item, &by, (status, why), now)?;
    let done = actions(deps, tenant_id, &next).await?;
    // The admin hears of a session that ran (what was done), not of its own answer.
    if was == SessionStatus::Active {
        let (customer, _) = super::load_customer(deps, tenant_id, &s.customer_id).await?;
        let name = staff_name(deps, tenant_id, &s.staff).await;
        let summary: Vec<String> = done
            .iter()
            .map(|a| {
                format!(
                    "{} {} ({} {})",
                    time_of(a.at),
                    a.action,
                    a.target.kind,
                    a.target.id
                )
            })
            .collect();
        ops.extend(email(
            tenant_id,
            Template::SupportSessionEnded,
            &customer,
            &next,
            &name,
            json!({"actions": summary, "ended_by": by.kind}),
            now,
        )?);
    }
    let action = if status == SessionStatus::Declined {
        "support_session.declined"
    } else {
        "support_session.ended"
    };
    let ended = entry(action, &s).by(by).value("status", status);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), ended).await?);
    super::commit(deps, ops).await?;
    Ok(next.view(now, done))
}

/// A waiting or active session over: its record as it ends, and the writes that end
/// it (the record under its version, its token's lookup and its approval link gone).
fn ended(
    tenant_id: &TenantId,
    s: &SupportSession,
    item: &Item,
    by: &Actor,
    (status, why): (SessionStatus, &str),
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(SupportSession, Vec<WriteOp>), Error> {
    let mut next = s.clone();
    next.status = status;
    next.ended_at = Some(now);
    next.ended_by = Some(by.clone());
    next.end_reason = Some(why.into());
    next.approval_hash = None;
    let mut ops = vec![
        WriteOp::Put {
            item: session_item(tenant_id, &next, item.version + 1)?,
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::delete(keys::support_token(&s.token_hash)),
    ];
    if let Some(h) = &s.approval_hash {
        ops.push(WriteOp::delete(keys::support_approval(tenant_id, h)));
    }
    Ok((next, ops))
}

fn time_of(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The customer's admin sets its company's support access; disabling ends its waiting
/// and active sessions in the same transaction.
pub async fn set_access(
    deps: &Deps,
    scope: &CustomerScope,
    by: Actor,
    draft: &AccessDraft,
) -> Result<AccessView, Error> {
    let tenant_id = scope.tenant_id();
    let (mut customer, item) = super::load_customer(deps, tenant_id, scope.customer_id()).await?;
    let now = deps.clock.now();
    let was = customer.support_access();
    customer.support_access_by_admin = draft.support_access;
    customer.updated_at = now;
    if customer.support_access() == SupportAccess::Disabled && was != SupportAccess::Disabled {
        customer.sessions_ended_at = Some(now);
    }
    let mut profile = Item::new(item.key(), to_data(&customer)?);
    profile.gsi1pk = item.gsi1pk.clone();
    profile.gsi1sk = item.gsi1sk.clone();
    profile.version = item.version + 1;
    let mut ops = vec![WriteOp::Put {
        item: profile,
        condition: Condition::VersionIs(item.version),
    }];
    if customer.support_access() == SupportAccess::Disabled {
        let q = Query::gsi1(
            keys::support_sessions_partition(tenant_id, scope.customer_id()),
            SortRange::All,
            100,
        );
        let q = Query {
            forward: false,
            ..q
        };
        // Ended in this transaction, up to 30 (three writes each, under the 100 of one
        // transaction); any beyond are refused all the same, the setting being off.
        let mut ended_here = 0;
        for i in deps.store.query(q).await?.items {
            let s: SupportSession = from_item(&i)?;
            if ended_here < 30
                && matches!(
                    s.status_at(now),
                    SessionStatus::Active | SessionStatus::PendingApproval
                )
            {
                ended_here += 1;
                let reason = (SessionStatus::Ended, "access_disabled");
                ops.extend(ended(tenant_id, &s, &i, &by, reason, now)?.1);
            }
        }
    }
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new(
                "customer.support_access_set",
                Target::new("customer", scope.customer_id()),
            )
            .customer(scope.customer_id())
            .by(by)
            .value("support_access_by_admin", draft.support_access),
        )
        .await?,
    );
    super::commit(deps, ops).await?;
    Ok(AccessView {
        support_access: customer.support_access(),
        support_access_by_admin: customer.support_access_by_admin,
    })
}

/// The approval page's session, by its link's token under the tenant the page's slug
/// names: `None` when the link is unknown, used or lapsed.
pub async fn by_approval_link(
    deps: &Deps,
    tenant_id: &TenantId,
    token: &str,
) -> Result<Option<(SupportSession, Customer, String)>, Error> {
    if !token.starts_with(APPROVAL_PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let hash = hash_secret(token);
    let Some(item) = deps
        .store
        .get(&keys::support_approval(tenant_id, &hash))
        .await?
    else {
        return Ok(None);
    };
    let link: ApprovalLink = from_item(&item)?;
    let (s, _) = match load(deps, tenant_id, &link.session_id).await {
        Ok(s) => s,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if s.status_at(deps.clock.now()) != SessionStatus::PendingApproval
        || s.approval_hash.as_deref() != Some(hash.as_str())
    {
        return Ok(None);
    }
    let (customer, _) = super::load_customer(deps, tenant_id, &s.customer_id).await?;
    let name = staff_name(deps, tenant_id, &s.staff).await;
    Ok(Some((s, customer, name)))
}

/// The approval page's answer: the admin the link was sent to approves or declines.
pub async fn answer_by_link(
    deps: &Deps,
    tenant_id: &TenantId,
    token: &str,
    approve_it: bool,
) -> Result<Option<SupportSessionView>, Error> {
    let Some((s, customer, _)) = by_approval_link(deps, tenant_id, token).await? else {
        return Ok(None);
    };
    let scope = crate::access::customer_scope_for_link(tenant_id.clone(), customer.id.clone());
    let by = Actor::new(ActorKind::CustomerUser, customer.admin.id.as_str());
    Ok(Some(if approve_it {
        approve(deps, &scope, by, &s.id).await?
    } else {
        decline(deps, &scope, by, &s.id).await?
    }))
}
