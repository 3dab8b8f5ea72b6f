//! Staff logins: every tenant's staff sign in through the one staff pool.
//!
//! - A login belongs to one membership: its username in the pool is the member id, so
//!   a person who is staff of two tenants has two logins, and removing them from one
//!   tenant leaves the other alone. The member's email lives on the member only.
//! - A new member (a new tenant's owner too) is invited with a one-time link to set a
//!   password (`/t/{slug}/password`). The login is made when the link is used: one
//!   transaction then records its subject on the member, writes the subject -> member
//!   item `authenticate()` reads, and trusts the staff pool's issuer.
//! - `POST /t/{slug}/staff/login` signs in with the email and password: the tenant is
//!   the slug's, the member its member with that email. The same throttle, the same
//!   answer for every failure and the same audit events (on the login `staff`) as the
//!   customer login.
//! - A token authenticates while its member exists and is active, with the member's
//!   current role: disabling, demoting or removing a member counts from the next request.
//! - Without an identity provider there are no staff logins: staff use API keys.

use crate::error::ProblemKind;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit::{self, Entry, Log};
use super::links::{self, Link};
use super::sign_in::{self, SignIn};
use super::{from_item, to_data, tokens};
use crate::Deps;
use crate::access::{Principal, TenantScope};
use crate::error::Error;
use crate::model::audit::{Actor, ActorKind, Target};
use crate::model::fields;
use crate::model::ids::{MemberId, TenantId};
use crate::model::member::{Member, MemberStatus};
use crate::ports::{Condition, IdentityError, Item, NewLogin, Pool, StoreError, Tokens, WriteOp};
use crate::service::tokens::{Issuer, Realm};
use crate::store::keys;

/// The purposes of a staff member's password links.
use super::links::{STAFF_INVITATION as INVITATION, STAFF_RESET as RESET};

/// What `keys::staff_subject` stores: the membership a staff token signs in as.
#[derive(Debug, Serialize, Deserialize)]
struct StaffLogin {
    tenant_id: TenantId,
    member_id: MemberId,
}

/// The member of a tenant with this email, if any.
async fn member_by_email(
    deps: &Deps,
    tenant_id: &TenantId,
    email: &str,
) -> Result<Option<(Member, Item)>, Error> {
    let marker = keys::member_email_marker(tenant_id, &fields::email_key(email));
    let Some(item) = deps.store.get(&marker).await? else {
        return Ok(None);
    };
    if let Some(member_id) = item.data.get("member_id").and_then(Value::as_str) {
        let member_id = MemberId::from_record(member_id);
        return match deps.store.get(&keys::member(tenant_id, &member_id)).await? {
            Some(m) => Ok(Some((from_item(&m)?, m))),
            None => Ok(None),
        };
    }
    // A marker written before markers named their member: the tenant's staff list (small).
    let wanted = fields::email_key(email);
    let found =
        super::members::find(deps, tenant_id, |m| fields::email_key(&m.email) == wanted).await?;
    if let Some((m, _)) = &found {
        // The marker names its member from now on (best effort).
        let mut named = super::members::email_marker(tenant_id, &m.email, &m.id)?;
        named.version = item.version + 1;
        if let Err(e) = deps
            .store
            .put(named, Condition::VersionIs(item.version))
            .await
        {
            tracing::debug!(
                error = format!("{e:#}"),
                "a member's email marker was not updated"
            );
        }
    }
    Ok(found)
}

fn unavailable(what: &str, e: &IdentityError) -> Error {
    tracing::warn!(error = ?e, "{what}: the identity provider failed");
    Error::Unavailable(format!(
        "{what} is unavailable right now; try again in a moment"
    ))
}

/// A username no staff login has: signing in as it costs what a real check costs.
const NO_MEMBER: &str = "mem_00000000000000000000000000000000";

/// The login a staff sign-in's audit events name (a customer sign-in's name the slug).
const LOGIN: &str = "staff";

