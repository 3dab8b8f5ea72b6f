//! A customer's users (`/v1/customers/{id}/users...`): its admin and the users the admin
//! or tenant staff add. Every user is a login in the tenant's pool.
//!
//! - A user is added with a password, or gets an invitation whose link sets one. Either
//!   way it receives an invitation email.
//! - `max_users` on the customer caps its users, admin included: the count lives on the
//!   customer's profile and is raised in the same transaction that adds the user, under
//!   the profile's version, so concurrent additions cannot pass the cap.
//! - The admin is the customer's one admin: no user can be made admin here, and the admin
//!   is not deactivated or removed here (the customer's own lifecycle does that).
//! - Deactivating a user disables its login record at once (its token is refused from the
//!   next request on) and then in the provider.
//! - Password links (invitation, reset) are random tokens stored hashed, used once, and
//!   expire; the plain token sits in its outbox email only until the email is sent.
//!
//! By job: the users' records (add, read, change) here; deactivating, removing and
//! password resets in `lifecycle`; setting a password through a link in `password`.

mod lifecycle;
mod password;

pub use lifecycle::{delete, reset_password, set_active};
pub use password::{
    PasswordSet, RESETS_PER_EMAIL, ResetRequested, SetPassword, request_reset, set_password,
    set_password_body,
};

use crate::error::ProblemKind;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::audit::{self, Entry, Log};
use super::customers::{self, profile_item};
use super::email_claims::{claim_email, duplicate_email, marker_write, release_claim};
use super::links::INVITATION_DAYS;
use super::{from_item, identity, links, mail, page, to_data};
use crate::Deps;
use crate::access::CustomerScope;
use crate::error::{Error, FieldError};
use crate::model::audit::Target;
use crate::model::customer::{
    Customer, CustomerRole, CustomerStatus, CustomerUser, CustomerUserView, LoginRecord,
    MAX_USERS_LIMIT, PermissionSet, UserStatus,
};
use crate::model::fields;
use crate::model::ids::{CustomerId, TenantId, UserId};
use crate::model::input::{Checks, name};
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::store::keys;

/// `POST /v1/customers/{id}/users`; merged with the stored user for `PATCH`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDraft {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::input::never_shown"
    )]
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
    /// Only `user`: a customer has one admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub permission_set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub areas: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

struct UserInput {
    email: String,
    first_name: String,
    last_name: String,
    password: Option<SecretString>,
    permissions: PermissionSet,
}

impl UserDraft {
    fn of(u: &CustomerUser) -> Self {
        let (areas, permissions) = match &u.permissions {
            PermissionSet::Limited { areas } => (Some(areas.clone()), None),
            PermissionSet::Custom { permissions } => (None, Some(permissions.clone())),
            PermissionSet::Full | PermissionSet::ReadOnly => (None, None),
        };
        Self {
            email: Some(u.email.clone()),
            first_name: Some(u.first_name.clone()),
            last_name: Some(u.last_name.clone()),
            password: None,
            role: None,
            permission_set: Some(u.permissions.name().to_owned()),
            areas,
            permissions,
        }
    }

    /// Checks the draft; `named` are the customer's own permission sets (its template's),
    /// which `permission_set` may name instead of a built-in one.
    fn parse(&self, named: &BTreeMap<String, PermissionSet>) -> Result<UserInput, Error> {
        let mut c = Checks::new();
        let email = c.required("email", self.email.as_deref(), fields::email);
        let first_name = c.required("first_name", self.first_name.as_deref(), name);
        let last_name = c.required("last_name", self.last_name.as_deref(), name);
        let password = match &self.password {
            Some(p)
                if c.check("password", fields::password(p.expose_secret()))
                    .is_some() =>
            {
                Some(p.clone())
            }
            _ => None,
        };
        match self.role.as_deref().map(str::trim) {
            None | Some("user") => {}
            Some("admin") => c.fail(
                "role",
                "must be user: a customer has one admin, the one it was created with",
            ),
            Some(_) => c.fail("role", "must be user"),
        }
        let mut errors = match c.finish() {
            Ok(()) => Vec::new(),
            Err(Error::Invalid(list)) => list,
            Err(e) => return Err(e),
        };
        // A named set brings its own areas or permissions.
        let own = self
            .permission_set
            .as_deref()
            .and_then(|n| named.get(n.trim()));
        let permissions = match own.map_or_else(
            || {
                PermissionSet::parse(
                    self.permission_set.as_deref(),
                    self.areas.as_deref(),
                    self.permissions.as_deref(),
                )
            },
            |set| Ok(set.clone()),
        ) {
            Ok(p) => Some(p),
            Err(Error::Invalid(list)) => {
                errors.extend(list);
                None
            }
            Err(e) => return Err(e),
        };
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        match (email, first_name, last_name, permissions) {
            (Some(email), Some(first_name), Some(last_name), Some(permissions)) => Ok(UserInput {
                email,
                first_name,
                last_name,
                password,
                permissions,
            }),
            _ => Err(Error::invalid("body", "is incomplete")),
        }
    }
}

