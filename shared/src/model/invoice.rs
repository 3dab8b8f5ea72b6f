//! Invoices: who issues them, who pays them, their lines and their lifecycle.
//!
//! An invoice's identity is (payer, period, currency[, customer]); its id is derived from
//! that identity (`InvoiceId::of`), so the run claims it with a conditional write and a
//! rerun, a duplicate message or a crash half-way finds the same invoice, never a second.
//!
//! Amounts are integer minor units of the invoice's currency. Each line is rounded once
//! (half to even) where it is computed; the subtotal is their sum; tax is the subtotal ×
//! `tax_rate_bps` ÷ 10,000, rounded once, half to even.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::billing::{Period, ratio_half_even};
use super::fields::Address;
use super::ids::{CreditNoteId, CustomerId, InvoiceId, TenantId};

/// Review window after the run, in days, unless the tenant sets its own.
pub const REVIEW_DAYS: u32 = 3;
/// Days from finalisation to the due date.
pub const DUE_DAYS: u32 = 14;
/// Days past the due date of the reminders, before the suspension.
pub const REMINDER_DAYS: [u32; 2] = [1, 7];
/// Days past the due date at which the payer is suspended, unless the tenant sets its own.
pub const SUSPEND_AFTER_DAYS: u32 = 21;

impl InvoiceId {
    /// The id of the invoice with this identity: the period (so ids sort by month) and a
    /// digest of the rest. The same identity always gives the same id.
    pub fn of(
        tenant_id: &TenantId,
        period: Period,
        currency: &str,
        customer: Option<&CustomerId>,
    ) -> Self {
        let identity = format!(
            "{tenant_id}|{period}|{currency}|{}",
            customer.map_or("", |c| c.as_str())
        );
        let digest = hex::encode(Sha256::digest(identity.as_bytes()));
        let month = period.to_string().replace('-', "");
        Self::from_record(format!("{}_{month}{}", Self::PREFIX, &digest[..26]))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Written by the run; under review; changes with adjustments.
    Draft,
    /// Final, numbered and sent; waiting for payment.
    Open,
    PartiallyPaid,
    Paid,
    /// A draft cancelled, or a final invoice fully credited.
    Void,
}

impl InvoiceStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "open" => Self::Open,
            "partially_paid" => Self::PartiallyPaid,
            "paid" => Self::Paid,
            "void" => Self::Void,
            _ => return None,
        })
    }
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Draft)
    }
}

/// Who issues an invoice: the platform (to partners) or a reseller (to its customers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Issuer {
    Platform,
    Tenant { tenant_id: TenantId },
}

/// Who pays: the partner tenant, or (a reseller's) customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payer {
    /// `tenant` or `customer`.
    #[serde(rename = "type")]
    pub kind: PayerKind,
    pub id: String,
    pub name: String,
    /// Where the invoice is sent (the billing contact).
    pub email: Option<String>,
    pub address: Option<Address>,
    pub tax_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayerKind {
    Tenant,
    Customer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Base,
    Seats,
    Usage,
    /// Added to a draft by the operator: positive (a charge) or negative (a credit).
    Adjustment,
    /// A credit note's line: the amount it takes off the invoice (positive).
    Credit,
}

/// One line of an invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    pub customer_id: Option<CustomerId>,
    pub kind: LineKind,
    pub description: String,
    /// Days (base fee), seat-days (seats), units of the metric (usage), 1 (adjustment).
    pub quantity: u64,
    /// The price the quantity is a share or a multiple of: the monthly base fee, the
    /// monthly price of a seat, the price of one unit; none where tiers or packages price
    /// the quantity as a whole.
    pub unit_amount: Option<i64>,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

/// One customer's lines on an invoice, with their subtotal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerLines {
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: i64,
}

impl CustomerLines {
    pub fn new(customer_id: CustomerId, customer_name: String, lines: Vec<InvoiceLine>) -> Self {
        let subtotal = lines.iter().map(|l| l.amount).sum();
        Self {
            customer_id,
            customer_name,
            lines,
            subtotal,
        }
    }
}

