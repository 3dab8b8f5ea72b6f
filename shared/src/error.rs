//! The domain's one error type; the HTTP edge maps it to problem+json in one place.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ports::StoreError;

/// One bad field: its JSON path (`company.address.postal_code`) and what to fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is unusable (malformed JSON, unknown field, missing confirm).
    #[error("bad request: {detail}")]
    BadRequest {
        kind: ProblemKind,
        detail: String,
        field: Option<String>,
    },
    /// Well-formed but invalid values; every bad field is listed.
    #[error("validation failed on {} field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// A sign-in with a wrong email or password (one answer for both).
    #[error("the email or password is wrong")]
    InvalidLogin,
    /// Too many failed sign-ins; retry after this many seconds.
    #[error("too many attempts")]
    Throttled { retry_after_seconds: u64 },
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Also what another tenant's resource looks like: indistinguishable from absent.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {detail}")]
    Conflict {
        kind: ProblemKind,
        detail: String,
        extra: Map<String, Value>,
    },
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// A service this request needs (the identity provider) failed; nothing was lost and
    /// the request can be retried. The detail is safe to show.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    pub fn bad_request(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Error::BadRequest {
            kind,
            detail: detail.into(),
            field: None,
        }
    }
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, detail)])
    }
    pub fn conflict(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Error::Conflict {
            kind,
            detail: detail.into(),
            extra: Map::new(),
        }
    }
    /// A conflict over a value that must be unique: `field` names it.
    pub fn duplicate(kind: ProblemKind, field: &str, detail: impl Into<String>) -> Self {
        let mut extra = Map::new();
        extra.insert("field".into(), Value::String(field.into()));
        Error::Conflict {
            kind,
            detail: detail.into(),
            extra,
        }
    }
    /// The same conflict with `key` in its problem's body, beside `type` and `detail`:
    /// what a client acts on (`max_users`, `invoice_status`, `retry_after_seconds`). Any
    /// other error is left as it is.
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        if let Error::Conflict { extra, .. } = &mut self {
            extra.insert(
                key.into(),
                serde_json::to_value(value).unwrap_or(Value::Null),
            );
        }
        self
    }
    pub fn concurrent_update() -> Self {
        Error::conflict(
            ProblemKind::ConcurrentUpdate,
            "the resource changed while this request was applied; read it again and retry",
        )
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict | StoreError::ConditionFailed => Error::concurrent_update(),
            StoreError::TransactionCanceled { .. } => Error::concurrent_update(),
            StoreError::Invalid(msg) => {
                Error::Unexpected(anyhow::anyhow!("invalid store request: {msg}"))
            }
            StoreError::Unavailable(e) => Error::Unexpected(e.context("the item store failed")),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Declares [`ProblemKind`]: each kind's variant, its name in `type`, its status and
/// what it means, written once.
macro_rules! problem_kinds {
    ($($variant:ident = $name:literal, $status:literal, $meaning:literal;)*) => {
        /// Every kind of problem the API answers (`type`: `urn:tenantry:problem:<name>`):
        /// the one list, which the API document publishes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ProblemKind {
            $($variant,)*
        }

        impl ProblemKind {
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$variant,)*];

            /// Its name in the problem's `type` URI.
            pub fn name(self) -> &'static str {
                match self {
                    $(ProblemKind::$variant => $name,)*
                }
            }

            /// The HTTP status it is answered with.
            /// Its `type`: `urn:tenantry:problem:<name>`.
            pub fn type_uri(self) -> String {
                format!("urn:tenantry:problem:{}", self.name())
            }

            pub fn status(self) -> u16 {
                match self {
                    $(ProblemKind::$variant => $status,)*
                }
            }

            /// What it means, for the API document.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ProblemKind::$variant => $meaning,)*
                }
            }
        }
    };
}

