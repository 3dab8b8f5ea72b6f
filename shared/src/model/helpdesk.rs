//! First-line support: who a tenant's customers ask for help (the tenant, or the
//! platform), and the requests they open.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::audit::Actor;
use crate::model::branding::Branding;
use crate::model::ids::{CustomerId, SupportRequestId, TenantId, UserId};
use crate::model::tenant::Tenant;

/// Who answers a tenant's customers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupportMode {
    /// The tenant answers its customers (the default): their requests and the
    /// platform's emails about them reach the tenant.
    #[default]
    FirstLine,
    /// The platform answers them: their requests go to the platform's support address.
    Platform,
}

/// A tenant's support settings: shown on its pages and in its customers' emails.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupportSettings {
    pub mode: SupportMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Email, example = "help@partner.example.com")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "+49 30 1234567")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://help.partner.example.com")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Mon–Fri 9:00–17:00 CET")]
    pub hours: Option<String>,
}

/// What a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Question,
    Billing,
    Technical,
    Account,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Open,
    Closed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Closed => "closed",
        }
    }
}

/// A note the tenant's staff keep on a request (not shown to the customer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub by: Actor,
    pub text: String,
}

/// A customer user's request for help.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupportRequest {
    pub id: SupportRequestId,
    pub customer_id: CustomerId,
    /// Who opened it.
    pub user_id: UserId,
    pub subject: String,
    pub message: String,
    pub category: Category,
    pub status: RequestStatus,
    /// The tenant's notes (staff only).
    #[serde(default)]
    pub notes: Vec<Note>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// A request as its customer user sees it: no staff notes.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OwnRequestView {
    pub id: SupportRequestId,
    pub subject: String,
    pub message: String,
    pub category: Category,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl SupportRequest {
    pub fn own_view(&self) -> OwnRequestView {
        OwnRequestView {
            id: self.id.clone(),
            subject: self.subject.clone(),
            message: self.message.clone(),
            category: self.category,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
            closed_at: self.closed_at,
        }
    }
}

/// A request a tenant escalated to the platform: the platform's list keeps who and
/// when, and names the request (its content stays with the tenant's record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscalationEntry {
    pub tenant_id: TenantId,
    pub request_id: SupportRequestId,
    pub escalated_at: DateTime<Utc>,
    pub escalated_by: Actor,
}

/// An escalation as the operator lists it: the request as it is now.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Escalation {
    pub tenant_id: TenantId,
    pub request: SupportRequest,
    pub escalated_at: DateTime<Utc>,
    pub escalated_by: Actor,
}

/// Where the tenant's customers' help goes: its support settings' address, else its
/// branding's, else its contact's.
pub fn tenant_support_address(t: &Tenant) -> Option<String> {
    t.support
        .as_ref()
        .and_then(|s| s.email.clone())
        .or_else(|| t.branding.as_ref().and_then(|b| b.support_email.clone()))
        .or_else(|| t.contact.as_ref().and_then(|c| c.email.clone()))
}

/// A tenant's look on its pages and in its customers' emails: its branding (or the
/// default), with the support address its customers should use, and its support
/// contact (phone, page, hours).
pub fn look(t: &Tenant) -> (Branding, SupportSettings) {
    let mut brand = t
        .branding
        .clone()
        .unwrap_or_else(|| Branding::default_for(&t.name));
    brand.support_email = tenant_support_address(t);
    (brand, t.support.clone().unwrap_or_default())
}
