//! Email through a transactional outbox (DESIGN.md rule 8).
//!
//! A change that causes an email adds [`enqueue`]'s write to its own transaction: the
//! email exists exactly when the change does. Delivery ([`deliver`]) runs apart — on the
//! table's stream in AWS, as a background task locally — and may run twice for the same
//! email: it claims the email with a versioned write first, so only one run sends, and a
//! sent email is never sent again. (One window remains: a run that dies after the mail
//! service accepted the message and before it recorded that is taken over when its claim
//! expires, and the email goes out twice.) A failed send is retried with exponential backoff
//! ([`deliver_due`] picks up what is due); after [`MAX_ATTEMPTS`] tries, or at once when
//! the mail service rejects the message, the email is dead-lettered and listed for the
//! operator ([`list_dead`]).
//!
//! The outbox stores the template's name and values, never a rendered body: rendering
//! reads the tenant's current name and branding at delivery. The values hold no password;
//! a one-time secret (a registration code, or the token of a password or email-change
//! link, valid up to 7 days) waits in its email until the email is sent or given up on,
//! and is dropped from it then.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{from_item, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::branding::Branding;
use crate::model::ids::{EmailId, TenantId};
use crate::model::tenant::Tenant;
use crate::ports::{Condition, Email, Item, MailError, Mailer, Query, SortRange, WriteOp};
use crate::store::keys;

use super::due::{self, Kind};

/// Tries before an email is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long a delivery owns an email it claimed; another run may take it over after.
const CLAIM_SECONDS: i64 = 60;
/// Backoff after a failed try, doubled per try, capped at one hour: 30 s, 1, 2, 4, 8,
/// 16, 32 min between the 8 tries (about 64 min from the first try to the dead letter).
const FIRST_BACKOFF_SECONDS: i64 = 30;
const MAX_BACKOFF_SECONDS: i64 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    StaffInvitation,
    CustomerWelcome,
    RegistrationCode,
    UserInvitation,
    PasswordReset,
    EmailChange,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Template::StaffInvitation => "staff_invitation",
            Template::CustomerWelcome => "customer_welcome",
            Template::RegistrationCode => "registration_code",
            Template::UserInvitation => "user_invitation",
            Template::PasswordReset => "password_reset",
            Template::EmailChange => "email_change",
        }
    }

    /// Values that are secrets while the email waits (a one-time code): dropped from the
    /// stored email once it is sent or given up on.
    fn secret_values(self) -> &'static [&'static str] {
        match self {
            Template::RegistrationCode => &["code"],
            Template::StaffInvitation
            | Template::UserInvitation
            | Template::PasswordReset
            | Template::EmailChange => &["link_token"],
            Template::CustomerWelcome => &[],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Sent,
    Dead,
}

/// An outbox email as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxEmail {
    pub id: EmailId,
    pub template: Template,
    pub to: String,
    pub context: Map<String, Value>,
    pub state: State,
    pub attempts: u32,
    /// When the next try is due (pending emails).
    pub due_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last try failed (the mail service's answer; never a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A one-time code or link was removed from `context` when the email was sent or
    /// given up on: it cannot be sent again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secrets_dropped: bool,
}

impl OutboxEmail {
    /// Drops the secret values (a code, a link token) once the email is finished with.
    fn drop_secrets(&mut self) {
        for secret in self.template.secret_values() {
            if self.context.remove(*secret).is_some() {
                self.secrets_dropped = true;
            }
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Sent and dead emails expire (DynamoDB TTL) after this many days: they hold an
/// address, and the operator has that long to look at a dead letter.
const KEEP_DAYS: i64 = 30;

fn item_of(tenant_id: &TenantId, e: &OutboxEmail, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::outbox_email(tenant_id, &e.id), to_data(e)?);
    item.version = version;
    let expiry = |from: DateTime<Utc>| Some((from + Duration::days(KEEP_DAYS)).timestamp());
    Ok(match e.state {
        // Its next try is found through the due-work index (`due`), not an index here.
        State::Pending => item,
        State::Dead => {
            item.expires_at = expiry(e.due_at.max(e.created_at));
            item.with_gsi1(keys::outbox_dead(tenant_id, &stamp(e.created_at), &e.id))
        }
        State::Sent => {
            item.expires_at = expiry(e.sent_at.unwrap_or(e.created_at));
            item
        }
    })
}

/// The writes that put a new email in the tenant's outbox, due now: the email and its
/// due-work entry. Add both to the transaction of the change that causes the email.
pub type Queued = [WriteOp; 2];

/// The writes that put a new email in the tenant's outbox, due now. Add them to the
/// transaction of the change that causes the email.
pub fn enqueue(
    tenant_id: &TenantId,
    template: Template,
    to: &str,
    context: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Queued, Error> {
    let email = OutboxEmail {
        id: EmailId::generate(),
        template,
        to: to.to_owned(),
        context,
        state: State::Pending,
        attempts: 0,
        due_at: now,
        claimed_until: None,
        created_at: now,
        sent_at: None,
        last_error: None,
        secrets_dropped: false,
    };
    Ok([
        WriteOp::create(item_of(tenant_id, &email, 1)?),
        due::schedule(Kind::Mail, tenant_id, email.id.as_str(), now),
    ])
}

/// Where emails come from and where their links point.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// Senders are `no-reply@<sender_domain>` (the stack's verified SES domain).
    pub sender_domain: String,
    /// Base URL of the login pages, e.g. `https://api.example.com`.
    pub public_url: String,
}

impl MailSettings {
    /// `MAIL_SENDER_DOMAIN` and `PUBLIC_URL`, with local defaults.
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            sender_domain: var("MAIL_SENDER_DOMAIN", "tenantry.localhost"),
            public_url: var("PUBLIC_URL", "http://127.0.0.1:3000")
                .trim_end_matches('/')
                .to_owned(),
        }
    }
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Plain-text bodies keep their last newline.
    env.set_keep_trailing_newline(true);
    macro_rules! email {
        ($($name:literal),*) => {
            [("layout.html", include_str!("../../templates/email/layout.html")),
             $(
                (concat!($name, ".subject.txt"), include_str!(concat!("../../templates/email/", $name, ".subject.txt"))),
                (concat!($name, ".txt"), include_str!(concat!("../../templates/email/", $name, ".txt"))),
                (concat!($name, ".html"), include_str!(concat!("../../templates/email/", $name, ".html"))),
             )*]
        };
    }
    let sources = email!(
        "staff_invitation",
        "customer_welcome",
        "registration_code",
        "user_invitation",
        "password_reset",
        "email_change"
    );
    for (name, source) in sources {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("email template {name} does not compile: {e}"));
    }
    env
});

