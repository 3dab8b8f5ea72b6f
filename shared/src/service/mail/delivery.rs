//! Delivery: claim, render, send, record; retries with backoff; the sweep of what is due.

use super::{MailSettings, OutboxEmail, State, item_of, render, stamp};
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use serde::Serialize;

use crate::Deps;
use crate::error::Error;
use crate::model::ids::{EmailId, TenantId};
use crate::model::tenant::Tenant;
use crate::ports::{Condition, Item, MailError, Mailer, Query, SortRange, WriteOp};
use crate::service::due::{self, Kind};
use crate::service::from_item;
use crate::store::keys;

/// Tries before an email is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long a delivery owns an email it claimed; another run may take it over after.
const CLAIM_SECONDS: i64 = 60;
// Backoff after a failed try is `due::backoff`: 30 s, 1, 2, 4, 8, 16, 32 min between
// the 8 tries (about 64 min from the first try to the dead letter).
/// How long an email waits for a document to attach that is not stored yet, and how
/// often it looks again meanwhile (no try is counted while it waits).
const ATTACHMENT_WAIT_HOURS: i64 = 24;
const ATTACHMENT_POLL_SECONDS: i64 = 60;

/// What one delivery did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Sent,
    /// Failed; tried again at `due_at`.
    Retrying {
        due_at: String,
    },
    /// Given up on: rejected, or out of attempts.
    Dead,
    /// Nothing to do: already sent or dead, not due yet, another run holds it, or gone.
    Skipped,
}

