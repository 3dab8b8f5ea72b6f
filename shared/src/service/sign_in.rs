//! Signing a customer user in at its tenant's login (`POST /t/{slug}/login`): email and
//! password in, the tenant pool's tokens out.
//!
//! A wrong password, an unknown email and a disabled login get the same answer. Attempts
//! are counted per tenant and email before the password is checked: after
//! `MAX_FAILURES` without a success within `WINDOW_MINUTES`, that email is refused (429,
//! `Retry-After`) until the window has passed, whatever the password; a success clears
//! the count. A success also needs our login record to be enabled, whatever the
//! provider says.
//!
//! Each attempt that reaches the password check is an audit event in the tenant's log:
//! `sign_in.succeeded` by the user, or `sign_in.failed` by nobody known (the email is
//! never in it). An attempt refused before (malformed, throttled) records nothing.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::audit::{self, Entry, Log};
use super::throttle::{self, Limit};
use super::{from_item, identity, to_data, tokens};
use crate::Deps;
use crate::error::Error;
use crate::model::audit::{Actor, ActorKind, Target};
use crate::model::customer::LoginRecord;
use crate::model::fields;
use crate::model::ids::TenantId;
use crate::ports::{Condition, IdentityError, Item, StoreError, Tokens, WriteOp};
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

/// A sign-in refused at the password check (a wrong email or password, a login that may
/// not sign in): its `sign_in.failed` event, written alone since nothing else changes,
/// on `login` (the slug of the tenant's customer login, or `staff`). Answers the
/// wrong-login error, or the store's when the event could not be written.
pub(crate) async fn failed(deps: &Deps, tenant_id: &TenantId, login: &str) -> Error {
    let entry = Entry::new("sign_in.failed", Target::new("login", login)).by(Actor::anonymous());
    let written = async {
        let op = audit::op(deps, Log::Tenant(tenant_id), entry).await?;
        Ok::<(), Error>(deps.store.transact(vec![op]).await?)
    };
    match written.await {
        Ok(()) => wrong(),
        Err(e) => e,
    }
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
                return Err(failed(deps, &tenant_id, slug).await);
            };
            if !login.enabled
                || !super::customers::logins_open(deps, &tenant_id, &login.customer_id).await?
            {
                return Err(failed(deps, &tenant_id, slug).await);
            }
            let event = audit::op(
                deps,
                Log::Tenant(&tenant_id),
                Entry::new("sign_in.succeeded", Target::new("login", slug))
                    .customer(&login.customer_id)
                    .by(Actor::new(ActorKind::CustomerUser, login.user_id.as_str())),
            )
            .await?;
            // Activity: the last sign-in, on the login record, with the sign-in's event;
            // never over a change made meanwhile (then the event alone).
            login.last_login_at = Some(now);
            let mut touched = Item::new(item.key(), to_data(&login)?);
            touched.version = item.version + 1;
            let touch = WriteOp::Put {
                item: touched,
                condition: Condition::VersionIs(item.version),
            };
            match deps.store.transact(vec![touch, event.clone()]).await {
                Ok(()) => {}
                Err(StoreError::TransactionCanceled { .. }) => {
                    tracing::debug!("last_login_at not recorded: the login changed meanwhile");
                    deps.store.transact(vec![event]).await?;
                }
                Err(e) => return Err(e.into()),
            }
            clear(deps, &key, version).await;
            Ok(tokens)
        }
        Err(IdentityError::InvalidCredentials) => Err(failed(deps, &tenant_id, slug).await),
        Err(e) => {
            tracing::warn!(error = ?e, "sign-in: the identity provider failed");
            Err(Error::Unavailable(
                "signing in is unavailable right now; try again in a moment".into(),
            ))
        }
    }
}
