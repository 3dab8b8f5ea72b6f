//! Connections: one customer linked to one of its own systems through a connector of
//! the catalog. Tenant staff add one to a customer (`pending`); the customer's contact
//! authorizes it later. A connection lives in its tenant's partition (`CONN#<id>`: one
//! read by id), with a marker in its customer's partition for the customer's list; a
//! purge of the customer removes both.
//!
//! Staff invite the customer's contact: an email with a single-use link to the tenant's
//! branded connect page (`/t/{slug}/connect/{token}`), no login. The link item holds the
//! hash of its token (`CLINK#<hash>`), and the connection the hash of its current link,
//! so a new invite ends the previous one. Credentials entered there (an `api_key`
//! connector's fields, checked first by its check request) are sealed under the tenant,
//! the customer, `connection` and the connection's id; only `POST .../credentials` opens
//! them, and each such read is recorded (`CREAD#<id>#<time>`).

use std::collections::BTreeMap;

pub mod oauth;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::audit::{self, Entry, Log};
use super::connectors::{AuthKind, Connector};
use super::mail::{self, Template};
use super::{commit, connectors, events, from_item, links, page, signing, to_data};
use crate::Deps;
use crate::access::{CustomerScope, TenantScope};
use crate::error::{Error, ProblemKind};
use crate::model::audit::{Actor, ActorKind, Target};
use crate::model::customer::CustomerStatus;
use crate::model::event::EventType;
use crate::model::fields;
use crate::model::ids::{ConnectionId, CustomerId, MemberId, TenantId};
use crate::model::input::Checks;
use crate::ports::{Condition, Item, Sealed, VaultContext, WriteOp};
use crate::store::keys;

/// Connections one customer may have.
pub const MAX_PER_CUSTOMER: usize = 50;
/// The vault purpose of a connection's credentials.
pub const PURPOSE: &str = "connection";
/// How long an invite's link works unless the invite says otherwise, and the bounds.
pub const INVITE_HOURS: i64 = 7 * 24;
const INVITE_MAX_HOURS: i64 = 30 * 24;
/// The longest credential value the connect page takes.
const MAX_VALUE_LEN: usize = 4096;
/// How much of a check request's answer is read (only its status is used).
const CHECK_KEPT_BYTES: usize = 1024;
/// How long a credential read stays listed.
const READ_KEPT_DAYS: i64 = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Waiting for the customer's contact to authorize it.
    Pending,
    /// Credentials stored: the partner's systems may use it.
    Authorized,
    /// The provider no longer accepts the stored grant: invite the contact again.
    ReauthorizationRequired,
}

/// A connection as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub customer_id: CustomerId,
    pub connector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub state: ConnectionState,
    /// Who added it (a staff member's or an API key's id).
    pub created_by: String,
    /// The credentials, sealed under the tenant, `connection` and its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_at: Option<DateTime<Utc>>,
    /// Who sent the invite it was authorized through: told when the authorization
    /// fails later (an `oauth2` grant revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<String>,
    /// An `oauth2` connection's tokens are being refreshed by one reader; others wait
    /// for its result instead of refreshing too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<RefreshLease>,
    /// The current invite, while its link works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<Invite>,
    /// The current connect session (the page embedded in the partner's product), while
    /// its link works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An invite to authorize a connection, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Who sent it (a staff member's or an API key's id): told when it is done.
    pub invited_by: String,
    pub sent_at: DateTime<Utc>,
    /// The hash of its link's token.
    pub link: String,
}

/// The lease of the reader refreshing a connection's tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshLease {
    /// Its reader's own id: only it writes the result.
    pub id: String,
    pub until: DateTime<Utc>,
}

/// A connect session as stored: a link for the partner's own front end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The origin that opens the page (one of the tenant's `allowed_origins`): the only
    /// one that may frame it and that hears its result.
    pub origin: String,
    pub expires_at: DateTime<Utc>,
    /// Who asked for it (a staff member's or an API key's id).
    pub started_by: String,
    /// The hash of its link's token.
    pub link: String,
}

/// An invite as the API shows it (never its link).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InviteView {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub invited_by: String,
    pub sent_at: DateTime<Utc>,
}

/// `POST /v1/connections/{id}/invite`: whom to send the link to (default: the
/// customer's primary contact, else its admin) and how long it works.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteDraft {
    #[schema(example = "it@customer.example.com")]
    pub email: Option<String>,
    #[schema(max_length = 100, example = "Ines")]
    pub name: Option<String>,
    /// 1 to 720 hours (30 days); default 168 (7 days).
    #[schema(minimum = 1, maximum = 720, example = 168)]
    pub expires_in_hours: Option<i64>,
}

/// A connect link's item, under the hash of its token.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ConnectLink {
    connection_id: ConnectionId,
    expires_at: DateTime<Utc>,
}

/// `POST /v1/connections/{id}/credentials`: what the partner's systems use.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Credentials {
    #[schema(value_type = String, example = "con_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub connection_id: ConnectionId,
    #[schema(value_type = String, example = "cus_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub customer_id: CustomerId,
    #[schema(example = "stripe")]
    pub connector: String,
    pub auth: AuthKind,
    /// The credentials as entered: the connector's fields by name.
    #[schema(example = json!({"api_key": "rk_live_..."}))]
    pub credentials: BTreeMap<String, String>,
    pub read_at: DateTime<Utc>,
}

/// What a `connection.authorized` delivery carries (payload version 1): the connection
/// as `GET /v1/connections/{id}` shows it once its credentials are stored (never the
/// credentials).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectionEvent {
    #[serde(rename = "type")]
    #[schema(example = "connection.authorized")]
    pub event_type: String,
    /// When it happened (RFC 3339, UTC).
    #[schema(example = "2026-12-02T10:15:30.123Z")]
    pub timestamp: String,
    pub data: ConnectionView,
}

/// One read of a connection's credentials.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialRead {
    /// Who read them (an owner's API key id or member id).
    pub actor: String,
    pub read_at: DateTime<Utc>,
}

/// `POST /v1/customers/{id}/connections`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionDraft {
    /// A connector's code (`GET /v1/connectors`).
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "hubspot")]
    pub connector: Option<String>,
    /// A name for it among the customer's connections.
    #[schema(max_length = 100, example = "Sales CRM")]
    pub label: Option<String>,
}

