//! Invoices after the run: review, finalisation with a gap-free number, adjustments,
//! payments, voiding, listings, and resellers' commission statements.
//!
//! Finalising takes the issuer's next number from its counter item in the same
//! transaction that makes the invoice final: a number is used only by a final invoice,
//! and no number is skipped (a lost race retries with the counter read again).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Entry, Log};
use super::due::{self, Kind, Sweep};
use super::invoice_run::{self, invoice_item};
use super::mail::{self, AttachmentRef, Template};
use super::page::{self, Page};
use super::{commit, events, from_item, to_data};
use crate::Deps;
use crate::access::{CustomerScope, TenantScope};
use crate::error::{Error, ProblemKind};
use crate::model::audit::Target;
use crate::model::billing::{MAX_AMOUNT, Period, ratio_half_even};
use crate::model::customer::{CustomerStatus, Transition};
use crate::model::event::EventType;
use crate::model::fields;
use crate::model::ids::{CreditNoteId, CustomerId, InvoiceId, TenantId};
use crate::model::input::Checks;
use crate::model::invoice::{
    CreditNote, CustomerLines, Invoice, InvoiceLine, InvoiceStatus, InvoiceView, Issuer, LineKind,
    MAX_CREDIT_NOTES, PayerKind, Payment, issuer_name_and_instructions, money, number,
};
use crate::model::tenant::{Tenant, TenantKind, TenantStatus};
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::store::keys;

/// Rounds of retry when concurrent finalisations of one issuer race for its counter.
const MAX_ROUNDS: usize = 200;

/// Who reads or acts on invoices.
#[derive(Clone, Copy, Debug)]
pub enum Reach<'a> {
    /// The platform operator: every tenant's invoices.
    Operator,
    /// A tenant's staff: its own.
    Tenant(&'a TenantScope),
    /// A customer's admin: the final invoices addressed to its own company.
    Customer(&'a CustomerScope),
}

async fn owner_of(deps: &Deps, id: &InvoiceId) -> Result<TenantId, Error> {
    let item = deps
        .store
        .get(&keys::invoice_owner(id))
        .await?
        .ok_or(Error::NotFound("invoice"))?;
    item.data
        .get("tenant_id")
        .and_then(serde_json::Value::as_str)
        .map(TenantId::from_record)
        .ok_or(Error::NotFound("invoice"))
}

/// An invoice of the tenant, with its item; 404 if there is none.
pub(crate) async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &InvoiceId,
) -> Result<(Invoice, Item), Error> {
    let item = deps
        .store
        .get(&keys::invoice(tenant_id, id))
        .await?
        .ok_or(Error::NotFound("invoice"))?;
    Ok((from_item(&item)?, item))
}

/// The invoice and its item, if `reach` may see it; otherwise 404.
pub(super) async fn locate(
    deps: &Deps,
    reach: Reach<'_>,
    id: &InvoiceId,
) -> Result<(Invoice, Item), Error> {
    let tenant_id = match reach {
        Reach::Tenant(t) => t.tenant_id().clone(),
        Reach::Customer(c) => c.tenant_id().clone(),
        Reach::Operator => owner_of(deps, id).await?,
    };
    let (inv, item) = load(deps, &tenant_id, id).await?;
    if let Reach::Customer(c) = reach {
        let own = inv.payer.kind == PayerKind::Customer
            && inv.customer_id.as_ref() == Some(c.customer_id())
            && inv.number.is_some();
        if !own {
            return Err(Error::NotFound("invoice"));
        }
    }
    Ok((inv, item))
}

/// A consolidated invoice's customer groups, in customer order.
pub(crate) async fn groups_of(deps: &Deps, inv: &Invoice) -> Result<Vec<CustomerLines>, Error> {
    if inv.customers == 0 {
        return Ok(Vec::new());
    }
    page::all_under(
        deps,
        keys::invoice_lines_partition(&inv.tenant_id, &inv.id),
        "",
        usize::MAX,
    )
    .await?
    .iter()
    .map(from_item)
    .collect()
}

/// The invoice with every line.
pub async fn full(deps: &Deps, inv: &Invoice, version: u64) -> Result<InvoiceView, Error> {
    let groups = groups_of(deps, inv).await?;
    Ok(inv.view(groups, deps.clock.now(), version))
}

pub async fn get(deps: &Deps, reach: Reach<'_>, id: &InvoiceId) -> Result<InvoiceView, Error> {
    let (inv, item) = locate(deps, reach, id).await?;
    full(deps, &inv, item.version).await
}

/// The invoice and its lines, for its document, or for one of its credit notes' (the
/// invoice as it stood when that credit note was issued, as its stored PDF shows it).
pub async fn for_document(
    deps: &Deps,
    reach: Reach<'_>,
    id: &InvoiceId,
    credit_note: Option<&CreditNoteId>,
) -> Result<(InvoiceView, Tenant, Option<CreditNote>), Error> {
    let (inv, item) = locate(deps, reach, id).await?;
    let (shown, note) = match credit_note {
        None => (inv, None),
        Some(cn) => {
            let i = inv
                .credit_notes
                .iter()
                .position(|n| &n.id == cn)
                .ok_or(Error::NotFound("credit note"))?;
            (inv.as_of_credit_note(i), Some(inv.credit_notes[i].clone()))
        }
    };
    let view = full(deps, &shown, item.version).await?;
    let (tenant, _) = super::directory::load(deps, &shown.tenant_id).await?;
    Ok((view, tenant, note))
}

/// `GET /v1/invoices` filters.
#[derive(Clone, Debug, Default)]
pub struct Filter<'a> {
    pub status: Option<&'a str>,
    pub period: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
}

/// Invoices of a tenant, newest month first within a page's order of ids (month, then
/// identity); a listing shows a consolidated invoice without its customers' lines (read
/// one invoice for those).
pub async fn list(
    deps: &Deps,
    reach: Reach<'_>,
    f: &Filter<'_>,
) -> Result<Page<InvoiceView>, Error> {
    let mut c = Checks::new();
    let status = c.optional("status", f.status, |s| {
        InvoiceStatus::parse(s)
            .ok_or_else(|| "must be draft, open, partially_paid, paid or void".to_owned())
    });
    let period = c.optional("period", f.period, Period::parse);
    let tenant_id = tenant_listed(reach, f.tenant_id, "invoices", &mut c);
    c.finish()?;
    let Some(tenant_id) = tenant_id else {
        return Err(Error::NotFound("invoice"));
    };
    let month = period.map(|p| p.to_string().replace('-', ""));
    let now = deps.clock.now();
    let (items, next_cursor) = page::prefix_page(
        deps,
        "invoices",
        keys::invoices_partition(&tenant_id),
        &keys::invoices_prefix(month.as_deref()),
        f.limit,
        f.cursor,
    )
    .await?;
    let mut data = Vec::new();
    for item in &items {
        let inv: Invoice = from_item(item)?;
        if status.is_none_or(|s| s == inv.status) {
            data.push(inv.view(Vec::new(), now, item.version));
        }
    }
    Ok(Page { data, next_cursor })
}

