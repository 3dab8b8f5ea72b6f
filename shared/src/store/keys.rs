//! The only place that builds partition and sort keys.
//!
//! Every tenant-owned item's partition key, in the table and in GSI1, begins with
//! `T#<tenant_id>`; platform-wide items begin with `P#`. A customer's own items live in
//! their own partition `T#<tenant>#C#<customer>` so one large tenant is not one hot key.

use crate::model::ids::{
    ApiKeyId, AuditEventId, ConnectionId, CreditNoteId, CustomerId, EmailId, InboundEndpointId,
    InvoiceId, MemberId, ProvisioningId, SupportRequestId, SupportSessionId, TenantId, UserId,
    WebhookEndpointId, WebhookMessageId,
};
use crate::ports::Key;

const TENANT: &str = "T#";
const PLATFORM: &str = "P#";

fn key(pk: String, sk: impl Into<String>) -> Key {
    Key { pk, sk: sk.into() }
}

fn tenant_pk(tenant_id: &TenantId) -> String {
    format!("{TENANT}{tenant_id}")
}

/// True when a partition key belongs to this tenant (used by the isolation walk).
pub fn belongs_to_tenant(pk: &str, tenant_id: &TenantId) -> bool {
    let own = tenant_pk(tenant_id);
    pk == own
        || pk
            .strip_prefix(&own)
            .is_some_and(|rest| rest.starts_with('#'))
}

pub fn is_platform(pk: &str) -> bool {
    pk.starts_with(PLATFORM)
}

// ---- platform-wide items

pub fn tenant_directory(tenant_id: &TenantId) -> Key {
    key(format!("{PLATFORM}TENANTS"), tenant_id.as_str())
}
pub fn tenant_directory_pk() -> String {
    format!("{PLATFORM}TENANTS")
}
pub fn slug_marker(slug: &str) -> Key {
    key(format!("{PLATFORM}SLUG#{slug}"), "SLUG")
}
/// Looks an API key up by the hash of its secret.
pub fn api_key_lookup(secret_hash: &str) -> Key {
    key(format!("{PLATFORM}APIKEY#{secret_hash}"), "APIKEY")
}
/// A trusted token issuer (a tenant's customer pool) -> its tenant, by the SHA-256 (hex)
/// of its `iss`: `authenticate()` finds a token's tenant here, never in the token.
pub fn issuer(iss_hash: &str) -> Key {
    key(format!("{PLATFORM}ISSUER#{iss_hash}"), "ISSUER")
}
/// The operator's keys, listed by id (the secret is looked up by its hash in
/// `api_key_lookup`; this is what lists and revokes them).
pub fn operator_key(key_id: &ApiKeyId) -> Key {
    key(operator_keys_partition(), key_id.as_str())
}
pub fn operator_keys_partition() -> String {
    format!("{PLATFORM}OPKEYS")
}
pub fn platform_idempotency(key_hash: &str) -> Key {
    key(format!("{PLATFORM}IDEM#{key_hash}"), "IDEM")
}

// ---- the catalog (platform-wide)

/// Which tenant an invoice belongs to: the operator names invoices by id alone.
pub fn invoice_owner(invoice_id: &InvoiceId) -> Key {
    key(format!("{PLATFORM}INVOICE#{invoice_id}"), "OWNER")
}
/// A month's invoice run, finished for every tenant (the scheduler runs it once).
pub fn platform_invoice_run(period: &str) -> Key {
    key(format!("{PLATFORM}RUNS"), period)
}
/// The platform's gap-free number sequence (`series` `INV` or `CN`) for one year.
pub fn platform_sequence(series: &str, year: i32) -> Key {
    key(format!("{PLATFORM}SEQ"), format!("{series}#{year}"))
}
pub fn metric(code: &str) -> Key {
    key(metrics_partition(), code)
}
pub fn metrics_partition() -> String {
    format!("{PLATFORM}METRICS")
}
/// A plan's current version (what lists show and new subscriptions get).
pub fn plan(code: &str) -> Key {
    key(plans_partition(), code)
}
pub fn plans_partition() -> String {
    format!("{PLATFORM}PLANS")
}
/// A connector of the operator's catalog.
pub fn connector(code: &str) -> Key {
    key(connectors_partition(), code)
}
pub fn connectors_partition() -> String {
    format!("{PLATFORM}CONNECTORS")
}
/// One version of a plan, kept unchanged for the subscriptions on it.
pub fn plan_version(code: &str, version: u32) -> Key {
    key(format!("{PLATFORM}PLAN#{code}"), format!("V#{version:08}"))
}

// ---- tenant items