/// A connection as the API shows it: never its credentials.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    #[schema(value_type = String, example = "con_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub id: ConnectionId,
    #[schema(value_type = String, example = "cus_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub customer_id: CustomerId,
    #[schema(example = "hubspot")]
    pub connector: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub state: ConnectionState,
    pub created_by: String,
    /// Whether credentials are stored (they are read through `.../credentials` alone).
    pub has_credentials: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorized_at: Option<DateTime<Utc>>,
    /// The invite whose link works now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For `If-Match`.
    pub version: u64,
}

impl Connection {
    pub fn view(&self, version: u64) -> ConnectionView {
        ConnectionView {
            id: self.id.clone(),
            customer_id: self.customer_id.clone(),
            connector: self.connector.clone(),
            label: self.label.clone(),
            state: self.state,
            created_by: self.created_by.clone(),
            has_credentials: self.credentials.is_some(),
            authorized_at: self.authorized_at,
            invite: self.invite.as_ref().map(|i| InviteView {
                email: i.email.clone(),
                name: i.name.clone(),
                expires_at: i.expires_at,
                invited_by: i.invited_by.clone(),
                sent_at: i.sent_at,
            }),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version,
        }
    }
}

fn item_of(tenant_id: &TenantId, c: &Connection, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::connection(tenant_id, &c.id), to_data(c)?);
    item.version = version;
    Ok(item)
}

/// The audit event of `action` on a connection: in its customer's history too.
fn entry(action: &str, c: &Connection) -> Entry {
    Entry::new(action, Target::new("connection", &c.id)).customer(&c.customer_id)
}

/// The tenant's connection `id`.
pub(crate) async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &ConnectionId,
) -> Result<(Connection, Item), Error> {
    let item = deps
        .store
        .get(&keys::connection(tenant_id, id))
        .await?
        .ok_or(Error::NotFound("connection"))?;
    Ok((from_item(&item)?, item))
}

pub async fn create(
    deps: &Deps,
    scope: &CustomerScope,
    actor: &str,
    draft: &ConnectionDraft,
) -> Result<ConnectionView, Error> {
    let tenant_id = scope.tenant_id();
    let (connection, mut ops) = new_connection(deps, scope, actor, draft).await?;
    ops.push(WriteOp::create(item_of(tenant_id, &connection, 1)?));
    let e = entry("connection.created", &connection).value("connector", &connection.connector);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), e).await?);
    commit(deps, ops).await?;
    Ok(connection.view(1))
}

/// A new `pending` connection of the customer, checked, and the writes that go with
/// its item (the customer's marker, a check that the customer is as read); the caller
/// adds the item itself.
async fn new_connection(
    deps: &Deps,
    scope: &CustomerScope,
    actor: &str,
    draft: &ConnectionDraft,
) -> Result<(Connection, Vec<WriteOp>), Error> {
    let holder = holder_of(deps, scope).await?;
    new_connection_of(deps, scope, &holder, actor, draft).await
}

/// A customer as a new connection is checked against: the customer, its profile item
/// and its connections' markers.
struct Holder {
    customer: crate::model::customer::Customer,
    profile: Item,
    markers: Vec<Item>,
}

/// The customer's holder; another tenant's customer is 404.
async fn holder_of(deps: &Deps, scope: &CustomerScope) -> Result<Holder, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let (customer, profile) = super::load_customer(deps, tenant_id, customer_id).await?;
    let markers = page::all_under(
        deps,
        keys::customer_partition(tenant_id, customer_id),
        keys::connections_prefix(),
        MAX_PER_CUSTOMER,
    )
    .await?;
    Ok(Holder {
        customer,
        profile,
        markers,
    })
}

/// `new_connection`, the customer already read.
async fn new_connection_of(
    deps: &Deps,
    scope: &CustomerScope,
    holder: &Holder,
    actor: &str,
    draft: &ConnectionDraft,
) -> Result<(Connection, Vec<WriteOp>), Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    let Holder {
        customer,
        profile,
        markers,
    } = holder;
    let mut c = Checks::new();
    let code = c.required("connector", draft.connector.as_deref(), fields::code);
    let label = c.optional("label", draft.label.as_deref(), |s| fields::text(s, 100));
    c.finish()?;
    let code = code.unwrap_or_default();
    if connectors::find(deps, &code).await?.is_none() {
        return Err(Error::invalid(
            "connector",
            "names no connector of the catalog (GET /v1/connectors lists them)",
        ));
    }
    if customer.status == CustomerStatus::Deleted {
        return Err(Error::conflict(
            ProblemKind::CustomerDeleted,
            "a deleted customer gets no connections; restore it first",
        ));
    }
    if markers.len() >= MAX_PER_CUSTOMER {
        return Err(Error::conflict(
            ProblemKind::ConnectionLimitReached,
            format!("a customer has at most {MAX_PER_CUSTOMER} connections; delete one first"),
        ));
    }
    let now = deps.clock.now();
    let connection = Connection {
        id: ConnectionId::generate(),
        customer_id: customer_id.clone(),
        connector: code,
        label,
        state: ConnectionState::Pending,
        created_by: actor.to_owned(),
        credentials: None,
        authorized_at: None,
        invited_by: None,
        refresh: None,
        invite: None,
        session: None,
        created_at: now,
        updated_at: now,
    };
    let ops = vec![
        WriteOp::create(Item::marker(keys::customer_connection(
            tenant_id,
            customer_id,
            &connection.id,
        ))),
        // The customer is still there, and was not deleted meanwhile.
        WriteOp::Check {
            key: profile.key(),
            condition: Condition::VersionIs(profile.version),
        },
    ];
    Ok((connection, ops))
}

pub async fn get(
    deps: &Deps,
    scope: &TenantScope,
    id: &ConnectionId,
) -> Result<ConnectionView, Error> {
    let (c, item) = load(deps, scope.tenant_id(), id).await?;
    Ok(c.view(item.version))
}

/// `GET /v1/connections`: the tenant's connections, oldest first.
pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<ConnectionView>, Error> {
    page::list_prefix(
        deps,
        "connections",
        keys::tenant_partition(scope.tenant_id()),
        keys::connections_prefix(),
        limit,
        cursor,
        |item| Ok(from_item::<Connection>(item)?.view(item.version)),
    )
    .await
}

