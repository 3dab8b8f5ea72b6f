//! Customers: create, read, change, search, and move through their lifecycle.
//!
//! A customer's own items (profile, users) live in its own partition. Around them, in
//! the tenant's keys: uniqueness markers for the admin email and the company name, one
//! search entry per word prefix of the name, and a purge entry while deleted. Every
//! change writes all of these in one transaction.

//!
//! By job: the records (create, read, change) here; the search index and the listing in
//! `search`; the lifecycle's transitions in `lifecycle`. The purge of a deleted customer
//! is `service::purge`'s.

mod lifecycle;
mod search;

use crate::error::ProblemKind;
pub use lifecycle::{Cause, transition, transition_by};
pub use search::list;
use search::{search_deletes, search_puts};

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::audit::{Actor, ActorKind, Target};
use crate::model::customer::{
    Admin, Customer, CustomerDraft, CustomerRole, CustomerStatus, CustomerUser, CustomerView,
    LoginRecord, PermissionSet, UserStatus,
};
use crate::model::event::EventType;
use crate::model::fields;
use crate::model::ids::{CustomerId, TenantId, UserId};
use crate::model::input::{from_value, merge_patch, to_value};
use crate::ports::{Condition, Item, Key, MAX_TRANSACTION_ACTIONS, StoreError, WriteOp};
use crate::service::audit::{self, Entry, Log};
use crate::service::email_claims::{claim_email, duplicate_email, marker_write, release_claim};
use crate::service::{events, from_item, mail, to_data};
use crate::store::keys;

pub(crate) fn profile_item(
    tenant_id: &TenantId,
    c: &Customer,
    version: u64,
) -> Result<Item, Error> {
    let mut item = Item::new(keys::customer(tenant_id, &c.id), to_data(c)?).with_gsi1(
        keys::customer_status_index(tenant_id, c.status.as_str(), &c.company.name_key(), &c.id),
    );
    item.version = version;
    Ok(item)
}

/// A deleted customer's purge, in the due-work index (`due`), due when its restore
/// window ends.
pub(crate) fn purge_key(tenant_id: &TenantId, c: &Customer) -> Option<Key> {
    c.purge_after
        .map(|p| super::due::entry(super::due::Kind::Purge, tenant_id, c.id.as_str(), p))
}

fn duplicate_external_id() -> Error {
    Error::duplicate(
        ProblemKind::DuplicateExternalId,
        "external_id",
        "another customer of this tenant has this external_id",
    )
}

/// The marker that keeps an `external_id` unique in its tenant and finds its customer.
fn external_marker(
    tenant_id: &TenantId,
    external_id: &str,
    customer_id: &CustomerId,
) -> Result<WriteOp, Error> {
    let mut data = serde_json::Map::new();
    data.insert("customer_id".into(), json!(customer_id));
    Ok(WriteOp::create(Item::new(
        keys::external_id_marker(tenant_id, external_id),
        data,
    )))
}

/// The customer an `external_id` names in this tenant, if any.
pub(crate) async fn by_external_id(
    deps: &Deps,
    tenant_id: &TenantId,
    external_id: &str,
) -> Result<Option<CustomerId>, Error> {
    let Some(item) = deps
        .store
        .get(&keys::external_id_marker(tenant_id, external_id))
        .await?
    else {
        return Ok(None);
    };
    Ok(item
        .data
        .get("customer_id")
        .and_then(|v| v.as_str())
        .map(CustomerId::from_record))
}

/// `GET /v1/customers?external_id=`: the one customer with it, or none.
pub async fn find_by_external_id(
    deps: &Deps,
    scope: &TenantScope,
    external_id: &str,
) -> Result<super::page::Page<CustomerView>, Error> {
    crate::model::customer::external_id(external_id)
        .map_err(|d| Error::invalid("external_id", d))?;
    let mut data = Vec::new();
    if let Some(id) = by_external_id(deps, scope.tenant_id(), external_id).await? {
        data.push(get(deps, scope, &id).await?);
    }
    Ok(super::page::Page {
        data,
        next_cursor: None,
    })
}

fn duplicate_name(name: &str) -> Error {
    Error::duplicate(
        ProblemKind::DuplicateCompanyName,
        "company.name",
        format!("a customer named {name} already exists in this tenant"),
    )
}