/// `POST /t/{slug}/staff/login`: a staff member of the slug's tenant signs in with its
/// email and password and gets the staff pool's tokens.
pub async fn sign_in(deps: &Deps, slug: &str, body: &SignIn) -> Result<Tokens, Error> {
    let (email, password) = sign_in::credentials(body)?;
    let tenant_id = super::directory::tenant_of_slug(deps, slug).await?;
    let Some(idp) = deps.identity()? else {
        return Err(Error::NotFound("login page"));
    };
    let pool = idp
        .staff_pool()
        .await
        .map_err(|e| unavailable("signing in", &e))?;
    let email = sign_in::login_email(email)?;
    // Its own counter: failures at the customer login do not lock a staff login out.
    let key = keys::throttle(
        &tenant_id,
        &hex::encode(Sha256::digest(
            format!("staff\n{}", fields::email_key(&email)).as_bytes(),
        )),
    );
    let version = sign_in::count(deps, &key, deps.clock.now()).await?;
    let member = member_by_email(deps, &tenant_id, &email)
        .await?
        .map(|(m, _)| m)
        .filter(|m| m.status == MemberStatus::Active && m.login_subject.is_some());
    let username = member.as_ref().map_or(NO_MEMBER, |m| m.id.as_str());
    let tokens = match idp.authenticate(&pool, username, password).await {
        Ok(t) => t,
        Err(IdentityError::InvalidCredentials) => {
            return Err(sign_in::failed(deps, &tenant_id, LOGIN).await);
        }
        Err(e) => return Err(unavailable("signing in", &e)),
    };
    // Our records decide: the login must be the one this tenant's active member (read
    // above) records.
    let issued = tokens::subject_of_issued(&tokens.access_token);
    let Some(member) = member.filter(|m| issued.is_some() && m.login_subject == issued) else {
        return Err(sign_in::failed(deps, &tenant_id, LOGIN).await);
    };
    // Nothing else is written: the event alone.
    let event = audit::op(
        deps,
        Log::Tenant(&tenant_id),
        Entry::new("sign_in.succeeded", Target::new("login", LOGIN))
            .by(Actor::new(ActorKind::Member, member.id.as_str())),
    )
    .await?;
    deps.store.transact(vec![event]).await?;
    sign_in::clear(deps, &key, version).await;
    Ok(tokens)
}

/// The principal of a staff token's subject: its member, while it exists and is active,
/// with the member's current role. Two reads: the subject's item, then the member.
pub(crate) async fn principal(deps: &Deps, subject: &str) -> Result<Principal, Error> {
    if subject.is_empty() || subject.len() > 128 {
        return Err(Error::Unauthenticated);
    }
    let Some(item) = deps.store.get(&keys::staff_subject(subject)).await? else {
        return Err(Error::Unauthenticated);
    };
    let login: StaffLogin = from_item(&item)?;
    if MemberId::parse(login.member_id.as_str()).is_err() {
        return Err(Error::Unauthenticated);
    }
    let Some(m) = deps
        .store
        .get(&keys::member(&login.tenant_id, &login.member_id))
        .await?
    else {
        return Err(Error::Unauthenticated);
    };
    let member: Member = from_item(&m)?;
    if member.status != MemberStatus::Active || member.login_subject.as_deref() != Some(subject) {
        return Err(Error::Unauthenticated);
    }
    Ok(Principal::Staff {
        billing_only: super::directory::tenant_gate(deps, &login.tenant_id).await?,
        tenant_id: login.tenant_id,
        role: member.role,
        actor: member.id.to_string(),
    })
}

/// `POST /v1/members/{id}/reset-password`: emails the member a link to set a password.
/// A member who never set one gets a new invitation (the first may have expired).
pub async fn reset_password(
    deps: &Deps,
    scope: &TenantScope,
    member_id: &MemberId,
) -> Result<links::LinkSent, Error> {
    let tenant_id = scope.tenant_id();
    let (member, item) = super::members::load(deps, tenant_id, member_id).await?;
    if deps.identity()?.is_none() {
        return Err(Error::conflict(
            ProblemKind::StaffLoginsUnavailable,
            "this deployment has no identity provider: staff sign in with API keys",
        ));
    }
    if member.status != MemberStatus::Active {
        return Err(Error::conflict(
            ProblemKind::MemberDisabled,
            "the member is disabled; set its status to active first",
        ));
    }
    let now = deps.clock.now();
    let (status, purpose, expires_at) = match member.login_subject {
        Some(_) => (
            "reset_link_sent",
            RESET,
            now + Duration::hours(links::RESET_HOURS),
        ),
        None => (
            "invitation_sent",
            INVITATION,
            now + Duration::days(links::INVITATION_DAYS),
        ),
    };
    // The new link is the only one that works: the earlier ones' generation is past.
    let bumped = Member {
        link_generation: member.link_generation + 1,
        ..member
    };
    let mut record = Item::new(item.key(), to_data(&bumped)?);
    record.version = item.version + 1;
    let (link, token) = links::staff_link(tenant_id, &bumped, purpose, expires_at)?;
    let email = match purpose {
        RESET => {
            links::password_reset_email(tenant_id, &bumped.email, &bumped.first_name, &token, now)?
        }
        _ => super::members::invitation_email(tenant_id, &bumped, Some(&token), now)?,
    };
    let member_op = WriteOp::Put {
        item: record,
        condition: Condition::VersionIs(item.version),
    };
    let event = audit::op(
        deps,
        Log::Tenant(tenant_id),
        Entry::new("member.password_reset", Target::new("member", &bumped.id)).value(
            "email_sent",
            match purpose {
                RESET => "password_reset",
                _ => "invitation",
            },
        ),
    )
    .await?;
    match deps
        .store
        .transact([vec![member_op, link, event], email.to_vec()].concat())
        .await
    {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { .. }) => return Err(Error::concurrent_update()),
        Err(e) => return Err(e.into()),
    }
    Ok(links::LinkSent {
        status,
        email: bumped.email,
        expires_at,
    })
}

