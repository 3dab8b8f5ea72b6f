//! Inbound webhook endpoints: where a partner's systems send signed provisioning
//! requests (`POST /hooks/v1/{endpoint_id}`, Standard Webhooks).
//!
//! An endpoint keeps its signing secrets sealed by the vault (HMAC needs the secret
//! itself, so it cannot be a hash), each bound to the tenant and the endpoint. The secret
//! is shown once, when it is made; a rotation makes a new one and keeps the previous one
//! valid for an overlap, so the sender can switch without a gap.
//!
//! A webhook is checked before anything else: a known, enabled endpoint, a body of at
//! most [`MAX_BODY_BYTES`], the signature and the timestamp (five minutes either way).
//! Then the request's envelope and fields are parsed; only a valid request is recorded,
//! with the answer to its `webhook-id` in the same transaction: the same id sent again
//! is answered the same and does nothing more (`service::provisioning`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Entry, Log};
use super::signing::{self, SecretInfo, StoredSecret};
use super::{from_item, page, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::{Error, ProblemKind};
use crate::model::audit::Target;
use crate::model::fields;
use crate::model::ids::{InboundEndpointId, TenantId};
use crate::model::input::Checks;
use crate::ports::{Condition, Item, StoreError, VaultContext, WriteOp};
use crate::store::keys;
use crate::webhooks::{self, Signed};

/// What the endpoints' secrets are sealed for (the vault's context).
pub const PURPOSE: &str = "inbound-endpoint";
/// A webhook's body at most: a provisioning request is a few KB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An inbound endpoint as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InboundEndpoint {
    pub id: InboundEndpointId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    /// The current secret first; during a rotation's overlap, the previous one after it.
    secrets: Vec<StoredSecret>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An inbound endpoint as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InboundEndpointView {
    #[schema(value_type = String, example = "inb_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub id: InboundEndpointId,
    /// Where the partner's system sends its signed webhooks, relative to the API's base
    /// URL; the endpoint is its own authentication (no API key).
    #[schema(example = "/hooks/v1/inb_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A disabled endpoint refuses every webhook (403).
    pub enabled: bool,
    /// The event types it takes.
    pub event_types: Vec<&'static str>,
    /// Its secrets that are still accepted, the current one first.
    pub secrets: Vec<SecretInfo>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For `If-Match`.
    pub version: u64,
}

/// An endpoint just made or rotated: its view and, this once, its new secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: InboundEndpointView,
    /// The signing secret (`whsec_...`), shown this once: keep it in the sending system.
    /// A replay of the same `Idempotency-Key` answers without it.
    #[schema(required = false, example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// `POST /v1/inbound-endpoints`, and `PATCH` of one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundEndpointDraft {
    /// What the endpoint is for (up to 200 characters).
    pub description: Option<String>,
    /// Default `true` when created.
    pub enabled: Option<bool>,
}

/// `POST /v1/inbound-endpoints/{id}/rotate-secret`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationDraft {
    /// How long the previous secret stays accepted: 0 to 168 hours, default 24.
    #[schema(minimum = 0, maximum = 168)]
    pub overlap_hours: Option<i64>,
}

impl InboundEndpoint {
    pub fn view(&self, now: DateTime<Utc>, version: u64) -> InboundEndpointView {
        InboundEndpointView {
            id: self.id.clone(),
            url: format!("/hooks/v1/{}", self.id),
            description: self.description.clone(),
            enabled: self.enabled,
            event_types: super::provisioning::EVENT_TYPES.to_vec(),
            secrets: signing::infos(&self.secrets, now),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version,
        }
    }
}

fn context<'a>(tenant_id: &'a TenantId, id: &'a InboundEndpointId) -> VaultContext<'a> {
    signing::context(tenant_id, PURPOSE, id.as_str())
}

fn description(c: &mut Checks, raw: Option<&str>) -> Option<String> {
    c.optional("description", raw, |s| fields::text(s, 200))
}

fn item_of(tenant_id: &TenantId, e: &InboundEndpoint, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::inbound_endpoint(tenant_id, &e.id), to_data(e)?);
    item.version = version;
    Ok(item)
}

