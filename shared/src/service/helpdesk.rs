//! First-line support: customers ask their tenant for help, not the platform. A
//! customer user opens a request; it is mailed to the tenant's support address (replies
//! go to the user) and listed for the tenant's staff, who keep notes on it, close it,
//! or escalate it to the platform, whose operator lists escalations across tenants.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::audit::{self, Entry, Log};
use super::{from_item, to_data};
use crate::Deps;
use crate::access::{CustomerScope, TenantScope};
use crate::error::Error;
use crate::model::audit::{Actor, Target};
use crate::model::customer::CustomerUser;
use crate::model::fields;
use crate::model::helpdesk::{
    Category, Escalation, EscalationEntry, Note, OwnRequestView, RequestStatus, SupportMode,
    SupportRequest, tenant_support_address,
};
use crate::model::ids::{SupportRequestId, TenantId, UserId};
use crate::ports::{Condition, Item, Query, SortRange, WriteOp};
use crate::service::mail::{self, Template};
use crate::service::page::{self, Page};
use crate::store::keys;

/// Notes a request keeps at most (its record stays far below the store's 400 KB an
/// item: 20 notes of 2,000 characters of up to 4 bytes).
const MAX_NOTES: usize = 20;

/// `POST /v1/me/support-requests`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SupportRequestDraft)]
pub struct RequestDraft {
    #[schema(
        min_length = 1,
        max_length = 200,
        example = "The export stops at 1,000 rows"
    )]
    pub subject: Option<String>,
    #[schema(min_length = 1, max_length = 5000)]
    pub message: Option<String>,
    #[schema(value_type = Option<Category>)]
    pub category: Option<String>,
}

/// `POST /v1/support-requests/{id}/notes` and `.../escalate`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SupportRequestNoteDraft)]
pub struct NoteDraft {
    /// The note (1 to 2000 characters); optional when escalating.
    #[schema(min_length = 1, max_length = 2000)]
    pub text: Option<String>,
}

/// The platform's support address (`TENANTRY_PLATFORM_SUPPORT_EMAIL`), where the
/// deployment has one: requests of tenants in `platform` mode and escalations are
/// mailed there; without one they are only listed.
pub fn platform_support_address() -> Option<String> {
    std::env::var("TENANTRY_PLATFORM_SUPPORT_EMAIL")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn items(tenant_id: &TenantId, r: &SupportRequest, version: u64) -> Result<[Item; 2], Error> {
    let created = audit::sort_time(r.created_at);
    let mut record = Item::new(keys::support_request(tenant_id, &r.id), to_data(r)?).with_gsi1(
        keys::support_requests_by_status(tenant_id, r.status.as_str(), &created, &r.id),
    );
    record.version = version;
    let mut copy = Item::new(
        keys::customer_support_request(tenant_id, &r.customer_id, &created, &r.id),
        to_data(r)?,
    );
    copy.version = version;
    Ok([record, copy])
}

fn writes(
    tenant_id: &TenantId,
    r: &SupportRequest,
    version: u64,
    condition: Condition,
) -> Result<Vec<WriteOp>, Error> {
    let [record, copy] = items(tenant_id, r, version)?;
    Ok(vec![
        WriteOp::Put {
            item: record,
            condition,
        },
        WriteOp::put(copy),
    ])
}

async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &SupportRequestId,
) -> Result<(SupportRequest, Item), Error> {
    let item = deps
        .store
        .get(&keys::support_request(tenant_id, id))
        .await?
        .ok_or(Error::NotFound("support request"))?;
    Ok((from_item(&item)?, item))
}

/// The writes of a changed request over the version it was read at.
fn update(tenant_id: &TenantId, r: &SupportRequest, read: &Item) -> Result<Vec<WriteOp>, Error> {
    writes(
        tenant_id,
        r,
        read.version + 1,
        Condition::VersionIs(read.version),
    )
}

/// A request's audit entry, in its customer's history.
fn entry(action: &str, r: &SupportRequest) -> Entry {
    Entry::new(action, Target::new("support_request", &r.id)).customer(&r.customer_id)
}

/// Adds a staff note, within the notes a request keeps.
fn add_note(
    r: &mut SupportRequest,
    by: Actor,
    text: String,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if r.notes.len() >= MAX_NOTES {
        return Err(Error::invalid(
            "text",
            format!("a request keeps at most {MAX_NOTES} notes"),
        ));
    }
    r.notes.push(Note { at: now, by, text });
    Ok(())
}