/// `GET /v1/customers/{id}/connections`: one customer's, from its markers.
pub async fn list_of_customer(
    deps: &Deps,
    scope: &CustomerScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<ConnectionView>, Error> {
    let (tenant_id, customer_id) = (scope.tenant_id(), scope.customer_id());
    super::load_customer(deps, tenant_id, customer_id).await?;
    let (markers, next_cursor) = page::prefix_page(
        deps,
        "customer-connections",
        keys::customer_partition(tenant_id, customer_id),
        keys::connections_prefix(),
        limit,
        cursor,
    )
    .await?;
    let data = of_markers(deps, tenant_id, &markers)
        .await?
        .iter()
        .map(|item| Ok(from_item::<Connection>(item)?.view(item.version)))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(page::Page { data, next_cursor })
}

/// The connections a customer's markers name, in the markers' order (oldest first);
/// a marker whose connection is gone is skipped.
async fn of_markers(
    deps: &Deps,
    tenant_id: &TenantId,
    markers: &[Item],
) -> Result<Vec<Item>, Error> {
    let wanted: Vec<_> = markers
        .iter()
        .filter_map(|m| keys::connection_id_of(&m.sk))
        .map(|id| keys::connection(tenant_id, &id))
        .collect();
    let mut found = deps.store.get_many(&wanted).await?;
    found.sort_by(|a, b| a.sk.cmp(&b.sk));
    Ok(found)
}

/// `DELETE /v1/connections/{id}`: the connection and its credentials are gone.
pub async fn delete(deps: &Deps, scope: &TenantScope, id: &ConnectionId) -> Result<(), Error> {
    let tenant_id = scope.tenant_id();
    let (c, item) = load(deps, tenant_id, id).await?;
    let mut ops = vec![
        WriteOp::Delete {
            key: item.key(),
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::delete(keys::customer_connection(tenant_id, &c.customer_id, id)),
    ];
    ops.extend(links_of(tenant_id, &c, None));
    let e = entry("connection.deleted", &c);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), e).await?);
    commit(deps, ops).await
}

/// A new connect link to connection `id` until `expires_at`: its token (for the email
/// or the session's URL), its hash, and the writes that make it and end the link it
/// replaces (`before`, a hash).
fn new_link(
    tenant_id: &TenantId,
    id: &ConnectionId,
    expires_at: DateTime<Utc>,
    before: Option<&str>,
) -> Result<(String, String, Vec<WriteOp>), Error> {
    let token = links::random_token();
    let hash = links::token_hash(&token);
    let mut link = Item::new(
        keys::connect_link(tenant_id, &hash),
        to_data(&ConnectLink {
            connection_id: id.clone(),
            expires_at,
        })?,
    );
    link.expires_at = Some(expires_at.timestamp());
    let mut ops: Vec<WriteOp> = before
        .map(|h| WriteOp::delete(keys::connect_link(tenant_id, h)))
        .into_iter()
        .collect();
    ops.push(WriteOp::create(link));
    Ok((token, hash, ops))
}

/// The deletes of a connection's working links (its invite's, its session's), but
/// `except` (a hash).
fn links_of<'a>(
    tenant_id: &'a TenantId,
    c: &'a Connection,
    except: Option<&'a str>,
) -> impl Iterator<Item = WriteOp> + 'a {
    let invite = c.invite.as_ref().map(|i| i.link.as_str());
    let session = c.session.as_ref().map(|s| s.link.as_str());
    invite
        .into_iter()
        .chain(session)
        .filter(move |h| Some(*h) != except)
        .map(move |h| WriteOp::delete(keys::connect_link(tenant_id, h)))
}

fn put_over(tenant_id: &TenantId, c: &Connection, version: u64) -> Result<WriteOp, Error> {
    Ok(WriteOp::Put {
        item: item_of(tenant_id, c, version + 1)?,
        condition: Condition::VersionIs(version),
    })
}

/// The connector a connection names, still in the catalog.
async fn connector_of(deps: &Deps, c: &Connection) -> Result<Connector, Error> {
    connectors::find(deps, &c.connector)
        .await?
        .map(|(k, _)| k)
        .ok_or_else(|| {
            Error::conflict(
                ProblemKind::ConnectorUnavailable,
                format!(
                    "the connector {} is no longer in the catalog; delete this connection",
                    c.connector
                ),
            )
        })
}

fn day_and_time(t: DateTime<Utc>) -> String {
    t.format("%-d %B %Y, %H:%M UTC").to_string()
}

/// `POST /v1/connections/{id}/invite`: emails the customer's contact a link to the
/// connect page, valid `expires_in_hours`; a link sent before stops working.
/// `invite` in a support session: only a connection of the session's own customer
/// (another's looks absent); the staff member's role was checked by `authorize`.
pub async fn invite_in_customer(
    deps: &Deps,
    scope: &crate::access::CustomerScope,
    actor: &str,
    id: &ConnectionId,
    draft: &InviteDraft,
) -> Result<ConnectionView, Error> {
    let (c, _) = load(deps, scope.tenant_id(), id).await?;
    if c.customer_id != *scope.customer_id() {
        return Err(Error::NotFound("connection"));
    }
    let tenant = TenantScope::acting_for(scope.tenant_id().clone());
    invite(deps, &tenant, actor, id, draft).await
}