/// Makes an endpoint with its first secret (shown once).
pub async fn create(
    deps: &Deps,
    scope: &TenantScope,
    draft: &InboundEndpointDraft,
) -> Result<EndpointWithSecret, Error> {
    let tenant_id = scope.tenant_id();
    let mut c = Checks::new();
    let description = description(&mut c, draft.description.as_deref());
    c.finish()?;
    let now = deps.clock.now();
    let id = InboundEndpointId::generate();
    let (secret, text) = signing::new_secret(deps, &context(tenant_id, &id), now).await?;
    let endpoint = InboundEndpoint {
        id: id.clone(),
        description,
        enabled: draft.enabled.unwrap_or(true),
        secrets: vec![secret],
        created_at: now,
        updated_at: now,
    };
    let mut owner = serde_json::Map::new();
    owner.insert("tenant_id".into(), serde_json::json!(tenant_id));
    let entry =
        Entry::new("inbound_endpoint.created", target(&id)).value("enabled", endpoint.enabled);
    let ops = vec![
        WriteOp::Check {
            key: keys::tenant(tenant_id),
            condition: Condition::Exists,
        },
        WriteOp::create(item_of(tenant_id, &endpoint, 1)?),
        WriteOp::create(Item::new(keys::inbound_owner(&id), owner)),
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            return Err(Error::NotFound("tenant"));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(EndpointWithSecret {
        endpoint: endpoint.view(now, 1),
        secret: text,
    })
}

fn target(id: &InboundEndpointId) -> Target {
    Target::new("inbound_endpoint", id)
}

/// Stores a changed endpoint over the version it was read at, with the audit event of
/// the change.
async fn save(
    deps: &Deps,
    tenant_id: &TenantId,
    e: &InboundEndpoint,
    version: u64,
    entry: Entry,
) -> Result<(), Error> {
    let ops = vec![
        WriteOp::Put {
            item: item_of(tenant_id, e, version + 1)?,
            condition: Condition::VersionIs(version),
        },
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    deps.store.transact(ops).await?;
    Ok(())
}

async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &InboundEndpointId,
) -> Result<(InboundEndpoint, Item), Error> {
    let item = deps
        .store
        .get(&keys::inbound_endpoint(tenant_id, id))
        .await?
        .ok_or(Error::NotFound("inbound endpoint"))?;
    Ok((from_item(&item)?, item))
}

pub async fn get(
    deps: &Deps,
    scope: &TenantScope,
    id: &InboundEndpointId,
) -> Result<InboundEndpointView, Error> {
    let (e, item) = load(deps, scope.tenant_id(), id).await?;
    Ok(e.view(deps.clock.now(), item.version))
}

pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<InboundEndpointView>, Error> {
    let now = deps.clock.now();
    page::list_prefix(
        deps,
        "inbound-endpoints",
        keys::tenant_partition(scope.tenant_id()),
        keys::inbound_endpoints_prefix(),
        limit,
        cursor,
        |item| Ok(from_item::<InboundEndpoint>(item)?.view(now, item.version)),
    )
    .await
}

/// Changes the description or turns the endpoint on or off.
pub async fn update(
    deps: &Deps,
    scope: &TenantScope,
    id: &InboundEndpointId,
    draft: &InboundEndpointDraft,
    if_version: Option<u64>,
) -> Result<InboundEndpointView, Error> {
    let tenant_id = scope.tenant_id();
    let mut c = Checks::new();
    let description = description(&mut c, draft.description.as_deref());
    c.finish()?;
    let (mut e, item) = load(deps, tenant_id, id).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(format!(
            "the endpoint is at version {}; read it again",
            item.version
        )));
    }
    let before = e.clone();
    if let Some(d) = description {
        e.description = Some(d);
    }
    if let Some(enabled) = draft.enabled {
        e.enabled = enabled;
    }
    let now = deps.clock.now();
    e.updated_at = now;
    let entry = Entry::new("inbound_endpoint.updated", target(id)).diff(&before, &e);
    save(deps, tenant_id, &e, item.version, entry).await?;
    Ok(e.view(now, item.version + 1))
}

/// Makes a new secret (shown once); the previous one stays accepted for the overlap,
/// and any older one goes.
pub async fn rotate(
    deps: &Deps,
    scope: &TenantScope,
    id: &InboundEndpointId,
    draft: &RotationDraft,
) -> Result<EndpointWithSecret, Error> {
    let tenant_id = scope.tenant_id();
    let overlap = signing::overlap(draft.overlap_hours)?;
    let (mut e, item) = load(deps, tenant_id, id).await?;
    let now = deps.clock.now();
    let (secret, text) = signing::new_secret(deps, &context(tenant_id, id), now).await?;
    e.secrets = signing::rotated(&e.secrets, secret, overlap, now);
    e.updated_at = now;
    let entry =
        Entry::new("inbound_endpoint.secret_rotated", target(id)).value("overlap_hours", overlap);
    save(deps, tenant_id, &e, item.version, entry).await?;
    Ok(EndpointWithSecret {
        endpoint: e.view(now, item.version + 1),
        secret: text,
    })
}

