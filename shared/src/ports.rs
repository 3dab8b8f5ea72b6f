//! The small traits the domain is written against: the item store, the mailer, the clock.

use crate::model::ids::{CustomerId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most actions one transaction may hold (DynamoDB's limit).
pub const MAX_TRANSACTION_ACTIONS: usize = 100;
/// Most keys one `get_many` may ask for (DynamoDB BatchGetItem's limit).
pub const MAX_BATCH_GET: usize = 100;

/// One stored item: its keys, the optional GSI1 keys, a version for optimistic
/// concurrency, an optional expiry (epoch seconds, DynamoDB TTL) and the entity body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    #[serde(default)]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub data: Map<String, Value>,
}

impl Item {
    pub fn new(key: Key, data: Map<String, Value>) -> Self {
        Self {
            pk: key.pk,
            sk: key.sk,
            gsi1pk: None,
            gsi1sk: None,
            version: 1,
            expires_at: None,
            data,
        }
    }

    /// An item that carries nothing but its key (uniqueness markers, index entries).
    pub fn marker(key: Key) -> Self {
        Self::new(key, Map::new())
    }

    pub fn with_gsi1(mut self, key: Key) -> Self {
        self.gsi1pk = Some(key.pk);
        self.gsi1sk = Some(key.sk);
        self
    }

    pub fn key(&self) -> Key {
        Key {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
        }
    }

    /// Where a query that returned this item stops, so the next page starts after it.
    pub fn position(&self) -> Position {
        Position {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            gsi1pk: self.gsi1pk.clone(),
            gsi1sk: self.gsi1sk.clone(),
        }
    }
}

/// A table key. Built only by `store::keys`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

/// A query position: the table key plus, for index queries, the index key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,
}

/// A write's precondition, checked atomically with the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    None,
    /// No item with this key exists (create, uniqueness marker).
    NotExists,
    /// An item with this key exists.
    Exists,
    /// The item exists and its version is exactly this (optimistic concurrency).
    VersionIs(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    Put { item: Item, condition: Condition },
    Delete { key: Key, condition: Condition },
    Check { key: Key, condition: Condition },
}

impl WriteOp {
    pub fn put(item: Item) -> Self {
        WriteOp::Put {
            item,
            condition: Condition::None,
        }
    }
    pub fn create(item: Item) -> Self {
        WriteOp::Put {
            item,
            condition: Condition::NotExists,
        }
    }
    pub fn delete(key: Key) -> Self {
        WriteOp::Delete {
            key,
            condition: Condition::None,
        }
    }
    pub fn key(&self) -> Key {
        match self {
            WriteOp::Put { item, .. } => item.key(),
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key.clone(),
        }
    }
}

/// Which sort keys of one partition a query reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortRange {
    All,
    Prefix(String),
    /// Inclusive on both ends.
    Between(String, String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Table,
    Gsi1,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub range: SortRange,
    pub limit: usize,
    pub start_after: Option<Position>,
    pub forward: bool,
}

impl Query {
    pub fn partition(pk: impl Into<String>, range: SortRange, limit: usize) -> Self {
        Self {
            index: Index::Table,
            pk: pk.into(),
            range,
            limit,
            start_after: None,
            forward: true,
        }
    }
    pub fn gsi1(pk: impl Into<String>, range: SortRange, limit: usize) -> Self {
        Self {
            index: Index::Gsi1,
            ..Self::partition(pk, range, limit)
        }
    }
    pub fn after(mut self, position: Option<Position>) -> Self {
        self.start_after = position;
        self
    }
}

/// One page of a query. `next` is set only when more items follow.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Position>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the write's condition did not hold")]
    ConditionFailed,
    /// A transaction was cancelled because these actions' conditions did not hold.
    #[error("transaction cancelled: conditions failed at {failed:?}")]
    TransactionCanceled { failed: Vec<usize> },
    /// Another transaction touched the same items at the same time; retrying may succeed.
    #[error("transaction conflict")]
    Conflict,
    #[error("invalid store request: {0}")]
    Invalid(String),
    #[error("store unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl StoreError {
    /// A versioned write another writer won: its version moved first (the transaction
    /// is canceled), or DynamoDB saw the two transactions at once (a conflict). The
    /// claim-and-record loops of the outboxes (mail, provisioning, webhooks) step aside.
    pub fn lost_to_another_writer(&self) -> bool {
        matches!(
            self,
            StoreError::TransactionCanceled { .. } | StoreError::Conflict
        )
    }
}