/// Delivers one outbox email if it is pending and due: claim, render, send, record.
pub async fn deliver(
    deps: &Deps,
    mailer: &dyn Mailer,
    settings: &MailSettings,
    tenant_id: &TenantId,
    email_id: &EmailId,
) -> Result<Outcome, Error> {
    let now = deps.clock.now();
    let key = keys::outbox_email(tenant_id, email_id);
    let Some(item) = deps.store.get(&key).await? else {
        return Ok(Outcome::Skipped);
    };
    let mut email: OutboxEmail = from_item(&item)?;
    // Where the email's due-work entry is now: each write below moves it with the email.
    let scheduled = email.due_at;
    if email.state != State::Pending
        || email.due_at > now
        || email.claimed_until.is_some_and(|until| until > now)
    {
        return Ok(Outcome::Skipped);
    }

    // A claim that expired after the last try (the process died or timed out while
    // sending): give up on it rather than try forever.
    if email.attempts >= MAX_ATTEMPTS {
        email.state = State::Dead;
        email.claimed_until = None;
        email.last_error = Some("the last delivery did not finish (a crash or a timeout)".into());
        email.drop_secrets();
        let ops = moved(tenant_id, &email, &item, scheduled)?;
        return match deps.store.transact(ops).await {
            Ok(()) => Ok(Outcome::Dead),
            Err(e) if e.lost_to_another_writer() => Ok(Outcome::Skipped),
            Err(e) => Err(e.into()),
        };
    }

    // The documents to attach. One not stored yet: the email waits (no try counted),
    // and after a day it is dead-lettered with the reason; the others flow meanwhile.
    let attachments = match attachments_of(deps, &email).await? {
        Ok(found) => found,
        Err(missing) => {
            if now - email.created_at < Duration::hours(ATTACHMENT_WAIT_HOURS) {
                email.due_at = now + Duration::seconds(ATTACHMENT_POLL_SECONDS);
            } else {
                email.state = State::Dead;
                email.last_error = Some(format!(
                    "its attachment {missing} was not stored within {ATTACHMENT_WAIT_HOURS} hours"
                ));
                email.drop_secrets();
                tracing::warn!(email = %email.id, tenant = %tenant_id, "email dead-lettered: its attachment was never stored");
            }
            let dead = email.state == State::Dead;
            return match deps
                .store
                .transact(moved(tenant_id, &email, &item, scheduled)?)
                .await
            {
                Ok(()) if dead => Ok(Outcome::Dead),
                Ok(()) => Ok(Outcome::Retrying {
                    due_at: stamp(email.due_at),
                }),
                Err(e) if e.lost_to_another_writer() => Ok(Outcome::Skipped),
                Err(e) => Err(e.into()),
            };
        }
    };

    // Claim: one versioned write; a second run that read the same version loses here.
    // The claim also moves the email's due time past the claim and the backoff, so a run
    // that dies mid-send is retried on the same schedule as a failed send.
    email.attempts += 1;
    email.claimed_until = Some(now + Duration::seconds(CLAIM_SECONDS));
    email.due_at = now + due::backoff(email.attempts).max(Duration::seconds(CLAIM_SECONDS));
    let claimed = item.version + 1;
    match deps
        .store
        .transact(moved(tenant_id, &email, &item, scheduled)?)
        .await
    {
        Ok(()) => {}
        Err(e) if e.lost_to_another_writer() => return Ok(Outcome::Skipped),
        Err(e) => return Err(e.into()),
    }
    let scheduled = email.due_at;

    let tenant = tenant_of(deps, tenant_id).await?;
    // Rendering and sending run apart: whatever goes wrong with this one email, a panic
    // included, is recorded on it (retried, then dead-lettered with the reason), and
    // delivery goes on with the others.
    let attempt = async {
        match tenant {
            None => Err(MailError::Rejected(anyhow::anyhow!(
                "the tenant no longer exists"
            ))),
            Some(tenant) => match render(settings, &tenant, &email) {
                Err(e) => Err(MailError::Rejected(e.context("rendering the email"))),
                Ok(mut message) => {
                    message.attachments = attachments;
                    mailer.send(&message).await
                }
            },
        }
    };
    let result = match std::panic::AssertUnwindSafe(attempt).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!(email = %email.id, tenant = %tenant_id, panic = %why, "rendering or sending an email panicked");
            // Tried again with backoff, its code or link kept until the last try: a
            // defect of the moment (a template, a library) may be fixed by then.
            Err(MailError::Unavailable(anyhow::anyhow!(
                "rendering or sending this email failed unexpectedly ({why})"
            )))
        }
    };

    let done = deps.clock.now();
    email.claimed_until = None;
    let finished = matches!(&result, Ok(())) || matches!(&result, Err(MailError::Rejected(_)));
    if finished || email.attempts >= MAX_ATTEMPTS {
        email.drop_secrets();
    }
    let outcome = match result {
        Ok(()) => {
            email.state = State::Sent;
            email.sent_at = Some(done);
            email.last_error = None;
            Outcome::Sent
        }
        Err(e) => {
            let permanent = matches!(e, MailError::Rejected(_));
            email.last_error = Some(format!("{:#}", anyhow::Error::from(e)));
            if permanent || email.attempts >= MAX_ATTEMPTS {
                email.state = State::Dead;
                tracing::warn!(email = %email.id, tenant = %tenant_id, attempts = email.attempts, "email dead-lettered");
                Outcome::Dead
            } else {
                email.due_at = done + due::backoff(email.attempts);
                Outcome::Retrying {
                    due_at: stamp(email.due_at),
                }
            }
        }
    };
    // Record the outcome. After a send, a lost record means a second send once the claim
    // expires, so a failing store is retried a few times; the write is version-guarded.
    let mut claimed_item = item;
    claimed_item.version = claimed;
    let record = moved(tenant_id, &email, &claimed_item, scheduled)?;
    let mut tries = 0;
    loop {
        tries += 1;
        match deps.store.transact(record.clone()).await {
            Ok(()) => return Ok(outcome),
            Err(crate::ports::StoreError::TransactionCanceled { .. }) => {
                // Another run took over after this claim expired.
                tracing::warn!(email = %email.id, tenant = %tenant_id, "the email's claim expired during delivery");
                return Ok(outcome);
            }
            Err(e) if tries >= 3 => return Err(e.into()),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), email = %email.id, "recording a delivery failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
            }
        }
    }
}

/// The email's attachments read from the document store, or the key of the first one
/// that is not stored (yet). A store that cannot be reached is an error: the email
/// stays due.
async fn attachments_of(
    deps: &Deps,
    email: &OutboxEmail,
) -> Result<Result<Vec<crate::ports::Attachment>, String>, Error> {
    let mut out = Vec::with_capacity(email.attachments.len());
    for a in &email.attachments {
        let bytes = deps.documents()?.get(&a.key).await.map_err(|e| {
            Error::Unexpected(anyhow::Error::new(e).context("reading an attachment"))
        })?;
        match bytes {
            Some(bytes) => out.push(crate::ports::Attachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                bytes,
            }),
            None => return Ok(Err(a.key.clone())),
        }
    }
    Ok(Ok(out))
}

