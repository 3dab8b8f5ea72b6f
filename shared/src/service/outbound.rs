//! A tenant's webhook endpoints: where Tenantry sends the tenant's events, signed
//! (Standard Webhooks). Delivery is `service::events`.
//!
//! An endpoint has a URL (https; the local server also delivers to `http://127.0.0.1`),
//! the event types it wants (none listed: every type), and its signing secrets, sealed
//! by the vault like an inbound endpoint's; the secret is shown once and rotates with an
//! overlap (each delivery is signed with every live secret). An endpoint whose deliveries
//! keep failing for five days is disabled (`service::events`) and its tenant's owners are
//! emailed; enabling it again (`PATCH`) starts afresh.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Entry, Log};
use super::signing::{self, SecretInfo, StoredSecret};
use super::{from_item, page, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::fields;
use crate::model::ids::{TenantId, WebhookEndpointId};
use crate::model::input::Checks;
use crate::ports::{Condition, Item, StoreError, VaultContext, WriteOp};
use crate::store::keys;

/// What the endpoints' secrets are sealed for (the vault's context).
pub const PURPOSE: &str = "webhook-endpoint";
pub use crate::model::event::EVENT_TYPES;
const MAX_URL_LEN: usize = 2000;
/// Webhook endpoints a tenant may have: an event goes to each.
pub const MAX_ENDPOINTS: usize = 50;

/// A webhook endpoint as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The event types it wants; empty: every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why it was disabled by Tenantry (its deliveries kept failing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Since when its deliveries fail (the first failure after the last success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// The last failure of the streak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<DateTime<Utc>>,
    pub(crate) secrets: Vec<StoredSecret>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// Does it want events of this type?
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }

    pub fn view(&self, now: DateTime<Utc>, version: u64) -> WebhookEndpointView {
        WebhookEndpointView {
            id: self.id.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            event_types: self.event_types.clone(),
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            failing_since: self.failing_since,
            secrets: signing::infos(&self.secrets, now),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version,
        }
    }
}

/// A webhook endpoint as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookEndpointView {
    #[schema(value_type = String, example = "whe_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub id: WebhookEndpointId,
    #[schema(example = "https://partner.example.com/tenantry/webhooks")]
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The event types it receives; empty: every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Tenantry disabled it (its deliveries kept failing); `PATCH` `enabled: true`
    /// enables it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Since when its deliveries fail, while they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    pub secrets: Vec<SecretInfo>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For `If-Match`.
    pub version: u64,
}

/// An endpoint just made or rotated: its view and, this once, its new secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookEndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// The signing secret (`whsec_...`), shown this once: the receiver verifies each
    /// delivery with it. A replay of the same `Idempotency-Key` answers without it.
    #[schema(required = false, example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// `POST /v1/webhook-endpoints`, and `PATCH` of one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointDraft {
    /// Where to send: `https://...` (the local server also takes `http://127.0.0.1`).
    #[schema(
        example = "https://partner.example.com/tenantry/webhooks",
        max_length = 2000
    )]
    pub url: Option<String>,
    /// Up to 200 characters.
    pub description: Option<String>,
    /// The event types to receive (see the API document's `webhooks`); empty or absent:
    /// every type.
    pub event_types: Option<Vec<String>>,
    /// Default `true`. Enabling a disabled endpoint starts its failure count afresh.
    pub enabled: Option<bool>,
}

/// `POST /v1/webhook-endpoints/{id}/rotate-secret`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRotationDraft {
    /// How long the previous secret keeps signing too: 0 to 168 hours, default 24.
    #[schema(minimum = 0, maximum = 168)]
    pub overlap_hours: Option<i64>,
}

pub(crate) fn context<'a>(tenant_id: &'a TenantId, id: &'a WebhookEndpointId) -> VaultContext<'a> {
    signing::context(tenant_id, PURPOSE, id.as_str())
}

/// A webhook URL: http or https, a host, no credentials, at most 2,000 characters. Which
/// hosts a delivery may reach is the sender's to decide (public addresses only in AWS).
fn url(raw: &str) -> fields::Parsed<String> {
    let bad = || {
        "must be an https URL with a host, such as https://partner.example.com/webhooks".to_owned()
    };
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("may not carry a user name or password".into());
    }
    Ok(u.to_string())
}

