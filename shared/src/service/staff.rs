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
//!   the slug's, the member its member with that email. The same throttle and the same
//!   answer for every failure as the customer login.
//! - A token authenticates while its member exists and is active, with the member's
//!   current role: disabling, demoting or removing a member counts from the next request.
//! - Without an identity provider there are no staff logins: staff use API keys.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::sign_in::{self, SignIn};
use super::users::{self, Link};
use super::{from_item, to_data, tokens};
use crate::Deps;
use crate::access::Principal;
use crate::error::Error;
use crate::model::member::{Member, MemberStatus};
use crate::model::{fields, ids};
use crate::ports::{Condition, IdentityError, Item, NewLogin, Pool, StoreError, Tokens, WriteOp};
use crate::service::tokens::{Issuer, Realm};
use crate::store::keys;

/// The purposes of a staff member's password links.
pub(crate) const INVITATION: &str = "staff_invitation";
pub(crate) const RESET: &str = "staff_reset";
pub(crate) const PURPOSES: &[&str] = &[INVITATION, RESET];

/// What `keys::staff_subject` stores: the membership a staff token signs in as.
#[derive(Debug, Serialize, Deserialize)]
struct StaffLogin {
    tenant_id: String,
    member_id: String,
}

/// The marker that keeps a member's email unique in its tenant; it names the member, so
/// a sign-in finds the member by email in one read.
pub(crate) fn email_marker(tenant_id: &str, email: &str, member_id: &str) -> Result<Item, Error> {
    Ok(Item::new(
        keys::member_email_marker(tenant_id, &fields::email_key(email)),
        to_data(&json!({ "member_id": member_id }))?,
    ))
}

/// The link of a new member's invitation (its item and plain token), when staff logins
/// exist.
pub(crate) fn invitation_link(
    deps: &Deps,
    tenant_id: &str,
    member: &Member,
) -> Result<Option<(WriteOp, String)>, Error> {
    if deps.identity.is_none() {
        return Ok(None);
    }
    let expires = member.created_at + Duration::days(users::INVITATION_DAYS);
    users::new_link(tenant_id, &member.id, "", INVITATION, None, expires).map(Some)
}

/// The member of a tenant with this email, if any.
async fn member_by_email(
    deps: &Deps,
    tenant_id: &str,
    email: &str,
) -> Result<Option<(Member, Item)>, Error> {
    let marker = keys::member_email_marker(tenant_id, &fields::email_key(email));
    let Some(item) = deps.store.get(&marker).await? else {
        return Ok(None);
    };
    if let Some(member_id) = item.data.get("member_id").and_then(Value::as_str) {
        return match deps.store.get(&keys::member(tenant_id, member_id)).await? {
            Some(m) => Ok(Some((from_item(&m)?, m))),
            None => Ok(None),
        };
    }
    // A marker written before markers named their member: the tenant's staff list (small).
    let wanted = fields::email_key(email);
    let mut start = None;
    loop {
        let page = deps
            .store
            .query(
                crate::ports::Query::partition(
                    keys::tenant_partition(tenant_id),
                    crate::ports::SortRange::Prefix(keys::members_prefix().into()),
                    100,
                )
                .after(start),
            )
            .await?;
        for i in page.items {
            let m: Member = from_item(&i)?;
            if fields::email_key(&m.email) == wanted {
                return Ok(Some((m, i)));
            }
        }
        match page.next {
            Some(n) => start = Some(n),
            None => return Ok(None),
        }
    }
}

fn unavailable(what: &str, e: &IdentityError) -> Error {
    tracing::warn!(error = ?e, "{what}: the identity provider failed");
    Error::Unavailable(format!(
        "{what} is unavailable right now; try again in a moment"
    ))
}

async fn staff_pool(deps: &Deps, what: &str) -> Result<Pool, Error> {
    let Some(idp) = &deps.identity else {
        return Err(Error::NotFound("login page"));
    };
    idp.staff_pool().await.map_err(|e| unavailable(what, &e))
}