/// The tenant whose `what` a listing reads: a tenant's own (naming one is refused), or
/// the one the operator names (`tenant_id`, required); a customer's admin has none.
fn tenant_listed(
    reach: Reach<'_>,
    raw: Option<&str>,
    what: &str,
    c: &mut Checks,
) -> Option<TenantId> {
    match (reach, raw) {
        (Reach::Tenant(t), None) => Some(t.tenant_id().clone()),
        (Reach::Tenant(_), Some(_)) => {
            c.fail(
                "tenant_id",
                format!("is for the operator; a tenant reads its own {what}"),
            );
            None
        }
        (Reach::Operator, Some(raw)) => match TenantId::parse(raw) {
            Ok(t) => Some(t),
            Err(_) => {
                c.fail("tenant_id", "must be a tenant id (ten_...)");
                None
            }
        },
        (Reach::Operator, None) => {
            c.fail(
                "tenant_id",
                format!("is required for the operator: {what} are listed per tenant"),
            );
            None
        }
        (Reach::Customer(_), _) => None,
    }
}

/// A customer admin's own company's final invoices (a reseller's customers only: a
/// partner's customers are never invoiced).
pub async fn list_own(
    deps: &Deps,
    scope: &CustomerScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page<InvoiceView>, Error> {
    let pk = keys::customer_invoices_partition(scope.tenant_id(), scope.customer_id());
    let limit = page::limit(limit)?;
    let start = page::decode(cursor, "own-invoices", &pk, true)?;
    let q = crate::ports::Query::gsi1(pk, crate::ports::SortRange::All, limit).after(start);
    let p = deps.store.query(q).await?;
    let now = deps.clock.now();
    let mut data = Vec::new();
    for item in &p.items {
        let inv: Invoice = from_item(item)?;
        // Issued ones only: a draft voided in review was never sent.
        if inv.number.is_some() {
            data.push(inv.view(Vec::new(), now, item.version));
        }
    }
    Ok(Page {
        data,
        next_cursor: p.next.map(|n| page::encode("own-invoices", &n)),
    })
}

/// The audit entry of a change to an invoice, with its new status. It concerns a
/// customer (shows in its history, which its admin reads) only when the customer pays
/// the invoice itself (a reseller's customer) and the invoice is issued (it has its
/// number): the platform's billing of a partner, even per customer, is the partner's
/// business, and a draft is the tenant's to review.
fn entry(action: &str, inv: &Invoice) -> Entry {
    let e = Entry::new(action, Target::new("invoice", &inv.id)).value("status", inv.status);
    match (&inv.customer_id, inv.payer.kind, &inv.number) {
        (Some(c), crate::model::invoice::PayerKind::Customer, Some(_)) => e.customer(c),
        _ => e,
    }
}

/// The write of a change's audit event in the log of the invoice's tenant.
async fn audit_op(deps: &Deps, inv: &Invoice, entry: Entry) -> Result<WriteOp, Error> {
    audit::op(deps, Log::Tenant(&inv.tenant_id), entry).await
}

fn put_over(inv: &Invoice, was: u64) -> Result<WriteOp, Error> {
    Ok(WriteOp::Put {
        item: invoice_item(inv, was + 1)?,
        condition: Condition::VersionIs(was),
    })
}

/// A reseller's commission statement for one month, per currency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommissionStatement {
    pub tenant_id: Option<TenantId>,
    #[schema(example = "2026-11")]
    pub period: String,
    pub commission_rate_bps: u32,
    /// Per currency: the net amount of the finalised invoices and the commission on it.
    pub totals: Vec<CommissionTotal>,
    pub lines: Vec<CommissionLine>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommissionTotal {
    pub currency: String,
    pub net: i64,
    pub commission: i64,
    pub invoices: u32,
}

/// One finalised invoice of a reseller's customer, and the commission on its net amount
/// (rounded once, half to even).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommissionLine {
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub invoice_id: InvoiceId,
    /// The invoice's number, or the credit note's.
    pub number: String,
    /// A credit note's line: the commission it takes back (negative amounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_note_id: Option<CreditNoteId>,
    pub currency: String,
    pub net: i64,
    pub commission: i64,
}

/// The writes that add a finalised invoice to its reseller's statement, or take a credit
/// note's share back (`line.net` negative).
#[allow(clippy::too_many_arguments)]
async fn commission_writes(
    deps: &Deps,
    inv: &Invoice,
    document_id: &str,
    number: &str,
    net: i64,
    commission: i64,
    rate: u32,
    now: DateTime<Utc>,
) -> Result<Vec<WriteOp>, Error> {
    let is_invoice = document_id == inv.id.as_str();
    let line = CommissionLine {
        customer_id: inv
            .customer_id
            .clone()
            .unwrap_or_else(|| CustomerId::from_record("")),
        customer_name: inv.payer.name.clone(),
        invoice_id: inv.id.clone(),
        number: number.to_owned(),
        credit_note_id: (!is_invoice).then(|| CreditNoteId::from_record(document_id)),
        currency: inv.currency.clone(),
        net,
        commission,
    };
    let key = keys::commission_statement(&inv.tenant_id, &inv.period);
    let found = deps.store.get(&key).await?;
    let (mut st, cond, version) = match &found {
        Some(item) => (
            from_item::<CommissionStatement>(item)?,
            Condition::VersionIs(item.version),
            item.version + 1,
        ),
        None => (
            CommissionStatement {
                tenant_id: Some(inv.tenant_id.clone()),
                period: inv.period.clone(),
                commission_rate_bps: rate,
                ..CommissionStatement::default()
            },
            Condition::NotExists,
            1,
        ),
    };
    let counted = u32::from(is_invoice);
    match st.totals.iter_mut().find(|t| t.currency == line.currency) {
        Some(t) => {
            t.net += line.net;
            t.commission += line.commission;
            t.invoices += counted;
        }
        None => st.totals.push(CommissionTotal {
            currency: line.currency.clone(),
            net: line.net,
            commission: line.commission,
            invoices: counted,
        }),
    }
    st.updated_at = Some(now);
    let mut header = Item::new(key, to_data(&st)?);
    header.version = version;
    Ok(vec![
        WriteOp::Put {
            item: header,
            condition: cond,
        },
        WriteOp::create(Item::new(
            keys::commission_line(&inv.tenant_id, &inv.period, document_id),
            to_data(&line)?,
        )),
    ])
}

