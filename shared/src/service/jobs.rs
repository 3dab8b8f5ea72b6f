//! Scheduled work, in the order it falls due: the month's invoice run (02:00 UTC on the
//! 1st, for the month that just closed), the end of invoices' review windows, dunning
//! steps of unpaid invoices, and the purge of deleted customers. The local server calls `run_due` every minute; the
//! `tenantry jobs` command calls it once; in AWS, EventBridge Scheduler starts each job's
//! own function.

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;

use super::invoice_run::{self, RunReport};
use super::invoices::{self, ReviewReport};
use super::purge::{self, PurgeReport};
use crate::Deps;
use crate::error::Error;
use crate::model::billing::Period;
use crate::ports::{Condition, Item};
use crate::store::keys;

/// The hour (UTC) of the 1st at which the month before is billed.
pub const RUN_HOUR: u32 = 2;
/// Tenants billed at once by the local worker pool.
pub const WORKERS: usize = 4;

/// The month the run bills at `now`, once its start time has passed: the month before.
pub fn month_due(now: DateTime<Utc>) -> Period {
    let today = now.date_naive();
    let this = Period::of(today);
    let start = this
        .first_day()
        .and_time(NaiveTime::from_hms_opt(RUN_HOUR, 0, 0).unwrap_or_default())
        .and_utc();
    if now >= start {
        this.previous()
    } else {
        this.previous().previous()
    }
}

/// What `run_due` did.
#[derive(Debug, Default, Serialize)]
pub struct JobsReport {
    /// The invoice run, when one was due and not yet done.
    pub invoice_run: Option<RunReport>,
    pub review: ReviewReport,
    pub dunning: invoices::DunningReport,
    pub purge: PurgeReport,
}