/// The tenant's look in its emails: its branding (`PUT /v1/tenants/{id}/branding`), or its
/// name and the default colours. The support address is the branding's, else the
/// tenant's contact address.
fn brand(tenant: &Tenant) -> Branding {
    let mut b = tenant
        .branding
        .clone()
        .unwrap_or_else(|| Branding::default_for(&tenant.name));
    if b.support_email.is_none() {
        b.support_email = tenant.contact.as_ref().and_then(|c| c.email.clone());
    }
    b
}

/// The email as it goes out: the templates rendered with the stored values, the
/// tenant's brand and its links.
pub fn render(
    settings: &MailSettings,
    tenant: &Tenant,
    email: &OutboxEmail,
) -> Result<Email, anyhow::Error> {
    let mut ctx = email.context.clone();
    let brand = brand(tenant);
    ctx.insert("brand".into(), json!(brand));
    ctx.insert("tenant_name".into(), json!(tenant.name));
    ctx.insert(
        "login_url".into(),
        json!(format!("{}/t/{}/login", settings.public_url, tenant.slug)),
    );
    if let Some(token) = email.context.get("link_token").and_then(Value::as_str) {
        let page = match email.template {
            Template::EmailChange => "email-change",
            _ => "password",
        };
        ctx.insert(
            "link_url".into(),
            json!(format!(
                "{}/t/{}/{page}?token={token}",
                settings.public_url, tenant.slug
            )),
        );
    }
    let ctx = Value::Object(ctx);
    let name = email.template.name();
    let part = |suffix: &str| -> Result<String, anyhow::Error> {
        Ok(TEMPLATES
            .get_template(&format!("{name}.{suffix}"))?
            .render(&ctx)?)
    };
    // Replies go to the tenant's support address: the tenant answers its customers.
    let reply_to = brand.support_email.clone();
    Ok(Email {
        id: email.id.to_string(),
        from_name: brand.product_name.clone(),
        from_address: format!("no-reply@{}", settings.sender_domain),
        reply_to,
        to: vec![email.to.clone()],
        subject: part("subject.txt")?.trim().to_owned(),
        text: part("txt")?,
        html: part("html")?,
    })
}

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
            Err(e) if lost_to_another_run(&e) => Ok(Outcome::Skipped),
            Err(e) => Err(e.into()),
        };
    }

    // Claim: one versioned write; a second run that read the same version loses here.
    // The claim also moves the email's due time past the claim and the backoff, so a run
    // that dies mid-send is retried on the same schedule as a failed send.
    email.attempts += 1;
    email.claimed_until = Some(now + Duration::seconds(CLAIM_SECONDS));
    email.due_at = now + backoff(email.attempts).max(Duration::seconds(CLAIM_SECONDS));
    let claimed = item.version + 1;
    match deps
        .store
        .transact(moved(tenant_id, &email, &item, scheduled)?)
        .await
    {
        Ok(()) => {}
        Err(e) if lost_to_another_run(&e) => return Ok(Outcome::Skipped),
        Err(e) => return Err(e.into()),
    }
    let scheduled = email.due_at;

    let result = match tenant_of(deps, tenant_id).await? {
        None => Err(MailError::Rejected(anyhow::anyhow!(
            "the tenant no longer exists"
        ))),
        Some(tenant) => match render(settings, &tenant, &email) {
            Err(e) => Err(MailError::Rejected(e.context("rendering the email"))),
            Ok(message) => mailer.send(&message).await,
        },
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
                email.due_at = done + backoff(email.attempts);
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

/// A versioned write another delivery won: its version moved first (the transaction is
/// canceled), or DynamoDB saw the two transactions at once (a transaction conflict).
fn lost_to_another_run(e: &crate::ports::StoreError) -> bool {
    matches!(
        e,
        crate::ports::StoreError::TransactionCanceled { .. } | crate::ports::StoreError::Conflict
    )
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

fn backoff(attempts: u32) -> Duration {
    let factor = 1i64 << attempts.saturating_sub(1).min(20);
    Duration::seconds((FIRST_BACKOFF_SECONDS * factor).min(MAX_BACKOFF_SECONDS))
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
    let mut directory = super::directory::Directory::default();
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

/// An outbox email as the operator sees it (its context, which may hold a code or a
/// link, is never shown).
#[derive(Clone, Debug, Serialize)]
pub struct EmailView {
    pub id: EmailId,
    pub template: Template,
    pub to: String,
    pub state: State,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// When the next try is due (a pending email).
    pub due_at: DateTime<Utc>,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

impl EmailView {
    fn of(e: OutboxEmail) -> Self {
        Self {
            id: e.id,
            template: e.template,
            to: e.to,
            state: e.state,
            attempts: e.attempts,
            created_at: e.created_at,
            due_at: e.due_at,
            last_error: e.last_error,
        }
    }
}

pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    state: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<super::page::Page<EmailView>, Error> {
    let tenant_id = scope.tenant_id();
    match state {
        Some("dead") => {}
        Some(_) | None => {
            return Err(Error::invalid(
                "state",
                "must be dead (emails given up on); pending and sent emails are not listed",
            ));
        }
    }
    let limit = super::page::limit(limit)?;
    if deps.store.get(&keys::tenant(tenant_id)).await?.is_none() {
        return Err(Error::NotFound("tenant"));
    }
    let pk = keys::outbox_dead_partition(tenant_id);
    let start = super::page::decode(cursor, "emails-dead", &pk, true)?;
    let page = deps
        .store
        .query(Query::gsi1(pk, SortRange::All, limit).after(start))
        .await?;
    // The index holds the emails themselves (GSI1 projects whole items).
    let data = page
        .items
        .iter()
        .map(|item| from_item::<OutboxEmail>(item).map(EmailView::of))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(super::page::Page {
        data,
        next_cursor: page.next.map(|n| super::page::encode("emails-dead", &n)),
    })
}

/// `POST /v1/tenants/{id}/emails/{email_id}/redrive`: gives a dead-lettered email another
/// full round of tries, due now (the operator fixed what made it fail). Its send record
/// and version guard stay: a redriven email is still sent at most once per delivery. An
/// email that is not dead (pending or sent) is a conflict; a code or link it carried was
/// dropped when it died, so such an email cannot be redriven (the user asks for a new one).
pub async fn redrive(
    deps: &Deps,
    scope: &TenantScope,
    email_id: &EmailId,
) -> Result<EmailView, Error> {
    let tenant_id = scope.tenant_id();
    let key = keys::outbox_email(tenant_id, email_id);
    let item = deps
        .store
        .get(&key)
        .await?
        .ok_or(Error::NotFound("email"))?;
    let mut email: OutboxEmail = from_item(&item)?;
    if email.state != State::Dead {
        let mut e = Error::conflict(
            "email-not-dead",
            format!(
                "only a dead-lettered email can be redriven; this one is {}",
                match email.state {
                    State::Pending => "pending (it is still being tried)",
                    State::Sent => "sent",
                    State::Dead => "dead",
                }
            ),
        );
        if let Error::Conflict { extra, .. } = &mut e {
            extra.insert("state".into(), json!(email.state));
        }
        return Err(e);
    }
    if email.secrets_dropped {
        return Err(Error::conflict(
            "email-secret-dropped",
            "this email's one-time code or link was dropped when it was given up on; the recipient asks for a new one",
        ));
    }
    let now = deps.clock.now();
    email.state = State::Pending;
    email.attempts = 0;
    email.due_at = now;
    email.claimed_until = None;
    let ops = vec![
        WriteOp::Put {
            item: item_of(tenant_id, &email, item.version + 1)?,
            condition: Condition::VersionIs(item.version),
        },
        due::schedule(Kind::Mail, tenant_id, email.id.as_str(), now),
    ];
    match deps.store.transact(ops).await {
        Ok(()) => {}
        Err(crate::ports::StoreError::TransactionCanceled { .. }) => {
            return Err(Error::concurrent_update());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(EmailView::of(email))
}