/// The subset of DynamoDB the domain uses. Adapters hold no business rules. No scans.
#[async_trait]
pub trait ItemStore: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Items that exist among `keys` (at most `MAX_BATCH_GET`), in no particular order.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError>;
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError>;
    /// All or nothing; at most `MAX_TRANSACTION_ACTIONS` actions on distinct keys.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
}

/// Largest partition key DynamoDB accepts, in bytes.
pub const MAX_PK_BYTES: usize = 2048;
/// Largest sort key DynamoDB accepts, in bytes.
pub const MAX_SK_BYTES: usize = 1024;

/// DynamoDB's key rules, applied by every adapter so both refuse the same keys:
/// non-empty, no NUL byte (the embedded store's separator), within the size limits.
pub fn check_key(pk: &str, sk: &str) -> Result<(), StoreError> {
    let bad = |part: &str, max: usize| {
        part.is_empty() || part.len() > max || part.as_bytes().contains(&0)
    };
    if bad(pk, MAX_PK_BYTES) || bad(sk, MAX_SK_BYTES) {
        return Err(StoreError::Invalid(format!(
            "keys are non-empty, hold no NUL byte, and fit {MAX_PK_BYTES} (partition) and {MAX_SK_BYTES} (sort) bytes"
        )));
    }
    Ok(())
}

