//! Final documents: once an invoice is final (and each time a credit note is issued on
//! it), a due-work entry asks for its PDFs. The sweep renders each document not stored
//! yet, writes it to the document store (S3, or the data folder) under a key derived from
//! the invoice, and records it on the invoice under its version. Rendering again after a
//! crash writes the same key again; the record is written once.
//!
//! The renderer is handed in (`Render`): only the function that renders links the PDF
//! writer and its fonts. The invoice's email, queued when it became final, names the
//! document; delivery attaches it once it is stored (`service::mail`).
//!
//! The record of stored documents on an invoice writes its `invoice.documents_stored`
//! audit event (actor: the `documents` job) in the same transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::audit::{self, Entry, Log};
use super::due::{Kind, Sweep};
use super::invoices;
use super::invoices::Reach;
use super::mail::PDF;
use crate::Deps;
use crate::error::Error;
use crate::error::ProblemKind;
use crate::model::audit::Target;
use crate::model::ids::{CreditNoteId, InvoiceId, TenantId};
use crate::model::invoice::{
    CreditNote, CustomerLines, InvoiceStatus, InvoiceView, StoredDocument,
};
use crate::model::tenant::Tenant;
use crate::ports::{Condition, Key, StoreError, WriteOp};
use crate::store::keys;

/// Renders one final document: the invoice (`None`) or one of its credit notes, as PDF.
pub type Render =
    dyn Fn(&InvoiceView, &Tenant, Option<&CreditNote>) -> Result<Vec<u8>, Error> + Send + Sync;

/// Rounds of retry when the invoice changed while its documents were rendered.
const ROUNDS: usize = 5;

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DocumentReport {
    pub stored: u64,
    pub failed: u64,
}

/// How soon a document not stored yet is worth asking for again: the sweep runs every
/// minute.
pub const PENDING_RETRY_SECONDS: u64 = 60;

/// The PDF of a final invoice (`credit_note`: `None`) or of one of its credit notes, as
/// issued: the bytes the sweep stored and the email attached. A draft has none
/// (`document-not-issued`); a final document the sweep has not stored yet is
/// `document-pending`. Reads the invoice (for `reach` and its state) and the document
/// store, and never renders: a function that serves stored PDFs does not link the PDF
/// writer.
pub async fn issued(
    deps: &Deps,
    reach: Reach<'_>,
    id: &InvoiceId,
    credit_note: Option<&CreditNoteId>,
) -> Result<Vec<u8>, Error> {
    let (inv, _) = invoices::locate(deps, reach, id).await?;
    if let Some(cn) = credit_note
        && !inv.credit_notes.iter().any(|n| &n.id == cn)
    {
        return Err(Error::NotFound("credit note"));
    }
    if inv.number.is_none() {
        let detail = if inv.status == InvoiceStatus::Void {
            "the invoice was voided as a draft and never became final: it has no PDF"
        } else {
            "a draft invoice has no PDF until it is final; ask for its HTML view \
             (Accept: text/html)"
        };
        return Err(Error::conflict(ProblemKind::DocumentNotIssued, detail)
            .with("invoice_status", inv.status));
    }
    let key = keys::invoice_document(&inv.tenant_id, id, credit_note);
    let found = deps.documents()?.get(&key).await.map_err(|e| {
        tracing::warn!(error = %e, "the document store failed to answer a document");
        Error::Unavailable("the document store did not answer; nothing changed, retry".into())
    })?;
    found.ok_or_else(|| {
        Error::conflict(
            ProblemKind::DocumentPending,
            "the document is final and is being rendered and stored; ask again in a minute",
        )
        .with("retry_after_seconds", PENDING_RETRY_SECONDS)
    })
}

/// Stores every document that is due. One invoice that fails (its renderer, the
/// document store) is logged and stays due; the others go on.
pub async fn store_due(
    deps: &Deps,
    render: &Render,
    now: DateTime<Utc>,
) -> Result<DocumentReport, Error> {
    let deps = &deps.acting(audit::job_origin("documents"));
    let mut sweep = Sweep::new(Kind::Document, now);
    let mut report = DocumentReport::default();
    while let Some(page) = sweep.next(deps).await? {
        for due in page {
            let id = InvoiceId::from_record(due.item_id.clone());
            match store(deps, render, &due.tenant_id, &id, &due.entry).await {
                Ok(n) => report.stored += n,
                Err(Error::NotFound(_)) => super::due::forget(deps, &due).await?,
                Err(e) => {
                    tracing::warn!(invoice = %id, error = %e, "an invoice's documents could not be stored; they stay due");
                    report.failed += 1;
                }
            }
        }
    }
    Ok(report)
}