pub fn tenant(tenant_id: &TenantId) -> Key {
    key(tenant_pk(tenant_id), "TENANT")
}
pub fn api_key(tenant_id: &TenantId, key_id: &ApiKeyId) -> Key {
    key(tenant_pk(tenant_id), format!("KEY#{key_id}"))
}
pub fn api_keys_prefix() -> &'static str {
    "KEY#"
}
pub fn member(tenant_id: &TenantId, member_id: &MemberId) -> Key {
    key(tenant_pk(tenant_id), format!("MEMBER#{member_id}"))
}
pub fn members_prefix() -> &'static str {
    "MEMBER#"
}
pub fn tenant_partition(tenant_id: &TenantId) -> String {
    tenant_pk(tenant_id)
}
pub fn member_email_marker(tenant_id: &TenantId, email_norm: &str) -> Key {
    key(
        format!("{}#UQ", tenant_pk(tenant_id)),
        format!("MEMBER_EMAIL#{email_norm}"),
    )
}
/// The operator's prices for this tenant on one plan.
pub fn price_override(tenant_id: &TenantId, plan: &str) -> Key {
    key(tenant_pk(tenant_id), format!("PRICE#{plan}"))
}
/// The tenant's default for each feature area.
pub fn tenant_features(tenant_id: &TenantId) -> Key {
    key(tenant_pk(tenant_id), "FEATURES")
}
/// A customer's `external_id` (the partner's own id), unique in the tenant.
pub fn external_id_marker(tenant_id: &TenantId, external_id: &str) -> Key {
    key(
        format!("{}#UQ", tenant_pk(tenant_id)),
        format!("EXTERNAL#{external_id}"),
    )
}
/// A period whose invoices are final: usage for it is refused.
pub fn period_closed(tenant_id: &TenantId, period: &str) -> Key {
    key(tenant_pk(tenant_id), format!("CLOSED#{period}"))
}
/// A usage event's id, counted once: in one of 16 partitions by the id's hash, so a
/// busy tenant's events spread.
pub fn usage_event(tenant_id: &TenantId, id_hash: &str) -> Key {
    let shard = u8::from_str_radix(id_hash.get(..1).unwrap_or("0"), 16).unwrap_or(0);
    key(
        format!("{}#UE#{shard:x}", tenant_pk(tenant_id)),
        format!("E#{id_hash}"),
    )
}
pub fn tenant_idempotency(tenant_id: &TenantId, key_hash: &str) -> Key {
    key(format!("{}#IDEM#{key_hash}", tenant_pk(tenant_id)), "IDEM")
}

// ---- customers

