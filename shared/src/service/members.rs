//! Tenant staff: invite, list, change roles, remove; a tenant always keeps an owner.

use crate::error::ProblemKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::audit::{self, Entry, Log};
use super::{from_item, links, mail, page, to_data};
use crate::Deps;
use crate::access::{StaffRole, TenantScope};
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::fields;
use crate::model::ids::{MemberId, TenantId};
use crate::model::input::{from_value, merge_patch, to_value};
use crate::model::member::{Member, MemberDraft, MemberStatus};
use crate::ports::{Condition, Item, Query, SortRange, StoreError, WriteOp};
use crate::store::keys;

/// A staff member as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: MemberId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: StaffRole,
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether the member has set a password for its staff login (the login's subject
    /// itself is never shown).
    pub has_login: bool,
    /// For `If-Match`.
    pub version: u64,
}

pub(crate) fn view(m: &Member, version: u64) -> MemberView {
    MemberView {
        id: m.id.clone(),
        email: m.email.clone(),
        first_name: m.first_name.clone(),
        last_name: m.last_name.clone(),
        role: m.role,
        status: m.status,
        created_at: m.created_at,
        updated_at: m.updated_at,
        has_login: m.login_subject.is_some(),
        version,
    }
}

fn duplicate_email(email: &str) -> Error {
    Error::duplicate(
        ProblemKind::DuplicateEmail,
        "email",
        format!("a member with the email {email} already exists in this tenant"),
    )
}

pub async fn create(
    deps: &Deps,
    scope: &TenantScope,
    draft: &MemberDraft,
) -> Result<MemberView, Error> {
    let tenant_id = scope.tenant_id();
    if draft.status.is_some() {
        return Err(Error::invalid(
            "status",
            "is set later with PATCH; a new member is active",
        ));
    }
    let input = draft.parse()?;
    let now = deps.clock.now();
    let m = Member {
        id: MemberId::generate(),
        email: input.email,
        first_name: input.first_name,
        last_name: input.last_name,
        role: input.role,
        status: MemberStatus::Active,
        created_at: now,
        updated_at: now,
        login_subject: None,
        link_generation: 0,
        sessions_ended_at: None,
    };
    let link = super::links::staff_invitation_link(deps, tenant_id, &m)?;
    let mut ops = vec![
        WriteOp::create(email_marker(tenant_id, &m.email, &m.id)?),
        WriteOp::create(Item::new(keys::member(tenant_id, &m.id), to_data(&m)?)),
    ];
    ops.extend(invitation_email(
        tenant_id,
        &m,
        link.as_ref().map(|(_, t)| t.as_str()),
        now,
    )?);
    ops.extend(link.map(|(op, _)| op));
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new("member.invited", Target::new("member", &m.id))
                .value("role", m.role)
                .fields(["email", "first_name", "last_name"]),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => Ok(view(&m, 1)),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(duplicate_email(&m.email))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    member_id: &MemberId,
) -> Result<(Member, Item), Error> {
    let item = deps
        .store
        .get(&keys::member(tenant_id, member_id))
        .await?
        .ok_or(Error::NotFound("member"))?;
    Ok((from_item(&item)?, item))
}

pub async fn get(
    deps: &Deps,
    scope: &TenantScope,
    member_id: &MemberId,
) -> Result<MemberView, Error> {
    let (m, item) = load(deps, scope.tenant_id(), member_id).await?;
    Ok(view(&m, item.version))
}

pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<MemberView>, Error> {
    page::list_prefix(
        deps,
        "members",
        keys::tenant_partition(scope.tenant_id()),
        keys::members_prefix(),
        limit,
        cursor,
        |i| from_item::<Member>(i).map(|m| view(&m, i.version)),
    )
    .await
}

/// The first of a tenant's members that `wanted` picks, with its item. Staff lists are
/// small: a page or two.
pub(crate) async fn find(
    deps: &Deps,
    tenant_id: &TenantId,
    wanted: impl Fn(&Member) -> bool,
) -> Result<Option<(Member, Item)>, Error> {
    let mut start = None;
    loop {
        let p = deps
            .store
            .query(
                Query::partition(
                    keys::tenant_partition(tenant_id),
                    SortRange::Prefix(keys::members_prefix().into()),
                    100,
                )
                .after(start),
            )
            .await?;
        for i in p.items {
            let m: Member = from_item(&i)?;
            if wanted(&m) {
                return Ok(Some((m, i)));
            }
        }
        match p.next {
            Some(n) => start = Some(n),
            None => return Ok(None),
        }
    }
}

