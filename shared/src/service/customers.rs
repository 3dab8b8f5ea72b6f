//! Customers: create, read, change, search, and move through their lifecycle.
//!
//! A customer's own items (profile, users) live in its own partition. Around them, in
//! the tenant's keys: uniqueness markers for the admin email and the company name, one
//! search entry per word prefix of the name, and a purge entry while deleted. Every
//! change writes all of these in one transaction.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{from_item, mail, page, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::customer::{
    Admin, Customer, CustomerDraft, CustomerRole, CustomerStatus, CustomerUser, CustomerView,
    LoginRecord, MAX_SEARCH_ENTRIES, PermissionSet, Transition, UserStatus,
};
use crate::model::ids::{CustomerId, TenantId, UserId};
use crate::model::input::{from_value, merge_patch, to_value};
use crate::model::{fields, text};
use crate::ports::{
    Condition, Index, Item, Key, MAX_TRANSACTION_ACTIONS, Position, Query, SortRange, StoreError,
    WriteOp,
};
use crate::store::keys;

// A create writes two markers, the profile, the admin and its search entries at once.
const _: () = assert!(MAX_SEARCH_ENTRIES + 4 <= MAX_TRANSACTION_ACTIONS);

/// Rounds of index reads one filtered search page may take before it hands back a cursor.
const MAX_SEARCH_ROUNDS: usize = 4;

/// The search partitions a name is listed under: everyone (`""`) plus each word prefix.
/// `CustomerDraft::parse` refuses names with more than `MAX_SEARCH_ENTRIES` of them.
fn search_prefixes(name: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    out.extend(text::index_prefixes(name));
    out
}

fn search_puts(tenant_id: &TenantId, c: &Customer) -> impl Iterator<Item = WriteOp> {
    let (name_key, id, t) = (c.company.name_key(), c.id.clone(), tenant_id.clone());
    search_prefixes(&c.company.name)
        .into_iter()
        .map(move |p| WriteOp::put(Item::marker(keys::search_entry(&t, &p, &name_key, &id))))
}

fn search_deletes(tenant_id: &TenantId, c: &Customer) -> impl Iterator<Item = WriteOp> {
    let (name_key, id, t) = (c.company.name_key(), c.id.clone(), tenant_id.clone());
    search_prefixes(&c.company.name)
        .into_iter()
        .map(move |p| WriteOp::delete(keys::search_entry(&t, &p, &name_key, &id)))
}

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
fn purge_key(tenant_id: &TenantId, c: &Customer) -> Option<Key> {
    c.purge_after
        .map(|p| super::due::entry(super::due::Kind::Purge, tenant_id, c.id.as_str(), p))
}

fn duplicate(kind: &'static str, field: &str, detail: String) -> Error {
    let mut e = Error::conflict(kind, detail);
    if let Error::Conflict { extra, .. } = &mut e {
        extra.insert("field".into(), json!(field));
    }
    e
}

pub(crate) fn duplicate_email(email: &str) -> Error {
    duplicate(
        "duplicate-email",
        "admin.email",
        format!("a customer user with the email {email} already exists in this tenant"),
    )
}

