//! Maps the domain error to RFC 9457 problem+json, in one place.

use http::StatusCode;
use serde_json::{Value, json};
use tenantry::Error;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem document and its status.
pub struct Problem {
    pub status: StatusCode,
    pub body: Value,
}

fn type_uri(kind: &str) -> String {
    format!("urn:tenantry:problem:{kind}")
}

pub fn problem(status: StatusCode, kind: &str, title: &str, detail: &str) -> Problem {
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
            let status = match *kind {
                "unsupported-media-type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "body-too-large" => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut p = problem(status, kind, "Bad request", detail);
            if let Some(f) = field {
                p.body["errors"] = json!([{ "field": f, "detail": detail }]);
            }
            p
        }
        Error::Invalid(errors) => {
            let mut p = problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
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
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            unauthenticated_detail(authorization),
        ),
        Error::InvalidLogin => problem(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "Sign-in failed",
            "the email or password is wrong",
        ),
        Error::Throttled {
            retry_after_seconds,
        } => {
            let mut p = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "Too many attempts",
                "too many attempts in a short while (sign-ins, codes, links or forms); wait the seconds Retry-After says and try again",
            );
            p.body["retry_after_seconds"] = json!(retry_after_seconds);
            p
        }
        Error::Forbidden(detail) => {
            problem(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
        }
        Error::NotFound(what) => problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            &format!("no such {what}"),
        ),
        Error::Conflict {
            kind,
            detail,
            extra,
        } => {
            let mut p = problem(StatusCode::CONFLICT, kind, "Conflict", detail);
            // Extras add to the problem; they never replace its own members.
            for (k, v) in extra {
                if p.body.get(k).is_none() {
                    p.body[k] = v.clone();
                }
            }
            p
        }
        Error::PreconditionFailed(detail) => problem(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            detail,
        ),
        Error::Unavailable(detail) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            "Service unavailable",
            detail,
        ),
        Error::Unexpected(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
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