pub fn customer_partition(tenant_id: &TenantId, customer_id: &CustomerId) -> String {
    format!("{}#C#{customer_id}", tenant_pk(tenant_id))
}
pub fn customer(tenant_id: &TenantId, customer_id: &CustomerId) -> Key {
    key(customer_partition(tenant_id, customer_id), "PROFILE")
}
pub fn customer_user(tenant_id: &TenantId, customer_id: &CustomerId, user_id: &UserId) -> Key {
    key(
        customer_partition(tenant_id, customer_id),
        format!("USER#{user_id}"),
    )
}
/// The sort-key prefix of a customer's users, in its partition.
pub fn customer_users_prefix() -> &'static str {
    "USER#"
}
/// Is this sort key (in a customer partition) a customer user's?
pub fn is_customer_user(sk: &str) -> bool {
    sk.starts_with("USER#")
}
/// A connection, in its tenant's partition (found by its id alone).
pub fn connection(tenant_id: &TenantId, id: &ConnectionId) -> Key {
    key(tenant_pk(tenant_id), format!("{CONNECTION}{id}"))
}
/// The connections of a tenant (its partition), or a customer's markers (the customer's).
pub fn connections_prefix() -> &'static str {
    CONNECTION
}
/// A customer's marker of its connection (for its list, and its purge).
pub fn customer_connection(
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    id: &ConnectionId,
) -> Key {
    key(
        customer_partition(tenant_id, customer_id),
        format!("{CONNECTION}{id}"),
    )
}
/// The connection a `CONN#<id>` sort key names.
pub fn connection_id_of(sk: &str) -> Option<ConnectionId> {
    sk.strip_prefix(CONNECTION)
        .and_then(|id| ConnectionId::parse(id).ok())
}
const CONNECTION: &str = "CONN#";
/// A connect link (an invite's), under the hash of its token.
pub fn connect_link(tenant_id: &TenantId, token_hash: &str) -> Key {
    key(tenant_pk(tenant_id), format!("CLINK#{token_hash}"))
}
/// A started OAuth authorization of a connect link, under the hash of its `state`.
pub fn connect_state(tenant_id: &TenantId, state_hash: &str) -> Key {
    key(tenant_pk(tenant_id), format!("CSTATE#{state_hash}"))
}
/// One read of a connection's credentials, in time order.
pub fn credential_read(
    tenant_id: &TenantId,
    id: &ConnectionId,
    at: chrono::DateTime<chrono::Utc>,
    nonce: &str,
) -> Key {
    key(
        tenant_pk(tenant_id),
        format!(
            "{}{}#{nonce}",
            credential_reads_prefix(id),
            at.format("%Y%m%dT%H%M%S%.9fZ")
        ),
    )
}
pub fn credential_reads_prefix(id: &ConnectionId) -> String {
    format!("CREAD#{id}#")
}
/// A customer's current subscription (at most one).
pub fn subscription(tenant_id: &TenantId, customer_id: &CustomerId) -> Key {
    key(customer_partition(tenant_id, customer_id), "SUB")
}
/// A customer's earlier subscription, kept when a new one starts.
pub fn past_subscription(tenant_id: &TenantId, customer_id: &CustomerId, id: &str) -> Key {
    key(
        customer_partition(tenant_id, customer_id),
        format!("SUB#{id}"),
    )
}
/// The tenant's customers that ever had a subscription: what the invoice run reads.
pub fn subscriber(tenant_id: &TenantId, customer_id: &CustomerId) -> Key {
    key(subscribers_partition(tenant_id), customer_id.as_str())
}
pub fn subscribers_partition(tenant_id: &TenantId) -> String {
    format!("{}#SUBS", tenant_pk(tenant_id))
}
/// The invoice run's progress for one tenant and month: its cursor, and whether done.
pub fn invoice_run(tenant_id: &TenantId, period: &str) -> Key {
    key(tenant_pk(tenant_id), format!("RUN#{period}"))
}
/// An invoice (or credit note) of a tenant; ids begin with their month, so the
/// partition reads in month order.
pub fn invoice(tenant_id: &TenantId, invoice_id: &InvoiceId) -> Key {
    key(invoices_partition(tenant_id), format!("I#{invoice_id}"))
}
pub fn invoices_partition(tenant_id: &TenantId) -> String {
    format!("{}#INV", tenant_pk(tenant_id))
}
/// Sort-key prefix of a tenant's invoices (of one month: `I#inv_202611`).
pub fn invoices_prefix(month: Option<&str>) -> String {
    format!("I#{}_{}", InvoiceId::PREFIX, month.unwrap_or_default())
}
/// One customer's lines on a consolidated invoice.
pub fn invoice_lines(
    tenant_id: &TenantId,
    invoice_id: &InvoiceId,
    customer_id: &CustomerId,
) -> Key {
    key(
        invoice_lines_partition(tenant_id, invoice_id),
        customer_id.as_str(),
    )
}
pub fn invoice_lines_partition(tenant_id: &TenantId, invoice_id: &InvoiceId) -> String {
    format!("{}#INV#{invoice_id}", tenant_pk(tenant_id))
}
/// GSI1 key of an invoice addressed to a customer (a reseller's): its company's invoices.
pub fn customer_invoice_index(
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    invoice_id: &InvoiceId,
) -> Key {
    key(
        customer_invoices_partition(tenant_id, customer_id),
        invoice_id.as_str(),
    )
}
pub fn customer_invoices_partition(tenant_id: &TenantId, customer_id: &CustomerId) -> String {
    format!("{}#INV", customer_partition(tenant_id, customer_id))
}
/// Where a final invoice's PDF is kept in the document store (S3, the data folder), or
/// one of its credit notes': `tenants/<tenant>/invoices/<invoice>[/<credit note>].pdf`.
pub fn invoice_document(
    tenant_id: &TenantId,
    invoice_id: &InvoiceId,
    credit_note: Option<&CreditNoteId>,
) -> String {
    match credit_note {
        None => format!("tenants/{tenant_id}/invoices/{invoice_id}.pdf"),
        Some(cn) => format!("tenants/{tenant_id}/invoices/{invoice_id}/{cn}.pdf"),
    }
}
/// A reseller's commission statement for one month, and one line of it per customer.
pub fn commission_statement(tenant_id: &TenantId, period: &str) -> Key {
    key(invoices_partition(tenant_id), format!("S#{period}"))
}
/// (`document_id`: the invoice's id, or a credit note's, whose line takes commission back.)
pub fn commission_line(tenant_id: &TenantId, period: &str, document_id: &str) -> Key {
    key(commission_lines_partition(tenant_id, period), document_id)
}
pub fn commission_lines_partition(tenant_id: &TenantId, period: &str) -> String {
    format!("{}#CST#{period}", tenant_pk(tenant_id))
}
/// A reseller's gap-free number sequence (`series` `INV` or `CN`) for one year.
pub fn tenant_sequence(tenant_id: &TenantId, series: &str, year: i32) -> Key {
    key(tenant_pk(tenant_id), format!("SEQ#{series}#{year}"))
}
/// A month's daily high-water marks of a customer's active users.
pub fn seats(tenant_id: &TenantId, customer_id: &CustomerId, period: &str) -> Key {
    key(
        customer_partition(tenant_id, customer_id),
        format!("SEATS#{period}"),
    )
}
pub fn seats_prefix() -> &'static str {
    "SEATS#"
}
/// A customer's usage in one period: every metric's aggregate in one item.
pub fn usage(tenant_id: &TenantId, customer_id: &CustomerId, period: &str) -> Key {
    key(
        customer_partition(tenant_id, customer_id),
        format!("USAGE#{period}"),
    )
}
/// The usage limits a customer's admin set for its company.
pub fn usage_limits(tenant_id: &TenantId, customer_id: &CustomerId) -> Key {
    key(customer_partition(tenant_id, customer_id), "USAGE_LIMITS")
}
/// The tenant's overrides of feature areas for one customer.
pub fn customer_features(tenant_id: &TenantId, customer_id: &CustomerId) -> Key {
    key(customer_partition(tenant_id, customer_id), "FEATURES")
}
/// Customer admin and user emails are unique per tenant.
pub fn user_email_marker(tenant_id: &TenantId, email_norm: &str) -> Key {
    key(
        format!("{}#UQ", tenant_pk(tenant_id)),
        format!("USER_EMAIL#{email_norm}"),
    )
}
pub fn company_name_marker(tenant_id: &TenantId, name_norm: &str) -> Key {
    key(
        format!("{}#UQ", tenant_pk(tenant_id)),
        format!("COMPANY#{name_norm}"),
    )
}