/// A payment recorded against a final invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    pub amount: i64,
    pub date: NaiveDate,
    pub reference: String,
    pub recorded_at: DateTime<Utc>,
}

/// A credit note: a numbered correction of a final invoice (its own series,
/// `CN-2026-000001`), final when issued. Its amounts are what it takes off the invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditNote {
    pub id: CreditNoteId,
    #[schema(example = "CN-2026-000001")]
    pub number: String,
    pub reason: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
    pub issued_at: DateTime<Utc>,
    /// How many of the invoice's payments were recorded when it was issued (what its
    /// document counts as paid).
    #[serde(default)]
    pub payments_before: u32,
}

/// A final document kept in the document store: the invoice's own PDF (`of` its id) or
/// a credit note's (`of` the credit note's id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDocument {
    pub of: String,
    pub key: String,
    pub bytes: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    pub stored_at: DateTime<Utc>,
}

/// Most credit notes one invoice takes (they are kept on it).
pub const MAX_CREDIT_NOTES: usize = 20;

/// An invoice as stored. A consolidated invoice keeps its customers' lines in items of
/// their own (one per customer); a per-customer invoice keeps them here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub tenant_id: TenantId,
    pub status: InvoiceStatus,
    pub period: String,
    pub currency: String,
    pub issuer: Issuer,
    pub payer: Payer,
    /// The customer a per-customer invoice covers.
    pub customer_id: Option<CustomerId>,
    #[serde(default)]
    pub customer_name: Option<String>,
    /// Lines kept on the invoice itself: a per-customer invoice's, and adjustments.
    pub lines: Vec<InvoiceLine>,
    /// Customers whose lines are in items of their own (consolidated).
    pub customers: u32,
    /// Sum of the customers' subtotals kept in items of their own.
    pub customers_subtotal: i64,
    pub tax_rate_bps: u32,
    pub number: Option<String>,
    pub review_ends_at: DateTime<Utc>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    /// Days overdue at which the payer is suspended, from the tenant's terms when the
    /// invoice was finalised (none: before terms, 21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_after_days: Option<u32>,
    #[serde(default)]
    pub payments: Vec<Payment>,
    /// Dunning steps taken (reminders sent, suspension), by day overdue.
    #[serde(default)]
    pub dunning: Vec<u32>,
    /// The payer (a reseller's customer) was suspended by this invoice's dunning: its
    /// payment in full reactivates it (and nothing suspended otherwise).
    #[serde(default)]
    pub suspended_payer: bool,
    /// When that suspension took effect (none while it is still to be applied).
    #[serde(default)]
    pub payer_suspended_at: Option<DateTime<Utc>>,
    /// Credit notes issued on this (final) invoice, oldest first.
    #[serde(default)]
    pub credit_notes: Vec<CreditNote>,
    /// Its final documents in the document store (rendered after it became final).
    #[serde(default)]
    pub documents: Vec<StoredDocument>,
    /// A reseller's customer's invoice: the commission rate booked when it became final
    /// (credit notes take commission back at this rate).
    #[serde(default)]
    pub commission_rate_bps: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Invoice {
    pub fn subtotal(&self) -> i64 {
        self.customers_subtotal + self.lines.iter().map(|l| l.amount).sum::<i64>()
    }
    pub fn tax(&self) -> i64 {
        ratio_half_even(self.subtotal(), i64::from(self.tax_rate_bps), 10_000)
    }
    pub fn total(&self) -> i64 {
        self.subtotal() + self.tax()
    }
    pub fn amount_paid(&self) -> i64 {
        self.payments.iter().map(|p| p.amount).sum()
    }
    /// The final documents not stored yet: the invoice's own once it has its number
    /// (`None`), then each credit note's (its index).
    pub fn documents_to_store(&self) -> Vec<Option<usize>> {
        let stored = |of: &str| self.documents.iter().any(|d| d.of == of);
        let mut out = Vec::new();
        if self.number.is_some() && !stored(self.id.as_str()) {
            out.push(None);
        }
        for (i, cn) in self.credit_notes.iter().enumerate() {
            if !stored(cn.id.as_str()) {
                out.push(Some(i));
            }
        }
        out
    }
    /// The invoice as it was issued, before any payment or credit note: what its stored
    /// document shows.
    pub fn as_issued(&self) -> Invoice {
        let mut inv = self.clone();
        inv.payments.clear();
        inv.credit_notes.clear();
        inv.status = inv.settled_status();
        inv
    }
    /// The invoice as it stood when credit note `index` was issued: the credit notes up
    /// to and including it, the payments recorded before it.
    pub fn as_of_credit_note(&self, index: usize) -> Invoice {
        let mut inv = self.clone();
        inv.credit_notes.truncate(index + 1);
        if let Some(n) = inv.credit_notes.last().map(|c| c.payments_before as usize) {
            inv.payments.truncate(n);
        }
        inv.status = inv.settled_status();
        inv
    }
    /// What the credit notes took off, tax included.
    pub fn amount_credited(&self) -> i64 {
        self.credit_notes.iter().map(|c| c.total).sum()
    }
    /// The net amount (before tax) not credited yet.
    pub fn creditable_net(&self) -> i64 {
        self.subtotal() - self.credit_notes.iter().map(|c| c.subtotal).sum::<i64>()
    }
    /// The tax not credited yet.
    pub fn creditable_tax(&self) -> i64 {
        self.tax() - self.credit_notes.iter().map(|c| c.tax).sum::<i64>()
    }
    /// What is still to pay: the total less payments and credit notes (never below 0).
    pub fn amount_due(&self) -> i64 {
        if self.status == InvoiceStatus::Void {
            return 0;
        }
        (self.total() - self.amount_paid() - self.amount_credited()).max(0)
    }
    /// A final invoice's status from its payments and credit notes: `void` once credited
    /// in full, `paid` once payments and credits cover the total.
    pub fn settled_status(&self) -> InvoiceStatus {
        if self.status == InvoiceStatus::Draft {
            return self.status;
        }
        let (total, paid, credited) = (self.total(), self.amount_paid(), self.amount_credited());
        if !self.credit_notes.is_empty() && credited >= total {
            InvoiceStatus::Void
        } else if paid + credited >= total {
            InvoiceStatus::Paid
        } else if paid > 0 {
            InvoiceStatus::PartiallyPaid
        } else {
            InvoiceStatus::Open
        }
    }
    /// A suspension of its customer (a reseller's) still to apply, or to lift once paid:
    /// the invoice's due-work entry stays until that is done.
    pub fn payer_follow_up(&self) -> bool {
        self.suspended_payer
            && match self.status {
                InvoiceStatus::Paid | InvoiceStatus::Void => true,
                InvoiceStatus::Open | InvoiceStatus::PartiallyPaid => {
                    self.payer_suspended_at.is_none()
                }
                InvoiceStatus::Draft => false,
            }
    }

    /// When the next dunning step falls due, while the invoice is unpaid.
    pub fn next_dunning_at(&self) -> Option<DateTime<Utc>> {
        if !matches!(
            self.status,
            InvoiceStatus::Open | InvoiceStatus::PartiallyPaid
        ) {
            return None;
        }
        let due = self.due_at?;
        self.dunning_days()
            .into_iter()
            .find(|d| !self.dunning.contains(d))
            .map(|d| due + chrono::Duration::days(i64::from(d)))
    }

    /// Days overdue at which its payer is suspended: the tenant's terms when it was
    /// finalised.
    pub fn suspend_after(&self) -> u32 {
        self.suspend_after_days.unwrap_or(SUSPEND_AFTER_DAYS)
    }

    /// Days past the due date of its dunning steps: the reminders that fall before the
    /// suspension, then the suspension.
    pub fn dunning_days(&self) -> Vec<u32> {
        let suspend = self.suspend_after();
        REMINDER_DAYS
            .iter()
            .copied()
            .filter(|d| *d < suspend)
            .chain([suspend])
            .collect()
    }

    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        matches!(
            self.status,
            InvoiceStatus::Open | InvoiceStatus::PartiallyPaid
        ) && self.due_at.is_some_and(|d| now > d)
    }
}

