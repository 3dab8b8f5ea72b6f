//! Email through a transactional outbox (DESIGN.md rule 8).
//!
//! A change that causes an email adds [`enqueue`]'s write to its own transaction: the
//! email exists exactly when the change does. Delivery ([`deliver`]) runs apart — on the
//! table's stream in AWS, as a background task locally — and may run twice for the same
//! email: it claims the email with a versioned write first, so only one run sends, and a
//! sent email is never sent again. (One window remains: a run that dies after the mail
//! service accepted the message and before it recorded that is taken over when its claim
//! expires, and the email goes out twice.) A failed send is retried with exponential backoff
//! ([`deliver_due`] picks up what is due); after [`MAX_ATTEMPTS`] tries, or at once when
//! the mail service rejects the message, the email is dead-lettered and listed for the
//! operator ([`list`]).
//!
//! The outbox stores the template's name and values, never a rendered body: rendering
//! reads the tenant's current name and branding at delivery. The values hold no password;
//! a one-time secret (a registration code, or the token of a password or email-change
//! link, valid up to 7 days) waits in its email until the email is sent or given up on,
//! and is dropped from it then.

//!
//! The module by job: the outbox's model and [`enqueue`] here; rendering in `render`;
//! delivery and its sweep in `delivery`; the operator's dead-letter routes in `admin`.

mod admin;
mod delivery;
mod render;

pub use admin::{EmailView, list, redrive};
pub use delivery::{DeliveryReport, MAX_ATTEMPTS, Outcome, backfill_due, deliver, deliver_due};
pub use render::{MailSettings, render};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::model::ids::{EmailId, TenantId};
use crate::ports::{Item, WriteOp};
use crate::service::due::{self, Kind};
use crate::service::to_data;
use crate::store::keys;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    StaffInvitation,
    CustomerWelcome,
    RegistrationCode,
    UserInvitation,
    PasswordReset,
    EmailChange,
    InvoiceIssued,
    InvoiceReminder,
    CreditNoteIssued,
    WebhookEndpointDisabled,
    ConnectionInvite,
    ConnectionAuthorized,
    ConnectionFailed,
    SupportSessionApproval,
    SupportSessionStarted,
    SupportSessionEnded,
    SupportRequest,
    SupportEscalation,
}

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::StaffInvitation => "staff_invitation",
            Template::CustomerWelcome => "customer_welcome",
            Template::RegistrationCode => "registration_code",
            Template::UserInvitation => "user_invitation",
            Template::PasswordReset => "password_reset",
            Template::EmailChange => "email_change",
            Template::InvoiceIssued => "invoice_issued",
            Template::InvoiceReminder => "invoice_reminder",
            Template::CreditNoteIssued => "credit_note_issued",
            Template::WebhookEndpointDisabled => "webhook_endpoint_disabled",
            Template::ConnectionInvite => "connection_invite",
            Template::ConnectionAuthorized => "connection_authorized",
            Template::ConnectionFailed => "connection_failed",
            Template::SupportSessionApproval => "support_session_approval",
            Template::SupportSessionStarted => "support_session_started",
            Template::SupportSessionEnded => "support_session_ended",
            Template::SupportRequest => "support_request",
            Template::SupportEscalation => "support_escalation",
        }
    }

    /// Values that are secrets while the email waits (a one-time code): dropped from the
    /// stored email once it is sent or given up on.
    fn secret_values(self) -> &'static [&'static str] {
        match self {
            Template::RegistrationCode => &["code"],
            Template::InvoiceIssued
            | Template::InvoiceReminder
            | Template::CreditNoteIssued
            | Template::WebhookEndpointDisabled
            | Template::ConnectionAuthorized
            | Template::ConnectionFailed
            | Template::SupportSessionStarted
            | Template::SupportSessionEnded
            | Template::SupportRequest
            | Template::SupportEscalation => &[],
            Template::StaffInvitation
            | Template::UserInvitation
            | Template::PasswordReset
            | Template::EmailChange
            | Template::CustomerWelcome
            | Template::ConnectionInvite
            | Template::SupportSessionApproval => &["link_token"],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Sent,
    Dead,
}

/// An outbox email as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxEmail {
    pub id: EmailId,
    pub template: Template,
    pub to: String,
    pub context: Map<String, Value>,
    pub state: State,
    pub attempts: u32,
    /// When the next try is due (pending emails).
    pub due_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last try failed (the mail service's answer; never a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A one-time code or link was removed from `context` when the email was sent or
    /// given up on: it cannot be sent again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secrets_dropped: bool,
    /// Stored documents sent with it (an invoice's PDF), read at delivery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
}

/// A stored document to attach: its key in the document store, and how it is named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub key: String,
    pub filename: String,
    pub content_type: String,
}