/// The issuer's next number in `series` (`INV`, `CN`) for `year`, and the write that
/// takes it: the counter item under its version (created at the first number). Put the
/// write in the transaction that uses the number, so a number is used exactly when the
/// transaction lands and none is skipped.
async fn next_number(
    deps: &Deps,
    issuer: &Issuer,
    series: &str,
    year: i32,
) -> Result<(String, WriteOp), Error> {
    let counter_key = match issuer {
        Issuer::Platform => keys::platform_sequence(series, year),
        Issuer::Tenant { tenant_id } => keys::tenant_sequence(tenant_id, series, year),
    };
    let counter = deps.store.get(&counter_key).await?;
    let (last, cond, version) = match &counter {
        Some(c) => (
            c.data
                .get("last")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            Condition::VersionIs(c.version),
            c.version + 1,
        ),
        None => (0, Condition::NotExists, 1),
    };
    let n = last + 1;
    let mut data = serde_json::Map::new();
    data.insert("last".into(), n.into());
    let mut counter_item = Item::new(counter_key, data);
    counter_item.version = version;
    Ok((
        number(series, year, n),
        WriteOp::Put {
            item: counter_item,
            condition: cond,
        },
    ))
}

/// A lost race on a counter or an invoice: wait a little before reading again.
async fn pause(round: usize) {
    let ms = 1 + (round as u64 % 7) * 3;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Makes a draft final: its number (the issuer's next, in the same transaction), its due
/// date, and, for a reseller's customer, its line on the commission statement; its audit
/// event is `action` (approved by hand, or finalised when its review ended). A final
/// invoice is answered as it is.
pub async fn finalize(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &InvoiceId,
    action: &str,
) -> Result<(Invoice, u64), Error> {
    for round in 0..MAX_ROUNDS {
        let (mut inv, item) = load(deps, tenant_id, id).await?;
        if inv.status != InvoiceStatus::Draft {
            return Ok((inv, item.version));
        }
        let period =
            Period::parse(&inv.period).map_err(|e| Error::Unexpected(anyhow::anyhow!(e)))?;
        if inv.customer_id.is_none() {
            let done = invoice_run::state(deps, tenant_id, period)
                .await?
                .is_some_and(|(s, _)| s.done);
            if !done {
                return Err(Error::conflict(
                    ProblemKind::RunInProgress,
                    "the run is still adding customers to this invoice; approve it once the run is done",
                ));
            }
        }
        let now = deps.clock.now();
        let (tenant, _) = super::directory::load(deps, tenant_id).await?;
        let (n, take) = next_number(deps, &inv.issuer, "INV", now.year()).await?;
        inv.number = Some(n.clone());
        inv.finalized_at = Some(now);
        inv.due_at = Some(now + Duration::days(i64::from(tenant.due_days())));
        inv.suspend_after_days = Some(tenant.suspend_after_days());
        // Final: open, or paid at once when there is nothing to pay.
        inv.status = InvoiceStatus::Open;
        inv.status = inv.settled_status();
        inv.updated_at = now;
        let mut ops = vec![
            take,
            put_over(&inv, item.version)?,
            due::unschedule(Kind::Review, tenant_id, id.as_str(), inv.review_ends_at),
        ];
        if matches!(inv.issuer, Issuer::Tenant { .. }) && tenant.kind == TenantKind::Reseller {
            let (net, rate) = (inv.subtotal(), tenant.commission_rate_bps.unwrap_or(0));
            let commission = ratio_half_even(net, i64::from(rate), 10_000);
            inv.commission_rate_bps = Some(rate);
            ops[1] = put_over(&inv, item.version)?;
            let id = inv.id.as_str();
            ops.extend(commission_writes(deps, &inv, id, &n, net, commission, rate, now).await?);
        }
        if let Some(at) = inv.next_dunning_at() {
            ops.push(due::schedule(Kind::Dunning, tenant_id, id.as_str(), at));
        }
        // Its PDF is rendered and stored apart (`service::documents`); the email waits
        // for it and carries it.
        ops.push(due::schedule(Kind::Document, tenant_id, id.as_str(), now));
        if let Some(to) = inv.payer.email.clone() {
            let context = mail_context(&inv, &tenant, now);
            let pdf = AttachmentRef::pdf(keys::invoice_document(tenant_id, id, None), &n);
            ops.extend(mail::enqueue_with(
                tenant_id,
                Template::InvoiceIssued,
                &to,
                context,
                vec![pdf],
                now,
            )?);
        }
        let summary = inv.summary(now, item.version + 1);
        ops.extend(events::emit(
            tenant_id,
            EventType::InvoiceFinalized,
            &summary,
            now,
        )?);
        // Nothing to pay: it is paid as it becomes final, and a partner hears both.
        if inv.status == InvoiceStatus::Paid {
            ops.extend(events::emit(
                tenant_id,
                EventType::InvoicePaid,
                &summary,
                now,
            )?);
        }
        let entry = entry(action, &inv)
            .value("number", &n)
            .value("total", inv.total());
        ops.push(audit_op(deps, &inv, entry).await?);
        match deps.store.transact(ops).await {
            Ok(()) => return Ok((inv, item.version + 1)),
            Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {
                // Another finalisation took the number: read the counter again.
                pause(round).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::concurrent_update())
}

/// What an invoice's emails say: its issuer, number, amounts and dates.
fn mail_context(
    inv: &Invoice,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> serde_json::Map<String, serde_json::Value> {
    let (issuer_name, instructions) = issuer_name_and_instructions(&inv.issuer, tenant);
    let day = |t: Option<DateTime<Utc>>| t.map(|t| t.format("%-d %B %Y").to_string());
    let mut c = serde_json::Map::new();
    let mut set = |k: &str, v: serde_json::Value| {
        c.insert(k.to_owned(), v);
    };
    set("invoice_id", inv.id.as_str().into());
    set("issuer_name", issuer_name.into());
    set("payer_name", inv.payer.name.clone().into());
    set("customer_name", inv.customer_name.clone().into());
    set("number", inv.number.clone().unwrap_or_default().into());
    set("period", inv.period.clone().into());
    set("total", money(inv.total(), &inv.currency).into());
    set("amount_due", money(inv.amount_due(), &inv.currency).into());
    set("due_date", day(inv.due_at).into());
    set(
        "days_overdue",
        inv.due_at.map_or(0, |d| (now - d).num_days().max(0)).into(),
    );
    set("payment_instructions", instructions.into());
    c
}

/// `POST /v1/invoices/{id}/approve`: a tenant owner finalises a draft before its review
/// window ends.
pub async fn approve(deps: &Deps, t: &TenantScope, id: &InvoiceId) -> Result<InvoiceView, Error> {
    let (inv, _) = locate(deps, Reach::Tenant(t), id).await?;
    if inv.status == InvoiceStatus::Void {
        return Err(Error::conflict(
            ProblemKind::InvoiceNotDraft,
            "the invoice is void",
        ));
    }
    let (inv, version) = finalize(deps, t.tenant_id(), id, "invoice.approved").await?;
    full(deps, &inv, version).await
}

/// What the review sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReviewReport {
    pub finalized: u64,
    pub failed: u64,
}

/// Finalises the drafts whose review window has ended. One that fails is logged and
/// stays due; the others go on.
pub async fn finalize_due(deps: &Deps, now: DateTime<Utc>) -> Result<ReviewReport, Error> {
    let deps = &deps.acting(audit::job_origin("invoice-review"));
    let mut sweep = Sweep::new(Kind::Review, now);
    let mut report = ReviewReport::default();
    while let Some(page) = sweep.next(deps).await? {
        for due in page {
            let id = InvoiceId::from_record(due.item_id.clone());
            match finalize(deps, &due.tenant_id, &id, "invoice.finalized").await {
                Ok(_) => report.finalized += 1,
                Err(Error::NotFound(_)) => {
                    deps.store
                        .delete(&due.entry, Condition::None)
                        .await
                        .map_err(Error::from)?;
                }
                Err(e) => {
                    tracing::warn!(invoice = %id, error = %e, "an invoice could not be finalised; it stays due");
                    report.failed += 1;
                }
            }
        }
    }
    Ok(report)
}

/// What the dunning sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DunningReport {
    pub reminders: u64,
    pub suspensions: u64,
    pub failed: u64,
}

/// Takes every dunning step that is due: a reminder to the payer at +1 and +7 days
/// overdue, the payer's suspension at the invoice's `suspend_after_days` (21 unless the
/// tenant's terms say otherwise). One invoice that fails is logged and stays
/// due; the others go on.
pub async fn dunning_due(deps: &Deps, now: DateTime<Utc>) -> Result<DunningReport, Error> {
    let deps = &deps.acting(audit::job_origin("dunning"));
    let mut sweep = Sweep::new(Kind::Dunning, now);
    let mut report = DunningReport::default();
    while let Some(page) = sweep.next(deps).await? {
        for due in page {
            let id = InvoiceId::from_record(due.item_id.clone());
            match dunning_step(deps, &due.tenant_id, &id, now).await {
                Ok((reminders, suspended)) => {
                    report.reminders += reminders;
                    report.suspensions += u64::from(suspended);
                }
                Err(e) => {
                    tracing::warn!(invoice = %id, error = %e, "a dunning step failed; it stays due");
                    report.failed += 1;
                    continue;
                }
            }
            // An entry left where it was that names no step still to take (the invoice is
            // gone, paid, or moved on) is done.
            if deps.store.get(&due.entry).await?.is_some() {
                let inv = match deps.store.get(&keys::invoice(&due.tenant_id, &id)).await? {
                    Some(item) => Some(from_item::<Invoice>(&item)?),
                    None => None,
                };
                let follow_up = inv.as_ref().is_some_and(Invoice::payer_follow_up);
                let wanted = inv.as_ref().and_then(Invoice::next_dunning_at);
                let own =
                    wanted.map(|at| due::entry(Kind::Dunning, &due.tenant_id, id.as_str(), at));
                if !follow_up && own.as_ref() != Some(&due.entry) {
                    deps.store
                        .delete(&due.entry, Condition::None)
                        .await
                        .map_err(Error::from)?;
                }
            }
        }
    }
    Ok(report)
}

/// The dunning steps of one invoice that are due at `now`, in one transaction with the
/// reminders' emails and a partner's suspension, and their audit events (the invoice's
/// steps; the partner's suspension). Answers the reminders queued and whether the payer
/// was suspended.
async fn dunning_step(
    deps: &Deps,
    tenant_id: &TenantId,
    id: &InvoiceId,
    now: DateTime<Utc>,
) -> Result<(u64, bool), Error> {
    let Some(item) = deps.store.get(&keys::invoice(tenant_id, id)).await? else {
        return Ok((0, false));
    };
    let mut inv: Invoice = from_item(&item)?;
    if inv.payer_follow_up() {
        let suspended = follow_up(deps, tenant_id, &mut inv, item.version).await?;
        return Ok((0, suspended));
    }
    let Some(scheduled) = inv.next_dunning_at() else {
        return Ok((0, false));
    };
    let Some(due_at) = inv.due_at else {
        return Ok((0, false));
    };
    let overdue = (now - due_at).num_days();
    let suspend_after = inv.suspend_after();
    let steps: Vec<u32> = inv
        .dunning_days()
        .into_iter()
        .filter(|d| i64::from(*d) <= overdue && !inv.dunning.contains(d))
        .collect();
    if steps.is_empty() {
        return Ok((0, false));
    }
    let (tenant, tenant_item) = super::directory::load(deps, tenant_id).await?;
    let suspend = steps.contains(&suspend_after);
    let mut ops = Vec::new();
    let mut reminders = 0;
    // Only the last reminder due is sent (a sweep that ran late sends one, not two).
    if let (true, Some(to)) = (
        steps.iter().any(|d| *d < suspend_after),
        inv.payer.email.clone(),
    ) {
        {
            let mut context = mail_context(&inv, &tenant, now);
            context.insert(
                "suspend_on".into(),
                (due_at + Duration::days(i64::from(suspend_after)))
                    .format("%-d %B %Y")
                    .to_string()
                    .into(),
            );
            ops.extend(mail::enqueue(
                tenant_id,
                Template::InvoiceReminder,
                &to,
                context,
                now,
            )?);
            reminders = 1;
        }
    }
    let mut suspended = false;
    if suspend {
        match inv.payer.kind {
            PayerKind::Tenant => {
                // Suspended by hand already: that stays as it is, and is not ours to lift.
                let by_hand =
                    tenant.status == TenantStatus::Suspended && tenant.dunning_holds.is_empty();
                if !by_hand && !tenant.dunning_holds.contains(id) {
                    let mut t = tenant.clone();
                    t.status = TenantStatus::Suspended;
                    t.dunning_holds.push(id.clone());
                    t.updated_at = now;
                    let mut ti = Item::new(keys::tenant(tenant_id), to_data(&t)?);
                    ti.version = tenant_item.version + 1;
                    ops.push(WriteOp::Put {
                        item: ti,
                        condition: Condition::VersionIs(tenant_item.version),
                    });
                    let entry = Entry::new("tenant.suspended", Target::new("tenant", tenant_id))
                        .value("status", t.status)
                        .value("dunning_holds", &t.dunning_holds);
                    ops.push(audit::op(deps, Log::Tenant(tenant_id), entry).await?);
                    suspended = true;
                }
            }
            PayerKind::Customer => {
                // The intent first, with the step; the suspension itself is the entry's
                // next round (`follow_up`): only a customer active now is ours to suspend,
                // and so to reactivate on payment.
                if let Some(c) = &inv.customer_id {
                    let (customer, _) = super::load_customer(deps, tenant_id, c).await?;
                    if customer.status == CustomerStatus::Active {
                        inv.suspended_payer = true;
                    }
                }
            }
        }
    }
    // Its first dunning step is the day it became overdue, for the partner's systems.
    let first = inv.dunning.is_empty();
    inv.dunning.extend(steps);
    inv.updated_at = now;
    ops.push(put_over(&inv, item.version)?);
    let entry = entry("invoice.dunned", &inv)
        .value("dunning", &inv.dunning)
        .value("reminder", reminders > 0)
        .value("suspended_payer", inv.suspended_payer);
    ops.push(audit_op(deps, &inv, entry).await?);
    if first {
        ops.extend(events::emit(
            tenant_id,
            EventType::InvoiceOverdue,
            &inv.summary(now, item.version + 1),
            now,
        )?);
    }
    // A suspension to apply keeps the entry where it is (due now) for its next round.
    if !inv.payer_follow_up() {
        ops.extend(due::reschedule(
            Kind::Dunning,
            tenant_id,
            id.as_str(),
            scheduled,
            inv.next_dunning_at(),
        ));
    }
    commit(deps, ops).await?;
    Ok((reminders, suspended))
}

/// The second half of a reseller's customer's dunning suspension. Unpaid: the customer
/// is suspended (if it still is active) and the invoice records when. Paid (or voided):
/// the customer is reactivated if this invoice's suspension took effect and it is still
/// suspended, unless another of its invoices is itself past the suspension day (then that
/// one holds it). Answers whether a suspension took effect.
async fn follow_up(
    deps: &Deps,
    tenant_id: &TenantId,
    inv: &mut Invoice,
    version: u64,
) -> Result<bool, Error> {
    let now = deps.clock.now();
    let scope = TenantScope::acting_for(tenant_id.clone());
    let Some(c) = inv.customer_id.clone() else {
        inv.suspended_payer = false;
        return save(deps, inv, version, Vec::new()).await.map(|_| false);
    };
    let (customer, _) = super::load_customer(deps, tenant_id, &c).await?;
    let unpaid = matches!(
        inv.status,
        InvoiceStatus::Open | InvoiceStatus::PartiallyPaid
    );
    let mut ops = Vec::new();
    let mut took_effect = false;
    if unpaid {
        if customer.status == CustomerStatus::Active {
            super::customers::transition_by(
                deps,
                &scope,
                &c,
                Transition::Suspend,
                false,
                super::customers::Cause::Dunning,
            )
            .await?;
        }
        inv.payer_suspended_at = Some(now);
        took_effect = true;
    } else {
        let applied = inv.payer_suspended_at.is_some();
        let other = if applied {
            other_overdue(deps, tenant_id, &c, &inv.id, now).await?
        } else {
            None
        };
        match other {
            // Still owed, and past its own suspension day: it holds the customer now.
            Some((mut o, v)) => {
                o.suspended_payer = true;
                o.payer_suspended_at = Some(now);
                o.updated_at = now;
                ops.push(put_over(&o, v)?);
            }
            None if applied && customer.status == CustomerStatus::Suspended => {
                super::customers::transition_by(
                    deps,
                    &scope,
                    &c,
                    Transition::Reactivate,
                    false,
                    super::customers::Cause::Dunning,
                )
                .await?;
            }
            None => {}
        }
        inv.suspended_payer = false;
    }
    save(deps, inv, version, ops).await?;
    Ok(took_effect)
}

/// Another unpaid invoice of the customer overdue far enough to suspend it.
async fn other_overdue(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    except: &InvoiceId,
    now: DateTime<Utc>,
) -> Result<Option<(Invoice, u64)>, Error> {
    let pk = keys::customer_invoices_partition(tenant_id, customer_id);
    let mut after = None;
    loop {
        let q =
            crate::ports::Query::gsi1(pk.clone(), crate::ports::SortRange::All, 100).after(after);
        let page = deps.store.query(q).await?;
        for item in &page.items {
            let o: Invoice = from_item(item)?;
            let overdue_enough = o
                .due_at
                .is_some_and(|d| now >= d + Duration::days(i64::from(o.suspend_after())));
            if &o.id != except
                && matches!(o.status, InvoiceStatus::Open | InvoiceStatus::PartiallyPaid)
                && overdue_enough
            {
                // Index copies may lag: the invoice itself, fresh, with its version.
                if let Some(fresh) = deps.store.get(&keys::invoice(tenant_id, &o.id)).await? {
                    return Ok(Some((from_item(&fresh)?, fresh.version)));
                }
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(None),
        }
    }
}

/// Writes `inv` over `version`, with `more`.
async fn save(
    deps: &Deps,
    inv: &mut Invoice,
    version: u64,
    more: Vec<WriteOp>,
) -> Result<(), Error> {
    inv.updated_at = deps.clock.now();
    let mut ops = vec![put_over(inv, version)?];
    ops.extend(more);
    commit(deps, ops).await
}

/// The writes that end the
/// suspension this invoice's dunning caused, once it is paid in full; nothing else is
/// lifted (a suspension by hand, or another unpaid invoice's, stays). With them, the
/// partner's status when this invoice's hold on it goes (for the change's audit event).
async fn release_writes(
    deps: &Deps,
    inv: &Invoice,
    before: &Invoice,
) -> Result<(Vec<WriteOp>, Option<TenantStatus>), Error> {
    let mut released = None;
    let mut ops = Vec::new();
    let now = deps.clock.now();
    let next = before.next_dunning_at();
    // A reseller's customer this invoice suspended: its reactivation is due work now (the
    // scheduled function has the identity provider its login needs). An entry due at
    // this very instant already serves; any other next step's entry goes.
    if let Some(at) = next.filter(|at| !(inv.suspended_payer && *at == now)) {
        ops.push(due::unschedule(
            Kind::Dunning,
            &inv.tenant_id,
            inv.id.as_str(),
            at,
        ));
    }
    if inv.suspended_payer && next != Some(now) {
        ops.push(due::schedule(
            Kind::Dunning,
            &inv.tenant_id,
            inv.id.as_str(),
            now,
        ));
    }
    if inv.payer.kind == PayerKind::Tenant {
        let (mut t, item) = super::directory::load(deps, &inv.tenant_id).await?;
        if t.dunning_holds.contains(&inv.id) {
            t.dunning_holds.retain(|h| h != &inv.id);
            if t.dunning_holds.is_empty() && t.status == TenantStatus::Suspended {
                t.status = TenantStatus::Active;
            }
            t.updated_at = deps.clock.now();
            let mut ti = Item::new(keys::tenant(&inv.tenant_id), to_data(&t)?);
            ti.version = item.version + 1;
            ops.push(WriteOp::Put {
                item: ti,
                condition: Condition::VersionIs(item.version),
            });
            released = Some(t.status);
        }
    }
    Ok((ops, released))
}

/// `POST /v1/invoices/{id}/adjustments`: a one-off charge (positive) or credit
/// (negative) the operator adds to a draft.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentDraft {
    #[schema(min_length = 1, max_length = 200, example = "Onboarding workshop")]
    pub description: Option<String>,
    /// Minor units; negative for a credit.
    #[schema(example = 15000)]
    pub amount: Option<i64>,
    /// The customer it concerns (defaults to a per-customer invoice's customer).
    pub customer_id: Option<String>,
}

pub async fn add_adjustment(
    deps: &Deps,
    id: &InvoiceId,
    draft: &AdjustmentDraft,
) -> Result<InvoiceView, Error> {
    let mut c = Checks::new();
    let description = c.required("description", draft.description.as_deref(), |s| {
        fields::text(s, 200)
    });
    let amount = match draft.amount {
        None => {
            c.fail("amount", "is required: minor units, negative for a credit");
            None
        }
        Some(0) => {
            c.fail("amount", "must not be zero");
            None
        }
        Some(a) if !(-MAX_AMOUNT..=MAX_AMOUNT).contains(&a) => {
            c.fail("amount", format!("must be at most {MAX_AMOUNT} either way"));
            None
        }
        Some(a) => Some(a),
    };
    let customer = c.optional("customer_id", draft.customer_id.as_deref(), |s| {
        CustomerId::parse(s).map_err(|_| "must be a customer id (cus_...)".to_owned())
    });
    c.finish()?;
    let (mut inv, item) = locate(deps, Reach::Operator, id).await?;
    if inv.status != InvoiceStatus::Draft {
        return Err(Error::conflict(
            ProblemKind::InvoiceNotDraft,
            "only a draft takes adjustments; correct a final invoice with a credit note",
        ));
    }
    let amount = amount.unwrap_or_default();
    if inv.subtotal() + amount < 0 {
        return Err(Error::invalid(
            "amount",
            format!("would take the subtotal ({}) below zero", inv.subtotal()),
        ));
    }
    let line_customer = customer.or_else(|| inv.customer_id.clone());
    inv.lines.push(InvoiceLine {
        customer_id: line_customer.clone(),
        kind: LineKind::Adjustment,
        description: description.unwrap_or_default(),
        quantity: 1,
        unit_amount: Some(amount),
        amount,
        plan: None,
        metric: None,
        from: None,
        to: None,
    });
    inv.updated_at = deps.clock.now();
    let entry = entry("invoice.adjusted", &inv)
        .value("amount", amount)
        .fields(["lines"]);
    let ops = vec![
        put_over(&inv, item.version)?,
        audit_op(deps, &inv, entry).await?,
    ];
    commit(deps, ops).await?;
    full(deps, &inv, item.version + 1).await
}

/// `POST /v1/invoices/{id}/payments`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentDraft {
    /// Minor units of the invoice's currency.
    #[schema(minimum = 1, example = 12000)]
    pub amount: Option<i64>,
    #[schema(example = "2026-12-10")]
    pub date: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        example = "SEPA 2026-12-10 ref 88412"
    )]
    pub reference: Option<String>,
}

