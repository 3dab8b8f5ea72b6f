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
        kind: &'static str,
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
        kind: &'static str,
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
    pub fn bad_request(kind: &'static str, detail: impl Into<String>) -> Self {
        Error::BadRequest {
            kind,
            detail: detail.into(),
            field: None,
        }
    }
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, detail)])
    }
    pub fn conflict(kind: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict {
            kind,
            detail: detail.into(),
            extra: Map::new(),
        }
    }
    pub fn concurrent_update() -> Self {
        Error::conflict(
            "concurrent-update",
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
