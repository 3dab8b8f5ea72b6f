//! Signing a customer user in at its tenant's login (`POST /t/{slug}/login`): email and
//! password in, the tenant pool's tokens out.
//!
//! A wrong password, an unknown email and a disabled login get the same answer. Attempts
//! are counted per tenant and email before the password is checked: after
//! `MAX_FAILURES` without a success within `WINDOW_MINUTES`, that email is refused (429,
//! `Retry-After`) until the window has passed, whatever the password; a success clears
//! the count. A success also needs our login record to be enabled, whatever the
//! provider says.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::throttle::{self, Limit};
use super::{from_item, identity, to_data, tokens};
use crate::Deps;
use crate::error::Error;
use crate::model::customer::LoginRecord;
use crate::model::fields;
use crate::ports::{Condition, IdentityError, Item, Tokens};
use crate::store::keys;

/// Failed sign-ins of one email that start the refusal, and how long they count (and a
/// refusal lasts after the last one counted).
pub const LIMIT: Limit = Limit {
    max: 5,
    window_minutes: 15,
};

/// Counts a sign-in attempt on `key` (see [`throttle::count`]).
pub(crate) async fn count(
    deps: &Deps,
    key: &crate::ports::Key,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, Error> {
    throttle::count(deps, key, LIMIT, now).await
}

pub(crate) use super::throttle::clear;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: Option<String>,
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

pub(crate) fn wrong() -> Error {
    Error::InvalidLogin
}

/// The email and password of a sign-in: both required (422 naming each); an over-long
/// value cannot be a login's: the wrong-login answer.
pub(crate) fn credentials(body: &SignIn) -> Result<(&str, &str), Error> {
    let mut missing = Vec::new();
    let email = body.email.as_deref().map(str::trim).unwrap_or_default();
    let password = body
        .password
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .unwrap_or_default();
    if email.is_empty() {
        missing.push(crate::FieldError::new("email", "is required"));
    }
    if password.is_empty() {
        missing.push(crate::FieldError::new("password", "is required"));
    }
    if !missing.is_empty() {
        return Err(Error::Invalid(missing));
    }
    if email.len() > 254 || password.len() > 256 {
        return Err(wrong());
    }
    Ok((email, password))
}

/// The normalized email of a sign-in, checked once the tenant is known: an address that
/// is no email cannot have a login (the same answer as a wrong password).
pub(crate) fn login_email(raw: &str) -> Result<String, Error> {
    fields::email(raw).map_err(|_| wrong())
}

pub async fn sign_in(deps: &Deps, slug: &str, body: &SignIn) -> Result<Tokens, Error> {
    let (email, password) = credentials(body)?;
    let tenant_id = super::directory::tenant_of_slug(deps, slug).await?;
    let (Some(idp), Some(pool)) = (
        deps.identity()?,
        identity::customer_pool(deps, &tenant_id).await?,
    ) else {
        return Err(Error::NotFound("login page"));
    };
    let email = login_email(email)?;
    let now = deps.clock.now();
    let key = keys::throttle(
        &tenant_id,
        &hex::encode(Sha256::digest(fields::email_key(&email).as_bytes())),
    );
    let version = count(deps, &key, now).await?;
    match idp.authenticate(&pool, &email, password).await {
        Ok(tokens) => {
            // Our record decides, not only the provider: a login whose customer is no
            // longer active is refused even if the provider still lets it in.
            let record = match tokens::subject_of_issued(&tokens.access_token) {
                Some(sub) => deps
                    .store
                    .get(&keys::login_subject(&tenant_id, &sub))
                    .await?
                    .map(|item| from_item::<LoginRecord>(&item).map(|r| (r, item)))
                    .transpose()?,
                None => None,
            };
            let Some((mut login, item)) = record else {
                return Err(wrong());
            };
            if !login.enabled
                || !super::customers::logins_open(deps, &tenant_id, &login.customer_id).await?
            {
                return Err(wrong());
            }
            // Activity: the last sign-in, on the login record (best effort, and never over
            // a change made meanwhile).
            login.last_login_at = Some(now);
            let mut touched = Item::new(item.key(), to_data(&login)?);
            touched.version = item.version + 1;
            if let Err(e) = deps
                .store
                .put(touched, Condition::VersionIs(item.version))
                .await
            {
                tracing::debug!(error = format!("{e:#}"), "last_login_at not recorded");
            }
            clear(deps, &key, version).await;
            Ok(tokens)
        }
        Err(IdentityError::InvalidCredentials) => Err(wrong()),
        Err(e) => {
            tracing::warn!(error = ?e, "sign-in: the identity provider failed");
            Err(Error::Unavailable(
                "signing in is unavailable right now; try again in a moment".into(),
            ))
        }
    }
}