pub async fn invite(
    deps: &Deps,
    scope: &TenantScope,
    actor: &str,
    id: &ConnectionId,
    draft: &InviteDraft,
) -> Result<ConnectionView, Error> {
    let tenant_id = scope.tenant_id();
    // Another tenant's connection is 404 whatever the body.
    let (mut c, item) = load(deps, tenant_id, id).await?;
    let mut checks = Checks::new();
    let email = checks.optional("email", draft.email.as_deref(), fields::email);
    let name = checks.optional("name", draft.name.as_deref(), |s| fields::text(s, 100));
    let hours = draft.expires_in_hours.unwrap_or(INVITE_HOURS);
    if !(1..=INVITE_MAX_HOURS).contains(&hours) {
        checks.fail(
            "expires_in_hours",
            format!("must be from 1 to {INVITE_MAX_HOURS} hours (30 days)"),
        );
    }
    checks.finish()?;
    let (customer, connector) = futures::future::join(
        super::load_customer(deps, tenant_id, &c.customer_id),
        connector_of(deps, &c),
    )
    .await;
    let (customer, _) = customer?;
    if customer.status == CustomerStatus::Deleted {
        return Err(Error::conflict(
            ProblemKind::CustomerDeleted,
            "the customer is deleted; restore it first",
        ));
    }
    let connector = connector?;
    let contact = customer.primary_contact.as_ref();
    let to = email
        .or_else(|| contact.and_then(|p| p.email.clone()))
        .unwrap_or_else(|| customer.admin.email.clone());
    let name = name
        .or_else(|| contact.and_then(|p| p.name.clone()))
        .or_else(|| Some(customer.admin.first_name.clone()));
    let now = deps.clock.now();
    let expires_at = now + Duration::hours(hours);
    let before = c.invite.as_ref().map(|i| i.link.as_str());
    let (token, hash, mut ops) = new_link(tenant_id, &c.id, expires_at, before)?;
    let mut context = Map::new();
    context.insert("name".into(), json!(name.clone().unwrap_or_default()));
    context.insert("company_name".into(), json!(customer.company.name));
    context.insert("connector_name".into(), json!(connector.name));
    context.insert("expires".into(), json!(day_and_time(expires_at)));
    context.insert("link_token".into(), json!(token));
    ops.extend(mail::enqueue(
        tenant_id,
        Template::ConnectionInvite,
        &to,
        context,
        now,
    )?);
    c.invite = Some(Invite {
        email: to,
        name,
        expires_at,
        invited_by: actor.to_owned(),
        sent_at: now,
        link: hash,
    });
    c.updated_at = now;
    ops.push(put_over(tenant_id, &c, item.version)?);
    // Whom it went to stays out: the invite's fields by name.
    let e = entry("connection.invited", &c)
        .fields(["invite.email", "invite.name"])
        .value("expires_in_hours", hours);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), e).await?);
    commit(deps, ops).await?;
    Ok(c.view(item.version + 1))
}

/// How long a connect session's link works.
pub const SESSION_MINUTES: i64 = 30;

/// `POST /v1/connect-sessions`: a connect page for the partner's own front end to open
/// (in a frame or a pop-up), for a new connection of a customer (`customer_id`,
/// `connector`) or to authorize an existing one again (`connection_id`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionDraft {
    #[schema(example = "cus_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub customer_id: Option<String>,
    /// A connector's code (`GET /v1/connectors`), with `customer_id`.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "hubspot")]
    pub connector: Option<String>,
    /// With `customer_id`: a name for the new connection.
    #[schema(max_length = 100, example = "Sales CRM")]
    pub label: Option<String>,
    /// Instead of `customer_id` and `connector`: a connection to authorize again.
    #[schema(example = "con_0197b2a7f3b27e5d8c6f708192a3b4c5")]
    pub connection_id: Option<String>,
    /// The origin that opens the page: one of the tenant's `allowed_origins` (default:
    /// the only one).
    #[schema(example = "https://app.partner.example.com")]
    pub origin: Option<String>,
}

/// A connect session: its page's `url` (the token is in it: hand it to the front end
/// only), until `expires_at`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectSession {
    #[schema(
        example = "https://api.example.com/t/acme/connect/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )]
    pub url: String,
    pub expires_at: DateTime<Utc>,
    /// The page may be framed by this origin alone, and posts its result to it.
    #[schema(example = "https://app.partner.example.com")]
    pub origin: String,
    pub connection: ConnectionView,
}

/// The origin a session is for: the one named, among the tenant's, else its only one.
fn session_origin(named: Option<String>, allowed: &[String]) -> Result<String, Error> {
    match (named, allowed) {
        (_, []) => Err(Error::conflict(
            ProblemKind::NoAllowedOrigins,
            "the tenant lists no origin that may open its connect page; PUT /v1/allowed-origins first",
        )),
        (Some(o), list) if list.contains(&o) => Ok(o),
        (Some(_), _) => Err(Error::invalid(
            "origin",
            "is not one of the tenant's allowed_origins (GET /v1/allowed-origins)",
        )),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(Error::invalid(
            "origin",
            "is required: the tenant lists several allowed_origins",
        )),
    }
}