/// Removes the endpoint: webhooks to it are 404 from then on. The requests it recorded
/// stay readable.
pub async fn delete(deps: &Deps, scope: &TenantScope, id: &InboundEndpointId) -> Result<(), Error> {
    let tenant_id = scope.tenant_id();
    let entry = Entry::new("inbound_endpoint.deleted", target(id));
    let ops = vec![
        WriteOp::Delete {
            key: keys::inbound_endpoint(tenant_id, id),
            condition: Condition::Exists,
        },
        WriteOp::delete(keys::inbound_owner(id)),
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::NotFound("inbound endpoint")),
        Err(e) => Err(e.into()),
    }
}

/// A webhook that passed the checks: its endpoint's tenant and its message id.
pub struct Verified<'a> {
    pub tenant_id: TenantId,
    pub endpoint_id: InboundEndpointId,
    pub message_id: &'a str,
}

fn refused(e: webhooks::VerifyError) -> Error {
    Error::BadRequest {
        kind: ProblemKind::InvalidSignature,
        detail: e.to_string(),
        field: Some(e.header().to_owned()),
    }
}

/// The checks before anything else: the body is not too big, the headers are there and
/// the timestamp is within the window (no read yet), the endpoint is known and enabled
/// and its tenant active, and the signature is good. Three reads (the endpoint's owner,
/// then the endpoint and the tenant at once) and one vault call per live secret;
/// nothing is written.
pub async fn verify<'a>(
    deps: &Deps,
    endpoint: &str,
    signed: Signed<'a>,
    body: &[u8],
) -> Result<Verified<'a>, Error> {
    let id = InboundEndpointId::parse(endpoint).map_err(|_| Error::NotFound("inbound endpoint"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::bad_request(
            ProblemKind::BodyTooLarge,
            format!("a webhook's body may be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    // The headers' presence and form and the timestamp's window first, against no
    // secret: an unsigned or stale request costs no read and no key service call.
    let now = deps.clock.now();
    match webhooks::verify(&[], signed, body, now.timestamp()) {
        Err(webhooks::VerifyError::NoMatch) => {}
        Err(e) => return Err(refused(e)),
        Ok(_) => return Err(refused(webhooks::VerifyError::NoMatch)),
    }
    let owner = deps
        .store
        .get(&keys::inbound_owner(&id))
        .await?
        .ok_or(Error::NotFound("inbound endpoint"))?;
    let tenant_id = owner
        .data
        .get("tenant_id")
        .and_then(|v| v.as_str())
        .map(TenantId::from_record)
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("an endpoint owner without a tenant")))?;
    let (endpoint, gate) = futures::join!(
        load(deps, &tenant_id, &id),
        super::directory::tenant_gate(deps, &tenant_id)
    );
    let (endpoint, _) = endpoint?;
    // A suspended tenant (by hand, or for an overdue invoice) provisions nothing.
    match gate {
        Ok(false) => {}
        Ok(true) | Err(Error::Unauthenticated) => {
            return Err(Error::Forbidden(
                "the endpoint's tenant is suspended: it provisions nothing until it is active"
                    .into(),
            ));
        }
        Err(e) => return Err(e),
    }
    if !endpoint.enabled {
        return Err(Error::Forbidden(
            "this inbound endpoint is disabled; an owner enables it with PATCH /v1/inbound-endpoints/{id}".into(),
        ));
    }
    let secrets =
        signing::open_live(deps, &context(&tenant_id, &id), &endpoint.secrets, now).await?;
    let message_id = webhooks::verify(&secrets, signed, body, now.timestamp()).map_err(refused)?;
    Ok(Verified {
        tenant_id,
        endpoint_id: id,
        message_id,
    })
}

/// `POST /hooks/v1/{endpoint_id}`: verified first ([`verify`]), then checked, then
/// recorded with the answer to its `webhook-id` (a resend is answered the same).
pub async fn receive(
    deps: &Deps,
    endpoint: &str,
    signed: Signed<'_>,
    body: &[u8],
) -> Result<super::provisioning::Recorded, Error> {
    let verified = verify(deps, endpoint, signed, body).await?;
    let checked = super::provisioning::check(body)?;
    let scope = TenantScope::acting_for(verified.tenant_id);
    let source = super::provisioning::Source::Webhook {
        endpoint_id: verified.endpoint_id,
        message_id: verified.message_id.to_owned(),
    };
    super::provisioning::record(deps, &scope, checked, source).await
}