/// Joins name and id in `by_name`: it sorts below every character a folded name holds,
/// so "acme" lists before "acme corp".
const NAME_END: char = '\u{1}';

/// Sort key shared by the name-ordered listings: name first, id to break ties.
pub fn by_name(name_norm: &str, customer_id: &CustomerId) -> String {
    format!("{name_norm}{NAME_END}{customer_id}")
}
/// The customer id at the end of a `by_name` sort key.
pub fn customer_id_from_by_name(sk: &str) -> Option<CustomerId> {
    sk.rsplit_once(NAME_END)
        .map(|(_, id)| CustomerId::from_record(id))
}

/// Search index: one partition per word prefix (the empty prefix lists everyone not deleted).
pub fn search_partition(tenant_id: &TenantId, prefix: &str) -> String {
    format!("{}#IX#{prefix}", tenant_pk(tenant_id))
}
pub fn search_entry(
    tenant_id: &TenantId,
    prefix: &str,
    name_norm: &str,
    customer_id: &CustomerId,
) -> Key {
    key(
        search_partition(tenant_id, prefix),
        by_name(name_norm, customer_id),
    )
}

/// GSI1 key of a customer profile: customers of one status, ordered by name.
pub fn customer_status_index(
    tenant_id: &TenantId,
    status: &str,
    name_norm: &str,
    customer_id: &CustomerId,
) -> Key {
    key(
        customer_status_partition(tenant_id, status),
        by_name(name_norm, customer_id),
    )
}
pub fn customer_status_partition(tenant_id: &TenantId, status: &str) -> String {
    format!("{}#ST#{status}", tenant_pk(tenant_id))
}

/// Deleted customers waiting for their purge, ordered by purge time.
pub fn purge_partition(tenant_id: &TenantId) -> String {
    format!("{}#PURGE", tenant_pk(tenant_id))
}
pub fn purge_entry(tenant_id: &TenantId, purge_after: &str, customer_id: &CustomerId) -> Key {
    key(
        purge_partition(tenant_id),
        format!("{purge_after}#{customer_id}"),
    )
}
/// The customer id at the end of a purge entry's sort key.
pub fn customer_id_from_purge_entry(sk: &str) -> Option<CustomerId> {
    sk.rsplit_once('#')
        .map(|(_, id)| CustomerId::from_record(id))
}

// ---- due work (service/due.rs): a sparse, sharded index under P#, one entry per item
// that becomes due later, written in the transaction of the change that schedules it.

