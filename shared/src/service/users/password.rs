//! Setting a password through a one-time link (an invitation's or a reset's), for a
//! customer user or (handed on) a staff member.

use super::load_user;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::error::{Error, FieldError};
use crate::model::fields;
use crate::model::ids::{CustomerId, UserId};
use crate::ports::{Condition, IdentityError, Item, StoreError};
use crate::service::links::{self, ALL_PASSWORD_PURPOSES, LinkKind, open_link};
use crate::service::{identity, to_data};

/// `POST /t/{slug}/password` as JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub token: Option<SecretString>,
    pub password: Option<SecretString>,
}

/// What setting a password through a link answers: whose it was and where to sign in.
#[derive(Clone, Debug, Serialize)]
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
    let (token, password) = (exposed(&body.token), exposed(&body.password));
    set_password(deps, slug, token, password).await
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
    // Claimed for this use: of concurrent posts of one link, one sets the password and
    // the others are refused (409), so nobody is told a password was set that is not.
    let claim = links::claim(deps, &link, &link_item).await?;
    let set = async || -> Result<(), Error> {
        match (
            deps.identity()?,
            identity::customer_pool(deps, &tenant_id).await?,
        ) {
            (Some(idp), Some(pool)) => match idp.set_password(&pool, &user.email, password).await {
                Ok(()) => Ok(()),
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
            _ => {
                let mut updated = user.clone();
                updated.password_hash =
                    Some(crate::service::passwords::hash(password.to_owned()).await?);
                let mut i = Item::new(user_item.key(), to_data(&updated)?);
                i.version = user_item.version + 1;
                match deps
                    .store
                    .put(i, Condition::VersionIs(user_item.version))
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(StoreError::ConditionFailed) => Err(Error::concurrent_update()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    };
    if let Err(e) = set().await {
        // A refusal or an outage leaves the link usable.
        claim.release(deps).await;
        return Err(e);
    }
    // Used up: the claim is held, so only this use can remove it.
    if let Err(e) = deps.store.transact(vec![claim.used_up()]).await {
        tracing::warn!(
            error = format!("{e:#}"),
            "a used password link was not removed: it works again once its claim lapses"
        );
    }
    Ok(PasswordSet {
        status: "password_set",
        kind: "customer_user",
        email: user.email,
        login: format!("/t/{slug}/login"),
    })
}
