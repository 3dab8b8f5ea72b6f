//! Maps the domain error to RFC 9457 problem+json, in one place.

use http::StatusCode;
use serde_json::{Value, json};
use tenantry::Error;
use tenantry::error::ProblemKind;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem document and its status.
pub struct Problem {
    pub status: StatusCode,
    pub body: Value,
}

fn type_uri(kind: ProblemKind) -> String {
    kind.type_uri()
}

/// The problem of `kind`, answered with the kind's status.
pub fn problem(kind: ProblemKind, title: &str, detail: &str) -> Problem {
    let status = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Problem {
        status,
        body: json!({
            "type": type_uri(kind),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        }),
    }
}

/// The problem for a domain error. 5xx bodies are opaque: the cause goes to the log.
/// The problem for `e`. `authorization` is the request's `Authorization` header, which a
/// 401's detail names the kind of (nothing, an API key, a token).
pub fn from_error(e: &Error, request_id: &str, authorization: Option<&str>) -> Problem {
    let mut p = match e {
        Error::BadRequest {
            kind,
            detail,
            field,
        } => {
            let mut p = problem(*kind, "Bad request", detail);
            if let Some(f) = field {
                p.body["errors"] = json!([{ "field": f, "detail": detail }]);
            }
            p
        }
        Error::Invalid(errors) => {
            let mut p = problem(
                ProblemKind::Validation,
                "Invalid request",
                &format!(
                    "{} field(s) need fixing: {}",
                    errors.len(),
                    errors
                        .iter()
                        .map(|e| e.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            p.body["errors"] = json!(errors);
            p
        }
        Error::Unauthenticated => problem(
            ProblemKind::Unauthenticated,
            "Unauthenticated",
            unauthenticated_detail(authorization),
        ),
        Error::InvalidLogin => problem(
            ProblemKind::InvalidCredentials,
            "Sign-in failed",
            "the email or password is wrong",
        ),
        Error::Throttled {
            retry_after_seconds,
        } => {
            let mut p = problem(
                ProblemKind::TooManyAttempts,
                "Too many attempts",
                "too many attempts in a short while (sign-ins, codes, links or forms); wait the seconds Retry-After says and try again",
            );
            p.body["retry_after_seconds"] = json!(retry_after_seconds);
            p
        }
        Error::Forbidden(detail) => problem(ProblemKind::Forbidden, "Forbidden", detail),
        Error::NotFound(what) => problem(
            ProblemKind::NotFound,
            "Not found",
            &format!("no such {what}"),
        ),
        Error::Conflict {
            kind,
            detail,
            extra,
        } => {
            let mut p = problem(*kind, "Conflict", detail);
            // Extras add to the problem; they never replace its own members.
            for (k, v) in extra {
                if p.body.get(k).is_none() {
                    p.body[k] = v.clone();
                }
            }
            p
        }
        Error::PreconditionFailed(detail) => problem(
            ProblemKind::PreconditionFailed,
            "Precondition failed",
            detail,
        ),
        Error::Unavailable(detail) => problem(
            ProblemKind::DependencyUnavailable,
            "Service unavailable",
            detail,
        ),
        Error::Unexpected(_) => problem(
            ProblemKind::Internal,
            "Internal error",
            "something went wrong on our side; nothing was lost. Retry, and quote the request_id if it persists",
        ),
    };
    p.body["request_id"] = json!(request_id);
    p
}

/// What a 401 says, by what the request sent: nothing, an API key, or a token.
pub fn unauthenticated_detail(authorization: Option<&str>) -> &'static str {
    let credential = authorization
        .map(str::trim)
        .and_then(|h| {
            h.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| h[7..].trim())
        })
        .filter(|c| !c.is_empty());
    match (authorization, credential) {
        (None, _) => {
            "send a credential as Authorization: Bearer <an API key (tk_...) or a sign-in's access token>"
        }
        (Some(_), None) => "the Authorization header must be Bearer <credential>",
        (Some(_), Some(c)) if c.starts_with("tk_") => {
            "the API key sent is not valid: it is unknown or was revoked"
        }
        (Some(_), Some(_)) => {
            "the token sent is not valid (any more): it expired, or its user, customer or membership is no longer active; sign in again"
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_401_names_what_was_sent() {
        use super::unauthenticated_detail as d;
        assert!(d(None).starts_with("send a credential"));
        assert!(d(Some("Basic abc")).contains("must be Bearer"));
        assert!(d(Some("Bearer tk_123")).contains("API key"));
        assert!(d(Some("bearer eyJhbGciOi.x.y")).contains("token sent is not valid"));
    }
}