pub async fn record_payment(
    deps: &Deps,
    id: &InvoiceId,
    draft: &PaymentDraft,
) -> Result<InvoiceView, Error> {
    let now = deps.clock.now();
    let mut c = Checks::new();
    let amount = match draft.amount {
        None => {
            c.fail("amount", "is required: minor units");
            None
        }
        Some(a) if a <= 0 || a > MAX_AMOUNT => {
            c.fail("amount", format!("must be from 1 to {MAX_AMOUNT}"));
            None
        }
        Some(a) => Some(a),
    };
    let date = c.required("date", draft.date.as_deref(), |s| {
        let d: NaiveDate = s.parse().map_err(|_| "must be a day as YYYY-MM-DD")?;
        if d > now.date_naive() {
            return Err("must not be in the future".to_owned());
        }
        Ok(d)
    });
    let reference = c.required("reference", draft.reference.as_deref(), |s| {
        fields::text(s, 200)
    });
    c.finish()?;
    let (mut inv, item) = locate(deps, Reach::Operator, id).await?;
    if !matches!(
        inv.status,
        InvoiceStatus::Open | InvoiceStatus::PartiallyPaid
    ) {
        return Err(Error::conflict(
            ProblemKind::InvoiceNotOpen,
            "only a final, unpaid invoice takes payments",
        ));
    }
    let amount = amount.unwrap_or_default();
    let due = inv.amount_due();
    if amount > due {
        return Err(Error::invalid(
            "amount",
            format!("must be at most the amount due ({due})"),
        ));
    }
    let before = inv.clone();
    inv.payments.push(Payment {
        amount,
        date: date.unwrap_or_default(),
        reference: reference.unwrap_or_default(),
        recorded_at: now,
    });
    inv.status = inv.settled_status();
    inv.updated_at = now;
    let mut ops = vec![put_over(&inv, item.version)?];
    let mut entry = entry("invoice.payment_recorded", &inv)
        .value("amount", amount)
        .fields(["payments"]);
    let paid = inv.status == InvoiceStatus::Paid;
    if paid {
        let (release, tenant_status) = release_writes(deps, &inv, &before).await?;
        ops.extend(release);
        if let Some(st) = tenant_status {
            entry = entry.value("tenant_status", st);
        }
        ops.extend(events::emit(
            &inv.tenant_id,
            EventType::InvoicePaid,
            &inv.summary(now, item.version + 1),
            now,
        )?);
    }
    ops.push(audit_op(deps, &inv, entry).await?);
    commit(deps, ops).await?;
    full(deps, &inv, item.version + 1).await
}