fn user_key(tenant_id: &TenantId, customer_id: &CustomerId, user_id: &UserId) -> crate::ports::Key {
    keys::customer_user(tenant_id, customer_id, user_id)
}

pub(crate) async fn load_user(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    user_id: &UserId,
) -> Result<(CustomerUser, Item), Error> {
    let item = deps
        .store
        .get(&user_key(tenant_id, customer_id, user_id))
        .await?
        .ok_or(Error::NotFound("user"))?;
    Ok((from_item(&item)?, item))
}

/// A customer that may have users changed: there, and not deleted.
async fn live_customer(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<(Customer, Item), Error> {
    let (c, item) = customers::load(deps, tenant_id, customer_id).await?;
    if c.status == CustomerStatus::Deleted {
        return Err(Error::conflict(
            ProblemKind::CustomerDeleted,
            "a deleted customer's users cannot be changed; restore the customer first",
        ));
    }
    Ok((c, item))
}

async fn login_record(
    deps: &Deps,
    tenant_id: &TenantId,
    user: &CustomerUser,
) -> Result<Option<(LoginRecord, Item)>, Error> {
    let Some(sub) = &user.login_subject else {
        return Ok(None);
    };
    match deps.store.get(&keys::login_subject(tenant_id, sub)).await? {
        Some(item) => Ok(Some((from_item(&item)?, item))),
        None => Ok(None),
    }
}

/// `GET /v1/customers/{id}/users`: the admin and the users, a page at a time, with their
/// last sign-in (one batch read of their login records).
pub async fn list(
    deps: &Deps,
    scope: &CustomerScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<CustomerUserView>, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    customers::load(deps, tenant_id, customer_id).await?;
    let (items, next) = page::prefix_page(
        deps,
        "customer-users",
        keys::customer_partition(tenant_id, customer_id),
        keys::customer_users_prefix(),
        limit,
        cursor,
    )
    .await?;
    let users = items
        .iter()
        .map(|i| Ok((from_item::<CustomerUser>(i)?, i.version)))
        .collect::<Result<Vec<_>, Error>>()?;
    let login_keys: Vec<_> = users
        .iter()
        .filter_map(|(u, _)| u.login_subject.as_ref())
        .map(|s| keys::login_subject(tenant_id, s))
        .collect();
    let records = deps.store.get_many(&login_keys).await?;
    let last_login = |u: &CustomerUser| -> Option<DateTime<Utc>> {
        let k = keys::login_subject(tenant_id, u.login_subject.as_ref()?);
        records
            .iter()
            .find(|i| i.pk == k.pk && i.sk == k.sk)
            .and_then(|i| from_item::<LoginRecord>(i).ok())
            .and_then(|r| r.last_login_at)
    };
    let data = users
        .iter()
        .map(|(u, v)| u.view(*v, last_login(u)))
        .collect();
    Ok(page::Page {
        data,
        next_cursor: next,
    })
}

/// `GET /v1/customers/{id}/users/{user_id}`.
pub async fn get(
    deps: &Deps,
    scope: &CustomerScope,
    user_id: &UserId,
) -> Result<CustomerUserView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let (user, item) = load_user(deps, tenant_id, customer_id, user_id).await?;
    let last = login_record(deps, tenant_id, &user)
        .await?
        .and_then(|(r, _)| r.last_login_at);
    Ok(user.view(item.version, last))
}

fn user_limit_reached(max: u32) -> Error {
    Error::conflict(
        ProblemKind::UserLimitReached,
        format!(
            "this customer may have at most {max} users (max_users, admin included); remove a user or raise max_users"
        ),
    )
    .with("max_users", max)
}

