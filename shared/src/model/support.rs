//! Support sessions: tenant staff acting inside one customer for a limited time, as its
//! admin, every step recorded under both names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::audit::Actor;
use crate::model::ids::{CustomerId, SupportSessionId, UserId};

/// Whether tenant staff may step into a customer's account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupportAccess {
    /// A session starts when staff start it (the default).
    #[default]
    Allowed,
    /// The customer's admin is asked by email and approves or declines first.
    Approval,
    /// No session starts.
    Disabled,
}

/// Where a session stands, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting for the customer's admin.
    PendingApproval,
    /// Its token acts, until `expires_at`.
    Active,
    /// Over: its time ran out (`expired`), or someone ended it (`ended`).
    Expired,
    Ended,
    /// The customer's admin said no (or did not answer in time: `expired`).
    Declined,
}

/// Minutes a session lasts unless asked otherwise, and at most.
pub const DEFAULT_MINUTES: u32 = 30;
pub const MAX_MINUTES: u32 = 60;
/// Hours an approval request waits for the customer's admin.
pub const APPROVAL_HOURS: i64 = 24;

/// A support session as stored (in its customer's partition).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupportSession {
    pub id: SupportSessionId,
    pub customer_id: CustomerId,
    /// The staff member (or tenant API key) who started it.
    pub staff: Actor,
    /// The customer-side identity the session acts as: its admin.
    pub acting_as: UserId,
    pub reason: String,
    pub minutes: u32,
    pub status: SessionStatus,
    pub requested_at: DateTime<Utc>,
    /// When an approval request lapses (sessions that need one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<DateTime<Utc>>,
    /// The customer's grant (RFC 8693 `may_act`): who approved, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<Actor>,
    /// Why it ended early: `ended` (by hand), `declined`, `access_disabled` (the
    /// customer's admin disabled support access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// SHA-256 (hex) of its token; the token itself is shown once.
    pub token_hash: String,
    /// SHA-256 (hex) of its approval link's token, while it waits for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_hash: Option<String>,
}

impl SupportSession {
    /// Its status at `now`: an active session past its end, or a request past its
    /// deadline, has expired whatever is stored.
    pub fn status_at(&self, now: DateTime<Utc>) -> SessionStatus {
        match self.status {
            SessionStatus::Active if self.expires_at.is_some_and(|e| now >= e) => {
                SessionStatus::Expired
            }
            SessionStatus::PendingApproval
                if self.approval_expires_at.is_some_and(|e| now >= e) =>
            {
                SessionStatus::Expired
            }
            s => s,
        }
    }
}

/// The token's claims, in RFC 8693 terms: it acts as `sub` (the customer's admin), on
/// behalf of the actor `act` (the staff member), for the session `sid`; `may_act` is
/// the customer's grant when its admin approved it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SessionClaims {
    #[schema(example = "usr_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub sub: String,
    pub act: ActClaim,
    #[schema(example = "sps_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub may_act: Option<ActClaim>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// An actor claim (`act`, `may_act`): who.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ActClaim {
    #[schema(example = "mem_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub sub: String,
}

/// One thing done in a session (from the audit log).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SessionAction {
    pub at: DateTime<Utc>,
    #[schema(example = "customer_features.updated")]
    pub action: String,
    pub target: crate::model::audit::Target,
}

/// A session as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SupportSessionView {
    pub id: SupportSessionId,
    pub customer_id: CustomerId,
    pub staff: Actor,
    pub reason: String,
    pub minutes: u32,
    pub status: SessionStatus,
    pub claims: SessionClaims,
    pub requested_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// What was done with it, oldest first (at most 100; the audit log has all).
    pub actions: Vec<SessionAction>,
}

/// A session just started: its view and its token, shown this once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StartedSession {
    #[serde(flatten)]
    pub session: SupportSessionView,
    /// `Authorization: Bearer` for the customer's routes, once the session is active
    /// (at once, or when the customer's admin approves it).
    pub token: String,
}

impl SupportSession {
    pub fn view(&self, now: DateTime<Utc>, actions: Vec<SessionAction>) -> SupportSessionView {
        SupportSessionView {
            id: self.id.clone(),
            customer_id: self.customer_id.clone(),
            staff: self.staff.clone(),
            reason: self.reason.clone(),
            minutes: self.minutes,
            status: self.status_at(now),
            claims: SessionClaims {
                sub: self.acting_as.to_string(),
                act: ActClaim {
                    sub: self.staff.id.clone(),
                },
                sid: self.id.to_string(),
                may_act: self
                    .approved_by
                    .as_ref()
                    .map(|a| ActClaim { sub: a.id.clone() }),
                exp: self.expires_at.map(|e| e.timestamp()),
            },
            requested_at: self.requested_at,
            approval_expires_at: self.approval_expires_at,
            approved_by: self.approved_by.clone(),
            started_at: self.started_at,
            expires_at: self.expires_at,
            ended_at: self.ended_at,
            ended_by: self.ended_by.clone(),
            end_reason: self.end_reason.clone(),
            actions,
        }
    }
}
