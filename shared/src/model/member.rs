//! Tenant staff: owners and members.

use crate::model::ids::MemberId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fields;
use super::input::{Checks, name};
use crate::access::StaffRole;
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Disabled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: StaffRole,
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The `sub` of the member's login in the staff pool, once the member has set a
    /// password (staff logins need an identity provider). Never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_subject: Option<String>,
    /// Which of the member's password links works: only one issued at this generation.
    /// Raised by a new link, a used one, an email change and a disabling, so every
    /// earlier link stops working. Never shown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub link_generation: u64,
    /// Support sessions this member started before this time are over (it was
    /// disabled): re-enabling it does not bring them back. Never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_ended_at: Option<DateTime<Utc>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `POST /v1/members`, and (merged) `PATCH /v1/members/{id}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberDraft {
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: Option<String>,
    #[schema(value_type = Option<StaffRole>)]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MemberStatus>)]
    pub status: Option<String>,
}

pub struct MemberInput {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: StaffRole,
    pub status: MemberStatus,
}

pub fn role(raw: &str) -> fields::Parsed<StaffRole> {
    match raw {
        "owner" => Ok(StaffRole::Owner),
        "member" => Ok(StaffRole::Member),
        _ => Err("must be owner or member".into()),
    }
}

impl MemberDraft {
    pub fn parse(&self) -> Result<MemberInput, Error> {
        let mut c = Checks::new();
        let email = c.required("email", self.email.as_deref(), fields::email);
        let first = c.required("first_name", self.first_name.as_deref(), name);
        let last = c.required("last_name", self.last_name.as_deref(), name);
        let role_ = c.required("role", self.role.as_deref(), role);
        let status = c
            .optional("status", self.status.as_deref(), |s| match s {
                "active" => Ok(MemberStatus::Active),
                "disabled" => Ok(MemberStatus::Disabled),
                _ => Err("must be active or disabled".into()),
            })
            .unwrap_or(MemberStatus::Active);
        c.finish()?;
        match (email, first, last, role_) {
            (Some(email), Some(first_name), Some(last_name), Some(role)) => Ok(MemberInput {
                email,
                first_name,
                last_name,
                role,
                status,
            }),
            _ => Err(Error::invalid("body", "is incomplete")),
        }
    }

    pub fn from_member(m: &Member) -> Self {
        Self {
            email: Some(m.email.clone()),
            first_name: Some(m.first_name.clone()),
            last_name: Some(m.last_name.clone()),
            role: Some(m.role.as_str().to_owned()),
            status: Some(match m.status {
                MemberStatus::Active => "active".into(),
                MemberStatus::Disabled => "disabled".into(),
            }),
        }
    }
}