/// `POST /v1/customers/{id}/users`: the user, its login and its invitation.
pub async fn create(
    deps: &Deps,
    scope: &CustomerScope,
    draft: &UserDraft,
) -> Result<CustomerUserView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    // Another tenant's customer (or none) is 404 whatever the body.
    let (customer, profile) = live_customer(deps, tenant_id, customer_id).await?;
    let input = draft.parse(&customer.permission_sets)?;
    // The plan's max_users, lowered by the customer's own.
    let max = crate::service::features::max_users(deps, tenant_id, &customer)
        .await?
        .unwrap_or(MAX_USERS_LIMIT);
    if customer.user_count >= max {
        return Err(user_limit_reached(max));
    }
    let user_id = UserId::generate();
    // Its event is built before the login is made: failing to build it leaves nothing to
    // undo.
    let event = audit::op(
        deps,
        Log::Tenant(tenant_id),
        Entry::new("user.created", Target::new("user", &user_id))
            .customer(customer_id)
            .value("role", CustomerRole::User.as_str())
            .value("permission_set", input.permissions.name()),
    )
    .await?;
    let marker = keys::user_email_marker(tenant_id, &fields::email_key(&input.email));
    let renamed = |e: Error| match e {
        Error::Invalid(list) => Error::Invalid(
            list.into_iter()
                .map(|f| FieldError::new(f.field.trim_start_matches("admin."), f.detail))
                .collect(),
        ),
        Error::Conflict {
            kind: ProblemKind::DuplicateEmail,
            detail,
            mut extra,
        } => {
            extra.insert("field".into(), json!("email"));
            Error::Conflict {
                kind: ProblemKind::DuplicateEmail,
                detail,
                extra,
            }
        }
        other => other,
    };
    let claim = match deps.identity()? {
        Some(_) => Some(
            claim_email(deps, &marker, &input.email)
                .await
                .map_err(renamed)?,
        ),
        None => None,
    };
    let login = match identity::create_login(
        deps,
        tenant_id,
        &input.email,
        &user_id,
        input.password.as_ref().map(|p| p.expose_secret()),
    )
    .await
    {
        Ok(l) => l,
        Err(e) => {
            if let Some(v) = claim {
                release_claim(deps, &marker, v).await;
            }
            return Err(renamed(e));
        }
    };
    let password_hash = match (&login, &input.password) {
        (None, Some(p)) => Some(super::passwords::hash(p.expose_secret().to_owned()).await?),
        _ => None,
    };
    let now = deps.clock.now();
    let user = CustomerUser {
        id: user_id,
        customer_id: customer.id.clone(),
        email: input.email,
        first_name: input.first_name,
        last_name: input.last_name,
        role: CustomerRole::User.as_str().into(),
        password_hash,
        login_subject: login.as_ref().map(|(_, s)| s.clone()),
        created_at: now,
        permissions: input.permissions,
        status: UserStatus::Active,
        updated_at: None,
        link_generation: 0,
    };
    let mut counted = customer.clone();
    counted.user_count += 1;
    let marker_op = marker_write(&marker, claim, &user.customer_id, &user.id)?;
    let seats = crate::service::seats::change(
        deps,
        tenant_id,
        &customer.id,
        now.date_naive(),
        1,
        customer.user_count,
    )
    .await?;
    let mut ops = vec![
        marker_op,
        WriteOp::Put {
            item: profile_item(tenant_id, &counted, profile.version + 1)?,
            condition: Condition::VersionIs(profile.version),
        },
        WriteOp::create(Item::new(
            user_key(tenant_id, &customer.id, &user.id),
            to_data(&user)?,
        )),
    ];
    if let Some(sub) = &user.login_subject {
        let record = LoginRecord {
            user_id: user.id.clone(),
            customer_id: customer.id.clone(),
            enabled: true,
            role: CustomerRole::User,
            last_login_at: None,
        };
        ops.push(WriteOp::create(Item::new(
            keys::login_subject(tenant_id, sub),
            to_data(&record)?,
        )));
    }
    // Without a password, the invitation carries a link to set one.
    let link = if user.password_hash.is_none() && input.password.is_none() {
        let (op, token) = links::user_password_link(
            tenant_id,
            &user,
            "invitation",
            now + Duration::days(INVITATION_DAYS),
        )?;
        ops.push(op);
        Some(token)
    } else {
        None
    };
    ops.extend(invitation_email(
        tenant_id,
        &user,
        &customer.company.name,
        link.as_deref(),
        now,
    )?);
    ops.push(seats);
    let view = user.view(1, None);
    ops.extend(crate::service::events::emit(
        tenant_id,
        crate::model::event::EventType::CustomerUserCreated,
        &view,
        now,
    )?);
    ops.push(event);
    let (result, definite) = match deps.store.transact(ops).await {
        Ok(()) => return Ok(view),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            (Err(renamed(duplicate_email(&user.email))), true)
        }
        Err(StoreError::TransactionCanceled { .. }) => (Err(Error::concurrent_update()), true),
        Err(e) => (Err(e.into()), false),
    };
    if definite {
        if let Some((pool, _)) = &login {
            identity::undo_login(deps, pool, &user.email).await;
        }
        if let Some(v) = claim {
            release_claim(deps, &marker, v).await;
        }
    }
    result
}