/// One shard of one kind of due work: `P#DUE#<kind>#<shard>`.
pub fn due_partition(kind: &str, shard: u32) -> String {
    format!("{PLATFORM}DUE#{kind}#{shard}")
}
/// An entry, ordered by when it is due: `<due_at>#<tenant_id>#<item_id>`.
pub fn due_entry(kind: &str, shard: u32, due_at: &str, tenant_id: &TenantId, item_id: &str) -> Key {
    key(
        due_partition(kind, shard),
        format!("{due_at}#{tenant_id}#{item_id}"),
    )
}
/// The tenant and the item an entry's sort key names.
pub fn due_entry_target(sk: &str) -> Option<(TenantId, &str)> {
    let (rest, item_id) = sk.rsplit_once('#')?;
    let (_, tenant_id) = rest.rsplit_once('#')?;
    (!tenant_id.is_empty() && !item_id.is_empty())
        .then(|| (TenantId::from_record(tenant_id), item_id))
}
/// A throttle's counter at one tenant (`service::throttle`), by the SHA-256 (hex) of
/// what it counts: failed sign-ins of one email, resets asked for one email, public forms
/// posted from one source.
pub fn throttle(tenant_id: &TenantId, subject_hash: &str) -> Key {
    key(tenant_pk(tenant_id), format!("THROTTLE#{subject_hash}"))
}

/// A password link (invitation or reset) by the hash of its token.
pub fn password_link(tenant_id: &TenantId, token_hash: &str) -> Key {
    key(tenant_pk(tenant_id), format!("LINK#{token_hash}"))
}

/// A self-registration waiting for its emailed code, by the hash of its email.
pub fn registration(tenant_id: &TenantId, email_hash: &str) -> Key {
    key(tenant_pk(tenant_id), format!("REGISTRATION#{email_hash}"))
}

/// A login's subject (the `sub` of its tokens) -> the user it signs in as: the one read
/// that `authenticate()` makes for a token.
pub fn login_subject(tenant_id: &TenantId, subject: &str) -> Key {
    key(tenant_pk(tenant_id), format!("SUB#{subject}"))
}

/// A staff login's subject (the `sub` of its tokens) -> its tenant and member. Platform-
/// wide: a staff token names no tenant, and one person may be staff of several.
pub fn staff_subject(subject: &str) -> Key {
    key(format!("{PLATFORM}STAFFSUB#{subject}"), "STAFFSUB")
}

// ---- the embedded identity provider's records (local mode only)

/// A tenant's local customer pool.
pub fn local_pool(tenant_id: &TenantId) -> Key {
    key(tenant_pk(tenant_id), "IDP#POOL")
}
/// One local login of a tenant's pool, by normalized email.
pub fn local_login(tenant_id: &TenantId, username: &str) -> Key {
    key(format!("{TENANT}{tenant_id}#LOGIN"), username)
}

/// One local login of the staff pool, by member id.
pub fn local_staff_login(username: &str) -> Key {
    key(format!("{PLATFORM}STAFF#LOGIN"), username)
}

// ---- inbound webhooks and provisioning

/// Which tenant an inbound endpoint belongs to: a webhook names its endpoint alone.
pub fn inbound_owner(endpoint_id: &InboundEndpointId) -> Key {
    key(format!("{PLATFORM}INBOUND#{endpoint_id}"), "OWNER")
}
/// An inbound endpoint, in its tenant's partition.
pub fn inbound_endpoint(tenant_id: &TenantId, endpoint_id: &InboundEndpointId) -> Key {
    key(tenant_pk(tenant_id), format!("INBOUND#{endpoint_id}"))
}
pub fn inbound_endpoints_prefix() -> &'static str {
    "INBOUND#"
}
/// A webhook message an endpoint accepted, by the SHA-256 (hex) of its `webhook-id`:
/// what it was answered, for a resend. Each in its own partition, so a burst of
/// webhooks spreads.
pub fn inbound_message(
    tenant_id: &TenantId,
    endpoint_id: &InboundEndpointId,
    id_hash: &str,
) -> Key {
    key(
        format!("{TENANT}{tenant_id}#HOOKMSG#{endpoint_id}#{id_hash}"),
        "MSG",
    )
}
/// The sort key every provisioning request has: the stream trigger of its worker
/// filters on it.
pub const PROVISIONING_SK: &str = "PROVISIONING";
/// A provisioning request, in a partition of its own.
pub fn provisioning(tenant_id: &TenantId, id: &ProvisioningId) -> Key {
    key(format!("{TENANT}{tenant_id}#PRV#{id}"), PROVISIONING_SK)
}
/// The tenant and id a provisioning request's partition key names (its worker's stream
/// records); None for any other key.
pub fn provisioning_target(pk: &str) -> Option<(TenantId, ProvisioningId)> {
    let rest = pk.strip_prefix(TENANT)?;
    let (tenant, id) = rest.split_once("#PRV#")?;
    if tenant.is_empty() || tenant.contains('#') || id.contains('#') {
        return None;
    }
    Some((
        TenantId::from_record(tenant),
        ProvisioningId::from_record(id),
    ))
}

// ---- outbound webhooks