/// A customer user opens a request: stored, listed for the tenant's staff, and mailed
/// to the tenant's support address (the platform's, in `platform` mode), replies to
/// the user.
pub async fn open(
    deps: &Deps,
    scope: &CustomerScope,
    user_id: &UserId,
    draft: &RequestDraft,
    platform_address: Option<&str>,
) -> Result<OwnRequestView, Error> {
    let tenant_id = scope.tenant_id();
    let mut c = crate::model::input::Checks::new();
    let subject = c.required("subject", draft.subject.as_deref(), |s| {
        fields::text(s, 200)
    });
    let message = c.required("message", draft.message.as_deref(), |s| {
        fields::paragraphs(s, 5000)
    });
    let category = c.required("category", draft.category.as_deref(), |s| {
        serde_json::from_value::<Category>(json!(s))
            .map_err(|_| "must be one of question, billing, technical, account, other".to_owned())
    });
    c.finish()?;
    let (Some(subject), Some(message), Some(category)) = (subject, message, category) else {
        return Err(Error::invalid("body", "is incomplete"));
    };
    let (tenant, _) = super::directory::load(deps, tenant_id).await?;
    let now = deps.clock.now();
    let request = SupportRequest {
        id: SupportRequestId::generate(),
        customer_id: scope.customer_id().clone(),
        user_id: user_id.clone(),
        subject,
        message,
        category,
        status: RequestStatus::Open,
        notes: Vec::new(),
        escalated_at: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    let mut ops = writes(tenant_id, &request, 1, Condition::NotExists)?;
    let mode = tenant.support.as_ref().map(|s| s.mode).unwrap_or_default();
    let to = match mode {
        SupportMode::FirstLine => tenant_support_address(&tenant),
        SupportMode::Platform => platform_address.map(str::to_owned),
    };
    if let Some(to) = to {
        // The company's name and who asks (replies go to them), for the email only.
        let (customer, _) = super::load_customer(deps, tenant_id, scope.customer_id()).await?;
        let user: CustomerUser = from_item(
            &deps
                .store
                .get(&keys::customer_user(
                    tenant_id,
                    scope.customer_id(),
                    user_id,
                ))
                .await?
                .ok_or(Error::NotFound("user"))?,
        )?;
        let mut context = serde_json::Map::new();
        context.insert("company_name".into(), json!(customer.company.name));
        context.insert(
            "user_name".into(),
            json!(format!("{} {}", user.first_name, user.last_name)),
        );
        context.insert("reply_to".into(), json!(user.email));
        context.insert("subject".into(), json!(request.subject));
        context.insert("message".into(), json!(request.message));
        context.insert("category".into(), json!(request.category));
        context.insert("request_id".into(), json!(request.id));
        ops.extend(mail::enqueue(
            tenant_id,
            Template::SupportRequest,
            &to,
            context,
            now,
        )?);
    }
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            entry("support_request.opened", &request)
                .value("category", category)
                .fields(["subject", "message"]),
        )
        .await?,
    );
    super::commit(deps, ops).await?;
    Ok(request.own_view())
}

/// A customer user's own requests, newest first (at most the latest 100).
pub async fn own(
    deps: &Deps,
    scope: &CustomerScope,
    user_id: &UserId,
) -> Result<Page<OwnRequestView>, Error> {
    let q = Query {
        forward: false,
        ..Query::partition(
            keys::customer_partition(scope.tenant_id(), scope.customer_id()),
            SortRange::Prefix(keys::CUSTOMER_SUPPORT_REQUEST_PREFIX.into()),
            100,
        )
    };
    let found = deps.store.query(q).await?;
    let mut data = Vec::new();
    for i in &found.items {
        let r: SupportRequest = from_item(i)?;
        if r.user_id == *user_id {
            data.push(r.own_view());
        }
    }
    Ok(Page {
        data,
        next_cursor: None,
    })
}

/// The tenant's requests of one status (default `open`), oldest first.
pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    status: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page<SupportRequest>, Error> {
    let status = match status {
        None | Some("open") => RequestStatus::Open,
        Some("closed") => RequestStatus::Closed,
        Some(_) => return Err(Error::invalid("status", "must be open or closed")),
    };
    let limit = page::limit(limit)?;
    let pk = keys::support_requests_partition(scope.tenant_id(), status.as_str());
    let start = page::decode(cursor, "support-requests", &pk, true)?;
    let found = deps
        .store
        .query(Query::gsi1(pk, SortRange::All, limit).after(start))
        .await?;
    Ok(Page {
        data: found
            .items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?,
        next_cursor: found.next.map(|n| page::encode("support-requests", &n)),
    })
}

/// Staff add a note (kept with the request, never shown to the customer).
pub async fn note(
    deps: &Deps,
    scope: &TenantScope,
    by: Actor,
    id: &SupportRequestId,
    draft: &NoteDraft,
) -> Result<SupportRequest, Error> {
    // Another tenant's request is not there, whatever the body.
    let tenant_id = scope.tenant_id();
    let (mut r, item) = load(deps, tenant_id, id).await?;
    let mut c = crate::model::input::Checks::new();
    let text = c.required("text", draft.text.as_deref(), |s| {
        fields::paragraphs(s, 2000)
    });
    c.finish()?;
    let text = text.ok_or_else(|| Error::invalid("text", "is required"))?;
    let now = deps.clock.now();
    add_note(&mut r, by, text, now)?;
    r.updated_at = now;
    let mut ops = update(tenant_id, &r, &item)?;
    let noted = entry("support_request.noted", &r).fields(["notes"]);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), noted).await?);
    super::commit(deps, ops).await?;
    Ok(r)
}