/// Creates the customer, its admin user and (with an identity provider) the admin's
/// login in the tenant's pool: the login first, then every record in one transaction,
/// the login removed again if that transaction fails.
pub async fn create(
    deps: &Deps,
    scope: &TenantScope,
    draft: &CustomerDraft,
) -> Result<CustomerView, Error> {
    create_on_plan(deps, scope, draft, None).await
}

/// `create`, subscribed from the start to `plan` (a provisioning request's own) instead
/// of the template's or the tenant's default plan.
pub(crate) async fn create_on_plan(
    deps: &Deps,
    scope: &TenantScope,
    draft: &CustomerDraft,
    plan: Option<&str>,
) -> Result<CustomerView, Error> {
    create_by(deps, scope, draft, plan, Creator::Origin).await
}

/// `create` for a verified self-registration: the registrant, the new admin, made it.
pub(crate) async fn register(
    deps: &Deps,
    scope: &TenantScope,
    draft: &CustomerDraft,
) -> Result<CustomerView, Error> {
    create_by(deps, scope, draft, None, Creator::Registrant).await
}

/// Who a creation's audit event names: the request's (or job's) actor, or, for a
/// self-registration (a public page, no principal), the admin user it makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Creator {
    Origin,
    Registrant,
}

async fn create_by(
    deps: &Deps,
    scope: &TenantScope,
    draft: &CustomerDraft,
    plan: Option<&str>,
    creator: Creator,
) -> Result<CustomerView, Error> {
    let tenant_id = scope.tenant_id();
    let input = draft.parse()?;
    // A template is checked before anything is made; its plan stands in for the
    // tenant's default, and a plan named with the creation for both.
    let template = match &draft.template {
        Some(code) => {
            Some(super::templates::for_creation(deps, tenant_id, code, "template").await?)
        }
        None => None,
    };
    let default_plan = match (plan, &template) {
        (Some(code), _) => Some(super::catalog::plan_to_subscribe(deps, code, "plan").await?),
        (None, Some(t)) if t.plan.is_some() => t.plan.clone(),
        _ => super::subscriptions::default_plan(deps, tenant_id).await?,
    };
    let user_id = UserId::generate();
    let customer_id = CustomerId::generate();
    // One event for the whole creation, its template's and plan's parts included. It is
    // built before the login is made, so failing to build it leaves nothing to undo.
    let mut entry = Entry::new(
        match creator {
            Creator::Origin => "customer.created",
            Creator::Registrant => "customer.registered",
        },
        Target::new("customer", &customer_id),
    )
    .customer(&customer_id)
    .value("status", CustomerStatus::Active);
    if let Some(t) = &template {
        entry = entry.value("template", &t.template.code);
    }
    if let Some(p) = &default_plan {
        entry = entry.value("plan", &p.code);
    }
    if creator == Creator::Registrant {
        entry = entry.by(Actor::new(ActorKind::CustomerUser, user_id.as_str()));
    }
    let audit_op = audit::op(deps, Log::Tenant(tenant_id), entry).await?;
    let email_marker = keys::user_email_marker(tenant_id, &fields::email_key(&input.admin_email));
    // With an identity provider, the email is claimed first (its marker, pending), so
    // no other creation can touch a login under it while this one makes its own.
    let claim = match deps.identity()? {
        Some(_) => Some(claim_email(deps, &email_marker, &input.admin_email).await?),
        None => None,
    };
    let login = match super::identity::create_login(
        deps,
        tenant_id,
        &input.admin_email,
        &user_id,
        input.admin_password.as_ref().map(|p| p.expose_secret()),
    )
    .await
    {
        Ok(l) => l,
        Err(e) => {
            if let Some(version) = claim {
                release_claim(deps, &email_marker, version).await;
            }
            return Err(e);
        }
    };
    let has_password = input.admin_password.is_some();
    // Without an identity provider the password stays here, as our own argon2id hash.
    let password_hash = match (&login, input.admin_password) {
        (None, Some(p)) => Some(super::passwords::hash(p.expose_secret().to_owned()).await?),
        _ => None,
    };
    let login_subject = login.as_ref().map(|(_, sub)| sub.clone());
    let now = deps.clock.now();
    let customer = Customer {
        id: customer_id,
        status: CustomerStatus::Active,
        company: input.company,
        admin: Admin {
            id: user_id,
            email: input.admin_email,
            first_name: input.admin_first_name,
            last_name: input.admin_last_name,
            login_subject: login_subject.clone(),
        },
        primary_contact: input.primary_contact,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        purge_after: None,
        status_before_deletion: None,
        max_users: input
            .max_users
            .or(template.as_ref().and_then(|t| t.template.max_users)),
        user_count: 1,
        external_id: input.external_id,
        billing: input.billing,
        suspended_by_dunning: Some(false),
        template: template.as_ref().map(|t| t.template.code.clone()),
        permission_sets: template
            .as_ref()
            .map(|t| t.template.permission_sets.clone())
            .unwrap_or_default(),
        support_access: draft.support_access,
        support_access_by_admin: None,
        sessions_ended_at: None,
    };
    let user = CustomerUser {
        id: customer.admin.id.clone(),
        customer_id: customer.id.clone(),
        email: customer.admin.email.clone(),
        first_name: customer.admin.first_name.clone(),
        last_name: customer.admin.last_name.clone(),
        role: "admin".into(),
        password_hash,
        login_subject: login_subject.clone(),
        created_at: now,
        permissions: PermissionSet::Full,
        status: UserStatus::Active,
        updated_at: None,
        link_generation: 0,
    };
    // The claim (if any) becomes the marker, naming its user.
    let marker_op = marker_write(&email_marker, claim, &customer.id, &user.id)?;
    let mut ops = vec![
        marker_op,
        WriteOp::create(Item::marker(keys::company_name_marker(
            tenant_id,
            &customer.company.name_key(),
        ))),
        WriteOp::create(profile_item(tenant_id, &customer, 1)?),
        WriteOp::create(Item::new(
            keys::customer_user(tenant_id, &customer.id, &user.id),
            to_data(&user)?,
        )),
    ];
    // An admin created without a password gets a one-time link to set one in its
    // welcome: otherwise its "sign in" would lead nowhere.
    let link = match has_password {
        true => None,
        false => Some(super::links::user_password_link(
            tenant_id,
            &user,
            "invitation",
            now + chrono::Duration::days(super::links::INVITATION_DAYS),
        )?),
    };
    let token = link.as_ref().map(|(_, t)| t.as_str());
    ops.extend(welcome_email(tenant_id, &customer, token, now)?);
    ops.extend(link.map(|(op, _)| op));
    if let Some(sub) = &login_subject {
        ops.push(login_record(tenant_id, sub, &customer, true)?);
    }
    ops.extend(search_puts(tenant_id, &customer));
    ops.push(super::seats::first(
        tenant_id,
        &customer.id,
        now.date_naive(),
    )?);
    let external_at = ops.len();
    if let Some(ext) = &customer.external_id {
        ops.push(external_marker(tenant_id, ext, &customer.id)?);
    }
    if let Some(plan) = &default_plan {
        ops.extend(super::subscriptions::first_subscription(
            deps,
            tenant_id,
            plan,
            &customer.id,
        )?);
    }
    // The template's feature switches are the customer's own from the start.
    if let Some(t) = template
        .as_ref()
        .filter(|t| !t.template.features.is_empty())
    {
        let switches = crate::service::features::FeatureSwitches {
            features: t.template.features.clone(),
        };
        ops.push(WriteOp::create(Item::new(
            keys::customer_features(tenant_id, &customer.id),
            to_data(&switches)?,
        )));
    }
    let view = customer.view(1);
    ops.extend(events::emit(
        tenant_id,
        EventType::CustomerCreated,
        &view,
        now,
    )?);
    ops.push(audit_op);
    // A long name's search entries, with everything else a creation may write, must
    // still fit one transaction.
    let too_many = ops.len() > MAX_TRANSACTION_ACTIONS;
    let outcome = if too_many {
        Err(StoreError::Invalid("too many actions".into()))
    } else {
        deps.store.transact(ops).await
    };
    let (result, definite) = match outcome {
        Ok(()) => return Ok(view),
        Err(StoreError::Invalid(_)) if too_many => (
            Err(Error::invalid(
                "company.name",
                "has too many distinct words to index with everything else this creation writes; shorten it",
            )),
            true,
        ),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            (Err(duplicate_email(&customer.admin.email)), true)
        }
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&1) => {
            (Err(duplicate_name(&customer.company.name)), true)
        }
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&external_at) => {
            (Err(duplicate_external_id()), true)
        }
        Err(e @ StoreError::TransactionCanceled { .. }) => (Err(e.into()), true),
        // Unknown whether it committed: keep the login and the claim. A retry finds the
        // customer (Idempotency-Key), or the stale claim and the orphaned login, and
        // replaces both.
        Err(e) => (Err(e.into()), false),
    };
    if definite {
        if let Some((pool, _)) = &login {
            super::identity::undo_login(deps, pool, &customer.admin.email).await;
        }
        if let Some(version) = claim {
            release_claim(deps, &email_marker, version).await;
        }
    }
    result
}