/// An invoice as the API shows it: its summary (totals and dates), with its lines,
/// payments and credit notes.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InvoiceView {
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    /// Every line, each naming its customer.
    pub lines: Vec<InvoiceLine>,
    /// The lines grouped by customer, each with its subtotal.
    pub customers: Vec<CustomerLines>,
    pub payments: Vec<Payment>,
    pub credit_notes: Vec<CreditNote>,
}

/// The summary's fields read through the view (`view.total`).
impl std::ops::Deref for InvoiceView {
    type Target = InvoiceSummary;
    fn deref(&self) -> &InvoiceSummary {
        &self.summary
    }
}

/// An invoice's totals and dates without its lines: what its events carry.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InvoiceSummary {
    pub id: InvoiceId,
    pub tenant_id: TenantId,
    pub number: Option<String>,
    pub status: InvoiceStatus,
    /// Final, unpaid and past its due date.
    pub overdue: bool,
    #[schema(example = "2026-11")]
    pub period: String,
    #[schema(example = "EUR")]
    pub currency: String,
    pub issuer: Issuer,
    pub payer: Payer,
    /// The customer a per-customer invoice covers.
    pub customer_id: Option<CustomerId>,
    pub customer_name: Option<String>,
    pub subtotal: i64,
    pub tax_rate_bps: u32,
    pub tax: i64,
    pub total: i64,
    pub amount_paid: i64,
    pub amount_credited: i64,
    pub amount_due: i64,
    pub review_ends_at: DateTime<Utc>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl Invoice {
    /// The invoice without its lines, as of `now`.
    pub fn summary(&self, now: DateTime<Utc>, version: u64) -> InvoiceSummary {
        InvoiceSummary {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            number: self.number.clone(),
            status: self.status,
            overdue: self.overdue(now),
            period: self.period.clone(),
            currency: self.currency.clone(),
            issuer: self.issuer.clone(),
            payer: self.payer.clone(),
            customer_id: self.customer_id.clone(),
            customer_name: self.customer_name.clone(),
            subtotal: self.subtotal(),
            tax_rate_bps: self.tax_rate_bps,
            tax: self.tax(),
            total: self.total(),
            amount_paid: self.amount_paid(),
            amount_credited: self.amount_credited(),
            amount_due: self.amount_due(),
            review_ends_at: self.review_ends_at,
            finalized_at: self.finalized_at,
            due_at: self.due_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version,
        }
    }
}