/// `POST /v1/connect-sessions`: a single-use link for the partner's front end, 30
/// minutes; a session made before for the same connection stops working.
pub async fn start_session(
    deps: &Deps,
    scope: &TenantScope,
    actor: &str,
    draft: &SessionDraft,
    public_base: &str,
) -> Result<ConnectSession, Error> {
    let tenant_id = scope.tenant_id();
    let mut checks = Checks::new();
    let by_id = checks.optional("connection_id", draft.connection_id.as_deref(), |s| {
        ConnectionId::parse(s).map_err(|_| "must be a connection id (con_...)".to_string())
    });
    let customer = checks.optional("customer_id", draft.customer_id.as_deref(), |s| {
        CustomerId::parse(s).map_err(|_| "must be a customer id (cus_...)".to_string())
    });
    let origin = checks.optional("origin", draft.origin.as_deref(), fields::origin);
    let label = checks.optional("label", draft.label.as_deref(), |s| fields::text(s, 100));
    match (&draft.connection_id, &draft.customer_id) {
        (Some(_), Some(_)) => checks.fail(
            "connection_id",
            "either connection_id, or customer_id and connector: not both",
        ),
        (Some(_), None) if draft.connector.is_some() || draft.label.is_some() => checks.fail(
            "connector",
            "belongs with customer_id; leave it out with connection_id",
        ),
        (None, None) => checks.fail(
            "customer_id",
            "is required (or connection_id, to authorize a connection again)",
        ),
        _ => {}
    }
    checks.finish()?;
    let (tenant, _) = super::tenants::load(deps, tenant_id).await?;
    let origin = session_origin(origin, &tenant.allowed_origins)?;
    // The connection: an existing one (its item's version), or a new one (0) with the
    // writes that go with it.
    let (mut c, version, mut ops) = if let Some(id) = by_id {
        let (c, item) = load(deps, tenant_id, &id).await?;
        let (customer, connector) = futures::future::join(
            super::load_customer(deps, tenant_id, &c.customer_id),
            connector_of(deps, &c),
        )
        .await;
        if customer?.0.status == CustomerStatus::Deleted {
            return Err(Error::conflict(
                ProblemKind::CustomerDeleted,
                "the customer is deleted; restore it first",
            ));
        }
        connector?;
        (c, item.version, Vec::new())
    } else {
        let customer_id = customer.unwrap_or_else(|| unreachable!("checked above"));
        let customer =
            crate::access::customer_of(&crate::access::Scope::Tenant(scope.clone()), customer_id)?;
        let draft = ConnectionDraft {
            connector: draft.connector.clone(),
            label: draft.label.clone(),
        };
        // The connection a session made before and nobody completed, if any: a front
        // end that asks for a session on each visit does not pile connections up.
        let holder = holder_of(deps, &customer).await?;
        match unfinished(deps, &customer, &holder, draft.connector.as_deref()).await? {
            Some((mut c, version, check)) => {
                if label.is_some() {
                    c.label = label;
                }
                (c, version, vec![check])
            }
            None => {
                let (c, ops) = new_connection_of(deps, &customer, &holder, actor, &draft).await?;
                (c, 0, ops)
            }
        }
    };
    let now = deps.clock.now();
    let expires_at = now + Duration::minutes(SESSION_MINUTES);
    let before = c.session.as_ref().map(|s| s.link.as_str());
    let (token, hash, link_ops) = new_link(tenant_id, &c.id, expires_at, before)?;
    ops.extend(link_ops);
    c.session = Some(Session {
        origin: origin.clone(),
        expires_at,
        started_by: actor.to_owned(),
        link: hash,
    });
    c.updated_at = now;
    ops.push(if version == 0 {
        WriteOp::create(item_of(tenant_id, &c, 1)?)
    } else {
        put_over(tenant_id, &c, version)?
    });
    let e = entry("connect_session.created", &c)
        .value("origin", &origin)
        .value("connection_created", version == 0);
    ops.push(audit::op(deps, Log::Tenant(tenant_id), e).await?);
    commit(deps, ops).await?;
    Ok(ConnectSession {
        url: format!("{public_base}/t/{}/connect/{token}", tenant.slug),
        expires_at,
        origin,
        connection: c.view(version + 1),
    })
}

/// The customer's connection to `connector` that a session made and nobody
/// completed (still `pending`, no invite, no credentials), its version, and a check
/// that the customer is as read; none when there is no such connection, or the
/// customer is deleted.
async fn unfinished(
    deps: &Deps,
    scope: &CustomerScope,
    holder: &Holder,
    connector: Option<&str>,
) -> Result<Option<(Connection, u64, WriteOp)>, Error> {
    let Some(code) = connector else {
        return Ok(None);
    };
    if holder.customer.status == CustomerStatus::Deleted {
        return Ok(None);
    }
    for item in of_markers(deps, scope.tenant_id(), &holder.markers).await? {
        let c: Connection = from_item(&item)?;
        if c.connector == code
            && c.session.is_some()
            && c.state == ConnectionState::Pending
            && c.credentials.is_none()
            && c.invite.is_none()
        {
            // Its connector is still in the catalog.
            connector_of(deps, &c).await?;
            let check = WriteOp::Check {
                key: holder.profile.key(),
                condition: Condition::VersionIs(holder.profile.version),
            };
            return Ok(Some((c, item.version, check)));
        }
    }
    Ok(None)
}

/// `DELETE /v1/connections/{id}/invite`: the link stops working at once.
pub async fn end_invite(deps: &Deps, scope: &TenantScope, id: &ConnectionId) -> Result<(), Error> {
    let tenant_id = scope.tenant_id();
    let (mut c, item) = load(deps, tenant_id, id).await?;
    let Some(invite) = c.invite.take() else {
        return Ok(());
    };
    c.updated_at = deps.clock.now();
    let e = entry("connection.invite_ended", &c);
    commit(
        deps,
        vec![
            put_over(tenant_id, &c, item.version)?,
            WriteOp::delete(keys::connect_link(tenant_id, &invite.link)),
            audit::op(deps, Log::Tenant(tenant_id), e).await?,
        ],
    )
    .await
}

/// What the connect page shows, from a link that still works.
pub struct ConnectPage {
    pub connection: Connection,
    pub connector: Connector,
    pub company_name: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// A connect session's link: the origin embedding the page (none: an invite's).
    pub embedded_by: Option<String>,
    version: u64,
    link: Item,
    /// The hash of the link's token.
    link_hash: String,
    /// The customer's profile as read: the authorization commits only if it is still
    /// so (not deleted meanwhile).
    profile: Item,
}

/// The connect page behind `token` in this tenant, if its link still works (opening it
/// changes nothing: mail scanners open links). A connect session's link works only
/// while its origin is among the tenant's `allowed_origins` (the caller has read the
/// tenant for its branding): an origin the owner removed stops its open sessions.
pub async fn open_link(
    deps: &Deps,
    tenant_id: &TenantId,
    allowed_origins: &[String],
    token: &str,
) -> Result<Option<ConnectPage>, Error> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    open_link_hash(deps, tenant_id, allowed_origins, &links::token_hash(token)).await
}