fn event_types(c: &mut Checks, raw: Option<&Vec<String>>) -> Option<Vec<String>> {
    let raw = raw?;
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        if EVENT_TYPES.contains(&t.as_str()) {
            if !out.contains(t) {
                out.push(t.clone());
            }
        } else {
            c.fail(
                &format!("event_types[{i}]"),
                format!("must be one of {}", EVENT_TYPES.join(", ")),
            );
        }
    }
    Some(out)
}

fn item_of(tenant_id: &TenantId, e: &WebhookEndpoint, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::webhook_endpoint(tenant_id, &e.id), to_data(e)?);
    item.version = version;
    Ok(item)
}

pub(crate) async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &WebhookEndpointId,
) -> Result<(WebhookEndpoint, Item), Error> {
    let item = deps
        .store
        .get(&keys::webhook_endpoint(tenant_id, id))
        .await?
        .ok_or(Error::NotFound("webhook endpoint"))?;
    Ok((from_item(&item)?, item))
}

/// An endpoint as an audit event's target.
pub(crate) fn target(id: &WebhookEndpointId) -> Target {
    Target::new("webhook_endpoint", id)
}

/// Stores a changed endpoint over the version it was read at.
pub(crate) fn put_op(
    tenant_id: &TenantId,
    e: &WebhookEndpoint,
    version: u64,
) -> Result<WriteOp, Error> {
    Ok(WriteOp::Put {
        item: item_of(tenant_id, e, version + 1)?,
        condition: Condition::VersionIs(version),
    })
}

pub async fn create(
    deps: &Deps,
    scope: &TenantScope,
    draft: &WebhookEndpointDraft,
) -> Result<WebhookEndpointWithSecret, Error> {
    let tenant_id = scope.tenant_id();
    let mut c = Checks::new();
    let url = c.required("url", draft.url.as_deref(), url);
    let description = c.optional("description", draft.description.as_deref(), |s| {
        fields::text(s, 200)
    });
    let types = event_types(&mut c, draft.event_types.as_ref());
    c.finish()?;
    let existing = page::all_under(
        deps,
        keys::tenant_partition(tenant_id),
        keys::webhook_endpoints_prefix(),
        MAX_ENDPOINTS,
    )
    .await?;
    if existing.len() >= MAX_ENDPOINTS {
        return Err(Error::conflict(
            crate::error::ProblemKind::EndpointLimitReached,
            format!("a tenant has at most {MAX_ENDPOINTS} webhook endpoints; remove one first"),
        ));
    }
    let now = deps.clock.now();
    let id = WebhookEndpointId::generate();
    let (secret, text) = signing::new_secret(deps, &context(tenant_id, &id), now).await?;
    let endpoint = WebhookEndpoint {
        id,
        url: url.unwrap_or_default(),
        description,
        event_types: types.unwrap_or_default(),
        enabled: draft.enabled.unwrap_or(true),
        disabled_reason: None,
        failing_since: None,
        last_failure_at: None,
        secrets: vec![secret],
        created_at: now,
        updated_at: now,
    };
    // The URL may carry the receiver's token: its name only.
    let entry = Entry::new("webhook_endpoint.created", target(&endpoint.id))
        .fields(["url"])
        .value("event_types", &endpoint.event_types)
        .value("enabled", endpoint.enabled);
    let ops = vec![
        WriteOp::Check {
            key: keys::tenant(tenant_id),
            condition: Condition::Exists,
        },
        WriteOp::create(item_of(tenant_id, &endpoint, 1)?),
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            return Err(Error::NotFound("tenant"));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(WebhookEndpointWithSecret {
        endpoint: endpoint.view(now, 1),
        secret: text,
    })
}

pub async fn get(
    deps: &Deps,
    scope: &TenantScope,
    id: &WebhookEndpointId,
) -> Result<WebhookEndpointView, Error> {
    let (e, item) = load(deps, scope.tenant_id(), id).await?;
    Ok(e.view(deps.clock.now(), item.version))
}

pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<WebhookEndpointView>, Error> {
    let now = deps.clock.now();
    page::list_prefix(
        deps,
        "webhook-endpoints",
        keys::tenant_partition(scope.tenant_id()),
        keys::webhook_endpoints_prefix(),
        limit,
        cursor,
        |item| Ok(from_item::<WebhookEndpoint>(item)?.view(now, item.version)),
    )
    .await
}

/// Changes the URL, description or event types, or turns the endpoint on or off.
pub async fn update(
    deps: &Deps,
    scope: &TenantScope,
    id: &WebhookEndpointId,
    draft: &WebhookEndpointDraft,
    if_version: Option<u64>,
) -> Result<WebhookEndpointView, Error> {
    let tenant_id = scope.tenant_id();
    let mut c = Checks::new();
    let url = c.optional("url", draft.url.as_deref(), url);
    let description = c.optional("description", draft.description.as_deref(), |s| {
        fields::text(s, 200)
    });
    let types = event_types(&mut c, draft.event_types.as_ref());
    c.finish()?;
    let (mut e, item) = load(deps, tenant_id, id).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(format!(
            "the endpoint is at version {}; read it again",
            item.version
        )));
    }
    let before = e.clone();
    if let Some(u) = url {
        if u != e.url {
            // Another receiver: the old one's failures are not its.
            e.failing_since = None;
            e.last_failure_at = None;
        }
        e.url = u;
    }
    if let Some(d) = description {
        e.description = Some(d);
    }
    if let Some(t) = types {
        e.event_types = t;
    }
    if let Some(enabled) = draft.enabled {
        if enabled && !e.enabled {
            // Enabled again: its failures start afresh.
            e.failing_since = None;
            e.last_failure_at = None;
            e.disabled_reason = None;
        }
        e.enabled = enabled;
    }
    let now = deps.clock.now();
    e.updated_at = now;
    let entry = Entry::new("webhook_endpoint.updated", target(id)).diff(&before, &e);
    deps.store
        .transact(vec![
            put_op(tenant_id, &e, item.version)?,
            audit::op(deps, Log::Tenant(tenant_id), entry).await?,
        ])
        .await?;
    Ok(e.view(now, item.version + 1))
}

