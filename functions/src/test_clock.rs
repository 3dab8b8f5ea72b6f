//! The local server's test clock (`tenantry serve --test-clock`), like a billing
//! provider's test clocks: `POST /v1/test-clock/advance {"to": "<RFC 3339>"}` (the
//! operator) moves the server's clock forward and runs, in order, every scheduled job that
//! falls due on the way (invoice runs, review windows, dunning steps, purges, email
//! deliveries) before it answers. The route exists only with the flag: it is not in the
//! route table, so no Lambda and no API document has it.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use tenantry::Deps;
use tenantry::access::Principal;
use tenantry::error::ProblemKind;
use tenantry::ports::{Clock, Mailer, OffsetClock};
use tenantry::service::mail::{self, MailSettings};
use tenantry::service::{auth, documents, jobs};

/// How far the clock moves between two rounds of due jobs: each round sees what fell due
/// by its time, so jobs run in the order they fall due (to the hour).
const STEP: Duration = Duration::hours(1);
/// The furthest one call moves the clock.
const MAX_AHEAD: Duration = Duration::days(800);

pub struct TestClock {
    pub deps: Deps,
    pub clock: Arc<OffsetClock>,
    pub mailer: Arc<dyn Mailer>,
    pub settings: MailSettings,
    /// Held while an advance runs: one advance at a time, and the server's own job and
    /// mail loops wait (they take it for each of their rounds), so nothing is delivered
    /// twice across a jump in time.
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

/// What an advance did, summed over its rounds.
#[derive(Debug, Default, Serialize)]
pub struct Advanced {
    pub now: Option<DateTime<Utc>>,
    pub rounds: u64,
    pub invoice_runs: Vec<String>,
    pub invoices_finalized: u64,
    pub reminders: u64,
    pub suspensions: u64,
    pub customers_purged: u64,
    pub documents_stored: u64,
    pub emails_sent: u64,
    pub failures: u64,
}

fn problem(kind: ProblemKind, detail: &str, field: Option<&str>) -> Response {
    let mut p = crate::api::problem::problem(kind, "Test clock", detail);
    if let Some(f) = field {
        p.body["errors"] = serde_json::json!([{ "field": f, "detail": detail }]);
    }
    (
        p.status,
        [(
            http::header::CONTENT_TYPE,
            crate::api::problem::CONTENT_TYPE,
        )],
        p.body.to_string(),
    )
        .into_response()
}

async fn advance(
    State(tc): State<Arc<TestClock>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth::authenticate(&tc.deps, auth::bearer(header)).await {
        Ok(Principal::Operator { .. }) => {}
        Ok(_) => {
            return problem(
                ProblemKind::Forbidden,
                "the test clock is the operator's",
                None,
            );
        }
        Err(_) => {
            return problem(
                ProblemKind::Unauthenticated,
                "send the operator key as Authorization: Bearer",
                None,
            );
        }
    }
    let to = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("to").and_then(|t| t.as_str()).map(str::to_owned))
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(to) = to else {
        return problem(
            ProblemKind::Validation,
            "is required: an RFC 3339 time, e.g. 2026-12-01T02:00:00Z",
            Some("to"),
        );
    };
    let _one = tc.lock.lock().await;
    let start = tc.clock.now();
    if to <= start || to - start > MAX_AHEAD {
        return problem(
            ProblemKind::Validation,
            &format!("must be after the clock's now ({start}) and at most 800 days ahead"),
            Some("to"),
        );
    }
    let mut out = Advanced::default();
    let mut t = start;
    while t < to {
        t = (t + STEP).min(to);
        tc.clock.advance_to(t);
        out.rounds += 1;
        match jobs::run_due(&tc.deps, t).await {
            Ok(r) => {
                if let Some(run) = r.invoice_run {
                    out.invoice_runs.push(run.period);
                }
                out.invoices_finalized += r.review.finalized;
                out.reminders += r.dunning.reminders;
                out.suspensions += r.dunning.suspensions;
                out.customers_purged += r.purge.customers_purged;
                out.failures += r.review.failed + r.dunning.failed + r.purge.failures;
            }
            Err(_) => out.failures += 1,
        }
        match documents::store_due(&tc.deps, &crate::document::render, t).await {
            Ok(r) => {
                out.documents_stored += r.stored;
                out.failures += r.failed;
            }
            Err(_) => out.failures += 1,
        }
        match mail::deliver_due(&tc.deps, tc.mailer.as_ref(), &tc.settings).await {
            Ok(r) => out.emails_sent += r.sent,
            Err(_) => out.failures += 1,
        }
    }
    out.now = Some(tc.clock.now());
    (StatusCode::OK, axum::Json(out)).into_response()
}

/// The test clock's route, to merge into the local server's router.
pub fn router(tc: Arc<TestClock>) -> Router {
    Router::new()
        .route("/v1/test-clock/advance", axum::routing::post(advance))
        .with_state(tc)
}