/// A webhook endpoint, in its tenant's partition.
pub fn webhook_endpoint(tenant_id: &TenantId, id: &WebhookEndpointId) -> Key {
    key(tenant_pk(tenant_id), format!("WHEP#{id}"))
}
pub fn webhook_endpoints_prefix() -> &'static str {
    "WHEP#"
}
/// A tenant's customer template, by its code.
pub fn customer_template(tenant_id: &TenantId, code: &str) -> Key {
    key(tenant_pk(tenant_id), format!("CTPL#{code}"))
}
pub fn customer_templates_prefix() -> &'static str {
    "CTPL#"
}
/// The sort key every webhook message has: the stream trigger of its sender filters
/// on it.
pub const WEBHOOK_MESSAGE_SK: &str = "WHMSG";
// ---- support sessions

/// A support session, in a partition of its own (its id is all a route names).
pub fn support_session(tenant_id: &TenantId, id: &SupportSessionId) -> Key {
    key(format!("{}#SUPPORT#{id}", tenant_pk(tenant_id)), "SESSION")
}
/// GSI1 key of a support session: its customer's sessions, in order of request.
pub fn support_session_of(
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    requested_at: &str,
    id: &SupportSessionId,
) -> Key {
    key(
        support_sessions_partition(tenant_id, customer_id),
        format!("{requested_at}#{id}"),
    )
}
pub fn support_sessions_partition(tenant_id: &TenantId, customer_id: &CustomerId) -> String {
    format!("{}#C#{customer_id}#SUPPORT", tenant_pk(tenant_id))
}
/// A session's token, by its hash -> the session (a bearer names no tenant, like an
/// API key).
pub fn support_token(token_hash: &str) -> Key {
    key(
        format!("{PLATFORM}SUPPORTTOKEN#{token_hash}"),
        "SUPPORTTOKEN",
    )
}
/// A session's approval link, by its token's hash, in the tenant's partitions (its
/// page names the tenant by slug).
pub fn support_approval(tenant_id: &TenantId, token_hash: &str) -> Key {
    key(
        format!("{}#SUPPORTLINK#{token_hash}", tenant_pk(tenant_id)),
        "SUPPORTLINK",
    )
}

// ---- support requests

/// A support request, in a partition of its own (its id is all a route names).
pub fn support_request(tenant_id: &TenantId, id: &SupportRequestId) -> Key {
    key(
        format!("{}#SUPPORTREQ#{id}", tenant_pk(tenant_id)),
        "REQUEST",
    )
}
/// GSI1 key of a support request: the tenant's requests of one status, oldest first.
pub fn support_requests_by_status(
    tenant_id: &TenantId,
    status: &str,
    created_at: &str,
    id: &SupportRequestId,
) -> Key {
    key(
        support_requests_partition(tenant_id, status),
        format!("{created_at}#{id}"),
    )
}
pub fn support_requests_partition(tenant_id: &TenantId, status: &str) -> String {
    format!("{}#SUPPORTREQS#{status}", tenant_pk(tenant_id))
}
/// A support request's copy in its customer's partition: its users' own listing.
pub fn customer_support_request(
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    created_at: &str,
    id: &SupportRequestId,
) -> Key {
    key(
        customer_partition(tenant_id, customer_id),
        format!("{CUSTOMER_SUPPORT_REQUEST_PREFIX}{created_at}#{id}"),
    )
}
pub const CUSTOMER_SUPPORT_REQUEST_PREFIX: &str = "SUPPORTREQ#";
/// The request a customer's copy stands for (its sort key ends with the id).
pub fn support_request_id_of(sk: &str) -> Option<SupportRequestId> {
    sk.strip_prefix(CUSTOMER_SUPPORT_REQUEST_PREFIX)
        .and_then(|rest| rest.rsplit('#').next())
        .and_then(|id| SupportRequestId::parse(id).ok())
}
/// An escalated request, in the platform's list (the operator reads it).
pub fn escalation(escalated_at: &str, tenant_id: &TenantId, id: &SupportRequestId) -> Key {
    key(
        escalations_partition(),
        format!("{escalated_at}#{tenant_id}#{id}"),
    )
}
pub fn escalations_partition() -> String {
    format!("{PLATFORM}ESCALATIONS")
}

// ---- the audit log

/// Partitions a day of one tenant's audit log is written across. Events are spread by
/// their id's last (random) digit, so a busy tenant's writes of one moment land on
/// `AUDIT_SHARDS` partition keys at once, and each day starts new ones: no key takes
/// a tenant's whole write rate, and none grows without end.
pub const AUDIT_SHARDS: u32 = 4;

/// The shard of an audit event, from its id's last hex digit (random in a UUIDv7).
pub fn audit_shard(id: &AuditEventId) -> u32 {
    id.as_str()
        .chars()
        .last()
        .and_then(|c| c.to_digit(16))
        .unwrap_or(0)
        % AUDIT_SHARDS
}