/// Trusts the staff pool's issuer (its `P#ISSUER#` item): one read, and a write only
/// when it is missing, outside any transaction, so the first uses of links in many
/// tenants do not contend on one platform item.
async fn trust_issuer(deps: &Deps, pool: &Pool) -> Result<(), Error> {
    let issuer = Issuer {
        iss: pool.issuer.clone(),
        audience: pool.client_id.clone(),
        realm: Realm::Staff,
    };
    let key = super::identity::issuer_key(&issuer.iss);
    if deps.store.get(&key).await?.is_none() {
        match deps
            .store
            .put(Item::new(key, to_data(&issuer)?), Condition::NotExists)
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Sets a staff member's password from its link (the password page): makes the member's
/// login on first use. Returns the member's email.
///
/// The link must be the member's latest (its generation) and unclaimed. It is claimed
/// first (a double submit is refused meanwhile), then the login is made or its password
/// set, then the provider's subject for it is read back by signing in, and one
/// transaction uses the link up and records the subject. A refusal releases the claim.
/// Nothing here deletes a login: a login left by an unfinished use is taken over by the
/// next one.
pub(crate) async fn set_password(
    deps: &Deps,
    tenant_id: &TenantId,
    link: &Link,
    link_item: &Item,
    password: &str,
) -> Result<String, Error> {
    let expired = || {
        Error::invalid(
            "token",
            "this link has expired or was used already; ask an owner of your team for a new one",
        )
    };
    let Some(idp) = deps.identity()? else {
        return Err(expired());
    };
    fields::staff_password(password).map_err(|e| Error::invalid("password", e))?;
    let (member, member_item) = match super::members::load(
        deps,
        tenant_id,
        &MemberId::from_record(link.user_id.as_str()),
    )
    .await
    {
        Ok(m) => m,
        Err(Error::NotFound(_)) => return Err(expired()),
        Err(e) => return Err(e),
    };
    if member.status != MemberStatus::Active || link.generation != Some(member.link_generation) {
        return Err(expired());
    }
    // Claimed for this use: a concurrent post of the same link is refused (409).
    let claim = links::claim(deps, link, link_item).await?;
    let release = async || claim.release(deps).await;
    let refused = |e: IdentityError| match e {
        IdentityError::WeakPassword => Error::invalid(
            "password",
            "is not accepted by the staff login pool; use another one",
        ),
        IdentityError::Conflict => Error::concurrent_update(),
        e => unavailable("setting the password", &e),
    };
    let made = async || -> Result<String, Error> {
        let pool = idp
            .staff_pool()
            .await
            .map_err(|e| unavailable("setting the password", &e))?;
        trust_issuer(deps, &pool).await?;
        let login = NewLogin {
            username: member.id.to_string(),
            subject: member.id.to_string(),
            password: Some(password.to_owned()),
        };
        // The login is made, or (recorded, or left by an unfinished use) given the
        // password.
        let result = match member.login_subject {
            Some(_) => match idp.set_password(&pool, member.id.as_str(), password).await {
                Err(IdentityError::NoSuchUser) => idp.create_user(&pool, &login).await.map(drop),
                other => other,
            },
            None => match idp.create_user(&pool, &login).await {
                Err(IdentityError::UserExists) => {
                    idp.set_password(&pool, member.id.as_str(), password).await
                }
                other => other.map(drop),
            },
        };
        result.map_err(refused)?;
        // The subject its tokens carry, from the provider itself.
        let tokens = idp
            .authenticate(&pool, member.id.as_str(), password)
            .await
            .map_err(|e| unavailable("setting the password", &e))?;
        tokens::subject_of_issued(&tokens.access_token).ok_or_else(|| {
            Error::Unavailable("the staff login pool issued a token without a subject".into())
        })
    };
    let sub = match made().await {
        Ok(sub) => sub,
        Err(e) => {
            release().await;
            return Err(e);
        }
    };
    let old_subject = member.login_subject.clone();
    let updated = Member {
        login_subject: Some(sub.clone()),
        link_generation: member.link_generation + 1,
        ..member
    };
    let mut record = Item::new(member_item.key(), to_data(&updated)?);
    record.version = member_item.version + 1;
    let mut ops = vec![
        claim.used_up(),
        WriteOp::Put {
            item: record,
            condition: Condition::VersionIs(member_item.version),
        },
        WriteOp::put(Item::new(
            keys::staff_subject(&sub),
            to_data(&StaffLogin {
                tenant_id: tenant_id.clone(),
                member_id: updated.id.clone(),
            })?,
        )),
    ];
    if let Some(old) = old_subject.filter(|o| *o != sub) {
        ops.push(WriteOp::delete(keys::staff_subject(&old)));
    }
    // The link's holder is the member it was sent to.
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new("member.password_set", Target::new("member", &updated.id))
                .by(Actor::new(ActorKind::Member, updated.id.as_str())),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => Ok(updated.email),
        // The member changed meanwhile (disabled, renamed, removed): its password is set
        // at the provider, but our records decide, and they did not take it.
        Err(StoreError::TransactionCanceled { .. }) => {
            release().await;
            Err(Error::concurrent_update())
        }
        Err(e) => Err(e.into()),
    }
}