impl Invoice {
    /// The view, with the customers' lines (those kept in items of their own, then the
    /// invoice's own, grouped by customer).
    pub fn view(
        &self,
        mut groups: Vec<CustomerLines>,
        now: DateTime<Utc>,
        version: u64,
    ) -> InvoiceView {
        let mut own: Vec<InvoiceLine> = Vec::new();
        for line in &self.lines {
            match line
                .customer_id
                .as_ref()
                .and_then(|c| groups.iter_mut().find(|g| &g.customer_id == c))
            {
                Some(g) => {
                    g.subtotal += line.amount;
                    g.lines.push(line.clone());
                }
                None => own.push(line.clone()),
            }
        }
        // A per-customer invoice: its lines are its one customer's.
        if let (Some(c), false, true) = (&self.customer_id, own.is_empty(), groups.is_empty()) {
            let name = self.customer_name.clone().unwrap_or_default();
            groups.push(CustomerLines::new(c.clone(), name, own));
            own = Vec::new();
        }
        let mut lines: Vec<InvoiceLine> = groups
            .iter()
            .flat_map(|g| g.lines.iter().cloned())
            .collect();
        lines.extend(own);
        InvoiceView {
            summary: self.summary(now, version),
            lines,
            customers: groups,
            payments: self.payments.clone(),
            credit_notes: self.credit_notes.clone(),
        }
    }
}

