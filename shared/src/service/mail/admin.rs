//! The operator's routes on a tenant's outbox: dead letters listed and redriven.

use super::{OutboxEmail, State, Template, item_of};
use crate::error::ProblemKind;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::ids::EmailId;
use crate::ports::{Condition, Query, SortRange, WriteOp};
use crate::service::audit::{self, Entry, Log};
use crate::service::due::{self, Kind};
use crate::service::{from_item, page};
use crate::store::keys;

/// An outbox email as the operator sees it (its context, which may hold a code or a
/// link, is never shown).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
) -> Result<page::Page<EmailView>, Error> {
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
    let limit = page::limit(limit)?;
    if deps.store.get(&keys::tenant(tenant_id)).await?.is_none() {
        return Err(Error::NotFound("tenant"));
    }
    let pk = keys::outbox_dead_partition(tenant_id);
    let start = page::decode(cursor, "emails-dead", &pk, true)?;
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
    Ok(page::Page {
        data,
        next_cursor: page.next.map(|n| page::encode("emails-dead", &n)),
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
        let e = Error::conflict(
            ProblemKind::EmailNotDead,
            format!(
                "only a dead-lettered email can be redriven; this one is {}",
                match email.state {
                    State::Pending => "pending (it is still being tried)",
                    State::Sent => "sent",
                    State::Dead => "dead",
                }
            ),
        );
        return Err(e.with("state", email.state));
    }
    if email.secrets_dropped {
        return Err(Error::conflict(
            ProblemKind::EmailSecretDropped,
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
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new("email.redriven", Target::new("email", &email.id))
                .value("state", email.state)
                .value("template", email.template),
        )
        .await?,
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
