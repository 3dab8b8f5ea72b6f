//! Setting a password through a one-time link (an invitation's or a reset's), for a
//! customer user or (handed on) a staff member.

use super::load_user;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::error::{Error, FieldError};
use crate::model::audit::{Actor, ActorKind, Target};
use crate::model::customer::UserStatus;
use crate::model::fields;
use crate::model::ids::{CustomerId, UserId};
use crate::ports::{Condition, IdentityError, Item, StoreError, WriteOp};
use crate::service::audit::{self, Entry, Log};
use crate::service::email_claims::owner_of;
use crate::service::links::{self, ALL_PASSWORD_PURPOSES, LinkKind, open_link};
use crate::service::throttle::{self, Limit};
use crate::service::{identity, to_data};

/// `POST /t/{slug}/password` as JSON.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    #[schema(value_type = Option<String>)]
    pub token: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
    /// Instead of a token and a password: ask for a link to set a new password.
    pub email: Option<String>,
}

impl SetPassword {
    /// An email alone: a request for a reset link ([`request_reset`]).
    pub fn asks_for_reset(&self) -> bool {
        self.token.is_none() && self.password.is_none() && self.email.is_some()
    }
}

/// What setting a password through a link answers: whose it was and where to sign in.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PasswordSet {
    /// Always `password_set`.
    pub status: &'static str,
    /// `customer_user` or `staff`.
    pub kind: &'static str,
    pub email: String,
    /// The login page to sign in on.
    pub login: String,
}

/// [`set_password`] from its JSON body.
pub async fn set_password_body(
    deps: &Deps,
    slug: &str,
    body: &SetPassword,
) -> Result<PasswordSet, Error> {
    fn exposed(s: &Option<SecretString>) -> &str {
        s.as_ref().map(|s| s.expose_secret()).unwrap_or_default()
    }
    if body.email.is_some() {
        return Err(Error::invalid(
            "email",
            "send either a token and a password, or an email alone (to get a link)",
        ));
    }
    let (token, password) = (exposed(&body.token), exposed(&body.password));
    set_password(deps, slug, token, password).await
}

/// Resets asked for one email at one tenant, per hour: a few links, not an inbox flood.
pub const RESETS_PER_EMAIL: Limit = Limit {
    max: 3,
    window_minutes: 60,
};

/// What asking for a reset link answers: the same whether or not the email has an
/// account, so the form tells nobody which addresses do.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResetRequested {
    /// Always `reset_requested`.
    pub status: &'static str,
    pub detail: String,
}

/// `POST /t/{slug}/password` with an email alone (the login page's "forgot your
/// password?"): if an active user of an active customer of this tenant has this email,
/// it gets a link to set a new password. Counted per source and per email first (429
/// past either limit, whether or not the email has an account).
pub async fn request_reset(
    deps: &Deps,
    slug: &str,
    email: &str,
    source: Option<&str>,
) -> Result<ResetRequested, Error> {
    let tenant_id = crate::service::directory::tenant_of_slug(deps, slug).await?;
    let email = fields::email(email).map_err(|e| Error::invalid("email", e))?;
    throttle::count_source(deps, &tenant_id, "password-reset", source).await?;
    let counter = throttle::key(&tenant_id, "password-reset", &fields::email_key(&email));
    throttle::count(deps, &counter, RESETS_PER_EMAIL, deps.clock.now()).await?;
    // Whatever happens past this point, the answer is the same: an error here would
    // tell that the email has an account. It is logged instead.
    let sent = async {
        if let Some((customer_id, user_id)) = owner_of(deps, &tenant_id, &email).await?
            && let Ok((user, _)) = load_user(deps, &tenant_id, &customer_id, &user_id).await
            && user.status == UserStatus::Active
            && crate::service::customers::is_active(deps, &tenant_id, &customer_id).await?
        {
            // Asked for by whoever knows the address: the origin's anonymous actor.
            let event = Entry::new(
                "user.password_reset_requested",
                Target::new("user", &user.id),
            )
            .customer(&customer_id);
            super::lifecycle::send_reset(deps, &tenant_id, &user, event).await?;
        }
        Ok::<(), Error>(())
    };
    if let Err(e) = sent.await {
        tracing::warn!(error = format!("{e:#}"), "a reset link was not sent");
    }
    Ok(ResetRequested {
        status: "reset_requested",
        detail: format!(
            "if an account with this email exists here, a link to set a new password is on its way; it works for {} hours, once",
            links::RESET_HOURS
        ),
    })
}