/// Staff close a request (closing a closed one changes nothing).
pub async fn close(
    deps: &Deps,
    scope: &TenantScope,
    id: &SupportRequestId,
) -> Result<SupportRequest, Error> {
    let tenant_id = scope.tenant_id();
    let (mut r, item) = load(deps, tenant_id, id).await?;
    if r.status == RequestStatus::Closed {
        return Ok(r);
    }
    let now = deps.clock.now();
    r.status = RequestStatus::Closed;
    r.closed_at = Some(now);
    r.updated_at = now;
    let mut ops = update(tenant_id, &r, &item)?;
    let closed = entry("support_request.closed", &r).value("status", RequestStatus::Closed);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), closed).await?);
    super::commit(deps, ops).await?;
    Ok(r)
}

/// Staff hand a request to the platform: listed for the operator, and mailed to the
/// platform's support address (when the deployment has one) with the tenant's notes.
pub async fn escalate(
    deps: &Deps,
    scope: &TenantScope,
    by: Actor,
    id: &SupportRequestId,
    draft: &NoteDraft,
    platform_address: Option<&str>,
) -> Result<SupportRequest, Error> {
    let tenant_id = scope.tenant_id();
    let (mut r, item) = load(deps, tenant_id, id).await?;
    let text = match draft.text.as_deref() {
        Some(text) => Some(fields::paragraphs(text, 2000).map_err(|e| Error::invalid("text", e))?),
        None => None,
    };
    if r.escalated_at.is_some() {
        return if text.is_some() {
            Err(Error::invalid(
                "text",
                "the request is escalated already: add the note with POST /v1/support-requests/{id}/notes",
            ))
        } else {
            Ok(r)
        };
    }
    let now = deps.clock.now();
    let mut escalated = entry("support_request.escalated", &r);
    if let Some(text) = text {
        add_note(&mut r, by.clone(), text, now)?;
        escalated = escalated.fields(["notes"]);
    }
    r.escalated_at = Some(now);
    r.updated_at = now;
    let escalation = EscalationEntry {
        tenant_id: tenant_id.clone(),
        request_id: r.id.clone(),
        escalated_at: now,
        escalated_by: by,
    };
    let mut ops = update(tenant_id, &r, &item)?;
    ops.push(WriteOp::create(Item::new(
        keys::escalation(&audit::sort_time(now), tenant_id, &r.id),
        to_data(&escalation)?,
    )));
    if let Some(to) = platform_address {
        let (tenant, _) = super::directory::load(deps, tenant_id).await?;
        let notes: Vec<String> = r.notes.iter().map(|n| n.text.clone()).collect();
        let mut context = serde_json::Map::new();
        context.insert("tenant_name".into(), json!(tenant.name));
        context.insert("tenant_id".into(), json!(tenant_id));
        context.insert("subject".into(), json!(r.subject));
        context.insert("message".into(), json!(r.message));
        context.insert("category".into(), json!(r.category));
        context.insert("request_id".into(), json!(r.id));
        context.insert("customer_id".into(), json!(r.customer_id));
        context.insert("notes".into(), json!(notes));
        ops.extend(mail::enqueue(
            tenant_id,
            Template::SupportEscalation,
            to,
            context,
            now,
        )?);
    }
    ops.push(audit::op(deps, Log::Tenant(tenant_id), escalated).await?);
    super::commit(deps, ops).await?;
    Ok(r)
}

/// Escalations across tenants, newest first: the operator's list.
pub async fn escalations(
    deps: &Deps,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page<Escalation>, Error> {
    let limit = page::limit(limit)?;
    let pk = keys::escalations_partition();
    let start = page::decode(cursor, "escalations", &pk, false)?;
    let q = Query {
        forward: false,
        ..Query::partition(pk, SortRange::All, limit).after(start)
    };
    let found = deps.store.query(q).await?;
    // Each with its request as it is now; one purged with its customer is left out.
    let mut data = Vec::with_capacity(found.items.len());
    for i in &found.items {
        let e: EscalationEntry = from_item(i)?;
        match load(deps, &e.tenant_id, &e.request_id).await {
            Ok((request, _)) => data.push(Escalation {
                tenant_id: e.tenant_id,
                request,
                escalated_at: e.escalated_at,
                escalated_by: e.escalated_by,
            }),
            Err(Error::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(Page {
        data,
        next_cursor: found.next.map(|n| page::encode("escalations", &n)),
    })
}