impl AttachmentRef {
    /// A stored PDF, attached as `<name>.pdf`.
    pub fn pdf(key: String, name: &str) -> Self {
        Self {
            key,
            filename: format!("{name}.pdf"),
            content_type: PDF.to_owned(),
        }
    }
}

/// The content type of the documents the store keeps (invoice and credit note PDFs).
pub const PDF: &str = "application/pdf";

impl OutboxEmail {
    /// Drops the secret values (a code, a link token) once the email is finished with.
    pub(super) fn drop_secrets(&mut self) {
        for secret in self.template.secret_values() {
            if self.context.remove(*secret).is_some() {
                self.secrets_dropped = true;
            }
        }
    }
}

pub(super) fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Sent and dead emails expire (DynamoDB TTL) after this many days: they hold an
/// address, and the operator has that long to look at a dead letter.
const KEEP_DAYS: i64 = 30;

pub(super) fn item_of(tenant_id: &TenantId, e: &OutboxEmail, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::outbox_email(tenant_id, &e.id), to_data(e)?);
    item.version = version;
    let expiry = |from: DateTime<Utc>| Some((from + Duration::days(KEEP_DAYS)).timestamp());
    Ok(match e.state {
        // Its next try is found through the due-work index (`due`), not an index here.
        State::Pending => item,
        State::Dead => {
            item.expires_at = expiry(e.due_at.max(e.created_at));
            item.with_gsi1(keys::outbox_dead(tenant_id, &stamp(e.created_at), &e.id))
        }
        State::Sent => {
            item.expires_at = expiry(e.sent_at.unwrap_or(e.created_at));
            item
        }
    })
}

/// The writes that put a new email in the tenant's outbox, due now: the email and its
/// due-work entry. Add both to the transaction of the change that causes the email.
pub type Queued = [WriteOp; 2];

/// The writes that put a new email in the tenant's outbox, due now. Add them to the
/// transaction of the change that causes the email.
pub fn enqueue(
    tenant_id: &TenantId,
    template: Template,
    to: &str,
    context: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Queued, Error> {
    enqueue_with(tenant_id, template, to, context, Vec::new(), now)
}

/// [`enqueue`] with stored documents to attach. Delivery waits for a document that is
/// not stored yet (it is rendered apart, see `service::documents`), and gives up on the
/// email, dead-lettered with the reason, if it is still missing a day later.
pub fn enqueue_with(
    tenant_id: &TenantId,
    template: Template,
    to: &str,
    context: Map<String, Value>,
    attachments: Vec<AttachmentRef>,
    now: DateTime<Utc>,
) -> Result<Queued, Error> {
    let email = OutboxEmail {
        id: EmailId::generate(),
        template,
        to: to.to_owned(),
        context,
        state: State::Pending,
        attempts: 0,
        due_at: now,
        claimed_until: None,
        created_at: now,
        sent_at: None,
        last_error: None,
        secrets_dropped: false,
        attachments,
    };
    Ok([
        WriteOp::create(item_of(tenant_id, &email, 1)?),
        due::schedule(Kind::Mail, tenant_id, email.id.as_str(), now),
    ])
}
