//! The audit log's event: who did what to which thing, when, from where, and which
//! fields it changed. Written in the transaction of the change it records; never
//! updated or deleted by any route.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Principal;
use crate::model::ids::{AuditEventId, CustomerId};

/// What kind of party acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The platform operator, by one of its keys (`key_…`).
    Operator,
    /// A tenant's API key (`key_…`).
    ApiKey,
    /// A tenant's staff member, signed in (`mem_…`).
    Member,
    /// A user of a customer, signed in or through a link sent to it (`usr_…`).
    CustomerUser,
    /// A partner's system, through a signed inbound webhook (`inb_…`).
    WebhookEndpoint,
    /// The contact a connection link was sent to (the connection's id, `con_…`).
    LinkHolder,
    /// Scheduled or queued work (`invoice-run`, `purge`, `dunning`, `outbox`, ...).
    Job,
    /// Nobody known: a failed sign-in, a self-registration before it is verified.
    Anonymous,
}

/// Who acted: a kind and an id, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub kind: ActorKind,
    #[schema(example = "mem_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub id: String,
}

impl Actor {
    pub fn new(kind: ActorKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }

    /// A job's name as its actor.
    pub fn job(name: &str) -> Self {
        Self::new(ActorKind::Job, name)
    }

    /// Who a verified principal is.
    pub fn of(principal: &Principal) -> Self {
        match principal {
            Principal::Operator { key_id } => Self::new(ActorKind::Operator, key_id.as_str()),
            Principal::Staff { actor, .. } | Principal::Support { staff: actor, .. }
                if actor.starts_with("mem_") =>
            {
                Self::new(ActorKind::Member, actor.as_str())
            }
            Principal::Staff { actor, .. } | Principal::Support { staff: actor, .. } => {
                Self::new(ActorKind::ApiKey, actor.as_str())
            }
            Principal::Customer { user_id, .. } => {
                Self::new(ActorKind::CustomerUser, user_id.as_str())
            }
        }
    }

    pub fn anonymous() -> Self {
        Self::new(ActorKind::Anonymous, "-")
    }
}

/// The thing acted on: its type (`customer`, `member`, `invoice`, ...) and id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Target {
    #[serde(rename = "type")]
    #[schema(example = "customer")]
    pub kind: String,
    #[schema(example = "cus_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub id: String,
}

impl Target {
    pub fn new(kind: &str, id: impl AsRef<str>) -> Self {
        Self {
            kind: kind.to_owned(),
            id: id.as_ref().to_owned(),
        }
    }
}

/// One field a change touched: its name, and its new value only where that value is
/// neither personal nor secret (a status, a role, a plan code, a number).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    #[schema(example = "status")]
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Any JSON value: a string, a number, a flag, a list.
    #[schema(example = "suspended")]
    pub value: Option<serde_json::Value>,
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The customer-side identity the actor acted as, inside a support session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Actor>,
    /// What happened: `<thing>.<verb>`, e.g. `customer.suspended`.
    #[schema(example = "customer.suspended")]
    pub action: String,
    pub target: Target,
    /// The support session it was done in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_session_id: Option<crate::model::ids::SupportSessionId>,
    /// The customer the change concerns, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    /// The API request that made it (its `x-request-id`), if a request did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The fields it changed (values only where not personal or secret).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// Where a change came from: the request's actor and its trace, set once per request
/// by the HTTP edge (and by each job for its own work).
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    pub actor: Actor,
    pub on_behalf_of: Option<Actor>,
    pub support_session_id: Option<crate::model::ids::SupportSessionId>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    /// A request's caller: in a support session, the staff member on behalf of the
    /// customer's admin.
    pub fn of_principal(principal: Option<&Principal>) -> Self {
        let mut o = Self::of_actor(principal.map(Actor::of).unwrap_or_else(Actor::anonymous));
        if let Some(Principal::Support {
            user_id,
            session_id,
            ..
        }) = principal
        {
            o.on_behalf_of = Some(Actor::new(ActorKind::CustomerUser, user_id.as_str()));
            o.support_session_id = Some(session_id.clone());
        }
        o
    }

    /// Work with no request: a job, or the domain on its own (tests, the CLI).
    pub fn of_actor(actor: Actor) -> Self {
        Self {
            actor,
            on_behalf_of: None,
            support_session_id: None,
            request_id: None,
            source_ip: None,
            user_agent: None,
        }
    }
}