/// The connect page of the link whose token hashes to `hash`, if it still works.
async fn open_link_hash(
    deps: &Deps,
    tenant_id: &TenantId,
    allowed_origins: &[String],
    hash: &str,
) -> Result<Option<ConnectPage>, Error> {
    let hash = hash.to_owned();
    let Some(link) = deps
        .store
        .get(&keys::connect_link(tenant_id, &hash))
        .await?
    else {
        return Ok(None);
    };
    let l: ConnectLink = from_item(&link)?;
    if l.expires_at <= deps.clock.now() {
        return Ok(None);
    }
    let Some(item) = deps
        .store
        .get(&keys::connection(tenant_id, &l.connection_id))
        .await?
    else {
        return Ok(None);
    };
    let connection: Connection = from_item(&item)?;
    let invited = connection.invite.as_ref().is_some_and(|i| i.link == hash);
    let session = connection.session.as_ref().filter(|s| s.link == hash);
    if !invited && session.is_none() {
        return Ok(None);
    }
    if session.is_some_and(|s| !allowed_origins.contains(&s.origin)) {
        return Ok(None);
    }
    let embedded_by = session.map(|s| s.origin.clone());
    // The customer and the connector, read at once.
    let (customer, connector) = futures::future::join(
        super::load_customer(deps, tenant_id, &connection.customer_id),
        connectors::find(deps, &connection.connector),
    )
    .await;
    let (customer, profile) = match customer {
        Ok(found) => found,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if customer.status == CustomerStatus::Deleted {
        return Ok(None);
    }
    let Some((connector, _)) = connector? else {
        return Ok(None);
    };
    Ok(Some(ConnectPage {
        connection,
        connector,
        company_name: customer.company.name,
        expires_at: l.expires_at,
        embedded_by,
        version: item.version,
        link,
        link_hash: hash,
        profile,
    }))
}

/// What became of credentials entered on the connect page.
pub enum Submitted {
    /// Stored: the connection is authorized.
    Authorized(Box<ConnectionView>),
    /// The connector's check refused them (or could not be reached): the page says
    /// why, and its link still works.
    NotAccepted(String),
}

/// The vault context of a connection's credentials: its tenant, its customer, its id.
fn context<'a>(tenant_id: &'a TenantId, c: &'a Connection) -> VaultContext<'a> {
    VaultContext::of_customer(tenant_id, &c.customer_id, PURPOSE, c.id.as_str())
}

/// The connect page's form for an `api_key` connector: each field filled, the check
/// request answering 2xx, then the credentials sealed and the connection authorized,
/// in one transaction that uses the link up.
pub async fn submit_api_key(
    deps: &Deps,
    tenant_id: &TenantId,
    page: &ConnectPage,
    values: &BTreeMap<String, String>,
) -> Result<Submitted, Error> {
    let connector = &page.connector;
    if connector.auth != AuthKind::ApiKey {
        return Err(Error::conflict(
            ProblemKind::ConnectorUnavailable,
            "this connector does not take credentials on this page",
        ));
    }
    let mut checks = Checks::new();
    let mut credentials = BTreeMap::new();
    for f in &connector.fields {
        let value = values.get(&f.name).map(|v| v.trim()).unwrap_or_default();
        if value.is_empty() {
            checks.fail(&f.name, format!("{} is required", f.label));
        } else if value == "." || value == ".." {
            // In a URL's path it would be a segment of its own.
            checks.fail(&f.name, format!("{} is not a valid value", f.label));
        } else if value.len() > MAX_VALUE_LEN || value.chars().any(char::is_control) {
            checks.fail(
                &f.name,
                format!(
                    "{} must be one line of at most {MAX_VALUE_LEN} characters",
                    f.label
                ),
            );
        } else {
            credentials.insert(f.name.clone(), value.to_owned());
        }
    }
    checks.finish()?;
    if let Some(check) = &connector.check {
        let (url, headers, body) = connectors::filled_check(check, &credentials);
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let answer = deps
            .outbound()?
            .request(
                &check.method,
                &url,
                &headers,
                body.as_deref().map(str::as_bytes),
                CHECK_KEPT_BYTES,
            )
            .await;
        match answer {
            Ok(a) if (200..300).contains(&a.status) => {}
            Ok(a) => {
                return Ok(Submitted::NotAccepted(format!(
                    "{} did not accept these credentials (it answered {}). Check them and try again.",
                    connector.name, a.status
                )));
            }
            Err(e) => {
                tracing::warn!(connector = %connector.code, error = %e, "a connector's check failed");
                return Ok(Submitted::NotAccepted(format!(
                    "{} could not be reached to check these credentials. Try again in a moment.",
                    connector.name
                )));
            }
        }
    }
    let view = authorize(deps, tenant_id, page, &credentials).await?;
    Ok(Submitted::Authorized(Box::new(view)))
}

/// Stores credentials obtained through a connect link (fields entered, or an OAuth
/// grant's tokens): sealed, the connection `authorized`, the link used up, a
/// `connection.authorized` event and the confirmation email, in one transaction.
async fn authorize(
    deps: &Deps,
    tenant_id: &TenantId,
    page: &ConnectPage,
    credentials: &BTreeMap<String, String>,
) -> Result<ConnectionView, Error> {
    let ConnectPage {
        connection,
        connector,
        company_name,
        version,
        link,
        profile,
        ..
    } = page;
    let (mut connection, version) = (connection.clone(), *version);
    let plain = serde_json::to_vec(credentials).map_err(anyhow::Error::from)?;
    let sealed = deps
        .vault()?
        .seal(&context(tenant_id, &connection), &plain)
        .await
        .map_err(signing::vault_failed)?;
    let now = deps.clock.now();
    // The other link (an invite's beside a session's) ends too.
    let other_links: Vec<WriteOp> =
        links_of(tenant_id, &connection, Some(page.link_hash.as_str())).collect();
    let invite = connection
        .invite
        .take()
        .filter(|i| i.link == page.link_hash);
    let session = connection
        .session
        .take()
        .filter(|s| s.link == page.link_hash);
    connection.credentials = Some(sealed);
    connection.state = ConnectionState::Authorized;
    connection.authorized_at = Some(now);
    connection.invited_by = invite
        .as_ref()
        .map(|i| i.invited_by.clone())
        .or_else(|| session.as_ref().map(|s| s.started_by.clone()));
    connection.refresh = None;
    connection.updated_at = now;
    let view = connection.view(version + 1);
    let mut ops = vec![
        put_over(tenant_id, &connection, version)?,
        // Used up: a second submission (or one racing this) fails here.
        WriteOp::Delete {
            key: link.key(),
            condition: Condition::VersionIs(link.version),
        },
        // The customer is as the page found it (not deleted meanwhile).
        WriteOp::Check {
            key: profile.key(),
            condition: Condition::VersionIs(profile.version),
        },
    ];
    ops.extend(other_links);
    ops.extend(events::emit(
        tenant_id,
        EventType::ConnectionAuthorized,
        &view,
        now,
    )?);
    // The page has no principal: whoever holds the link acted.
    let through = if invite.is_some() {
        "invite"
    } else {
        "session"
    };
    let e = entry("connection.authorized", &connection)
        .value("state", connection.state)
        .value("through", through)
        .by(Actor::new(ActorKind::LinkHolder, connection.id.as_str()));
    ops.push(audit::op(deps, Log::Tenant(tenant_id), e).await?);
    // An invite's inviter hears of it by email; a session's result goes to the page
    // that opened it (no email).
    let inviter = invite.as_ref().map(|i| i.invited_by.as_str());
    let to = match inviter {
        Some(_) => confirmation_to(deps, tenant_id, inviter).await?,
        None => None,
    };
    if let Some(to) = to {
        let mut context = Map::new();
        context.insert("company_name".into(), json!(company_name));
        context.insert("connector_name".into(), json!(connector.name));
        context.insert("connection_id".into(), json!(connection.id));
        context.insert("label".into(), json!(connection.label));
        ops.extend(mail::enqueue(
            tenant_id,
            Template::ConnectionAuthorized,
            &to,
            context,
            now,
        )?);
    }
    // The link was used up, or the connection or the customer changed, meanwhile: a
    // 409, and the page is read again (a link that still works says "try again").
    commit(deps, ops).await?;
    Ok(view)
}

/// Who hears that a connection was authorized: the staff member who invited, else the
/// tenant's contact; nobody when neither has an address.
async fn confirmation_to(
    deps: &Deps,
    tenant_id: &TenantId,
    invited_by: Option<&str>,
) -> Result<Option<String>, Error> {
    if let Some(member) = invited_by.and_then(|i| MemberId::parse(i).ok()) {
        match super::members::load(deps, tenant_id, &member).await {
            Ok((m, _)) => return Ok(Some(m.email)),
            // Removed since it invited: the tenant's contact hears of it instead.
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let (tenant, _) = super::directory::load(deps, tenant_id).await?;
    Ok(tenant.contact.and_then(|c| c.email))
}

/// `POST /v1/connections/{id}/credentials`: the credentials, opened, for the partner's
/// systems; the read is recorded first (who, when), so none goes unrecorded. An
/// `oauth2` connection's access token is refreshed first when it expires within a
/// minute; its refresh token is never answered (Tenantry keeps the grant).
pub async fn credentials(
    deps: &Deps,
    scope: &TenantScope,
    actor: &str,
    id: &ConnectionId,
) -> Result<Credentials, Error> {
    let tenant_id = scope.tenant_id();
    let (c, item) = load(deps, tenant_id, id).await?;
    let Some(sealed) = authorized_credentials(&c)? else {
        return Err(not_authorized(&c));
    };
    let (customer, connector) = futures::future::join(
        super::load_customer(deps, tenant_id, &c.customer_id),
        connector_of(deps, &c),
    )
    .await;
    let (customer, _) = customer?;
    if customer.status == CustomerStatus::Deleted {
        return Err(Error::conflict(
            ProblemKind::CustomerDeleted,
            "the customer is deleted; its connections are not used",
        ));
    }
    let connector = connector?;
    let now = deps.clock.now();
    let read = CredentialRead {
        actor: actor.to_owned(),
        read_at: now,
    };
    let mut record = Item::new(
        keys::credential_read(tenant_id, id, now, &links::random_token()[..8]),
        to_data(&read)?,
    );
    record.expires_at = Some((now + Duration::days(READ_KEPT_DAYS)).timestamp());
    // The request's one event, whatever a refresh below does to the tokens.
    let e = entry("connection.credentials_read", &c).value("connector", &c.connector);
    deps.store
        .transact(vec![
            WriteOp::create(record),
            audit::op(deps, Log::Tenant(tenant_id), e).await?,
        ])
        .await?;
    let mut credentials = open_credentials(deps, tenant_id, &c, sealed).await?;
    if connector.auth == AuthKind::Oauth2 {
        if oauth::due_for_refresh(&credentials, now) {
            credentials = refreshed(
                deps,
                tenant_id,
                &connector,
                c.clone(),
                item.version,
                credentials,
            )
            .await?;
        }
        credentials.remove("refresh_token");
    }
    Ok(Credentials {
        connection_id: c.id,
        customer_id: c.customer_id,
        connector: c.connector,
        auth: connector.auth,
        credentials,
        read_at: now,
    })
}

/// The sealed credentials of an authorized connection (none otherwise).
fn authorized_credentials(c: &Connection) -> Result<Option<&Sealed>, Error> {
    Ok(match (c.credentials.as_ref(), c.state) {
        (Some(sealed), ConnectionState::Authorized) => Some(sealed),
        _ => None,
    })
}

fn not_authorized(c: &Connection) -> Error {
    if c.state == ConnectionState::ReauthorizationRequired {
        Error::conflict(
            ProblemKind::ReauthorizationRequired,
            "the provider no longer accepts this connection's authorization; invite the customer's contact to authorize it again",
        )
    } else {
        Error::conflict(
            ProblemKind::ConnectionNotAuthorized,
            "the connection has no credentials; invite the customer's contact to authorize it",
        )
    }
}

async fn open_credentials(
    deps: &Deps,
    tenant_id: &TenantId,
    c: &Connection,
    sealed: &Sealed,
) -> Result<BTreeMap<String, String>, Error> {
    let plain = deps
        .vault()?
        .open(&context(tenant_id, c), sealed)
        .await
        .map_err(signing::vault_failed)?;
    serde_json::from_slice(&plain)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("stored credentials: {e}")))
}

/// How long one reader holds the refresh of a connection's tokens.
const REFRESH_LEASE_SECONDS: i64 = 30;

/// Refreshes an `oauth2` connection's tokens, one reader at a time: the reader that
/// marks the connection with its own refresh lease (a conditional
/// write) asks the provider; the others wait for its result, so a rotating refresh
/// token is used once. A grant the provider no longer accepts (`invalid_grant`) makes
/// the connection `reauthorization_required` (credentials erased, `connection.failed`,
/// the staff emailed).
async fn refreshed(
    deps: &Deps,
    tenant_id: &TenantId,
    connector: &Connector,
    mut c: Connection,
    version: u64,
    current: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    let now = deps.clock.now();
    if c.refresh.as_ref().is_some_and(|l| l.until > now) {
        return refreshed_by_another(deps, tenant_id, &c.id).await;
    }
    let lease = links::random_token()[..16].to_owned();
    c.refresh = Some(RefreshLease {
        id: lease.clone(),
        until: now + Duration::seconds(REFRESH_LEASE_SECONDS),
    });
    if commit(deps, vec![put_over(tenant_id, &c, version)?])
        .await
        .is_err()
    {
        return refreshed_by_another(deps, tenant_id, &c.id).await;
    }
    let held = Held {
        tenant_id,
        lease: &lease,
        connection: c,
        version: version + 1,
    };
    match oauth::refresh(deps, connector, &current).await? {
        oauth::Refreshed::Tokens(fresh) => {
            let plain = serde_json::to_vec(&fresh).map_err(anyhow::Error::from)?;
            let sealed = deps
                .vault()?
                .seal(&context(tenant_id, &held.connection), &plain)
                .await
                .map_err(signing::vault_failed)?;
            let now = deps.clock.now();
            // Whatever else changed the connection meanwhile (an invite), the new
            // tokens are kept: the provider may have ended the old refresh token.
            held.settle(deps, |c, _| {
                c.credentials = Some(sealed.clone());
                c.updated_at = now;
                Ok(Vec::new())
            })
            .await?;
            Ok(fresh)
        }
        oauth::Refreshed::Revoked => {
            let now = deps.clock.now();
            let to =
                confirmation_to(deps, tenant_id, held.connection.invited_by.as_deref()).await?;
            let company = super::load_customer(deps, tenant_id, &held.connection.customer_id)
                .await
                .map(|(k, _)| k.company.name)
                .unwrap_or_default();
            // The read's request answers 409 from here: the credentials it erases are
            // an event of their own (the read was recorded before).
            let reauthorize = entry("connection.reauthorization_required", &held.connection)
                .value("state", ConnectionState::ReauthorizationRequired)
                .fields(["credentials"]);
            let reauthorize = audit::op(deps, Log::Tenant(tenant_id), reauthorize).await?;
            let settled = held
                .settle(deps, |c, version| {
                    c.state = ConnectionState::ReauthorizationRequired;
                    c.credentials = None;
                    c.updated_at = now;
                    let mut ops = events::emit(
                        tenant_id,
                        EventType::ConnectionFailed,
                        &c.view(version + 1),
                        now,
                    )?
                    .to_vec();
                    ops.push(reauthorize.clone());
                    if let Some(to) = &to {
                        let mut context = Map::new();
                        context.insert("company_name".into(), json!(company));
                        context.insert("connector_name".into(), json!(connector.name));
                        context.insert("connection_id".into(), json!(c.id));
                        context.insert("label".into(), json!(c.label));
                        ops.extend(mail::enqueue(
                            tenant_id,
                            Template::ConnectionFailed,
                            to,
                            context,
                            now,
                        )?);
                    }
                    Ok(ops)
                })
                .await?;
            match settled {
                Some(c) => Err(not_authorized(&c)),
                // Authorized anew (or deleted) meanwhile: that stands.
                None => Err(Error::Unavailable(
                    "the connection changed while its tokens were refreshed; retry".into(),
                )),
            }
        }
        oauth::Refreshed::Failed(why) => {
            // The lease goes; the next read tries again.
            if let Err(e) = held.settle(deps, |_, _| Ok(Vec::new())).await {
                tracing::warn!(error = %e, "a refresh lease was not released");
            }
            if oauth::still_valid(&current, deps.clock.now()) {
                Ok(current)
            } else {
                Err(Error::Unavailable(format!(
                    "{} did not refresh the access token ({why}); nothing changed, retry",
                    connector.name
                )))
            }
        }
    }
}

/// A connection whose refresh lease this reader holds, as it wrote it.
struct Held<'a> {
    tenant_id: &'a TenantId,
    lease: &'a str,
    connection: Connection,
    version: u64,
}