/// The `LoginRecord` item of a customer's admin login.
pub(super) fn login_record(
    tenant_id: &TenantId,
    sub: &str,
    c: &Customer,
    enabled: bool,
) -> Result<WriteOp, Error> {
    let record = LoginRecord {
        user_id: c.admin.id.clone(),
        customer_id: c.id.clone(),
        enabled,
        role: CustomerRole::Admin,
        last_login_at: None,
    };
    Ok(WriteOp::put(Item::new(
        keys::login_subject(tenant_id, sub),
        to_data(&record)?,
    )))
}

/// Is the customer there and active? (Only an active customer's users get in.)
pub(crate) async fn is_active(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<bool, Error> {
    match load(deps, tenant_id, customer_id).await {
        Ok((c, _)) => Ok(c.status == CustomerStatus::Active),
        Err(Error::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// May the customer's users sign in and use their tokens: the customer is active, and
/// its tenant's customer logins are not suspended by dunning (the operator's choice per
/// tenant). The customer and the tenant are read at once.
pub(crate) async fn logins_open(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<bool, Error> {
    let tenant_key = keys::tenant(tenant_id);
    let (customer, tenant) = futures::join!(
        is_active(deps, tenant_id, customer_id),
        deps.store.get(&tenant_key)
    );
    if !customer? {
        return Ok(false);
    }
    Ok(match tenant? {
        Some(item) => {
            !from_item::<crate::model::tenant::Tenant>(&item)?.customer_logins_suspended()
        }
        None => false,
    })
}

/// Is the customer there and not deleted? (A deleted customer's users' links do nothing.)
pub(crate) async fn is_live(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<bool, Error> {
    match load(deps, tenant_id, customer_id).await {
        Ok((c, _)) => Ok(c.status != CustomerStatus::Deleted),
        Err(Error::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) use super::load_customer as load;

/// One store read.
pub async fn get(
    deps: &Deps,
    scope: &TenantScope,
    customer_id: &CustomerId,
) -> Result<CustomerView, Error> {
    let (c, item) = load(deps, scope.tenant_id(), customer_id).await?;
    Ok(c.view(item.version))
}

pub(crate) fn check_version(if_version: Option<u64>, item: &Item) -> Result<(), Error> {
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(format!(
            "the customer is at version {}; read it again and reapply your change",
            item.version
        )));
    }
    Ok(())
}

/// Applies a JSON merge patch to the company, admin and primary contact.
pub async fn patch(
    deps: &Deps,
    scope: &TenantScope,
    customer_id: &CustomerId,
    patch: &Value,
    if_version: Option<u64>,
) -> Result<CustomerView, Error> {
    let tenant_id = scope.tenant_id();
    if !patch.is_object() {
        return Err(Error::invalid(
            "body",
            "must be a JSON object (a merge patch)",
        ));
    }
    if patch.get("template").is_some() {
        return Err(Error::invalid(
            "template",
            "is used only when a customer is created; change its plan or features instead",
        ));
    }
    if patch.pointer("/admin/password").is_some() {
        return Err(Error::invalid(
            "admin.password",
            "cannot be changed here; passwords are reset by their owner",
        ));
    }
    let (current, item) = load(deps, tenant_id, customer_id).await?;
    check_version(if_version, &item)?;
    if current.status == CustomerStatus::Deleted {
        return Err(Error::conflict(
            ProblemKind::CustomerDeleted,
            "a deleted customer cannot be changed; restore it first",
        ));
    }
    let mut doc = to_value(&CustomerDraft::from_customer(&current));
    merge_patch(&mut doc, patch);
    let draft = from_value::<CustomerDraft>(doc)?;
    let input = draft.parse()?;
    let mut updated = current.clone();
    updated.company = input.company;
    updated.admin.email = input.admin_email;
    updated.admin.first_name = input.admin_first_name;
    updated.admin.last_name = input.admin_last_name;
    updated.primary_contact = input.primary_contact;
    updated.max_users = input.max_users;
    updated.external_id = input.external_id;
    updated.billing = input.billing;
    updated.support_access = draft.support_access;
    // Disabled by the staff: the customer's sessions are over for good.
    if updated.support_access() == crate::model::support::SupportAccess::Disabled
        && current.support_access() != crate::model::support::SupportAccess::Disabled
    {
        updated.sessions_ended_at = Some(deps.clock.now());
    }
    // The admin signs in with its email: a new one is only asked for here, and changes
    // once its owner confirms the link sent to it (service::email_change).
    let now = deps.clock.now();
    let mut change = None;
    if current.admin.login_subject.is_some()
        && fields::email_key(&updated.admin.email) != fields::email_key(&current.admin.email)
    {
        let new_email = std::mem::replace(&mut updated.admin.email, current.admin.email.clone());
        let ops = super::links::email_change_request(
            tenant_id,
            &current.admin.id,
            customer_id,
            &updated.admin.first_name,
            &new_email,
            now,
        )?;
        change = Some((new_email, ops));
    }
    let with_change = |view: CustomerView, change: &Option<(String, Vec<WriteOp>)>| CustomerView {
        email_change: change
            .as_ref()
            .map(|(email, _)| super::links::email_change_pending(email)),
        ..view
    };
    // One event: the fields that changed, and the admin's email change asked for (by
    // name: its new value is personal), whichever of them the patch made.
    let event = |before: &Customer, after: &Customer| {
        let entry = Entry::new("customer.updated", Target::new("customer", customer_id))
            .customer(customer_id)
            .diff(before, after);
        if change.is_some() {
            entry.fields(["email_change"])
        } else {
            entry
        }
    };
    if updated == current {
        if let Some((_, ops)) = &change {
            let mut ops = ops.clone();
            ops.push(audit::op(deps, Log::Tenant(tenant_id), event(&current, &current)).await?);
            deps.store.transact(ops).await?;
        }
        return Ok(with_change(current.view(item.version), &change));
    }
    updated.updated_at = now;
    let version = item.version + 1;
    let mut ops = vec![WriteOp::Put {
        item: profile_item(tenant_id, &updated, version)?,
        condition: Condition::VersionIs(item.version),
    }];
    let (mut email_at, mut name_at) = (None, None);
    let (old_email, new_email) = (
        fields::email_key(&current.admin.email),
        fields::email_key(&updated.admin.email),
    );
    if old_email != new_email {
        email_at = Some(ops.len());
        let marker = keys::user_email_marker(tenant_id, &new_email);
        ops.push(marker_write(&marker, None, &current.id, &current.admin.id)?);
        ops.push(WriteOp::delete(keys::user_email_marker(
            tenant_id, &old_email,
        )));
    }
    if current.admin != updated.admin {
        let user_key = keys::customer_user(tenant_id, customer_id, &current.admin.id);
        let user_item = deps
            .store
            .get(&user_key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("customer admin record missing"))?;
        let mut user: CustomerUser = from_item(&user_item)?;
        user.email = updated.admin.email.clone();
        user.first_name = updated.admin.first_name.clone();
        user.last_name = updated.admin.last_name.clone();
        ops.push(WriteOp::Put {
            item: Item {
                data: to_data(&user)?,
                version: user_item.version + 1,
                ..user_item.clone()
            },
            condition: Condition::VersionIs(user_item.version),
        });
    }
    let (old_name, new_name) = (current.company.name_key(), updated.company.name_key());
    if old_name != new_name || current.company.name != updated.company.name {
        if old_name != new_name {
            name_at = Some(ops.len());
            ops.push(WriteOp::create(Item::marker(keys::company_name_marker(
                tenant_id, &new_name,
            ))));
            ops.push(WriteOp::delete(keys::company_name_marker(
                tenant_id, &old_name,
            )));
        }
        let old: BTreeSet<Key> = search_deletes(tenant_id, &current)
            .map(|o| o.key())
            .collect();
        let new: BTreeSet<Key> = search_puts(tenant_id, &updated).map(|o| o.key()).collect();
        ops.extend(old.difference(&new).cloned().map(WriteOp::delete));
        ops.extend(
            new.difference(&old)
                .cloned()
                .map(|k| WriteOp::put(Item::marker(k))),
        );
    }
    let mut external_at = None;
    if current.external_id != updated.external_id {
        if let Some(ext) = &updated.external_id {
            external_at = Some(ops.len());
            ops.push(external_marker(tenant_id, ext, customer_id)?);
        }
        if let Some(old) = &current.external_id {
            ops.push(WriteOp::delete(keys::external_id_marker(tenant_id, old)));
        }
    }
    if let Some((_, more)) = &change {
        ops.extend(more.iter().cloned());
    }
    let view = with_change(updated.view(version), &change);
    ops.extend(events::emit(
        tenant_id,
        EventType::CustomerUpdated,
        &view,
        now,
    )?);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), event(&current, &updated)).await?);
    if ops.len() > MAX_TRANSACTION_ACTIONS {
        return Err(Error::invalid(
            "company.name",
            "changes too many search entries at once; change fewer words of the name in one request",
        ));
    }
    match deps.store.transact(ops).await {
        Ok(()) => Ok(view),
        Err(StoreError::TransactionCanceled { failed })
            if email_at.is_some_and(|i| failed.contains(&i)) =>
        {
            Err(duplicate_email(&updated.admin.email))
        }
        Err(StoreError::TransactionCanceled { failed })
            if name_at.is_some_and(|i| failed.contains(&i)) =>
        {
            Err(duplicate_name(&updated.company.name))
        }
        Err(StoreError::TransactionCanceled { failed })
            if external_at.is_some_and(|i| failed.contains(&i)) =>
        {
            Err(duplicate_external_id())
        }
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// The welcome a new customer's admin receives: the tenant's login link, and a link to
/// set its password when it was created without one.
pub(crate) fn welcome_email(
    tenant_id: &TenantId,
    customer: &crate::model::customer::Customer,
    link_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<mail::Queued, Error> {
    let mut context = serde_json::Map::new();
    context.insert("first_name".into(), json!(customer.admin.first_name));
    context.insert("company_name".into(), json!(customer.company.name));
    if let Some(t) = link_token {
        context.insert("link_token".into(), json!(t));
        context.insert("link_days".into(), json!(super::links::INVITATION_DAYS));
    }
    mail::enqueue(
        tenant_id,
        mail::Template::CustomerWelcome,
        &customer.admin.email,
        context,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::customer::Transition;

    fn draft(name: &str, email: &str) -> CustomerDraft {
        serde_json::from_value(json!({
            "company": {"name": name},
            "admin": {"first_name": "Ada", "last_name": "Admin", "email": email}
        }))
        .unwrap()
    }

    /// Each change writes one event in the customer's history, naming who made it (a
    /// self-registration its new admin); a patch that changes nothing writes none.
    #[tokio::test]
    async fn each_change_writes_one_event_naming_who_made_it() {
        let (_dir, deps) = crate::service::audit::testing::deps_acting(ActorKind::ApiKey, "key_1");
        let tenant = TenantId::generate();
        let scope = TenantScope::acting_for(tenant.clone());
        let c = create(&deps, &scope, &draft("Acme", "ada@acme.example.com"))
            .await
            .unwrap();
        patch(&deps, &scope, &c.id, &json!({}), None).await.unwrap();
        patch(
            &deps,
            &scope,
            &c.id,
            &json!({"company": {"website": "acme.example.com"}}),
            None,
        )
        .await
        .unwrap();
        transition(&deps, &scope, &c.id, Transition::Suspend, false)
            .await
            .unwrap();
        let r = register(&deps, &scope, &draft("Bolt", "bo@bolt.example.com"))
            .await
            .unwrap();
        let page = audit::list(
            &deps,
            Log::Tenant(&tenant),
            &audit::Filter::default(),
            100,
            None,
        )
        .await
        .unwrap();
        let mut seen: Vec<_> = page
            .data
            .iter()
            .map(|e| {
                (
                    e.action.as_str(),
                    e.actor.id.as_str(),
                    e.customer_id.clone(),
                    e.changes
                        .iter()
                        .map(|f| f.field.as_str())
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        seen.reverse();
        assert_eq!(
            seen,
            vec![
                (
                    "customer.created",
                    "key_1",
                    Some(c.id.clone()),
                    vec!["status"]
                ),
                (
                    "customer.updated",
                    "key_1",
                    Some(c.id.clone()),
                    vec!["company"]
                ),
                (
                    "customer.suspended",
                    "key_1",
                    Some(c.id.clone()),
                    vec!["status"]
                ),
                (
                    "customer.registered",
                    r.admin.id.as_str(),
                    Some(r.id.clone()),
                    vec!["status"]
                ),
            ]
        );
        assert_eq!(page.data[0].actor.kind, ActorKind::CustomerUser);
    }
}
