//! One-time links: random tokens stored as their hash, each with a purpose and an expiry
//! (a customer user's invitation or password reset, a staff member's, an email change's
//! verification). Opened by the pages that use them; used up by the flow that owns them.

use super::mail;
use crate::error::ProblemKind;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{from_item, to_data};
use crate::Deps;
use crate::error::Error;
use crate::model::customer::EmailChangePending;
use crate::model::ids::{CustomerId, TenantId, UserId};
use crate::ports::{Item, WriteOp};
use crate::store::keys;

/// How long an invitation's link to set a password works.
pub const INVITATION_DAYS: i64 = 7;
/// How long a password reset link works.
pub const RESET_HOURS: i64 = 2;

/// A staff member's invitation and password reset (the customer users' are `invitation`
/// and `reset`).
pub(crate) const STAFF_INVITATION: &str = "staff_invitation";
pub(crate) const STAFF_RESET: &str = "staff_reset";
pub(crate) const STAFF_PURPOSES: &[&str] = &[STAFF_INVITATION, STAFF_RESET];

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(crate) fn token_hash(token: &str) -> String {
    crate::model::api_key::hash_secret(token)
}

/// A one-time link of a user's (a password link, or an email change's verification):
/// what its item stores, under the hash of its token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Link {
    /// The customer user's id, or the staff member's (`staff_*` purposes).
    pub user_id: String,
    /// Empty for a staff member's link.
    #[serde(default)]
    pub customer_id: String,
    pub purpose: String,
    pub expires_at: DateTime<Utc>,
    /// An email change's new address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
    /// A staff member's link: the member's link generation when it was issued (it works
    /// only while the member's is still that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// A staff member's link being used (its login being made) until then: another use
    /// meanwhile is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
}

impl Link {
    /// A link not yet used, with no new email and no generation.
    fn fresh(
        user_id: String,
        customer_id: String,
        purpose: &str,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id,
            customer_id,
            purpose: purpose.to_owned(),
            expires_at,
            new_email: None,
            generation: None,
            claimed_until: None,
        }
    }
}

/// The link item (hashed token) and the plain token for the email.
pub(crate) fn new_link(
    tenant_id: &TenantId,
    user_id: &UserId,
    customer_id: &CustomerId,
    purpose: &str,
    new_email: Option<&str>,
    expires_at: DateTime<Utc>,
) -> Result<(WriteOp, String), Error> {
    let link = Link {
        new_email: new_email.map(str::to_owned),
        ..Link::fresh(
            user_id.to_string(),
            customer_id.to_string(),
            purpose,
            expires_at,
        )
    };
    created(tenant_id, &link)
}

/// A new password link of a customer user's (item and plain token), issued at the
/// user's current link generation: a link that sets the password raises it, and every
/// other link of the user stops working.
pub(crate) fn user_password_link(
    tenant_id: &TenantId,
    user: &crate::model::customer::CustomerUser,
    purpose: &str,
    expires_at: DateTime<Utc>,
) -> Result<(WriteOp, String), Error> {
    let link = Link {
        generation: Some(user.link_generation),
        ..Link::fresh(
            user.id.to_string(),
            user.customer_id.to_string(),
            purpose,
            expires_at,
        )
    };
    created(tenant_id, &link)
}

/// The write that stores `link` under the hash of a new token (expiring with it), and
/// the plain token for its email.
fn created(tenant_id: &TenantId, link: &Link) -> Result<(WriteOp, String), Error> {
    let token = random_token();
    let mut item = Item::new(
        keys::password_link(tenant_id, &token_hash(&token)),
        to_data(link)?,
    );
    item.expires_at = Some(link.expires_at.timestamp());
    Ok((WriteOp::create(item), token))
}

/// Every purpose of a link that sets a password: a customer user's or a staff member's.
pub(crate) const ALL_PASSWORD_PURPOSES: &[&str] =
    &["invitation", "reset", STAFF_INVITATION, STAFF_RESET];

/// Whose password a link of this tenant sets, if it still works (the set-password page).
pub async fn password_link_kind(
    deps: &Deps,
    tenant_id: &TenantId,
    token: &str,
) -> Result<Option<LinkKind>, Error> {
    Ok(open_link(deps, tenant_id, token, ALL_PASSWORD_PURPOSES)
        .await?
        .map(|(l, _)| LinkKind::of(&l)))
}

/// Whose password a link sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    CustomerUser,
    Staff,
}

impl LinkKind {
    pub(crate) fn of(link: &Link) -> Self {
        if STAFF_PURPOSES.contains(&link.purpose.as_str()) {
            LinkKind::Staff
        } else {
            LinkKind::CustomerUser
        }
    }
}

/// The link of `token` in this tenant, if it is one of `purposes` and still works.
pub(crate) async fn open_link(
    deps: &Deps,
    tenant_id: &TenantId,
    token: &str,
    purposes: &[&str],
) -> Result<Option<(Link, Item)>, Error> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(item) = deps
        .store
        .get(&keys::password_link(tenant_id, &token_hash(token)))
        .await?
    else {
        return Ok(None);
    };
    let link: Link = from_item(&item)?;
    let usable = link.expires_at > deps.clock.now() && purposes.contains(&link.purpose.as_str());
    Ok(usable.then_some((link, item)))
}

/// A link to set a new password (a customer user's or a staff member's).
pub(crate) fn password_reset_email(
    tenant_id: &TenantId,
    to: &str,
    first_name: &str,
    link_token: &str,
    now: DateTime<Utc>,
) -> Result<mail::Queued, Error> {
    let mut context = serde_json::Map::new();
    context.insert("first_name".into(), serde_json::json!(first_name));
    context.insert("link_token".into(), serde_json::json!(link_token));
    context.insert("link_hours".into(), serde_json::json!(RESET_HOURS));
    mail::enqueue(tenant_id, mail::Template::PasswordReset, to, context, now)
}