/// Digits after the decimal point of a currency's minor unit (ISO 4217).
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `€1,234.56`, `-$12.00`, `1,000 JPY`: integer minor units, never a float.
pub fn money(amount: i64, currency: &str) -> String {
    let e = exponent(currency);
    let neg = amount < 0;
    let abs = amount.unsigned_abs();
    let unit = 10u64.pow(e);
    let (whole, frac) = (abs / unit, abs % unit);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let number = if e == 0 {
        grouped
    } else {
        format!("{grouped}.{frac:0width$}", width = e as usize)
    };
    let sign = if neg { "-" } else { "" };
    match currency {
        "EUR" => format!("{sign}€{number}"),
        "USD" => format!("{sign}${number}"),
        "GBP" => format!("{sign}£{number}"),
        _ => format!("{sign}{number} {currency}"),
    }
}

/// The platform's name on its invoices and their emails (`TENANTRY_PLATFORM_NAME`).
pub fn platform_name() -> String {
    std::env::var("TENANTRY_PLATFORM_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "Tenantry".to_owned())
}

/// How to pay the platform (`TENANTRY_PAYMENT_INSTRUCTIONS`).
pub fn payment_instructions() -> String {
    std::env::var("TENANTRY_PAYMENT_INSTRUCTIONS")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "Pay by bank transfer, quoting the invoice number.".to_owned())
}

/// The issuer's name on an invoice and how to pay it: the platform's settings, or a
/// reseller's billing name (else its brand's name).
pub fn issuer_name_and_instructions(
    issuer: &Issuer,
    tenant: &super::tenant::Tenant,
) -> (String, String) {
    match issuer {
        Issuer::Platform => (platform_name(), payment_instructions()),
        Issuer::Tenant { .. } => {
            let name = tenant
                .billing
                .as_ref()
                .and_then(|b| b.company_name.clone())
                .or_else(|| tenant.branding.as_ref().map(|b| b.product_name.clone()))
                .unwrap_or_else(|| tenant.name.clone());
            let how = format!("Pay {name} by bank transfer, quoting the invoice number.");
            (name, how)
        }
    }
}

/// The number of a final invoice: `INV-2026-000123`, per issuer and year, gap-free.
pub fn number(prefix: &str, year: i32, n: u64) -> String {
    format!("{prefix}-{year}-{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_identity_gives_the_same_id_and_another_gives_another() {
        let t = TenantId::from_record("ten_1");
        let p = Period::parse("2026-11").unwrap();
        let a = InvoiceId::of(&t, p, "EUR", None);
        assert_eq!(a, InvoiceId::of(&t, p, "EUR", None));
        assert_ne!(a, InvoiceId::of(&t, p, "USD", None));
        let c = CustomerId::from_record("cus_1");
        assert_ne!(a, InvoiceId::of(&t, p, "EUR", Some(&c)));
        assert!(a.as_str().starts_with("inv_202611"));
        assert!(InvoiceId::parse(a.as_str()).is_ok(), "{a}");
    }

    #[test]
    fn money_is_minor_units_with_the_currency_s_own_exponent() {
        assert_eq!(money(1_315_000, "EUR"), "€13,150.00");
        assert_eq!(money(-1500, "USD"), "-$15.00");
        assert_eq!(money(5, "GBP"), "£0.05");
        assert_eq!(money(1000, "JPY"), "1,000 JPY");
        assert_eq!(money(1234, "KWD"), "1.234 KWD");
    }

    #[test]
    fn tax_is_rounded_once_half_to_even_on_the_subtotal() {
        assert_eq!(number("INV", 2026, 123), "INV-2026-000123");
        // 1,250 × 19% = 237.5 → 238 (half to even: 238 is even).
        assert_eq!(ratio_half_even(1250, 1900, 10_000), 238);
        // 1,150 × 5% = 57.5 → 58; 1,050 × 5% = 52.5 → 52.
        assert_eq!(ratio_half_even(1150, 500, 10_000), 58);
        assert_eq!(ratio_half_even(1050, 500, 10_000), 52);
    }
}