/// A username no staff login has: signing in as it costs what a real check costs.
const NO_MEMBER: &str = "mem_00000000000000000000000000000000";

/// `POST /t/{slug}/staff/login`: a staff member of the slug's tenant signs in with its
/// email and password and gets the staff pool's tokens.
pub async fn sign_in(deps: &Deps, slug: &str, body: &SignIn) -> Result<Tokens, Error> {
    let (email, password) = sign_in::credentials(body)?;
    let tenant_id = sign_in::tenant_of_slug(deps, slug).await?;
    let pool = staff_pool(deps, "signing in").await?;
    let Some(idp) = &deps.identity else {
        return Err(Error::NotFound("login page"));
    };
    // Its own counter: failures at the customer login do not lock a staff login out.
    let key = keys::sign_in_failures(
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
        Err(IdentityError::InvalidCredentials) => return Err(sign_in::wrong()),
        Err(e) => return Err(unavailable("signing in", &e)),
    };
    // Our records decide: the login must be this tenant's member's, still active.
    let Some(member) = member else {
        return Err(sign_in::wrong());
    };
    let sub = tokens::subject_of_issued(&tokens.access_token).unwrap_or_default();
    match principal(deps, &sub).await {
        Ok(Principal::Staff {
            tenant_id: t,
            actor,
            ..
        }) if t == tenant_id && actor == member.id => {}
        Ok(_) | Err(Error::Unauthenticated) => return Err(sign_in::wrong()),
        Err(e) => return Err(e),
    }
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
    if !ids::is_valid(ids::MEMBER, &login.member_id) {
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
        tenant_id: login.tenant_id,
        role: member.role,
        actor: member.id,
    })
}

/// `POST /v1/members/{id}/reset-password`: emails the member a link to set a password.
/// A member who never set one gets a new invitation (the first may have expired).
pub async fn reset_password(deps: &Deps, tenant_id: &str, member_id: &str) -> Result<Value, Error> {
    let (member, _) = super::members::load(deps, tenant_id, member_id).await?;
    if deps.identity.is_none() {
        return Err(Error::conflict(
            "staff-logins-unavailable",
            "this deployment has no identity provider: staff sign in with API keys",
        ));
    }
    if member.status != MemberStatus::Active {
        return Err(Error::conflict(
            "member-disabled",
            "the member is disabled; set its status to active first",
        ));
    }
    let now = deps.clock.now();
    let (status, purpose, expires_at) = match member.login_subject {
        Some(_) => (
            "reset_link_sent",
            RESET,
            now + Duration::hours(users::RESET_HOURS),
        ),
        None => (
            "invitation_sent",
            INVITATION,
            now + Duration::days(users::INVITATION_DAYS),
        ),
    };
    let (link, token) = users::new_link(tenant_id, &member.id, "", purpose, None, expires_at)?;
    let email = match purpose {
        RESET => {
            super::mail::password_reset(tenant_id, &member.email, &member.first_name, &token, now)?
        }
        _ => super::mail::staff_invitation(tenant_id, &member, Some(&token), now)?,
    };
    deps.store.transact(vec![link, email]).await?;
    Ok(json!({
        "status": status,
        "email": member.email,
        "expires_at": expires_at,
    }))
}