/// What a route that emails a password link answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LinkSent {
    /// `reset_link_sent`, or `invitation_sent` for a staff member who never set a password.
    pub status: &'static str,
    /// Where the link went.
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

/// How long an email change's verification link works.
pub const EMAIL_CHANGE_HOURS: i64 = 24;

/// The writes that ask for a change of `user`'s email to `new_email` (already a valid
/// address): the link, and its email to the new address.
pub(crate) fn email_change_request(
    tenant_id: &TenantId,
    user_id: &UserId,
    customer_id: &CustomerId,
    first_name: &str,
    new_email: &str,
    now: DateTime<Utc>,
) -> Result<Vec<WriteOp>, Error> {
    let (link, token) = new_link(
        tenant_id,
        user_id,
        customer_id,
        "email_change",
        Some(new_email),
        now + chrono::Duration::hours(EMAIL_CHANGE_HOURS),
    )?;
    let email = email_change_email(tenant_id, first_name, new_email, &token, now)?;
    Ok([vec![link], email.to_vec()].concat())
}

/// What a `PATCH` answers about an email change it asked for.
pub(crate) fn email_change_pending(new_email: &str) -> EmailChangePending {
    EmailChangePending {
        status: "verification_sent",
        pending_email: new_email.to_owned(),
        expires_in: EMAIL_CHANGE_HOURS * 3600,
        detail: "the email changes once its owner opens the link sent to the new address and confirms",
    }
}

/// The link that confirms a new email, sent to that new address.
fn email_change_email(
    tenant_id: &TenantId,
    first_name: &str,
    new_email: &str,
    link_token: &str,
    now: DateTime<Utc>,
) -> Result<mail::Queued, Error> {
    let mut context = serde_json::Map::new();
    context.insert("first_name".into(), serde_json::json!(first_name));
    context.insert("new_email".into(), serde_json::json!(new_email));
    context.insert("link_token".into(), serde_json::json!(link_token));
    context.insert("link_hours".into(), serde_json::json!(EMAIL_CHANGE_HOURS));
    mail::enqueue(
        tenant_id,
        mail::Template::EmailChange,
        new_email,
        context,
        now,
    )
}

/// A new password link of a member's (item and plain token), issued at the member's
/// current link generation: the caller's transaction also raises the generation when
/// the member already had links, so those stop working.
pub(crate) fn staff_link(
    tenant_id: &TenantId,
    member: &crate::model::member::Member,
    purpose: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<(WriteOp, String), Error> {
    let link = Link {
        generation: Some(member.link_generation),
        ..Link::fresh(member.id.to_string(), String::new(), purpose, expires_at)
    };
    created(tenant_id, &link)
}

/// The link of a new member's invitation (its item and plain token), when staff logins
/// exist.
pub(crate) fn staff_invitation_link(
    deps: &Deps,
    tenant_id: &TenantId,
    member: &crate::model::member::Member,
) -> Result<Option<(WriteOp, String)>, Error> {
    if deps.identity()?.is_none() {
        return Ok(None);
    }
    let expires = member.created_at + chrono::Duration::days(INVITATION_DAYS);
    staff_link(tenant_id, member, STAFF_INVITATION, expires).map(Some)
}

/// How long one use of a link holds it while its work (a login, a password) is done.
const CLAIM_SECONDS: i64 = 60;

fn link_in_use() -> Error {
    Error::conflict(
        ProblemKind::LinkInUse,
        "this link is being used right now; try again in a minute",
    )
}

/// A link claimed for one use: until it is used up (`used_up`) or given back
/// (`release`), every other use is refused with 409, so concurrent posts of one link
/// cannot all act on it.
pub(crate) struct Claim {
    item: Item,
    original: Item,
}

/// Claims `link` (stored as `link_item`) for this use, or 409 if another use holds it.
pub(crate) async fn claim(deps: &Deps, link: &Link, link_item: &Item) -> Result<Claim, Error> {
    let now = deps.clock.now();
    if link.claimed_until.is_some_and(|t| t > now) {
        return Err(link_in_use());
    }
    let claimed = Link {
        claimed_until: Some(now + chrono::Duration::seconds(CLAIM_SECONDS)),
        ..link.clone()
    };
    let mut item = Item::new(link_item.key(), to_data(&claimed)?);
    item.version = link_item.version + 1;
    item.expires_at = link_item.expires_at;
    match deps
        .store
        .put(
            item.clone(),
            crate::ports::Condition::VersionIs(link_item.version),
        )
        .await
    {
        Ok(()) => Ok(Claim {
            item,
            original: link_item.clone(),
        }),
        Err(crate::ports::StoreError::ConditionFailed) => Err(link_in_use()),
        Err(e) => Err(e.into()),
    }
}

impl Claim {
    /// The write that uses the link up (for the transaction of the work it did).
    pub(crate) fn used_up(&self) -> WriteOp {
        WriteOp::Delete {
            key: self.item.key(),
            condition: crate::ports::Condition::VersionIs(self.item.version),
        }
    }

    /// Gives the link back after a refusal or an outage: it works again (best effort;
    /// a claim left behind lapses after `CLAIM_SECONDS`).
    pub(crate) async fn release(&self, deps: &Deps) {
        let mut back = Item::new(self.original.key(), self.original.data.clone());
        back.version = self.item.version + 1;
        back.expires_at = self.original.expires_at;
        if let Err(e) = deps
            .store
            .put(back, crate::ports::Condition::VersionIs(self.item.version))
            .await
        {
            tracing::debug!(error = format!("{e:#}"), "a link's claim was not released");
        }
    }
}