problem_kinds! {
    MalformedJson = "malformed-json", 400, "The body is not exactly one JSON object.";
    MissingBody = "missing-body", 400, "The route needs a JSON body.";
    UnknownField = "unknown-field", 400, "A field the route does not take (`field` names it).";
    DuplicateField = "duplicate-field", 400, "A field given twice.";
    ConfirmationRequired = "confirmation-required", 400, "A deletion without `confirm=true`.";
    Unauthenticated = "unauthenticated", 401, "No valid credential; the detail says what was sent.";
    InvalidSignature = "invalid-signature", 401, "A webhook's signature or timestamp does not check out (`field` names the header).";
    InvalidCredentials = "invalid-credentials", 401, "A sign-in's email or password is wrong.";
    Forbidden = "forbidden", 403, "A known caller without the permission.";
    NotFound = "not-found", 404, "Nothing there, or another tenant's: they look the same.";
    MethodNotAllowed = "method-not-allowed", 405, "The path takes other methods (`Allow`).";
    ConcurrentUpdate = "concurrent-update", 409, "It changed while the request was applied: read it again.";
    DuplicateEmail = "duplicate-email", 409, "The email is taken in this tenant (`field`).";
    DuplicateCompanyName = "duplicate-company-name", 409, "The company name is taken in this tenant (`field`).";
    DuplicateSlug = "duplicate-slug", 409, "The slug is taken (`field`).";
    InvalidTransition = "invalid-transition", 409, "Not allowed from the customer's status (`customer_status`, `allowed_transitions`).";
    PurgeDue = "purge-due", 409, "The restore window has passed.";
    CustomerDeleted = "customer-deleted", 409, "A deleted customer cannot be changed; restore it first.";
    CustomerAdmin = "customer-admin", 409, "Not for the customer's admin.";
    UserInactive = "user-inactive", 409, "The user is deactivated; reactivate it first.";
    EndpointLimitReached = "endpoint-limit-reached", 409, "The tenant has its 50 webhook endpoints.";
    TemplateLimitReached = "template-limit-reached", 409, "The tenant has its 100 customer templates.";
    DuplicateTemplate = "duplicate-template", 409, "A customer template with this code exists.";
    DuplicateConnector = "duplicate-connector", 409, "A connector with this code exists.";
    ConnectorLimitReached = "connector-limit-reached", 409, "The catalog holds its 200 connectors.";
    ConnectionLimitReached = "connection-limit-reached", 409, "The customer has its 50 connections.";
    ConnectorUnavailable = "connector-unavailable", 409, "The connection's connector cannot be used for this.";
    ConnectionNotAuthorized = "connection-not-authorized", 409, "The connection has no credentials yet.";
    NoAllowedOrigins = "no-allowed-origins", 409, "The tenant lists no origin that may open its connect page (`PUT /v1/allowed-origins`).";
    SupportAccessDisabled = "support-access-disabled", 409, "The customer does not allow support sessions (its `support_access`).";
    SupportSessionOver = "support-session-over", 409, "The support session is not waiting or active any more (`session_status`).";
    CustomerInactive = "customer-inactive", 409, "The customer is not active (suspended, deactivated or deleted).";
    ReauthorizationRequired = "reauthorization-required", 409, "The provider no longer accepts the connection's grant; invite the customer's contact again.";
    EndpointDisabled = "endpoint-disabled", 409, "The webhook endpoint is disabled; enable it first.";
    UserLimitReached = "user-limit-reached", 409, "The customer is at its `max_users`.";
    LastOwner = "last-owner", 409, "A tenant keeps at least one active owner.";
    MemberDisabled = "member-disabled", 409, "The member is disabled.";
    StaffLoginsUnavailable = "staff-logins-unavailable", 409, "This deployment has no identity provider.";
    TenantProvisioning = "tenant-provisioning", 409, "The tenant's login pool is not ready yet.";
    DuplicateExternalId = "duplicate-external-id", 409, "Another customer of the tenant has this `external_id` (`field`).";
    DuplicateCode = "duplicate-code", 409, "The code is taken in the catalog (`field`).";
    PlanArchived = "plan-archived", 409, "The plan is archived and takes no new subscriptions.";
    SubscriptionExists = "subscription-exists", 409, "The customer has a current subscription; change it (PATCH) instead.";
    SubscriptionEnded = "subscription-ended", 409, "The subscription has ended; start a new one.";
    CurrencyMismatch = "currency-mismatch", 409, "The plan's currency is not the subscription's; cancel and subscribe anew.";
    FeatureNotInPlan = "feature-not-in-plan", 409, "The customer's plan does not include the feature (`plan`, `features`).";
    NoSubscription = "no-subscription", 409, "The customer has no current subscription.";
    InvoiceNotDraft = "invoice-not-draft", 409, "Only a draft invoice can be changed this way (`status`).";
    InvoiceNotOpen = "invoice-not-open", 409, "Only a final, unpaid invoice takes payments or credit notes.";
    DocumentNotIssued = "document-not-issued", 409, "A draft (`invoice_status`) has no PDF until it is final; its HTML view (`Accept: text/html`) shows it now.";
    DocumentPending = "document-pending", 409, "The final document is being rendered and stored; ask again in a minute (`retry_after_seconds`).";
    RunInProgress = "run-in-progress", 409, "The invoice run is still billing this month for the tenant.";
    KeyInUse = "key-in-use", 409, "The operator key the request is made with cannot revoke itself.";
    LinkInUse = "link-in-use", 409, "Another request is using this one-time link right now.";
    EmailNotDead = "email-not-dead", 409, "Only a dead-lettered email can be redriven (`state`).";
    EmailSecretDropped = "email-secret-dropped", 409, "The email's code or link was dropped; ask for a new one.";
    IdempotencyInProgress = "idempotency-in-progress", 409, "A request with this Idempotency-Key is still running.";
    IdempotencyKeyReused = "idempotency-key-reused", 409, "The Idempotency-Key was used with another request.";
    PreconditionFailed = "precondition-failed", 412, "`If-Match` names a version that is not the current one.";
    BodyTooLarge = "body-too-large", 413, "The body is over 256 KiB.";
    UnsupportedMediaType = "unsupported-media-type", 415, "The body is not `application/json`.";
    Validation = "validation", 422, "Invalid values; `errors` names every bad field.";
    TooManyAttempts = "too-many-attempts", 429, "Too many attempts; `Retry-After` says when to try again.";
    Internal = "internal", 500, "Something failed on our side; `request_id` finds it in the log.";
    DependencyUnavailable = "dependency-unavailable", 503, "A service it needs failed; nothing was lost, retry.";
}

#[cfg(test)]
mod tests {
    use super::ProblemKind;

    #[test]
    fn each_kind_has_its_own_name_and_an_error_status() {
        let mut names: Vec<&str> = ProblemKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            ProblemKind::ALL.len(),
            "two kinds share a name"
        );
        for k in ProblemKind::ALL {
            assert!((400..600).contains(&k.status()), "{k:?}");
            assert!(
                k.name().chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{k:?}"
            );
        }
    }
}