/// Sets a staff member's password from its link (the password page): makes the member's
/// login on first use. Returns the member's email.
pub(crate) async fn set_password(
    deps: &Deps,
    tenant_id: &str,
    link: &Link,
    link_item: &Item,
    password: &str,
) -> Result<String, Error> {
    fields::staff_password(password).map_err(|e| Error::invalid("password", e))?;
    let expired = || {
        Error::invalid(
            "token",
            "this link has expired or was used already; ask an owner of your team for a new one",
        )
    };
    let (member, member_item) = match super::members::load(deps, tenant_id, &link.user_id).await {
        Ok(m) => m,
        Err(Error::NotFound(_)) => return Err(expired()),
        Err(e) => return Err(e),
    };
    if member.status != MemberStatus::Active {
        return Err(expired());
    }
    let pool = staff_pool(deps, "setting the password").await?;
    let Some(idp) = &deps.identity else {
        return Err(expired());
    };
    let refused = |e: IdentityError| match e {
        IdentityError::WeakPassword => Error::invalid(
            "password",
            "is not accepted by the staff login pool; use a longer one",
        ),
        e => unavailable("setting the password", &e),
    };
    let used_up = WriteOp::Delete {
        key: link_item.key(),
        condition: Condition::VersionIs(link_item.version),
    };
    if member.login_subject.is_some() {
        match idp.set_password(&pool, &member.id, password).await {
            Ok(()) => {
                // Used up once the password is set; a lost race leaves it to expire.
                if let Err(e) = deps.store.transact(vec![used_up]).await {
                    tracing::debug!(error = %e, "a used password link was not removed");
                }
                return Ok(member.email);
            }
            // The login went missing at the provider: made again below.
            Err(IdentityError::NoSuchUser) => {}
            Err(e) => return Err(refused(e)),
        }
    }
    let login = NewLogin {
        username: member.id.clone(),
        subject: member.id.clone(),
        password: Some(password.to_owned()),
    };
    let sub = match idp.create_user(&pool, &login).await {
        Ok(sub) => sub,
        // Left by an earlier use of a link whose records were not written (usernames
        // are member ids: never another member's).
        Err(IdentityError::UserExists) => {
            idp.delete_user(&pool, &member.id)
                .await
                .map_err(|e| unavailable("setting the password", &e))?;
            idp.create_user(&pool, &login).await.map_err(refused)?
        }
        Err(e) => return Err(refused(e)),
    };
    let issuer = Issuer {
        iss: pool.issuer.clone(),
        audience: pool.client_id.clone(),
        realm: Realm::Staff,
    };
    let old_subject = member.login_subject.clone();
    let updated = Member {
        login_subject: Some(sub.clone()),
        ..member
    };
    let mut record = Item::new(member_item.key(), to_data(&updated)?);
    record.version = member_item.version + 1;
    let mut ops = vec![
        used_up,
        WriteOp::Put {
            item: record,
            condition: Condition::VersionIs(member_item.version),
        },
        WriteOp::put(Item::new(
            keys::staff_subject(&sub),
            to_data(&StaffLogin {
                tenant_id: tenant_id.to_owned(),
                member_id: updated.id.clone(),
            })?,
        )),
        // The staff pool's issuer, trusted from now on (the same item every time).
        WriteOp::put(Item::new(
            super::identity::issuer_key(&issuer.iss),
            to_data(&issuer)?,
        )),
    ];
    if let Some(old) = old_subject.filter(|o| *o != sub) {
        ops.push(WriteOp::delete(keys::staff_subject(&old)));
    }
    match deps.store.transact(ops).await {
        Ok(()) => Ok(updated.email),
        Err(e) => {
            // The login is of no use without its records; the next use of a link
            // replaces it anyway.
            if let Err(e) = idp.delete_user(&pool, &updated.id).await {
                tracing::warn!(error = ?e, "an unused staff login was left in the pool");
            }
            match e {
                StoreError::TransactionCanceled { failed } if failed.contains(&0) => Err(expired()),
                StoreError::TransactionCanceled { .. } => Err(Error::concurrent_update()),
                e => Err(e.into()),
            }
        }
    }
}

/// Removes a removed member's login from the staff pool (best effort: without its
/// records it can neither sign in nor authenticate).
pub(crate) async fn delete_login(deps: &Deps, member_id: &str) {
    let Some(idp) = &deps.identity else {
        return;
    };
    let result = match idp.staff_pool().await {
        Ok(pool) => idp.delete_user(&pool, member_id).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) | Err(IdentityError::NoSuchUser) => {}
        Err(e) => tracing::warn!(error = ?e, "a removed member's login was left in the staff pool"),
    }
}