/// `POST /v1/invoices/{id}/credit-notes`: the operator corrects a final invoice.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteDraft {
    /// Why, printed on the credit note.
    #[schema(
        min_length = 1,
        max_length = 500,
        example = "Duplicate seats billed in November"
    )]
    pub reason: Option<String>,
    /// The net amount to credit (before tax), in minor units; the whole net amount not
    /// credited yet when left out. Tax is credited at the invoice's rate.
    #[schema(minimum = 1, example = 2500)]
    pub amount: Option<i64>,
    /// The line's text (default: the reason).
    #[schema(min_length = 1, max_length = 200)]
    pub description: Option<String>,
    /// The customer the credit concerns, on a consolidated invoice (default: a
    /// per-customer invoice's customer).
    pub customer_id: Option<String>,
}

/// Issues a credit note on a final invoice: its number (the issuer's `CN` series, in the
/// same transaction), the invoice's new status (`void` when credited in full, `paid` when
/// payments and credits cover it, which ends the suspension its dunning caused), the
/// commission taken back on a reseller's statement, and an email to the payer.
pub async fn credit(
    deps: &Deps,
    id: &InvoiceId,
    draft: &CreditNoteDraft,
) -> Result<InvoiceView, Error> {
    let mut c = Checks::new();
    let reason = c.required("reason", draft.reason.as_deref(), |s| fields::text(s, 500));
    let amount = match draft.amount {
        Some(a) if a <= 0 || a > MAX_AMOUNT => {
            c.fail("amount", format!("must be from 1 to {MAX_AMOUNT}"));
            None
        }
        a => a,
    };
    let description = c.optional("description", draft.description.as_deref(), |s| {
        fields::text(s, 200)
    });
    let customer = c.optional("customer_id", draft.customer_id.as_deref(), |s| {
        CustomerId::parse(s).map_err(|_| "must be a customer id (cus_...)".to_owned())
    });
    c.finish()?;
    let reason = reason.unwrap_or_default();
    // One id for every round: a round whose commit landed although its answer was lost
    // is recognised, and no second credit note is issued.
    let note_id = CreditNoteId::generate();
    for round in 0..MAX_ROUNDS {
        let (mut inv, item) = locate(deps, Reach::Operator, id).await?;
        if inv.credit_notes.iter().any(|n| n.id == note_id) {
            return full(deps, &inv, item.version).await;
        }
        if !matches!(
            inv.status,
            InvoiceStatus::Open | InvoiceStatus::PartiallyPaid | InvoiceStatus::Paid
        ) {
            return Err(Error::conflict(
                ProblemKind::InvoiceNotOpen,
                "only a final invoice that is not void takes credit notes; a draft is adjusted or voided",
            ));
        }
        if inv.credit_notes.len() >= MAX_CREDIT_NOTES {
            return Err(Error::conflict(
                ProblemKind::InvoiceNotOpen,
                format!("an invoice takes at most {MAX_CREDIT_NOTES} credit notes"),
            ));
        }
        let rest = inv.creditable_net();
        if rest <= 0 {
            return Err(Error::conflict(
                ProblemKind::InvoiceNotOpen,
                "the invoice's net amount is credited in full already",
            ));
        }
        // What may be credited: the net amount not credited yet, and on a consolidated
        // invoice, for a named customer, what is left of that customer's lines.
        let mut limit = (rest, "the net amount not credited yet");
        let customer_id = match (&customer, &inv.customer_id) {
            (Some(c), Some(own)) if c != own => {
                return Err(Error::invalid(
                    "customer_id",
                    "must be the customer this invoice covers",
                ));
            }
            (Some(c), None) => {
                let group = deps
                    .store
                    .get(&keys::invoice_lines(&inv.tenant_id, id, c))
                    .await?
                    .map(|g| from_item::<CustomerLines>(&g))
                    .transpose()?;
                let mine = |l: &&InvoiceLine| l.customer_id.as_ref() == Some(c);
                let own: Vec<&InvoiceLine> = inv.lines.iter().filter(mine).collect();
                if group.is_none() && own.is_empty() {
                    return Err(Error::invalid(
                        "customer_id",
                        "must be a customer with lines on this invoice",
                    ));
                }
                let credited: i64 = inv
                    .credit_notes
                    .iter()
                    .flat_map(|n| n.lines.iter())
                    .filter(mine)
                    .map(|l| l.amount)
                    .sum();
                let share = group.map_or(0, |g| g.subtotal)
                    + own.iter().map(|l| l.amount).sum::<i64>()
                    - credited;
                if share < limit.0 {
                    limit = (share.max(0), "what is left of this customer's lines");
                }
                Some(c.clone())
            }
            (_, own) => own.clone(),
        };
        let net = amount.unwrap_or(limit.0);
        if net > limit.0 || net <= 0 {
            return Err(Error::invalid(
                "amount",
                format!("must be from 1 to {} ({})", limit.0, limit.1),
            ));
        }
        // The last credit takes exactly the tax left, so the invoice's tax is credited
        // to the unit; any other is rounded once, half to even.
        let tax = if net == rest {
            inv.creditable_tax()
        } else {
            ratio_half_even(net, i64::from(inv.tax_rate_bps), 10_000).min(inv.creditable_tax())
        };
        let now = deps.clock.now();
        let (number, take) = next_number(deps, &inv.issuer, "CN", now.year()).await?;
        let invoice_number = inv.number.clone().unwrap_or_default();
        let note = CreditNote {
            id: note_id.clone(),
            number: number.clone(),
            reason: reason.clone(),
            lines: vec![InvoiceLine {
                customer_id,
                kind: LineKind::Credit,
                description: description.clone().unwrap_or_else(|| reason.clone()),
                quantity: 1,
                unit_amount: Some(net),
                amount: net,
                plan: None,
                metric: None,
                from: None,
                to: None,
            }],
            subtotal: net,
            tax,
            total: net + tax,
            issued_at: now,
            payments_before: u32::try_from(inv.payments.len()).unwrap_or(u32::MAX),
        };
        let before = inv.clone();
        inv.credit_notes.push(note.clone());
        inv.status = inv.settled_status();
        inv.updated_at = now;
        let mut ops = vec![take, put_over(&inv, item.version)?];
        let mut entry = entry("invoice.credited", &inv)
            .value("credit_note_id", &note.id)
            .value("credit_note_number", &number)
            .value("amount", net)
            .value("tax", tax);
        // Settled by this credit note: what its dunning did ends, as a payment in full ends it.
        let unpaid = |st| matches!(st, InvoiceStatus::Open | InvoiceStatus::PartiallyPaid);
        if unpaid(before.status) && !unpaid(inv.status) {
            let (release, tenant_status) = release_writes(deps, &inv, &before).await?;
            ops.extend(release);
            if let Some(st) = tenant_status {
                entry = entry.value("tenant_status", st);
            }
        }
        let (tenant, _) = super::directory::load(deps, &inv.tenant_id).await?;
        if matches!(inv.issuer, Issuer::Tenant { .. }) && tenant.kind == TenantKind::Reseller {
            // Taken back at the rate booked, so that the commission left is always the
            // booked rate on the net amount not credited, rounded once: partial credits
            // add up to exactly what was booked.
            let rate = inv
                .commission_rate_bps
                .or(tenant.commission_rate_bps)
                .unwrap_or(0);
            let on = |n: i64| ratio_half_even(n, i64::from(rate), 10_000);
            let back = on(rest - net) - on(rest);
            let id = note.id.as_str();
            let writes = commission_writes(deps, &inv, id, &number, -net, back, rate, now);
            ops.extend(writes.await?);
        }
        if let Some(to) = inv.payer.email.clone() {
            let mut context = mail_context(&inv, &tenant, now);
            context.insert("credit_note_number".into(), number.clone().into());
            context.insert(
                "credit_note_total".into(),
                money(note.total, &inv.currency).into(),
            );
            context.insert("invoice_number".into(), invoice_number.into());
            context.insert("reason".into(), reason.clone().into());
            let key = keys::invoice_document(&inv.tenant_id, id, Some(&note.id));
            let pdf = AttachmentRef::pdf(key, &number);
            ops.extend(mail::enqueue_with(
                &inv.tenant_id,
                Template::CreditNoteIssued,
                &to,
                context,
                vec![pdf],
                now,
            )?);
        }
        ops.push(due::schedule(
            Kind::Document,
            &inv.tenant_id,
            id.as_str(),
            now,
        ));
        // Settled by the credit note with payments made before: paid now.
        if inv.status == InvoiceStatus::Paid && before.status != InvoiceStatus::Paid {
            ops.extend(events::emit(
                &inv.tenant_id,
                EventType::InvoicePaid,
                &inv.summary(now, item.version + 1),
                now,
            )?);
        }
        ops.push(audit_op(deps, &inv, entry).await?);
        match deps.store.transact(ops).await {
            Ok(()) => return full(deps, &inv, item.version + 1).await,
            Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {
                pause(round).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::concurrent_update())
}

/// `POST /v1/invoices/{id}/void`: cancels a draft (the operator). A final invoice is
/// corrected with a credit note instead.
pub async fn void(deps: &Deps, id: &InvoiceId) -> Result<InvoiceView, Error> {
    let (mut inv, item) = locate(deps, Reach::Operator, id).await?;
    if inv.status == InvoiceStatus::Void {
        return full(deps, &inv, item.version).await;
    }
    if inv.status != InvoiceStatus::Draft {
        return Err(Error::conflict(
            ProblemKind::InvoiceNotDraft,
            "only a draft can be voided; a final invoice is corrected with a credit note",
        ));
    }
    inv.status = InvoiceStatus::Void;
    inv.updated_at = deps.clock.now();
    let ops = vec![
        put_over(&inv, item.version)?,
        due::unschedule(
            Kind::Review,
            &inv.tenant_id,
            id.as_str(),
            inv.review_ends_at,
        ),
        audit_op(deps, &inv, entry("invoice.voided", &inv)).await?,
    ];
    commit(deps, ops).await?;
    full(deps, &inv, item.version + 1).await
}

/// A reseller's commission statements, newest month first.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Statements {
    pub data: Vec<CommissionStatement>,
}

/// `GET /v1/commission-statements?period=`: a reseller's statements, with their lines.
pub async fn commission_statements(
    deps: &Deps,
    reach: Reach<'_>,
    tenant_id: Option<&str>,
    period: Option<&str>,
) -> Result<Statements, Error> {
    // A customer's admin reads invoices, never a reseller's statements.
    if let Reach::Customer(_) = reach {
        return Err(Error::NotFound("resource"));
    }
    let mut c = Checks::new();
    let period = c.optional("period", period, Period::parse);
    let tenant_id = tenant_listed(reach, tenant_id, "statements", &mut c);
    c.finish()?;
    let Some(tenant_id) = &tenant_id else {
        return Err(Error::NotFound("resource"));
    };
    let prefix = format!("S#{}", period.map(|p| p.to_string()).unwrap_or_default());
    let headers = page::all_under(deps, keys::invoices_partition(tenant_id), &prefix, 1000).await?;
    let mut out = Vec::new();
    for h in &headers {
        let mut st: CommissionStatement = from_item(h)?;
        st.lines = page::all_under(
            deps,
            keys::commission_lines_partition(tenant_id, &st.period),
            "",
            usize::MAX,
        )
        .await?
        .iter()
        .map(from_item)
        .collect::<Result<Vec<_>, _>>()?;
        out.push(st);
    }
    out.reverse();
    Ok(Statements { data: out })
}