/// `POST /t/{slug}/password`: a password link's token and the new password. Sets it and
/// uses the link up.
pub async fn set_password(
    deps: &Deps,
    slug: &str,
    token: &str,
    password: &str,
) -> Result<PasswordSet, Error> {
    if token.is_empty() {
        let mut errors = vec![FieldError::new("token", "is required")];
        if password.is_empty() {
            errors.push(FieldError::new("password", "is required"));
        }
        return Err(Error::Invalid(errors));
    }
    let tenant_id = crate::service::directory::tenant_of_slug(deps, slug).await?;
    let expired = || {
        Error::invalid(
            "token",
            "this link has expired or was used already; ask for a new one",
        )
    };
    let Some((link, link_item)) = open_link(deps, &tenant_id, token, ALL_PASSWORD_PURPOSES).await?
    else {
        return Err(expired());
    };
    // The policy of the link's pool: a staff login's is stricter.
    if LinkKind::of(&link) == LinkKind::Staff {
        let email =
            crate::service::staff::set_password(deps, &tenant_id, &link, &link_item, password)
                .await?;
        return Ok(PasswordSet {
            status: "password_set",
            kind: "staff",
            email,
            login: format!("/t/{slug}/staff/login"),
        });
    }
    fields::password(password).map_err(|e| Error::invalid("password", e))?;
    let (user, user_item) = match load_user(
        deps,
        &tenant_id,
        &CustomerId::from_record(link.customer_id.as_str()),
        &UserId::from_record(link.user_id.as_str()),
    )
    .await
    {
        Ok(u) => u,
        Err(Error::NotFound(_)) => return Err(expired()),
        Err(e) => return Err(e),
    };
    // A deactivated user's links, those of a deleted customer's users, and links of an
    // earlier generation (another link set the password since) do nothing.
    if link.generation.unwrap_or(0) != user.link_generation
        || user.status != UserStatus::Active
        || !crate::service::customers::is_live(deps, &tenant_id, &user.customer_id).await?
    {
        return Err(expired());
    }
    // The link's holder is the user it was sent to. Its event is built before anything
    // changes, so failing to build it changes nothing.
    let event = audit::op(
        deps,
        Log::Tenant(&tenant_id),
        Entry::new("user.password_set", Target::new("user", &user.id))
            .customer(&user.customer_id)
            .by(Actor::new(ActorKind::CustomerUser, user.id.as_str())),
    )
    .await?;
    // Claimed for this use: of concurrent posts of one link, one sets the password and
    // the others are refused (409), so nobody is told a password was set that is not.
    let claim = links::claim(deps, &link, &link_item).await?;
    // Sets the password: at the provider, or (without one) as our own hash, which the
    // write below stores.
    let set = async || -> Result<Option<String>, Error> {
        match (
            deps.identity()?,
            identity::customer_pool(deps, &tenant_id).await?,
        ) {
            (Some(idp), Some(pool)) => match idp.set_password(&pool, &user.email, password).await {
                Ok(()) => Ok(None),
                Err(IdentityError::WeakPassword) => Err(Error::invalid(
                    "password",
                    "is not accepted by the login pool; use a longer one",
                )),
                Err(IdentityError::Conflict) => Err(Error::concurrent_update()),
                Err(e) => {
                    tracing::warn!(error = ?e, "setting a password failed");
                    Err(Error::Unavailable(
                        "setting the password is unavailable right now; try the link again in a moment"
                            .into(),
                    ))
                }
            },
            _ => Ok(Some(
                crate::service::passwords::hash(password.to_owned()).await?,
            )),
        }
    };
    let own_hash = match set().await {
        Ok(hash) => hash,
        Err(e) => {
            // A refusal or an outage leaves the link usable.
            claim.release(deps).await;
            return Err(e);
        }
    };
    // One write: the user's link generation raised (its other links end) with our hash if
    // we keep it, and this link used up.
    let stores_password = own_hash.is_some();
    let mut updated = user.clone();
    updated.link_generation += 1;
    if own_hash.is_some() {
        updated.password_hash = own_hash;
    }
    let mut record = Item::new(user_item.key(), to_data(&updated)?);
    record.version = user_item.version + 1;
    let written = deps
        .store
        .transact(vec![
            WriteOp::Put {
                item: record,
                condition: Condition::VersionIs(user_item.version),
            },
            claim.used_up(),
            event.clone(),
        ])
        .await;
    match written {
        Ok(()) => {}
        // Our hash was not stored: nothing is set, and the link works again.
        Err(e) if stores_password => {
            claim.release(deps).await;
            return Err(match e {
                StoreError::TransactionCanceled { .. } => Error::concurrent_update(),
                e => e.into(),
            });
        }
        // The provider holds the password; the user changed meanwhile: its other links
        // stay until they expire, and this one is used up on its own (retried), with the
        // event of the password set.
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "a user's other password links were not ended"
            );
            for tries in 1..=3 {
                match deps
                    .store
                    .transact(vec![claim.used_up(), event.clone()])
                    .await
                {
                    Ok(()) => break,
                    Err(e) if tries == 3 => tracing::warn!(
                        error = format!("{e:#}"),
                        "a used password link was not removed: it works again once its claim lapses"
                    ),
                    Err(_) => {}
                }
            }
        }
    }
    Ok(PasswordSet {
        status: "password_set",
        kind: "customer_user",
        email: user.email,
        login: format!("/t/{slug}/login"),
    })
}