fn duplicate_name(name: &str) -> Error {
    duplicate(
        "duplicate-company-name",
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
    let tenant_id = scope.tenant_id();
    let input = draft.parse()?;
    let user_id = UserId::generate();
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
    // Without an identity provider the password stays here, as our own argon2id hash.
    let password_hash = match (&login, input.admin_password) {
        (None, Some(p)) => Some(super::passwords::hash(p.expose_secret().to_owned()).await?),
        _ => None,
    };
    let login_subject = login.as_ref().map(|(_, sub)| sub.clone());
    let now = deps.clock.now();
    let customer = Customer {
        id: CustomerId::generate(),
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
        max_users: input.max_users,
        user_count: 1,
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
    };
    let marker_op = match claim {
        // The claim becomes the marker.
        Some(version) => {
            let mut marker = Item::marker(email_marker.clone());
            marker.version = version + 1;
            WriteOp::Put {
                item: marker,
                condition: Condition::VersionIs(version),
            }
        }
        None => WriteOp::create(Item::marker(email_marker.clone())),
    };
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
    ops.extend(welcome_email(tenant_id, &customer, now)?);
    if let Some(sub) = &login_subject {
        ops.push(login_record(tenant_id, sub, &customer, true)?);
    }
    ops.extend(search_puts(tenant_id, &customer));
    let (result, definite) = match deps.store.transact(ops).await {
        Ok(()) => return Ok(customer.view(1)),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            (Err(duplicate_email(&customer.admin.email)), true)
        }
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&1) => {
            (Err(duplicate_name(&customer.company.name)), true)
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

/// How long a claim on an email may stay pending before another creation may take it
/// over (the creation that made it died).
const CLAIM_MINUTES: i64 = 10;

/// Claims an admin email for a creation: its marker, written pending. Taken by a
/// finished user: 409. A pending claim older than `CLAIM_MINUTES` is taken over.
/// Returns the claim's version.
pub(crate) async fn claim_email(deps: &Deps, marker: &Key, email: &str) -> Result<u64, Error> {
    let now = deps.clock.now();
    let pending = |version: u64| -> Result<Item, Error> {
        let mut item = Item::new(marker.clone(), to_data(&json!({ "pending_since": now }))?);
        item.version = version;
        Ok(item)
    };
    match deps.store.put(pending(1)?, Condition::NotExists).await {
        Ok(()) => return Ok(1),
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(existing) = deps.store.get(marker).await? else {
        return Err(Error::concurrent_update());
    };
    let stale = existing
        .data
        .get("pending_since")
        .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
        .is_some_and(|since| now - since > chrono::Duration::minutes(CLAIM_MINUTES));
    if !stale {
        return Err(duplicate_email(email));
    }
    let version = existing.version + 1;
    match deps
        .store
        .put(pending(version)?, Condition::VersionIs(existing.version))
        .await
    {
        Ok(()) => Ok(version),
        Err(StoreError::ConditionFailed) => Err(duplicate_email(email)),
        Err(e) => Err(e.into()),
    }
}

/// Gives a claim back (best effort: a claim left behind goes stale).
pub(crate) async fn release_claim(deps: &Deps, marker: &Key, version: u64) {
    if let Err(e) = deps
        .store
        .delete(marker, Condition::VersionIs(version))
        .await
    {
        tracing::debug!(error = format!("{e:#}"), "an email claim was not released");
    }
}

/// The `LoginRecord` item of a customer's admin login.
fn login_record(
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

pub(crate) async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<(Customer, Item), Error> {
    let item = deps
        .store
        .get(&keys::customer(tenant_id, customer_id))
        .await?
        .ok_or(Error::NotFound("customer"))?;
    Ok((from_item(&item)?, item))
}

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
            "customer-deleted",
            "a deleted customer cannot be changed; restore it first",
        ));
    }
    let mut doc = to_value(&CustomerDraft::from_customer(&current));
    merge_patch(&mut doc, patch);
    let input = from_value::<CustomerDraft>(doc)?.parse()?;
    let mut updated = current.clone();
    updated.company = input.company;
    updated.admin.email = input.admin_email;
    updated.admin.first_name = input.admin_first_name;
    updated.admin.last_name = input.admin_last_name;
    updated.primary_contact = input.primary_contact;
    updated.max_users = input.max_users;
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
    if updated == current {
        if let Some((_, ops)) = &change {
            deps.store.transact(ops.clone()).await?;
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
        ops.push(WriteOp::create(Item::marker(keys::user_email_marker(
            tenant_id, &new_email,
        ))));
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
    if let Some((_, more)) = &change {
        ops.extend(more.iter().cloned());
    }
    if ops.len() > MAX_TRANSACTION_ACTIONS {
        return Err(Error::invalid(
            "company.name",
            "changes too many search entries at once; change fewer words of the name in one request",
        ));
    }
    match deps.store.transact(ops).await {
        Ok(()) => Ok(with_change(updated.view(version), &change)),
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
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// Deactivate, suspend, reactivate, delete (soft, with `confirm`) or restore.
pub async fn transition(
    deps: &Deps,
    scope: &TenantScope,
    customer_id: &CustomerId,
    t: Transition,
    confirm: bool,
) -> Result<CustomerView, Error> {
    let tenant_id = scope.tenant_id();
    // The admin's login follows the customer's state: refuse before any write in a
    // process without the identity provider rather than leave the login as it was.
    deps.identity()?;
    if t == Transition::Delete && !confirm {
        return Err(Error::BadRequest {
            kind: "confirmation-required",
            detail: "deleting a customer needs ?confirm=true; it can be restored for 30 days, then it is purged".into(),
            field: Some("confirm".into()),
        });
    }
    let (current, item) = load(deps, tenant_id, customer_id).await?;
    let now = deps.clock.now();
    current.check_transition(t, now)?;
    let mut updated = current.clone();
    updated.apply(t, now);
    let version = item.version + 1;
    let mut ops = vec![WriteOp::Put {
        item: profile_item(tenant_id, &updated, version)?,
        condition: Condition::VersionIs(item.version),
    }];
    match t {
        Transition::Delete => {
            ops.extend(search_deletes(tenant_id, &current));
            ops.extend(purge_key(tenant_id, &updated).map(|k| WriteOp::put(Item::marker(k))));
        }
        Transition::Restore => {
            ops.extend(search_puts(tenant_id, &updated));
            ops.extend(purge_key(tenant_id, &current).map(WriteOp::delete));
        }
        _ => {}
    }
    // Only an active customer's admin signs in: the next request with its token is 401
    // as soon as this commits.
    let enabled = updated.status == CustomerStatus::Active;
    let login_changes = (current.status == CustomerStatus::Active) != enabled;
    if let (Some(sub), true) = (&updated.admin.login_subject, login_changes) {
        // Only `enabled` changes, under the record's version: its last sign-in stays, and
        // a sign-in writing meanwhile makes this a retryable conflict, not a lost change.
        let key = keys::login_subject(tenant_id, sub);
        ops.push(match deps.store.get(&key).await? {
            Some(item) => {
                let mut record: LoginRecord = from_item(&item)?;
                record.enabled = enabled;
                let mut next = Item::new(key, to_data(&record)?);
                next.version = item.version + 1;
                WriteOp::Put {
                    item: next,
                    condition: Condition::VersionIs(item.version),
                }
            }
            None => login_record(tenant_id, sub, &updated, enabled)?,
        });
    }
    match deps.store.transact(ops).await {
        Ok(()) => {
            if let (Some(sub), true) = (&updated.admin.login_subject, login_changes) {
                super::identity::mirror_enabled(deps, tenant_id, &updated.admin.email, sub).await;
            }
            Ok(updated.view(version))
        }
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// Does every query word start some word of the name?
fn matches(name: &str, query_words: &[String]) -> bool {
    let name_words = text::words(name);
    query_words
        .iter()
        .all(|q| name_words.iter().any(|w| w.starts_with(q.as_str())))
}

/// `GET /v1/customers?q=&status=&limit=&cursor=`, ordered by company name.
///
/// Without filters: the everyone-index and one batch read. With `status` alone: the
/// status index, which holds the profiles themselves. With `q`: the index partition of
/// the query's most selective word prefix; words longer than the indexed prefix, extra
/// words and `status` are then checked on the profiles, so such a page may hold fewer
/// than `limit` items while `next_cursor` says more may follow.
pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    q: Option<&str>,
    status: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<CustomerView>, Error> {
    let tenant_id = scope.tenant_id();
    let limit = page::limit(limit)?;
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(CustomerStatus::parse(s).ok_or_else(|| {
            Error::invalid(
                "status",
                "must be one of active, inactive, suspended, deleted",
            )
        })?),
    };
    let query_words = match q.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) if s.chars().count() > 200 => {
            return Err(Error::invalid("q", "must be at most 200 characters"));
        }
        Some(s) => {
            let w = text::words(s);
            if w.is_empty() {
                return Err(Error::invalid("q", "must contain letters or digits"));
            }
            Some(w)
        }
    };
    // Every branch reads an ordered index (a search partition, or the status index) and
    // then the profiles themselves in one consistent batch: GSI copies may lag.
    let (query, listing, keep): (Query, &str, Keep) = match (query_words, status) {
        (None, Some(st)) => (
            Query::gsi1(
                keys::customer_status_partition(tenant_id, st.as_str()),
                SortRange::All,
                limit,
            ),
            "customers-status",
            Box::new(move |c: &Customer| c.status == st),
        ),
        (Some(words), Some(CustomerStatus::Deleted)) => (
            // Deleted customers leave the search index: look through the deleted set.
            Query::gsi1(
                keys::customer_status_partition(tenant_id, CustomerStatus::Deleted.as_str()),
                SortRange::All,
                limit,
            ),
            "customers-deleted-search",
            Box::new(move |c: &Customer| {
                c.status == CustomerStatus::Deleted && matches(&c.company.name, &words)
            }),
        ),
        (words, status) => {
            let words = words.unwrap_or_default();
            let prefix = words
                .iter()
                .max_by_key(|w| w.len())
                .map(|w| w[..w.len().min(text::MAX_INDEXED_PREFIX)].to_owned())
                .unwrap_or_default();
            (
                Query::partition(
                    keys::search_partition(tenant_id, &prefix),
                    SortRange::All,
                    limit,
                ),
                if prefix.is_empty() {
                    "customers"
                } else {
                    "customers-search"
                },
                Box::new(move |c: &Customer| {
                    status.is_none_or(|s| c.status == s) && matches(&c.company.name, &words)
                }),
            )
        }
    };
    let via_index = query.index == Index::Gsi1;
    let start = page::decode(cursor, listing, &query.pk, via_index)?;
    let (customers, next) =
        filtered_index(deps, tenant_id, query, start, limit, listing, keep).await?;
    let data = customers.iter().map(|(c, v)| c.view(*v)).collect();
    Ok(page::Page {
        data,
        next_cursor: next,
    })
}

type Found = (Vec<(Customer, u64)>, Option<String>);
type Keep = Box<dyn Fn(&Customer) -> bool + Send + Sync>;

/// The customer an index entry points at: its name sort key ends with the id.
fn entry_customer_id(entry: &Item, index: Index) -> Option<CustomerId> {
    let sk = match index {
        Index::Table => Some(entry.sk.as_str()),
        Index::Gsi1 => entry.gsi1sk.as_deref(),
    };
    sk.and_then(keys::customer_id_from_by_name)
}

/// Reads index entries page by page, fetches their profiles in one batch per page, and
/// keeps those passing `keep`, until `limit` are found or the rounds run out.
async fn filtered_index(
    deps: &Deps,
    tenant_id: &TenantId,
    query: Query,
    mut start: Option<Position>,
    limit: usize,
    listing: &str,
    keep: impl Fn(&Customer) -> bool,
) -> Result<Found, Error> {
    let mut out = Vec::with_capacity(limit);
    for _ in 0..MAX_SEARCH_ROUNDS {
        let p = deps.store.query(query.clone().after(start.clone())).await?;
        let wanted: Vec<Key> = p
            .items
            .iter()
            .filter_map(|e| entry_customer_id(e, query.index))
            .map(|id| keys::customer(tenant_id, &id))
            .collect();
        let got = if wanted.is_empty() {
            vec![]
        } else {
            deps.store.get_many(&wanted).await?
        };
        let mut by_pk: HashMap<String, Item> = got.into_iter().map(|i| (i.pk.clone(), i)).collect();
        for entry in &p.items {
            if out.len() == limit {
                // Full before this page ran out: the next page starts after the last one kept.
                return Ok((out, start.map(|s| page::encode(listing, &s))));
            }
            start = Some(entry.position());
            let profile = entry_customer_id(entry, query.index)
                .and_then(|id| by_pk.remove(&keys::customer_partition(tenant_id, &id)));
            if let Some(item) = profile {
                let c: Customer = from_item(&item)?;
                if keep(&c) {
                    out.push((c, item.version));
                }
            }
        }
        match p.next {
            None => return Ok((out, None)),
            Some(n) => {
                start = Some(n);
                if out.len() == limit {
                    break;
                }
            }
        }
    }
    Ok((out, start.map(|s| page::encode(listing, &s))))
}

/// The due-work entry of a deleted customer's purge; `None` when the customer is gone or
/// not deleted.
pub(crate) async fn scheduled_purge(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<Option<Key>, Error> {
    let Some(item) = deps
        .store
        .get(&keys::customer(tenant_id, customer_id))
        .await?
    else {
        return Ok(None);
    };
    let c: Customer = from_item(&item)?;
    Ok(match c.status {
        CustomerStatus::Deleted => purge_key(tenant_id, &c),
        _ => None,
    })
}

/// What `purge_one` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purge {
    /// Purged: every item of its partition, its markers and its due entry are gone.
    Purged,
    /// Deleted, its restore window still open: its due entry is `entry`.
    NotYet { entry: Key },
    /// Not deleted (restored since), or no profile at all (a purge cut off after the
    /// profile went): nothing is due.
    NothingDue,
}

/// Purges one deleted customer whose restore window has passed: every item of its
/// partition, its markers and its purge entry.
pub async fn purge_one(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    now: DateTime<Utc>,
) -> Result<Purge, Error> {
    let item = deps
        .store
        .get(&keys::customer(tenant_id, customer_id))
        .await?;
    let Some(item) = item else {
        return Ok(Purge::NothingDue);
    };
    let c: Customer = from_item(&item)?;
    match (
        c.status == CustomerStatus::Deleted,
        purge_key(tenant_id, &c),
    ) {
        (true, Some(entry)) if c.purge_after.is_some_and(|p| p > now) => {
            return Ok(Purge::NotYet { entry });
        }
        (true, Some(_)) => {}
        _ => return Ok(Purge::NothingDue),
    }
    // Users (and their email markers) first, in chunks; the profile goes last, so a
    // purge cut off half-way is simply resumed by the next run.
    let pk = keys::customer_partition(tenant_id, customer_id);
    let mut start = None;
    let mut rest = Vec::new();
    loop {
        let p = deps
            .store
            .query(Query::partition(pk.clone(), SortRange::All, 100).after(start))
            .await?;
        for i in p.items {
            if i.sk != item.sk {
                rest.push(i);
            }
        }
        match p.next {
            Some(n) => start = Some(n),
            None => break,
        }
    }
    for chunk in rest.chunks(MAX_TRANSACTION_ACTIONS / 3) {
        let mut ops = Vec::with_capacity(chunk.len() * 2);
        let mut logins = Vec::new();
        for i in chunk {
            if let Some(email) = i
                .data
                .get("email")
                .and_then(Value::as_str)
                .filter(|_| keys::is_customer_user(&i.sk))
            {
                ops.push(WriteOp::delete(keys::user_email_marker(
                    tenant_id,
                    &fields::email_key(email),
                )));
                if let Some(sub) = i.data.get("login_subject").and_then(Value::as_str) {
                    ops.push(WriteOp::delete(keys::login_subject(tenant_id, sub)));
                    logins.push(email.to_owned());
                }
            }
            ops.push(WriteOp::delete(i.key()));
        }
        // The logins go first: once the records (and the email markers) are gone, the
        // email may be claimed again, and its new login must not be deleted here.
        for email in logins {
            super::identity::delete_login(deps, tenant_id, &email).await?;
        }
        deps.store.transact(ops).await?;
    }
    // The admin's email marker went with the admin's user record above: deleting it
    // again here could delete a marker a new customer has claimed since.
    let mut ops = vec![
        WriteOp::Delete {
            key: item.key(),
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::delete(keys::company_name_marker(tenant_id, &c.company.name_key())),
    ];
    ops.extend(purge_key(tenant_id, &c).map(WriteOp::delete));
    deps.store.transact(ops).await?;
    Ok(Purge::Purged)
}

/// The welcome a new customer's admin receives, with the tenant's login link.
pub(crate) fn welcome_email(
    tenant_id: &TenantId,
    customer: &crate::model::customer::Customer,
    now: DateTime<Utc>,
) -> Result<mail::Queued, Error> {
    let mut context = serde_json::Map::new();
    context.insert("first_name".into(), json!(customer.admin.first_name));
    context.insert("company_name".into(), json!(customer.company.name));
    mail::enqueue(
        tenant_id,
        mail::Template::CustomerWelcome,
        &customer.admin.email,
        context,
        now,
    )
}