/// One shard of one day (`YYYY-MM-DD`) of a tenant's audit log; `None`: the
/// platform's own log (the operator's changes to the catalog and its keys).
pub fn audit_partition(tenant_id: Option<&TenantId>, day: &str, shard: u32) -> String {
    match tenant_id {
        Some(t) => format!("{TENANT}{t}#AUDIT#{day}#{shard}"),
        None => format!("{PLATFORM}AUDIT#{day}#{shard}"),
    }
}

/// True for a partition of an audit log (a tenant's or the platform's): tests count
/// the events a request writes by it.
pub fn is_audit_partition(pk: &str) -> bool {
    pk.starts_with(&format!("{PLATFORM}AUDIT#"))
        || (pk.starts_with(TENANT) && pk.split('#').nth(2) == Some("AUDIT"))
}

/// An audit event: in its day's shard, ordered by time (`sort_time` is fixed-width).
pub fn audit_event(
    tenant_id: Option<&TenantId>,
    day: &str,
    sort_time: &str,
    id: &AuditEventId,
) -> Key {
    key(
        audit_partition(tenant_id, day, audit_shard(id)),
        format!("{sort_time}#{id}"),
    )
}

/// GSI1 key of an audit event that concerns a customer: that customer's history, in
/// one partition of its own (kept when the customer is purged: the event is not in
/// the customer's partition).
pub fn audit_by_customer(
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    sort_time: &str,
    id: &AuditEventId,
) -> Key {
    key(
        audit_customer_partition(tenant_id, customer_id),
        format!("{sort_time}#{id}"),
    )
}
pub fn audit_customer_partition(tenant_id: &TenantId, customer_id: &CustomerId) -> String {
    format!("{TENANT}{tenant_id}#C#{customer_id}#AUDIT")
}

/// An event to deliver to the tenant's endpoints, in a partition of its own.
pub fn webhook_message(tenant_id: &TenantId, id: &WebhookMessageId) -> Key {
    key(
        format!("{TENANT}{tenant_id}#WHMSG#{id}"),
        WEBHOOK_MESSAGE_SK,
    )
}
/// The tenant and id a webhook message's partition key names; None for any other key.
pub fn webhook_message_target(pk: &str) -> Option<(TenantId, WebhookMessageId)> {
    let rest = pk.strip_prefix(TENANT)?;
    let (tenant, id) = rest.split_once("#WHMSG#")?;
    if tenant.is_empty() || tenant.contains('#') || id.contains('#') {
        return None;
    }
    Some((
        TenantId::from_record(tenant),
        WebhookMessageId::from_record(id),
    ))
}
/// One delivery attempt to an endpoint, in the endpoint's own attempts partition,
/// ordered by when it was made.
pub fn webhook_attempt(
    tenant_id: &TenantId,
    endpoint_id: &WebhookEndpointId,
    at: &str,
    message_id: &WebhookMessageId,
) -> Key {
    key(
        webhook_attempts_partition(tenant_id, endpoint_id),
        format!("{at}#{message_id}"),
    )
}
pub fn webhook_attempts_partition(tenant_id: &TenantId, endpoint_id: &WebhookEndpointId) -> String {
    format!("{TENANT}{tenant_id}#WHATT#{endpoint_id}")
}

// ---- the email outbox of a tenant (DESIGN.md rule 8)

/// One outbox email, in the tenant's outbox partition (kept apart from the tenant's
/// own partition: every customer creation adds one).
pub fn outbox_email(tenant_id: &TenantId, email_id: &EmailId) -> Key {
    key(outbox_partition(tenant_id), email_id.as_str())
}
/// A tenant's outbox partition: its emails, ordered by id (ids are time-ordered).
pub fn outbox_partition(tenant_id: &TenantId) -> String {
    format!("{TENANT}{tenant_id}#MAIL")
}

/// The GSI1 partition where pending emails were indexed before the due-work index
/// (`due_entry`); read only by `mail::backfill_due`, the one-time upgrade step.
pub fn outbox_due_partition(tenant_id: &TenantId) -> String {
    format!("{TENANT}{tenant_id}#MAILDUE")
}

/// GSI1 entry of an email given up on (dead letter), for the operator's list.
pub fn outbox_dead(tenant_id: &TenantId, created_at: &str, email_id: &EmailId) -> Key {
    key(
        outbox_dead_partition(tenant_id),
        format!("{created_at}#{email_id}"),
    )
}
pub fn outbox_dead_partition(tenant_id: &TenantId) -> String {
    format!("{TENANT}{tenant_id}#MAILDEAD")
}