/// Checks every adapter applies before it touches storage.
pub fn validate_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() || ops.len() > MAX_TRANSACTION_ACTIONS {
        return Err(StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_ACTIONS} actions, not {}",
            ops.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(ops.len());
    for op in ops {
        let key = op.key();
        check_key(&key.pk, &key.sk)?;
        if let WriteOp::Put { item, .. } = op
            && let (Some(gpk), Some(gsk)) = (&item.gsi1pk, &item.gsi1sk)
        {
            check_key(gpk, gsk)?;
        }
        if !seen.insert(key) {
            return Err(StoreError::Invalid(
                "a transaction touches each item at most once".into(),
            ));
        }
    }
    Ok(())
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

/// The system clock moved forward by an offset: the local server's test clock
/// (`tenantry serve --test-clock`), which only ever moves ahead.
#[derive(Default)]
pub struct OffsetClock {
    offset: std::sync::Mutex<chrono::Duration>,
}

impl OffsetClock {
    /// Moves the clock so that it reads `to` now (never backwards: an earlier `to` is
    /// ignored).
    pub fn advance_to(&self, to: DateTime<Utc>) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        let now = Utc::now() + *offset;
        if to > now {
            *offset += to - now;
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// One email, rendered and addressed, as the outbox hands it to a [`Mailer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Email {
    /// The outbox item's id: the local part of the `Message-ID`, and the `.eml` file
    /// name, so the same email delivered twice is recognisably the same message.
    pub id: String,
    /// The sender's display name (the tenant's brand) and address.
    pub from_name: String,
    pub from_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Files sent with it (an invoice's PDF).
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying later: throttled, unreachable, paused.
    #[error("the mail service is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Retrying the same message will fail again: rejected, bad address, unverified sender.
    #[error("the mail service rejected the message")]
    Rejected(#[source] anyhow::Error),
}

/// Sends one email. Adapters: SES v2 in AWS, `.eml` files on a laptop.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// A file attached to an email: a stored document, read at delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// A key outside the documents' shape (`tenants/<id>/...`, plain characters).
    #[error("invalid document key: {0}")]
    Invalid(String),
    #[error("the document store is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// Final documents (invoice and credit note PDFs), written once and read back: S3 in
/// AWS, files in the data folder on a laptop. Writing the same key again replaces it.
#[async_trait]
pub trait Documents: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str)
    -> Result<(), DocumentError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, DocumentError>;
}

/// What a sealed secret is bound to: the tenant (none for the platform's own secrets,
/// such as a connector's OAuth client secret), what the secret is for, and the id of
/// the thing it belongs to. A secret opens only with the context it was sealed under
/// (KMS's encryption context in AWS, the AEAD's associated data locally), so a secret
/// copied to another tenant's or another endpoint's record does not open.
#[derive(Clone, Copy, Debug)]
pub struct VaultContext<'a> {
    pub tenant_id: Option<&'a TenantId>,
    /// The customer a secret belongs to, for a customer's own (a connection's
    /// credentials).
    pub customer_id: Option<&'a CustomerId>,
    /// e.g. `inbound-endpoint`, `webhook-endpoint`, `connection`, `connector`.
    pub purpose: &'a str,
    pub id: &'a str,
}

impl<'a> VaultContext<'a> {
    /// A tenant's secret.
    pub fn of_tenant(tenant_id: &'a TenantId, purpose: &'a str, id: &'a str) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            customer_id: None,
            purpose,
            id,
        }
    }

    /// A secret of one customer of a tenant.
    pub fn of_customer(
        tenant_id: &'a TenantId,
        customer_id: &'a CustomerId,
        purpose: &'a str,
        id: &'a str,
    ) -> Self {
        Self {
            tenant_id: Some(tenant_id),
            customer_id: Some(customer_id),
            purpose,
            id,
        }
    }

    /// The platform's own secret, of no tenant.
    pub fn of_platform(purpose: &'a str, id: &'a str) -> Self {
        Self {
            tenant_id: None,
            customer_id: None,
            purpose,
            id,
        }
    }

    /// The context as the associated data of the AEAD: every part, length-prefixed (a
    /// platform secret's tenant is the empty part, which no tenant id is; a customer's
    /// secret has a fourth part, its customer).
    pub fn associated_data(&self) -> Vec<u8> {
        let mut out = b"tenantry-vault-v1".to_vec();
        let tenant = self.tenant_id.map_or("", |t| t.as_str());
        let customer = self.customer_id.map(|c| c.as_str());
        for part in [Some(tenant), Some(self.purpose), Some(self.id), customer]
            .into_iter()
            .flatten()
        {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// A sealed secret as stored: the scheme, the wrapped data key (KMS) or the local key's
/// fingerprint, and the AES-256-GCM nonce and ciphertext (with its tag), in base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub scheme: String,
    pub key: String,
    pub nonce: String,
    pub ciphertext: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The context, the key or the bytes are not the ones it was sealed with.
    #[error("the secret does not open under this context and key")]
    Refused,
    #[error("the vault is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// Keeps secrets that must be used as they are (HMAC keys, credentials), so they cannot
/// be stored as hashes: envelope encryption under KMS in AWS, AES-256-GCM under a key
/// file in the data folder locally.
#[async_trait]
pub trait Vault: Send + Sync {
    async fn seal(&self, context: &VaultContext<'_>, secret: &[u8]) -> Result<Sealed, VaultError>;
    async fn open(
        &self,
        context: &VaultContext<'_>,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, VaultError>;
}

/// A webhook delivery's answer: its status and the first bytes of its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAnswer {
    pub status: u16,
    /// The first KiB of the body (or what the request asked to keep), as text (lossy).
    pub body: String,
}

/// The most of an answer's body any request keeps.
pub const MAX_KEPT_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WebhookSendError {
    /// Not sent: the address is not allowed (not https, a private or local address,
    /// unresolvable). Recorded as the attempt's error.
    #[error("refused: {0}")]
    Refused(String),
    /// Sent, or tried, and no answer: a timeout, a connection error.
    #[error("failed: {0}")]
    Failed(String),
}

/// Sends requests to partners' and providers' servers, no redirects followed, with a
/// time limit: a signed webhook (one POST of JSON), or any request (a connector's
/// check).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<WebhookAnswer, WebhookSendError>;

    /// One request of `method` with these headers and body, under the same rules,
    /// keeping up to `keep` bytes of the answer's body (at most
    /// [`MAX_KEPT_BYTES`]; a token endpoint's JSON needs more than a webhook's 1 KiB).
    async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        keep: usize,
    ) -> Result<WebhookAnswer, WebhookSendError>;
}

/// A queue of work messages (SQS in AWS): JSON text, each at most 256 KB. A message may
/// be delivered more than once and in any order, so the work it names must be
/// idempotent (the invoice run's is: it resumes from a stored cursor).
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends every message, or fails; some may have been sent when it fails.
    async fn send(&self, bodies: &[String]) -> Result<(), QueueError>;
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the work queue is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The documents' keys: `tenants/<tenant id>/<kind>/<file>`, letters, digits, `_`, `-`,
/// `.` and `/` only, no empty or dot segment. Both adapters refuse any other.
pub fn check_document_key(key: &str) -> Result<(), DocumentError> {
    let plain = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    let segments_ok = key
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..");
    if plain && segments_ok && key.starts_with("tenants/") && key.len() <= 512 {
        Ok(())
    } else {
        Err(DocumentError::Invalid(key.to_owned()))
    }
}

/// A login pool: where a tenant's customer users (or all staff) sign in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pool {
    pub id: String,
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The app client its tokens are for (`aud` / `client_id`).
    pub client_id: String,
}

/// A login to create. `username` is the normalized email (a customer pool) or the member
/// id (the staff pool); `subject` is our user or member id.
#[derive(Clone, Debug)]
pub struct NewLogin {
    pub username: String,
    pub subject: String,
    /// Set now (permanent), or None: the user sets one through an invitation later.
    pub password: Option<String>,
}

/// What a successful sign-in returns.
#[derive(Clone, Debug, Serialize)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Wrong password, unknown user or disabled user: one answer for all three, so the
    /// answer does not tell which addresses have logins.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("a login with this email already exists")]
    UserExists,
    /// The identity provider refused the password (its policy is the tenancy core's:
    /// 8+ characters with upper, lower, digit and special).
    #[error("the password does not meet the password policy")]
    WeakPassword,
    /// The identity provider refused the username (the email) itself.
    #[error("the identity provider refused the email as a username")]
    InvalidUsername,
    #[error("no such login")]
    NoSuchUser,
    /// The login changed meanwhile (a concurrent change won): try again.
    #[error("the login changed meanwhile")]
    Conflict,
    #[error("the identity provider is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// Logins: Cognito in AWS, the embedded store with a local token issuer on a laptop.
#[async_trait]
pub trait Identity: Send + Sync {
    /// The tenant's customer pool, created when missing; calling it again returns the
    /// same pool (resumable provisioning).
    async fn ensure_customer_pool(&self, tenant_id: &TenantId) -> Result<Pool, IdentityError>;
    /// The one pool of every tenant's staff. Its usernames are member ids (`mem_...`),
    /// not emails: one person may be staff of several tenants, with one login each.
    async fn staff_pool(&self) -> Result<Pool, IdentityError>;
    /// Creates the login (no email from the provider: ours go out through the outbox) and
    /// returns the subject (`sub`) its tokens will carry.
    async fn create_user(&self, pool: &Pool, login: &NewLogin) -> Result<String, IdentityError>;
    async fn set_enabled(
        &self,
        pool: &Pool,
        username: &str,
        enabled: bool,
    ) -> Result<(), IdentityError>;
    async fn set_password(
        &self,
        pool: &Pool,
        username: &str,
        password: &str,
    ) -> Result<(), IdentityError>;
    async fn delete_user(&self, pool: &Pool, username: &str) -> Result<(), IdentityError>;
    /// Renames a login to a new (verified) email: its subject, password and state stay.
    /// `UserExists` when another login has that email.
    async fn change_email(
        &self,
        pool: &Pool,
        username: &str,
        new_email: &str,
    ) -> Result<(), IdentityError>;
    async fn authenticate(
        &self,
        pool: &Pool,
        username: &str,
        password: &str,
    ) -> Result<Tokens, IdentityError>;
}

#[cfg(test)]
mod vault_context_tests {
    use super::*;

    /// The associated data of a tenant's secret is what it was before contexts took a
    /// customer or no tenant: secrets sealed then still open.
    #[test]
    fn a_tenant_context_keeps_its_associated_data_byte_for_byte() {
        let tenant = TenantId::from_record("ten_0197b2a4c3e07d1a9f2b3c4d5e6f7a80");
        let cx = VaultContext::of_tenant(&tenant, "webhook-endpoint", "whe_1");
        let mut expected = b"tenantry-vault-v1".to_vec();
        for part in [
            &b"ten_0197b2a4c3e07d1a9f2b3c4d5e6f7a80"[..],
            b"webhook-endpoint",
            b"whe_1",
        ] {
            expected.extend_from_slice(&(part.len() as u32).to_be_bytes());
            expected.extend_from_slice(part);
        }
        assert_eq!(cx.associated_data(), expected);
        // A customer's secret adds its customer; a platform secret has an empty tenant.
        let customer = CustomerId::from_record("cus_1");
        let with = VaultContext::of_customer(&tenant, &customer, "webhook-endpoint", "whe_1");
        let mut longer = expected.clone();
        longer.extend_from_slice(&5u32.to_be_bytes());
        longer.extend_from_slice(b"cus_1");
        assert_eq!(with.associated_data(), longer);
        let platform = VaultContext::of_platform("webhook-endpoint", "whe_1").associated_data();
        assert_eq!(&platform[17..21], &0u32.to_be_bytes());
    }
}