impl Held<'_> {
    /// Ends the lease with `change` (which may add writes to its transaction, given
    /// the version written over): on the connection as held, or, when something else
    /// changed it meanwhile but it still carries this lease, on the connection as it
    /// is now. `None` when the lease is no longer this reader's (the connection was
    /// authorized anew or deleted): nothing is written.
    async fn settle(
        self,
        deps: &Deps,
        mut change: impl FnMut(&mut Connection, u64) -> Result<Vec<WriteOp>, Error>,
    ) -> Result<Option<Connection>, Error> {
        let (mut c, mut version) = (self.connection, self.version);
        for _ in 0..4 {
            c.refresh = None;
            let mut ops = change(&mut c, version)?;
            ops.insert(0, put_over(self.tenant_id, &c, version)?);
            match commit(deps, ops).await {
                Ok(()) => return Ok(Some(c)),
                Err(Error::Conflict {
                    kind: ProblemKind::ConcurrentUpdate,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
            let (now, item) = match load(deps, self.tenant_id, &c.id).await {
                Ok(found) => found,
                Err(Error::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            if now.refresh.as_ref().map(|l| l.id.as_str()) != Some(self.lease) {
                return Ok(None);
            }
            (c, version) = (now, item.version);
        }
        Err(Error::Unavailable(
            "the connection kept changing while its tokens were refreshed; retry".into(),
        ))
    }
}

/// Another reader refreshes the tokens: its result, once written (up to 5 s).
async fn refreshed_by_another(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &ConnectionId,
) -> Result<BTreeMap<String, String>, Error> {
    for _ in 0..25 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (c, _) = load(deps, tenant_id, id).await?;
        if c.refresh
            .as_ref()
            .is_some_and(|l| l.until > deps.clock.now())
        {
            continue;
        }
        let Some(sealed) = authorized_credentials(&c)? else {
            return Err(not_authorized(&c));
        };
        // Refreshed, or (the other reader's refresh failed) still usable for a moment.
        let current = open_credentials(deps, tenant_id, &c, sealed).await?;
        if oauth::still_valid(&current, deps.clock.now()) {
            return Ok(current);
        }
        break;
    }
    Err(Error::Unavailable(
        "the connection's tokens are being refreshed; retry in a moment".into(),
    ))
}

/// `GET /v1/connections/{id}/credential-reads`: who read the credentials, oldest first.
pub async fn reads(
    deps: &Deps,
    scope: &TenantScope,
    id: &ConnectionId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<CredentialRead>, Error> {
    let tenant_id = scope.tenant_id();
    load(deps, tenant_id, id).await?;
    page::list_prefix(
        deps,
        "credential-reads",
        keys::tenant_partition(tenant_id),
        &keys::credential_reads_prefix(id),
        limit,
        cursor,
        from_item::<CredentialRead>,
    )
    .await
}