fn not_for_the_admin(what: &str) -> Error {
    Error::conflict(
        ProblemKind::CustomerAdmin,
        format!(
            "the customer's admin cannot be {what} here; it follows the customer (deactivate, suspend or delete the customer)"
        ),
    )
}

/// `PATCH /v1/customers/{id}/users/{user_id}` (merge patch): names and permission set.
/// The email is the login's name: it is not changed here.
pub async fn patch(
    deps: &Deps,
    scope: &CustomerScope,
    user_id: &UserId,
    patch: &Value,
    if_version: Option<u64>,
) -> Result<CustomerUserView, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let Some(obj) = patch.as_object() else {
        return Err(Error::invalid(
            "body",
            "must be a JSON object (a merge patch)",
        ));
    };
    // A support session never moves a login to another address: the link that
    // confirms it would go to whoever typed the address, and outlive the session.
    if obj.contains_key("email")
        && deps
            .origin()
            .is_some_and(|o| o.support_session_id.is_some())
    {
        return Err(Error::Forbidden(
            "a support session cannot change a user's email; the customer's admin can".into(),
        ));
    }
    let (mut customer, profile) = live_customer(deps, tenant_id, customer_id).await?;
    let (current, item) = load_user(deps, tenant_id, customer_id, user_id).await?;
    customers::check_version(if_version, &item)?;
    if obj.contains_key("password") {
        return Err(Error::invalid(
            "password",
            "cannot be set here; POST .../reset-password emails the user a link to set one",
        ));
    }
    let mut doc = serde_json::to_value(UserDraft::of(&current)).map_err(anyhow::Error::from)?;
    // A new permission set replaces the old one's areas or permissions.
    if obj.contains_key("permission_set")
        && let Some(d) = doc.as_object_mut()
    {
        d.remove("areas");
        d.remove("permissions");
    }
    crate::model::input::merge_patch(&mut doc, patch);
    let input =
        crate::model::input::from_value::<UserDraft>(doc)?.parse(&customer.permission_sets)?;
    // The email is the login's name: a new one is only asked for here, and changes once
    // its owner confirms the link sent to it (service::email_change).
    let change = if fields::email_key(&input.email) != fields::email_key(&current.email) {
        Some(super::links::email_change_request(
            tenant_id,
            &current.id,
            customer_id,
            &input.first_name,
            &input.email,
            deps.clock.now(),
        )?)
    } else {
        None
    };
    let with_change = |view: CustomerUserView| CustomerUserView {
        email_change: change
            .as_ref()
            .map(|_| super::links::email_change_pending(&input.email)),
        ..view
    };
    if current.role == CustomerRole::Admin.as_str() && input.permissions != PermissionSet::Full {
        return Err(not_for_the_admin("given less than the full permission set"));
    }
    let mut updated = current.clone();
    updated.first_name = input.first_name;
    updated.last_name = input.last_name;
    updated.permissions = input.permissions;
    let last = login_record(deps, tenant_id, &current)
        .await?
        .and_then(|(r, _)| r.last_login_at);
    // One event: the fields that changed, and the email change asked for (by name: its
    // new value is personal), whichever of them the patch made.
    let event = async |before: &CustomerUser, after: &CustomerUser| {
        let entry = Entry::new("user.updated", Target::new("user", user_id))
            .customer(customer_id)
            .diff(before, after);
        let entry = if change.is_some() {
            entry.fields(["email_change"])
        } else {
            entry
        };
        audit::op(deps, Log::Tenant(tenant_id), entry).await
    };
    if updated == current {
        if let Some(ops) = &change {
            let mut ops = ops.clone();
            ops.push(event(&current, &current).await?);
            deps.store.transact(ops).await?;
        }
        return Ok(with_change(current.view(item.version, last)));
    }
    updated.updated_at = Some(deps.clock.now());
    let mut ops = vec![WriteOp::Put {
        item: {
            let mut i = Item::new(item.key(), to_data(&updated)?);
            i.version = item.version + 1;
            i
        },
        condition: Condition::VersionIs(item.version),
    }];
    // The admin's names are also on the customer's profile.
    if current.role == CustomerRole::Admin.as_str()
        && (updated.first_name != current.first_name || updated.last_name != current.last_name)
    {
        customer.admin.first_name = updated.first_name.clone();
        customer.admin.last_name = updated.last_name.clone();
        customer.updated_at = deps.clock.now();
        ops.push(WriteOp::Put {
            item: profile_item(tenant_id, &customer, profile.version + 1)?,
            condition: Condition::VersionIs(profile.version),
        });
        ops.extend(super::events::emit(
            tenant_id,
            crate::model::event::EventType::CustomerUpdated,
            &customer.view(profile.version + 1),
            customer.updated_at,
        )?);
    }
    ops.extend(change.iter().flatten().cloned());
    ops.push(event(&current, &updated).await?);
    match deps.store.transact(ops).await {
        Ok(()) => Ok(with_change(updated.view(item.version + 1, last))),
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// The invitation a customer's new user receives: the login link, and a link to set its
/// password when it was added without one.
pub(crate) fn invitation_email(
    tenant_id: &TenantId,
    user: &crate::model::customer::CustomerUser,
    company_name: &str,
    link_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<mail::Queued, Error> {
    let mut context = serde_json::Map::new();
    context.insert("first_name".into(), json!(user.first_name));
    context.insert("company_name".into(), json!(company_name));
    if let Some(t) = link_token {
        context.insert("link_token".into(), json!(t));
        context.insert("link_days".into(), json!(links::INVITATION_DAYS));
    }
    mail::enqueue(
        tenant_id,
        mail::Template::UserInvitation,
        &user.email,
        context,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Scope, TenantScope, customer_of};
    use crate::model::audit::ActorKind;
    use crate::service::audit::Filter;

    /// A user's changes write one event each, in its customer's history; a change to
    /// the state it is already in writes none.
    #[tokio::test]
    async fn a_users_changes_write_one_event_each() {
        let (_dir, deps) = crate::service::audit::testing::deps_acting(ActorKind::Member, "mem_1");
        let tenant = TenantId::generate();
        let staff = TenantScope::acting_for(tenant.clone());
        let customer = customers::create(
            &deps,
            &staff,
            &serde_json::from_value(json!({
                "company": {"name": "Acme"},
                "admin": {"first_name": "Ada", "last_name": "Admin", "email": "ada@acme.example.com"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
        let scope = customer_of(&Scope::Tenant(staff), customer.id.clone()).unwrap();
        let draft: UserDraft = serde_json::from_value(json!({
            "email": "bo@acme.example.com", "first_name": "Bo", "last_name": "User",
            "permission_set": "read_only"
        }))
        .unwrap();
        let user = create(&deps, &scope, &draft).await.unwrap();
        patch(&deps, &scope, &user.id, &json!({"first_name": "Bob"}), None)
            .await
            .unwrap();
        set_active(&deps, &scope, &user.id, false).await.unwrap();
        set_active(&deps, &scope, &user.id, false).await.unwrap();
        set_active(&deps, &scope, &user.id, true).await.unwrap();
        reset_password(&deps, &scope, &user.id).await.unwrap();
        delete(&deps, &scope, &user.id).await.unwrap();
        let filter = Filter {
            target: Some(user.id.to_string()),
            ..Filter::default()
        };
        let page = audit::list(&deps, Log::Tenant(&tenant), &filter, 100, None)
            .await
            .unwrap();
        let mut seen: Vec<_> = page
            .data
            .iter()
            .map(|e| {
                assert_eq!(e.actor.id, "mem_1");
                assert_eq!(e.customer_id.as_ref(), Some(&customer.id));
                (
                    e.action.as_str(),
                    e.changes
                        .iter()
                        .map(|f| (f.field.as_str(), f.value.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        seen.reverse();
        assert_eq!(
            seen,
            vec![
                (
                    "user.created",
                    vec![
                        ("role", Some(json!("user"))),
                        ("permission_set", Some(json!("read_only")))
                    ]
                ),
                ("user.updated", vec![("first_name", None)]),
                (
                    "user.deactivated",
                    vec![("status", Some(json!("inactive")))]
                ),
                ("user.reactivated", vec![("status", Some(json!("active")))]),
                ("user.password_reset", vec![]),
                ("user.deleted", vec![]),
            ]
        );
    }
}