/// Renders and stores the invoice's documents that are not stored yet; how many. Each
/// shows the invoice as it stood when it was issued (the invoice before any payment or
/// credit note; a credit note with the credits up to it), so rendering later or again
/// gives the same document. A document already in the store is kept, never written
/// again: the bytes an email attached are the bytes recorded. The record on the invoice
/// and the removal of `entry` (its due-work entry) are one transaction under the
/// invoice's version, so a credit note issued meanwhile is never left unstored.
async fn store(
    deps: &Deps,
    render: &Render,
    tenant_id: &TenantId,
    id: &InvoiceId,
    entry: &Key,
) -> Result<u64, Error> {
    for _ in 0..ROUNDS {
        let (mut inv, item) = invoices::load(deps, tenant_id, id).await?;
        let todo = inv.documents_to_store();
        let mut stored = Vec::with_capacity(todo.len());
        // Read once, for every document that has to be rendered.
        let mut context: Option<(Vec<CustomerLines>, Tenant)> = None;
        for note in todo {
            let cn = note.map(|i| &inv.credit_notes[i]);
            let key = keys::invoice_document(tenant_id, id, cn.map(|n| &n.id));
            let documents = deps.documents()?;
            let found = documents.get(&key).await.map_err(|e| {
                Error::Unexpected(anyhow::Error::new(e).context("reading a document"))
            })?;
            let bytes = match found {
                Some(bytes) => bytes,
                None => {
                    let (groups, tenant) = match context {
                        Some(ref read) => read,
                        None => {
                            let groups = invoices::groups_of(deps, &inv).await?;
                            let (tenant, _) = super::directory::load(deps, tenant_id).await?;
                            context.insert((groups, tenant))
                        }
                    };
                    let as_then = match note {
                        None => inv.as_issued(),
                        Some(i) => inv.as_of_credit_note(i),
                    };
                    let view = as_then.view(groups.clone(), deps.clock.now(), item.version);
                    let bytes = render(&view, tenant, cn)?;
                    documents.put(&key, bytes.clone(), PDF).await.map_err(|e| {
                        Error::Unexpected(anyhow::Error::new(e).context("storing a document"))
                    })?;
                    bytes
                }
            };
            stored.push(StoredDocument {
                of: cn.map_or_else(|| inv.id.to_string(), |n| n.id.to_string()),
                key,
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                stored_at: deps.clock.now(),
            });
        }
        let n = stored.len() as u64;
        let mut ops = Vec::with_capacity(3);
        if stored.is_empty() {
            ops.push(WriteOp::Check {
                key: item.key(),
                condition: Condition::VersionIs(item.version),
            });
        } else {
            let of: Vec<&str> = stored.iter().map(|d| d.of.as_str()).collect();
            let mut audited = Entry::new("invoice.documents_stored", Target::new("invoice", id))
                .value("documents", of);
            // In a customer's history only when it pays the invoice itself.
            if let (Some(c), crate::model::invoice::PayerKind::Customer) =
                (&inv.customer_id, inv.payer.kind)
            {
                audited = audited.customer(c);
            }
            let audit_op = audit::op(deps, Log::Tenant(tenant_id), audited).await?;
            inv.documents.extend(stored);
            ops.push(WriteOp::Put {
                item: super::invoice_run::invoice_item(&inv, item.version + 1)?,
                condition: Condition::VersionIs(item.version),
            });
            ops.push(audit_op);
        }
        ops.push(WriteOp::delete(entry.clone()));
        match deps.store.transact(ops).await {
            Ok(()) => return Ok(n),
            // A payment or a credit note landed meanwhile: read it again and store what
            // is still missing (what is stored already is kept).
            Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::concurrent_update())
}