/// The tenant of an outbox email's partition key (`T#<tenant>#MAIL`); None for any
/// other key (the stream-triggered sender skips those).
pub fn outbox_tenant(pk: &str) -> Option<TenantId> {
    pk.strip_prefix(TENANT)?
        .strip_suffix("#MAIL")
        .filter(|t| !t.is_empty() && !t.contains('#'))
        .map(TenantId::from_record)
}

#[cfg(test)]
mod tests {
    #[test]
    fn outbox_keys_name_their_tenant_and_nothing_else_does() {
        let t = TenantId::from_record("ten_1");
        let key = super::outbox_email(&t, &EmailId::from_record("eml_2"));
        assert_eq!(super::outbox_tenant(&key.pk), Some(t.clone()));
        assert!(super::belongs_to_tenant(&key.pk, &t));
        for other in [
            "T#ten_1",
            "T#ten_1#C#cus_2",
            "T#ten_1#MAILDUE",
            "P#MAIL",
            "T##MAIL",
            "T#a#b#MAIL",
        ] {
            assert_eq!(super::outbox_tenant(other), None, "{other}");
        }
    }

    use super::*;

    #[test]
    fn tenant_keys_stay_under_the_tenant_prefix() {
        let t = &TenantId::from_record("ten_abc");
        let c = &CustomerId::from_record("cus_1");
        for k in [
            tenant(t),
            api_key(t, &ApiKeyId::from_record("key_1")),
            member(t, &MemberId::from_record("mem_1")),
            member_email_marker(t, "a@b.c"),
            customer(t, c),
            customer_user(t, c, &UserId::from_record("usr_1")),
            user_email_marker(t, "a@b.c"),
            company_name_marker(t, "acme"),
            search_entry(t, "ac", "acme", c),
            customer_status_index(t, "active", "acme", c),
            purge_entry(t, "2026-01-01T00:00:00Z", c),
            tenant_idempotency(t, "h"),
            price_override(t, "growth"),
            tenant_features(t),
            external_id_marker(t, "crm-1"),
            period_closed(t, "2026-11"),
            usage_event(t, "f0"),
            subscription(t, c),
            past_subscription(t, c, "sub_1"),
            seats(t, c, "2026-12"),
            usage(t, c, "2026-12"),
            usage_limits(t, c),
            customer_features(t, c),
            subscriber(t, c),
            invoice_run(t, "2026-11"),
            invoice(t, &InvoiceId::from_record("inv_1")),
            invoice_lines(t, &InvoiceId::from_record("inv_1"), c),
            customer_invoice_index(t, c, &InvoiceId::from_record("inv_1")),
            commission_statement(t, "2026-11"),
            commission_line(t, "2026-11", "inv_1"),
            tenant_sequence(t, "INV", 2026),
            audit_event(Some(t), "2026-12-03", "t", &AuditEventId::generate()),
            audit_by_customer(t, c, "t", &AuditEventId::generate()),
            support_session(t, &SupportSessionId::generate()),
            support_session_of(t, c, "t", &SupportSessionId::generate()),
            support_approval(t, "h"),
            support_request(t, &SupportRequestId::generate()),
            support_requests_by_status(t, "open", "t", &SupportRequestId::generate()),
            customer_support_request(t, c, "t", &SupportRequestId::generate()),
        ] {
            assert!(belongs_to_tenant(&k.pk, t), "{k:?}");
            assert!(
                !belongs_to_tenant(&k.pk, &TenantId::from_record("ten_ab")),
                "{k:?}"
            );
        }
    }

    #[test]
    fn a_due_entry_names_its_tenant_and_item_and_lives_under_the_platform_prefix() {
        let t = TenantId::from_record("ten_1");
        let k = due_entry("mail", 3, "2026-12-01T02:00:00.000Z", &t, "eml_2");
        assert!(is_platform(&k.pk));
        assert!(!belongs_to_tenant(&k.pk, &t));
        assert_eq!(due_entry_target(&k.sk), Some((t, "eml_2")));
        assert_eq!(due_entry_target("2026#x"), None);
    }

    #[test]
    fn a_name_sorts_before_its_longer_names() {
        let (c1, c2) = (
            CustomerId::from_record("cus_1"),
            CustomerId::from_record("cus_2"),
        );
        assert!(by_name("acme", &c2) < by_name("acme corp", &c1));
        assert!(by_name("acme", &c2) < by_name("acme-x", &c1));
    }

    #[test]
    fn customer_id_is_recovered_from_a_name_sort_key_even_when_the_name_has_hashes() {
        assert_eq!(
            customer_id_from_by_name(&by_name("a#b c", &CustomerId::from_record("cus_9"))),
            Some(CustomerId::from_record("cus_9"))
        );
    }
}
