//! A user's own state (deactivate, reactivate), its removal, and its password reset.

use super::{live_customer, load_user, login_record, not_for_the_admin};
use crate::error::ProblemKind;
use chrono::{DateTime, Duration, Utc};

use crate::Deps;
use crate::access::CustomerScope;
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::customer::{CustomerRole, CustomerUser, CustomerUserView, UserStatus};
use crate::model::fields;
use crate::model::ids::{TenantId, UserId};
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::service::audit::{self, Entry, Log};
use crate::service::customers::profile_item;
use crate::service::links::RESET_HOURS;
use crate::service::{identity, links, to_data};
use crate::store::keys;

/// `POST .../deactivate` and `.../reactivate`: the user's own state. Its login record
/// changes in the same write, so its token is refused (or accepted) from the next request
/// on; the provider follows.
pub async fn set_active(
    deps: &Deps,
    scope: &CustomerScope,
    user_id: &UserId,
    active: bool,
) -> Result<CustomerUserView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    // The login follows: see `customers::transition`.
    deps.identity()?;
    let (customer, _) = super::live_customer(deps, tenant_id, customer_id).await?;
    let (current, item) = load_user(deps, tenant_id, customer_id, user_id).await?;
    if current.role == CustomerRole::Admin.as_str() {
        return Err(not_for_the_admin(if active {
            "reactivated"
        } else {
            "deactivated"
        }));
    }
    let status = if active {
        UserStatus::Active
    } else {
        UserStatus::Inactive
    };
    let record = login_record(deps, tenant_id, &current).await?;
    let last = record.as_ref().and_then(|(r, _)| r.last_login_at);
    if current.status == status {
        return Ok(current.view(item.version, last));
    }
    let mut updated = current.clone();
    updated.status = status;
    updated.updated_at = Some(deps.clock.now());
    let mut user_item = Item::new(item.key(), to_data(&updated)?);
    user_item.version = item.version + 1;
    let mut ops = vec![
        WriteOp::Put {
            item: user_item,
            condition: Condition::VersionIs(item.version),
        },
        // One active user more or fewer from today.
        crate::service::seats::change(
            deps,
            tenant_id,
            customer_id,
            deps.clock.now().date_naive(),
            if active { 1 } else { -1 },
            customer.user_count,
        )
        .await?,
    ];
    if let Some((mut r, ritem)) = record.clone() {
        r.enabled = active;
        let mut i = Item::new(ritem.key(), to_data(&r)?);
        i.version = ritem.version + 1;
        ops.push(WriteOp::Put {
            item: i,
            condition: Condition::VersionIs(ritem.version),
        });
    }
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new(
                if active {
                    "user.reactivated"
                } else {
                    "user.deactivated"
                },
                Target::new("user", user_id),
            )
            .customer(customer_id)
            .value("status", status),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { .. }) => return Err(Error::concurrent_update()),
        Err(e) => return Err(e.into()),
    }
    if let Some(sub) = &updated.login_subject {
        identity::mirror_enabled(deps, tenant_id, &updated.email, sub).await;
    }
    Ok(updated.view(item.version + 1, last))
}

/// `DELETE /v1/customers/{id}/users/{user_id}`: the login first (a failure leaves the
/// user in place, to retry), then the user, its login record and its email's marker in
/// one transaction that also lowers the customer's count. Between the two the user can no
/// longer sign in; its token is refused once the login record is gone.
pub async fn delete(deps: &Deps, scope: &CustomerScope, user_id: &UserId) -> Result<(), Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    // The login goes too: see `customers::transition`.
    deps.identity()?;
    let (customer, profile) = live_customer(deps, tenant_id, customer_id).await?;
    let (user, item) = load_user(deps, tenant_id, customer_id, user_id).await?;
    if user.role == CustomerRole::Admin.as_str() {
        return Err(not_for_the_admin("removed"));
    }
    let mut counted = customer.clone();
    counted.user_count = counted.user_count.saturating_sub(1).max(1);
    let seats = if user.status == UserStatus::Active {
        Some(
            crate::service::seats::change(
                deps,
                tenant_id,
                customer_id,
                deps.clock.now().date_naive(),
                -1,
                customer.user_count,
            )
            .await?,
        )
    } else {
        None
    };
    let mut ops = vec![
        WriteOp::Delete {
            key: item.key(),
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::Put {
            item: profile_item(tenant_id, &counted, profile.version + 1)?,
            condition: Condition::VersionIs(profile.version),
        },
        WriteOp::delete(keys::user_email_marker(
            tenant_id,
            &fields::email_key(&user.email),
        )),
    ];
    // The login goes first: once the records (and the email's marker) are gone, the
    // email may be added again, and that new user's login must not be deleted here. A
    // failure leaves the user in place; a retry finds the login gone and goes on.
    if user.login_subject.is_some() {
        identity::delete_login(deps, tenant_id, &user.email).await?;
        ops.push(WriteOp::delete(keys::login_subject(
            tenant_id,
            user.login_subject.as_deref().unwrap_or_default(),
        )));
    }
    ops.extend(seats);
    let record = login_record(deps, tenant_id, &user).await?;
    let last = record.and_then(|(r, _)| r.last_login_at);
    ops.extend(crate::service::events::emit(
        tenant_id,
        crate::model::event::EventType::CustomerUserRemoved,
        &user.view(item.version, last),
        deps.clock.now(),
    )?);
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new("user.deleted", Target::new("user", user_id)).customer(customer_id),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { .. }) => return Err(Error::concurrent_update()),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// `POST .../reset-password`: emails the user a link to set a new password. The current
/// password keeps working until then.
pub async fn reset_password(
    deps: &Deps,
    scope: &CustomerScope,
    user_id: &UserId,
) -> Result<links::LinkSent, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    live_customer(deps, tenant_id, customer_id).await?;
    let (user, _) = load_user(deps, tenant_id, customer_id, user_id).await?;
    if user.status != UserStatus::Active {
        return Err(Error::conflict(
            ProblemKind::UserInactive,
            "the user is deactivated; reactivate it first",
        ));
    }
    let event =
        Entry::new("user.password_reset", Target::new("user", user_id)).customer(customer_id);
    let expires_at = send_reset(deps, tenant_id, &user, event).await?;
    Ok(links::LinkSent {
        status: "reset_link_sent",
        email: user.email,
        expires_at,
    })
}

/// Emails `user` a link to set a new password (the link, its email and the caller's
/// audit `event` in one transaction); the link's expiry.
pub(super) async fn send_reset(
    deps: &Deps,
    tenant_id: &TenantId,
    user: &CustomerUser,
    event: Entry,
) -> Result<DateTime<Utc>, Error> {
    let now = deps.clock.now();
    let expires_at = now + Duration::hours(RESET_HOURS);
    let (link, token) = links::user_password_link(tenant_id, user, "reset", expires_at)?;
    let email = links::password_reset_email(tenant_id, &user.email, &user.first_name, &token, now)?;
    let event = audit::op(deps, Log::Tenant(tenant_id), event).await?;
    deps.store
        .transact([vec![link, event], email.to_vec()].concat())
        .await?;
    Ok(expires_at)
}
