//! Changing a customer user's email, which is also its login's name.
//!
//! A change is asked for through `PATCH /v1/customers/{id}` (the admin's `admin.email`) or
//! `PATCH /v1/customers/{id}/users/{user_id}` (any user's `email`). Nothing changes then:
//! a one-time link (stored hashed, `LINK_HOURS`) goes to the new address, in the same
//! transaction as the rest of the patch. Whoever opens it at `/t/{slug}/email-change`
//! and confirms (a POST: a mail scanner's GET changes nothing) changes it:
//!
//! 1. the new email is claimed (its uniqueness marker, written pending): taken means 409;
//! 2. the login is renamed in the tenant's pool (its password and subject stay);
//! 3. one transaction turns the claim into the marker, removes the old marker, writes the
//!    user (and, for the admin, the customer's profile) and uses the link up. If it fails,
//!    the login gets its old name back and the claim is released.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, Entry, Log};
use super::customers::{self, profile_item};
use super::email_claims::{claim_email, duplicate_email, marker_write, release_claim};
use super::links::{self, Link};
use super::users;
use super::{identity, to_data};
use crate::Deps;
use crate::error::Error;
use crate::model::audit::{Actor, ActorKind, Target};
use crate::model::customer::{CustomerRole, CustomerUser, UserStatus};
use crate::model::fields;
use crate::model::ids::{CustomerId, TenantId, UserId};
use crate::ports::{Condition, IdentityError, Item, StoreError, WriteOp};
use crate::store::keys;

pub use super::links::EMAIL_CHANGE_HOURS as LINK_HOURS;

const PURPOSE: &[&str] = &["email_change"];

async fn open(deps: &Deps, slug: &str, token: &str) -> Result<(TenantId, Link, Item), Error> {
    let tenant_id = super::directory::tenant_of_slug(deps, slug).await?;
    match links::open_link(deps, &tenant_id, token, PURPOSE).await? {
        Some((link, item)) => Ok((tenant_id, link, item)),
        None => Err(expired()),
    }
}

fn expired() -> Error {
    Error::invalid(
        "token",
        "this link has expired or was used already; ask for the change again",
    )
}

/// Does this email-change link of the tenant still work? (The confirmation page.) Its
/// new address.
pub async fn pending_address(
    deps: &Deps,
    tenant_id: &TenantId,
    token: &str,
) -> Result<Option<String>, Error> {
    Ok(links::open_link(deps, tenant_id, token, PURPOSE)
        .await?
        .and_then(|(link, _)| link.new_email))
}

/// What a confirmed change answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EmailChanged {
    /// Always `email_changed`.
    pub status: &'static str,
    /// The new email, the login's name from now on.
    pub email: String,
    /// The login page to sign in on.
    pub login: String,
}

/// `POST /t/{slug}/email-change` as JSON.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    #[schema(value_type = Option<String>)]
    pub token: Option<secrecy::SecretString>,
}

/// [`confirm`] from its JSON body.
pub async fn confirm_body(
    deps: &Deps,
    slug: &str,
    body: &Confirmation,
) -> Result<EmailChanged, Error> {
    use secrecy::ExposeSecret;
    let token = body.token.as_ref().map(|t| t.expose_secret());
    confirm(deps, slug, token.unwrap_or_default()).await
}