/// The month's invoice run, once: every tenant, then the mark that it is done. A run cut
/// off half-way is resumed by the next call (each tenant from its own cursor).
///
/// With a work queue (AWS), the run is handed out instead: one message per tenant,
/// which the worker function bills. The mark then says the month was sent, and is
/// followed up: every `FOLLOW_UP_EVERY`, each tenant whose run is not done is sent
/// again (a message lost to the dead-letter queue, or one still in flight: a duplicate
/// is harmless), until every tenant is done or `FOLLOW_UP_FOR` has passed.
pub async fn invoice_run_once(deps: &Deps, period: Period) -> Result<Option<RunReport>, Error> {
    let key = keys::platform_invoice_run(&period.to_string());
    let now = deps.clock.now();
    let Some(queue) = deps.work_queue() else {
        if deps.store.get(&key).await?.is_some() {
            return Ok(None);
        }
        let report = invoice_run::run_all(deps, period, WORKERS).await?;
        if report.failed.is_empty() {
            deps.store
                .put(Item::marker(key), Condition::None)
                .await
                .map_err(Error::from)?;
        }
        return Ok(Some(report));
    };
    let (sent, version) = match deps.store.get(&key).await? {
        // A mark without a follow-up (written locally, or before it) is final.
        Some(item) => match super::from_item::<Sent>(&item) {
            Ok(s) if !s.complete => (Some(s), item.version),
            _ => return Ok(None),
        },
        None => (None, 0),
    };
    let (tenants, next) = match sent {
        None => (
            invoice_run::plan(deps, queue.as_ref(), period).await?,
            Sent {
                sent_at: now,
                checked_at: now,
                complete: false,
            },
        ),
        Some(s) if now - s.checked_at < FOLLOW_UP_EVERY => return Ok(None),
        Some(s) => {
            let unfinished = invoice_run::replan_unfinished(deps, queue.as_ref(), period).await?;
            let gave_up = unfinished > 0 && now - s.sent_at >= FOLLOW_UP_FOR;
            if gave_up {
                tracing::error!(%period, unfinished, "the invoice run's follow-up ends with tenants still unbilled; see the dead-letter queue");
            }
            (
                unfinished,
                Sent {
                    checked_at: now,
                    complete: unfinished == 0 || gave_up,
                    ..s
                },
            )
        }
    };
    let mut item = Item::new(key, super::to_data(&next)?);
    item.version = version + 1;
    let condition = if version == 0 {
        Condition::NotExists
    } else {
        Condition::VersionIs(version)
    };
    match deps.store.put(item, condition).await {
        Ok(()) => {}
        // Another round wrote it meanwhile: what it sent stands.
        Err(crate::ports::StoreError::ConditionFailed) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    Ok(Some(RunReport {
        period: period.to_string(),
        tenants,
        failed: Vec::new(),
        queued: true,
    }))
}

/// How often a handed-out month is followed up, and for how long after it was sent.
const FOLLOW_UP_EVERY: chrono::Duration = chrono::Duration::hours(1);
const FOLLOW_UP_FOR: chrono::Duration = chrono::Duration::days(3);

/// The mark of a month handed out on the queue.
#[derive(Debug, serde::Deserialize, Serialize)]
struct Sent {
    sent_at: DateTime<Utc>,
    checked_at: DateTime<Utc>,
    /// Every tenant's run was done at the last follow-up (or the follow-up gave up).
    complete: bool,
}

/// What the billing jobs did (the AWS function's share: the purge and the mail sender
/// have functions of their own).
#[derive(Debug, Default, Serialize)]
pub struct BillingReport {
    pub invoice_run: Option<RunReport>,
    pub review: ReviewReport,
    pub dunning: invoices::DunningReport,
}

/// The billing jobs due at `now`, in order: the month's run, review windows, dunning.
/// A job that fails is logged; the others still run; the call fails (for the scheduler
/// to retry) only when every one did.
pub async fn run_billing(deps: &Deps, now: DateTime<Utc>) -> Result<BillingReport, Error> {
    let mut report = BillingReport::default();
    let run = invoice_run_once(deps, month_due(now)).await;
    let review = invoices::finalize_due(deps, now).await;
    let dunning = invoices::dunning_due(deps, now).await;
    if let (Err(e), Err(_), Err(_)) = (&run, &review, &dunning) {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "every billing job failed: {e}"
        )));
    }
    match run {
        Ok(r) => report.invoice_run = r,
        Err(e) => tracing::error!(error = %e, "the invoice run failed; it is retried"),
    }
    match review {
        Ok(r) => report.review = r,
        Err(e) => tracing::error!(error = %e, "finalising reviewed invoices failed"),
    }
    match dunning {
        Ok(r) => report.dunning = r,
        Err(e) => tracing::error!(error = %e, "dunning failed"),
    }
    Ok(report)
}

/// Everything due at `now`, in order. A job that fails is logged; the others still run.
pub async fn run_due(deps: &Deps, now: DateTime<Utc>) -> Result<JobsReport, Error> {
    let mut report = JobsReport::default();
    match invoice_run_once(deps, month_due(now)).await {
        Ok(r) => report.invoice_run = r,
        Err(e) => tracing::error!(error = %e, "the invoice run failed; it is retried"),
    }
    match invoices::finalize_due(deps, now).await {
        Ok(r) => report.review = r,
        Err(e) => tracing::error!(error = %e, "finalising reviewed invoices failed"),
    }
    match invoices::dunning_due(deps, now).await {
        Ok(r) => report.dunning = r,
        Err(e) => tracing::error!(error = %e, "dunning failed"),
    }
    match purge::run(deps, now).await {
        Ok(r) => report.purge = r,
        Err(e) => tracing::error!(error = %e, "the purge failed"),
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_bills_the_month_before_from_two_on_the_first() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(month_due(at("2026-12-01T01:59:59Z")).to_string(), "2026-10");
        assert_eq!(month_due(at("2026-12-01T02:00:00Z")).to_string(), "2026-11");
        assert_eq!(month_due(at("2027-01-15T00:00:00Z")).to_string(), "2026-12");
    }
}