/// The writes that store `email` over `item` (its version checked) and move its due-work
/// entry from `scheduled` to its new due time, or remove it once it is no longer pending.
fn moved(
    tenant_id: &TenantId,
    email: &OutboxEmail,
    item: &Item,
    scheduled: DateTime<Utc>,
) -> Result<Vec<WriteOp>, Error> {
    let mut ops = vec![WriteOp::Put {
        item: item_of(tenant_id, email, item.version + 1)?,
        condition: Condition::VersionIs(item.version),
    }];
    let next = (email.state == State::Pending).then_some(email.due_at);
    ops.extend(due::reschedule(
        Kind::Mail,
        tenant_id,
        email.id.as_str(),
        scheduled,
        next,
    ));
    Ok(ops)
}

async fn tenant_of(deps: &Deps, tenant_id: &TenantId) -> Result<Option<Tenant>, Error> {
    match deps.store.get(&keys::tenant(tenant_id)).await? {
        Some(item) => Ok(Some(from_item(&item)?)),
        None => Ok(None),
    }
}

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    /// Due-work entries read (each names one email).
    pub due: u64,
    pub sent: u64,
    pub retrying: u64,
    pub dead: u64,
    /// Emails whose delivery hit a store error; they stay due.
    pub failures: u64,
}

/// Delivers every email that is due: the mail shards of the due-work index up to now
/// (one query per shard and page), then each email they name. The cost follows the
/// emails that are due, not the number of tenants.
pub async fn deliver_due(
    deps: &Deps,
    mailer: &dyn Mailer,
    settings: &MailSettings,
) -> Result<DeliveryReport, Error> {
    let mut report = DeliveryReport::default();
    let mut sweep = due::Sweep::new(Kind::Mail, deps.clock.now());
    while let Some(page) = sweep.next(deps).await? {
        for entry in page {
            report.due += 1;
            let (tenant_id, email_id) = (
                &entry.tenant_id,
                &EmailId::from_record(entry.item_id.as_str()),
            );
            // One email's failure does not hold up the others.
            match deliver(deps, mailer, settings, tenant_id, email_id).await {
                Ok(Outcome::Sent) => report.sent += 1,
                Ok(Outcome::Retrying { .. }) => report.retrying += 1,
                Ok(Outcome::Dead) => report.dead += 1,
                Ok(Outcome::Skipped) => {
                    if let Err(e) = forget_if_stale(deps, &entry).await {
                        tracing::warn!(error = format!("{e:#}"), tenant = %tenant_id, email = %email_id, "a stale due entry stays");
                    }
                }
                Err(e) => {
                    report.failures += 1;
                    tracing::error!(error = format!("{e:#}"), tenant = %tenant_id, email = %email_id, "delivering an email failed");
                }
            }
        }
    }
    Ok(report)
}

/// Removes a due entry whose email is gone, finished, or due at another time (every
/// write of an email moves its entry, so only a leftover is stale).
async fn forget_if_stale(deps: &Deps, entry: &due::Due) -> Result<(), Error> {
    let key = keys::outbox_email(
        &entry.tenant_id,
        &EmailId::from_record(entry.item_id.as_str()),
    );
    let current = match deps.store.get(&key).await? {
        Some(item) => Some(from_item::<OutboxEmail>(&item)?),
        None => None,
    };
    let stale = current.is_none_or(|e| {
        e.state != State::Pending
            || due::entry(Kind::Mail, &entry.tenant_id, e.id.as_str(), e.due_at) != entry.entry
    });
    if stale {
        due::forget(deps, entry).await?;
    }
    Ok(())
}

/// A one-time step of the upgrade to the due-work index: emails that were pending before
/// it have no entry, so this walks each tenant's former due index once (the tenant
/// directory, then one query per tenant) and gives every pending email its entry. Safe
/// to run again; the scheduled sweep never does this. Returns the entries written.
pub async fn backfill_due(deps: &Deps) -> Result<u64, Error> {
    let mut written = 0;
    let mut directory = crate::service::directory::Directory::default();
    while let Some(tenant_id) = directory.next(deps).await? {
        let mut start = None;
        loop {
            let page = deps
                .store
                .query(
                    Query::gsi1(keys::outbox_due_partition(&tenant_id), SortRange::All, 100)
                        .after(start),
                )
                .await?;
            for item in &page.items {
                let Ok(email) = from_item::<OutboxEmail>(item) else {
                    continue;
                };
                if email.state == State::Pending {
                    let entry = due::entry(Kind::Mail, &tenant_id, email.id.as_str(), email.due_at);
                    deps.store.put(Item::marker(entry), Condition::None).await?;
                    written += 1;
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
    }
    Ok(written)
}
