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

/// Every kind of problem the API answers (`type`: `urn:tenantry:problem:<kind>`), with
/// its status and what it means: the one list, which the API document publishes and a
/// test checks every kind in the code against.
pub const PROBLEM_TYPES: &[(&str, u16, &str)] = &[
    (
        "malformed-json",
        400,
        "The body is not exactly one JSON object.",
    ),
    ("missing-body", 400, "The route needs a JSON body."),
    (
        "unknown-field",
        400,
        "A field the route does not take (`field` names it).",
    ),
    ("duplicate-field", 400, "A field given twice."),
    (
        "confirmation-required",
        400,
        "A deletion without `confirm=true`.",
    ),
    (
        "unauthenticated",
        401,
        "No valid credential; the detail says what was sent.",
    ),
    (
        "invalid-credentials",
        401,
        "A sign-in's email or password is wrong.",
    ),
    ("forbidden", 403, "A known caller without the permission."),
    (
        "not-found",
        404,
        "Nothing there, or another tenant's: they look the same.",
    ),
    (
        "method-not-allowed",
        405,
        "The path takes other methods (`Allow`).",
    ),
    (
        "concurrent-update",
        409,
        "It changed while the request was applied: read it again.",
    ),
    (
        "duplicate-email",
        409,
        "The email is taken in this tenant (`field`).",
    ),
    (
        "duplicate-company-name",
        409,
        "The company name is taken in this tenant (`field`).",
    ),
    ("duplicate-slug", 409, "The slug is taken (`field`)."),
    (
        "invalid-transition",
        409,
        "Not allowed from the customer's status (`customer_status`, `allowed_transitions`).",
    ),
    ("purge-due", 409, "The restore window has passed."),
    (
        "customer-deleted",
        409,
        "A deleted customer cannot be changed; restore it first.",
    ),
    ("customer-admin", 409, "Not for the customer's admin."),
    (
        "user-inactive",
        409,
        "The user is deactivated; reactivate it first.",
    ),
    (
        "user-limit-reached",
        409,
        "The customer is at its `max_users`.",
    ),
    (
        "last-owner",
        409,
        "A tenant keeps at least one active owner.",
    ),
    ("member-disabled", 409, "The member is disabled."),
    (
        "staff-logins-unavailable",
        409,
        "This deployment has no identity provider.",
    ),
    (
        "tenant-provisioning",
        409,
        "The tenant's login pool is not ready yet.",
    ),
    (
        "key-in-use",
        409,
        "The operator key the request is made with cannot revoke itself.",
    ),
    (
        "link-in-use",
        409,
        "Another request is using this one-time link right now.",
    ),
    (
        "email-not-dead",
        409,
        "Only a dead-lettered email can be redriven (`state`).",
    ),
    (
        "email-secret-dropped",
        409,
        "The email's code or link was dropped; ask for a new one.",
    ),
    (
        "idempotency-in-progress",
        409,
        "A request with this Idempotency-Key is still running.",
    ),
    (
        "idempotency-key-reused",
        409,
        "The Idempotency-Key was used with another request.",
    ),
    (
        "precondition-failed",
        412,
        "`If-Match` names a version that is not the current one.",
    ),
    ("body-too-large", 413, "The body is over 64 KiB."),
    (
        "unsupported-media-type",
        415,
        "The body is not `application/json`.",
    ),
    (
        "validation",
        422,
        "Invalid values; `errors` names every bad field.",
    ),
    (
        "too-many-attempts",
        429,
        "Too many attempts; `Retry-After` says when to try again.",
    ),
    (
        "internal",
        500,
        "Something failed on our side; `request_id` finds it in the log.",
    ),
    (
        "dependency-unavailable",
        503,
        "A service it needs failed; nothing was lost, retry.",
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The kind strings the code answers with: the arguments of `Error::conflict` and
    /// `Error::bad_request`, `kind:` fields, and the edge's `problem(status, kind, ..)`.
    fn kinds_in(source: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        for marker in [
            "conflict(",
            "bad_request(",
            "kind: ",
            "problem(StatusCode::",
        ] {
            for (at, _) in code.match_indices(marker) {
                let rest = &code[at + marker.len()..];
                // The first string literal after the marker (past a status argument).
                let Some(open) = rest.find('"') else { continue };
                if rest[..open].contains(';') || rest[..open].len() > 60 {
                    continue;
                }
                let lit: String = rest[open + 1..].chars().take_while(|c| *c != '"').collect();
                if !lit.is_empty() && lit.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                    found.insert(lit);
                }
            }
        }
        found
    }

    #[test]
    fn every_problem_kind_in_the_code_is_in_the_catalogue() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let catalogue: BTreeSet<&str> = super::PROBLEM_TYPES.iter().map(|p| p.0).collect();
        let mut seen = BTreeSet::new();
        let mut stack = vec![root.join("shared/src"), root.join("functions/src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("a source folder") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    for kind in kinds_in(&text) {
                        // `kind: "staff"` is a password link's kind, not a problem's.
                        if kind != "staff" && kind != "customer_user" {
                            assert!(
                                catalogue.contains(kind.as_str()),
                                "{}: problem kind {kind} is not in error::PROBLEM_TYPES",
                                path.display()
                            );
                            seen.insert(kind);
                        }
                    }
                }
            }
        }
        assert!(seen.len() >= 20, "the reader finds the kinds: {seen:?}");
    }
}