pub async fn rotate(
    deps: &Deps,
    scope: &TenantScope,
    id: &WebhookEndpointId,
    draft: &WebhookRotationDraft,
) -> Result<WebhookEndpointWithSecret, Error> {
    let tenant_id = scope.tenant_id();
    let overlap = signing::overlap(draft.overlap_hours)?;
    let (mut e, item) = load(deps, tenant_id, id).await?;
    let now = deps.clock.now();
    let (secret, text) = signing::new_secret(deps, &context(tenant_id, id), now).await?;
    e.secrets = signing::rotated(&e.secrets, secret, overlap, now);
    e.updated_at = now;
    let entry =
        Entry::new("webhook_endpoint.secret_rotated", target(id)).value("overlap_hours", overlap);
    deps.store
        .transact(vec![
            put_op(tenant_id, &e, item.version)?,
            audit::op(deps, Log::Tenant(tenant_id), entry).await?,
        ])
        .await?;
    Ok(WebhookEndpointWithSecret {
        endpoint: e.view(now, item.version + 1),
        secret: text,
    })
}

/// Removes the endpoint: messages not delivered to it yet are given up for it.
pub async fn delete(deps: &Deps, scope: &TenantScope, id: &WebhookEndpointId) -> Result<(), Error> {
    let tenant_id = scope.tenant_id();
    let entry = Entry::new("webhook_endpoint.deleted", target(id));
    let ops = vec![
        WriteOp::Delete {
            key: keys::webhook_endpoint(tenant_id, id),
            condition: Condition::Exists,
        },
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::NotFound("webhook endpoint"))
        }
        Err(e) => Err(e.into()),
    }
}

/// One delivery attempt as recorded and listed.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    #[schema(value_type = String, example = "msg_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub message_id: crate::model::ids::WebhookMessageId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub at: DateTime<Utc>,
    /// The answer's status; absent when there was none (refused, timed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// The first 1 KiB of the answer's body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Why there was no answer, or why it was not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub succeeded: bool,
}

/// `GET /v1/webhook-endpoints/{id}/attempts`: the endpoint's delivery attempts, oldest
/// first (kept 30 days).
pub async fn attempts(
    deps: &Deps,
    scope: &TenantScope,
    id: &WebhookEndpointId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<Attempt>, Error> {
    load(deps, scope.tenant_id(), id).await?;
    page::list_prefix(
        deps,
        "webhook-attempts",
        keys::webhook_attempts_partition(scope.tenant_id(), id),
        "",
        limit,
        cursor,
        from_item::<Attempt>,
    )
    .await
}