/// `POST /t/{slug}/email-change`: confirms the change the link stands for.
pub async fn confirm(deps: &Deps, slug: &str, token: &str) -> Result<EmailChanged, Error> {
    let (tenant_id, link, link_item) = open(deps, slug, token).await?;
    let customer_id = CustomerId::from_record(link.customer_id.as_str());
    let user_id = UserId::from_record(link.user_id.as_str());
    let Some(new_email) = link.new_email.clone() else {
        return Err(expired());
    };
    let (user, user_item) = match users::load_user(deps, &tenant_id, &customer_id, &user_id).await {
        Ok(u) => u,
        Err(Error::NotFound(_)) => return Err(expired()),
        Err(e) => return Err(e),
    };
    // A deactivated user's link, or a deleted customer's, changes nothing.
    if user.status != UserStatus::Active
        || !customers::is_live(deps, &tenant_id, &customer_id).await?
    {
        return Err(expired());
    }
    let taken = |e: Error| match e {
        Error::Conflict {
            kind, mut extra, ..
        } => {
            extra.insert("field".into(), json!("email"));
            Error::Conflict {
                kind,
                detail: format!(
                    "{new_email} is already in use in this account; the email was not changed"
                ),
                extra,
            }
        }
        other => other,
    };
    // Every write but the new email's marker is read and built before anything changes,
    // so a failure from the claim on has only the claim and the rename to undo.
    let mut updated: CustomerUser = user.clone();
    updated.email = new_email.clone();
    updated.updated_at = Some(deps.clock.now());
    let mut next_user = Item::new(user_item.key(), to_data(&updated)?);
    next_user.version = user_item.version + 1;
    let mut ops = vec![
        WriteOp::Put {
            item: next_user,
            condition: Condition::VersionIs(user_item.version),
        },
        WriteOp::Delete {
            key: link_item.key(),
            condition: Condition::VersionIs(link_item.version),
        },
    ];
    if user.role == CustomerRole::Admin.as_str() {
        let (mut c, profile) = customers::load(deps, &tenant_id, &customer_id).await?;
        c.admin.email = new_email.clone();
        c.updated_at = deps.clock.now();
        ops.push(WriteOp::Put {
            item: profile_item(&tenant_id, &c, profile.version + 1)?,
            condition: Condition::VersionIs(profile.version),
        });
        ops.extend(super::events::emit(
            &tenant_id,
            crate::model::event::EventType::CustomerUpdated,
            &c.view(profile.version + 1),
            c.updated_at,
        )?);
    }
    // Confirmed by the holder of the link, the user it was sent to; the new address
    // stays out of the log (personal).
    ops.push(
        audit::op(
            deps,
            Log::Tenant(&tenant_id),
            Entry::new("user.email_changed", Target::new("user", &user_id))
                .customer(&customer_id)
                .fields(["email"])
                .by(Actor::new(ActorKind::CustomerUser, user_id.as_str())),
        )
        .await?,
    );
    // The pool of the login to rename, if the user has one.
    let idp = deps.identity()?;
    let pool = match (&user.login_subject, idp) {
        (Some(_), Some(_)) => identity::customer_pool(deps, &tenant_id).await?,
        _ => None,
    };
    let new_marker = keys::user_email_marker(&tenant_id, &fields::email_key(&new_email));
    let old_marker = keys::user_email_marker(&tenant_id, &fields::email_key(&user.email));
    let same = new_marker == old_marker;
    let claim = if same {
        None
    } else {
        Some(
            claim_email(deps, &new_marker, &new_email)
                .await
                .map_err(taken)?,
        )
    };
    let release = async || {
        if let Some(v) = claim {
            release_claim(deps, &new_marker, v).await;
        }
    };
    // The login's new name.
    if let (Some(pool), Some(idp)) = (&pool, idp) {
        match idp.change_email(pool, &user.email, &new_email).await {
            Ok(()) => {}
            Err(IdentityError::UserExists) => {
                release().await;
                return Err(taken(duplicate_email(&new_email)));
            }
            Err(e) => {
                release().await;
                tracing::warn!(error = ?e, "renaming a login failed");
                return Err(Error::Unavailable(
                    "changing the email is unavailable right now; open the link again in a moment"
                        .into(),
                ));
            }
        }
    }
    if let Some(v) = claim {
        ops.push(marker_write(&new_marker, Some(v), &customer_id, &user_id)?);
        ops.push(WriteOp::delete(old_marker));
    }
    match deps.store.transact(ops).await {
        Ok(()) => Ok(EmailChanged {
            status: "email_changed",
            email: new_email,
            login: format!("/t/{slug}/login"),
        }),
        Err(e) => {
            // Undo: the login's old name back, the claim released.
            if let (Some(pool), Some(idp)) = (&pool, idp)
                && let Err(undo) = idp.change_email(pool, &new_email, &user.email).await
            {
                tracing::error!(error = ?undo, "a renamed login could not get its old email back");
            }
            release().await;
            match e {
                StoreError::TransactionCanceled { .. } => Err(Error::concurrent_update()),
                other => Err(other.into()),
            }
        }
    }
}