/// Whether another active owner than `member_id` exists. The transaction also checks
/// that owner is unchanged, so two owners removing each other at once cannot both
/// succeed.
async fn another_owner(
    deps: &Deps,
    tenant_id: &TenantId,
    member_id: &MemberId,
) -> Result<Option<WriteOp>, Error> {
    let owner = find(deps, tenant_id, |m| {
        m.id != *member_id && m.role == StaffRole::Owner && m.status == MemberStatus::Active
    })
    .await?;
    Ok(owner.map(|(_, i)| WriteOp::Check {
        key: i.key(),
        condition: Condition::VersionIs(i.version),
    }))
}

fn last_owner() -> Error {
    Error::conflict(
        ProblemKind::LastOwner,
        "a tenant keeps at least one active owner; make another member owner first",
    )
}

pub async fn patch(
    deps: &Deps,
    scope: &TenantScope,
    member_id: &MemberId,
    patch: &Value,
    if_version: Option<u64>,
) -> Result<MemberView, Error> {
    let tenant_id = scope.tenant_id();
    if !patch.is_object() {
        return Err(Error::invalid(
            "body",
            "must be a JSON object (a merge patch)",
        ));
    }
    let (m, item) = load(deps, tenant_id, member_id).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(
            "the member changed since that version; read it again".into(),
        ));
    }
    let mut doc = to_value(&MemberDraft::from_member(&m));
    merge_patch(&mut doc, patch);
    let input = from_value::<MemberDraft>(doc)?.parse()?;
    let loses_owner = m.role == StaffRole::Owner
        && m.status == MemberStatus::Active
        && (input.role != StaffRole::Owner || input.status != MemberStatus::Active);
    let owner_check = match loses_owner {
        true => Some(
            another_owner(deps, tenant_id, member_id)
                .await?
                .ok_or_else(last_owner)?,
        ),
        false => None,
    };
    let mut updated = Member {
        email: input.email,
        first_name: input.first_name,
        last_name: input.last_name,
        role: input.role,
        status: input.status,
        updated_at: deps.clock.now(),
        ..m.clone()
    };
    // A new email or a disabling ends the member's pending password links: a link
    // mailed to the old address must not set the password of the new one's login.
    if fields::email_key(&m.email) != fields::email_key(&updated.email)
        || updated.status != MemberStatus::Active
    {
        updated.link_generation += 1;
    }
    // Disabled, its support sessions are over for good.
    if m.status == MemberStatus::Active && updated.status != MemberStatus::Active {
        updated.sessions_ended_at = Some(updated.updated_at);
    }
    let version = item.version + 1;
    let mut ops = vec![WriteOp::Put {
        item: Item {
            data: to_data(&updated)?,
            version,
            ..item.clone()
        },
        condition: Condition::VersionIs(item.version),
    }];
    let (old_key, new_key) = (
        fields::email_key(&m.email),
        fields::email_key(&updated.email),
    );
    // Where the new email's marker is, if the email changes: a failed owner check may
    // otherwise sit at that index and read as a taken email.
    let marker_at = (old_key != new_key).then_some(ops.len());
    if old_key != new_key {
        ops.push(WriteOp::create(email_marker(
            tenant_id,
            &updated.email,
            &updated.id,
        )?));
        ops.push(WriteOp::delete(keys::member_email_marker(
            tenant_id, &old_key,
        )));
    }
    ops.extend(owner_check);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), changes(&m, &updated)).await?);
    match deps.store.transact(ops).await {
        Ok(()) => Ok(view(&updated, version)),
        Err(StoreError::TransactionCanceled { failed })
            if marker_at.is_some_and(|i| failed.contains(&i)) =>
        {
            Err(duplicate_email(&updated.email))
        }
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}

/// A member's update as its audit event records it: the role and the status with their
/// values, the personal fields by name.
fn changes(before: &Member, after: &Member) -> Entry {
    let mut entry = Entry::new("member.updated", Target::new("member", &after.id));
    if before.role != after.role {
        entry = entry.value("role", after.role);
    }
    if before.status != after.status {
        entry = entry.value("status", after.status);
    }
    let personal = [
        ("email", before.email != after.email),
        ("first_name", before.first_name != after.first_name),
        ("last_name", before.last_name != after.last_name),
    ];
    entry.fields(personal.into_iter().filter(|(_, c)| *c).map(|(n, _)| n))
}

pub async fn delete(deps: &Deps, scope: &TenantScope, member_id: &MemberId) -> Result<(), Error> {
    let tenant_id = scope.tenant_id();
    // Before any write: the member's login goes with it, so a process without the
    // identity provider must refuse rather than leave a login behind.
    deps.identity()?;
    let (m, item) = load(deps, tenant_id, member_id).await?;
    let owner_check = match m.role == StaffRole::Owner && m.status == MemberStatus::Active {
        true => Some(
            another_owner(deps, tenant_id, member_id)
                .await?
                .ok_or_else(last_owner)?,
        ),
        false => None,
    };
    let mut ops = vec![
        WriteOp::Delete {
            key: item.key(),
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::delete(keys::member_email_marker(
            tenant_id,
            &fields::email_key(&m.email),
        )),
    ];
    // Its login's subject -> member item goes too: nothing of a removed member stays.
    ops.extend(
        m.login_subject
            .as_deref()
            .map(|sub| WriteOp::delete(keys::staff_subject(sub))),
    );
    ops.extend(owner_check);
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new("member.removed", Target::new("member", &m.id)),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { .. }) => return Err(Error::concurrent_update()),
        Err(e) => return Err(e.into()),
    }
    // Also when no login is recorded: one left by an unfinished first use goes too.
    delete_login(deps, &m.id).await;
    Ok(())
}

/// The invitation a new staff member (or a new tenant's owner) receives: with staff
/// logins, a link to set the password of its login.
pub(crate) fn invitation_email(
    tenant_id: &TenantId,
    member: &crate::model::member::Member,
    link_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<mail::Queued, Error> {
    let role_label = match member.role.as_str() {
        "owner" => "an owner",
        _ => "a member",
    };
    let mut context = serde_json::Map::new();
    context.insert("first_name".into(), json!(member.first_name));
    context.insert("role_label".into(), json!(role_label));
    if let Some(t) = link_token {
        context.insert("link_token".into(), json!(t));
        context.insert("link_days".into(), json!(links::INVITATION_DAYS));
    }
    mail::enqueue(
        tenant_id,
        mail::Template::StaffInvitation,
        &member.email,
        context,
        now,
    )
}

/// The marker that keeps a member's email unique in its tenant; it names the member, so
/// a sign-in finds the member by email in one read.
pub(crate) fn email_marker(
    tenant_id: &TenantId,
    email: &str,
    member_id: &MemberId,
) -> Result<Item, Error> {
    Ok(Item::new(
        keys::member_email_marker(tenant_id, &fields::email_key(email)),
        to_data(&json!({ "member_id": member_id }))?,
    ))
}

/// Removes a removed member's login from the staff pool (best effort: without its
/// records it can neither sign in nor authenticate).
pub(crate) async fn delete_login(deps: &Deps, member_id: &MemberId) {
    let idp = match deps.identity() {
        Ok(Some(idp)) => idp,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(
                %member_id,
                error = format!("{e:#}"),
                "a removed member's staff login was left"
            );
            return;
        }
    };
    let result = match idp.staff_pool().await {
        Ok(pool) => idp.delete_user(&pool, member_id.as_str()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) | Err(crate::ports::IdentityError::NoSuchUser) => {}
        Err(e) => tracing::warn!(error = ?e, "a removed member's login was left in the staff pool"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::{Actor, ActorKind, AuditEvent};

    /// An invitation, a change and a removal write one event each, by the member who
    /// made them: the role and status with their values, personal fields by name only.
    #[tokio::test]
    async fn each_change_of_a_member_writes_one_event() {
        let (_dir, deps) =
            crate::service::audit::testing::deps_acting(ActorKind::Member, "mem_owner");
        let scope = TenantScope::acting_for(TenantId::generate());
        let draft: MemberDraft = serde_json::from_value(json!({
            "email": "ada@acme.example", "first_name": "Ada", "last_name": "Li", "role": "member",
        }))
        .unwrap();
        let m = create(&deps, &scope, &draft).await.unwrap();
        let m2 = patch(
            &deps,
            &scope,
            &m.id,
            &json!({ "role": "owner", "last_name": "Lee" }),
            None,
        )
        .await
        .unwrap();
        assert_eq!(m2.role, StaffRole::Owner);
        // Another owner stays, so this one may go.
        let other: MemberDraft = serde_json::from_value(json!({
            "email": "bo@acme.example", "first_name": "Bo", "last_name": "Ng", "role": "owner",
        }))
        .unwrap();
        create(&deps, &scope, &other).await.unwrap();
        delete(&deps, &scope, &m.id).await.unwrap();
        let page = audit::list(
            &deps,
            Log::Tenant(scope.tenant_id()),
            &audit::Filter::default(),
            100,
            None,
        )
        .await
        .unwrap();
        let e: Vec<AuditEvent> = page.data.into_iter().rev().collect();
        let actions: Vec<&str> = e.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "member.invited",
                "member.updated",
                "member.invited",
                "member.removed"
            ]
        );
        assert!(
            e.iter()
                .all(|e| e.actor == Actor::new(ActorKind::Member, "mem_owner"))
        );
        assert_eq!(e[1].target, Target::new("member", &m.id));
        let changes: Vec<(&str, Option<&Value>)> = e[1]
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.value.as_ref()))
            .collect();
        assert_eq!(
            changes,
            [("role", Some(&json!("owner"))), ("last_name", None)]
        );
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains('@') && !text.contains("Lee"), "{text}");
    }
}
