//! Tenants: partners and resellers, with their contact, billing and invoicing settings.

use crate::model::ids::TenantId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fields::{self, Address, Contact};
use super::input::{AddressDraft, Checks, ContactDraft, name};
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    Partner,
    Reseller,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Created; its customer login pool is not there yet (`POST .../provision` retries).
    Provisioning,
    Active,
    Suspended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceMode {
    #[default]
    Consolidated,
    PerCustomer,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Billing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// ISO 4217 code invoices are issued in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Tax applied to each invoice, in basis points (1900 = 19%); none: no tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate_bps: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_rate_bps: Option<u32>,
    pub status: TenantStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<Billing>,
    pub invoice_mode: InvoiceMode,
    /// The tenant's customer login pool, once provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_pool: Option<crate::ports::Pool>,
    /// Why the last provisioning attempt failed (while `provisioning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_error: Option<String>,
    /// Set by the operator (`PUT /v1/tenants/{id}/branding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branding: Option<super::branding::Branding>,
    /// The plan a new customer subscribes to (API or self-registration), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_plan: Option<String>,
    /// The origins that may embed the tenant's connect page (`PUT /v1/allowed-origins`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Overdue invoices that suspended the tenant (dunning): while any is left, its keys
    /// and staff logins reach only its billing routes; paid, the suspension ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dunning_holds: Vec<crate::model::ids::InvoiceId>,
    /// Days the tenant's drafts wait for review before they are final; none: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 30)]
    pub invoice_review_days: Option<u32>,
    /// Days from an invoice's finalisation to its due date; none: 14.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 180)]
    pub due_days: Option<u32>,
    /// Days overdue at which the payer is suspended (reminders at +1 and +7 before
    /// it); none: 21.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 365)]
    pub suspend_after_days: Option<u32>,
    /// The operator's choice: while this partner is suspended (by dunning, or by hand),
    /// its customers' users cannot sign in or use their tokens either.
    #[serde(default)]
    pub dunning_suspends_customer_logins: bool,
    /// Days its audit events are kept (after that they expire); none: 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 30, maximum = 3650)]
    pub audit_retention_days: Option<u32>,
    /// Who answers its customers, and how to reach them (`PUT /v1/support-settings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<crate::model::helpdesk::SupportSettings>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerDraft {
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingDraft {
    pub company_name: Option<String>,
    pub email: Option<String>,
    pub address: Option<AddressDraft>,
    pub tax_id: Option<String>,
    pub currency: Option<String>,
    #[schema(minimum = 0, maximum = 10000)]
    pub tax_rate_bps: Option<i64>,
}

/// `POST /v1/tenants`, and (merged with the stored tenant) `PATCH /v1/tenants/{id}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantDraft {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// The tenant's pages' address: `/t/{slug}/...`; never changes.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    pub slug: Option<String>,
    #[schema(value_type = Option<TenantKind>)]
    pub kind: Option<String>,
    pub commission_rate_bps: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerDraft>,
    #[schema(value_type = Option<InvoiceMode>)]
    pub invoice_mode: Option<String>,
    pub contact: Option<ContactDraft>,
    pub billing: Option<BillingDraft>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The plan new customers subscribe to (`null`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "growth")]
    pub default_plan: Option<String>,
    /// Days drafts wait for review (`null`: 3). For a reseller, its customers' invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 30)]
    pub invoice_review_days: Option<i64>,
    /// Days from finalisation to the due date (`null`: 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 180)]
    pub due_days: Option<i64>,
    /// Days overdue at which the payer is suspended (`null`: 21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 365)]
    pub suspend_after_days: Option<i64>,
    /// While the tenant is suspended (by dunning, or by hand), its customers' logins are
    /// suspended too (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dunning_suspends_customer_logins: Option<bool>,
    /// Days the tenant's audit events are kept, 30 to 3650 (`null`: 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 30, maximum = 3650)]
    pub audit_retention_days: Option<i64>,
}

/// A tenant's billing terms, checked (as the fields of [`Tenant`] of the same names).
#[derive(Clone, Copy, Debug, Default)]
pub struct Terms {
    pub invoice_review_days: Option<u32>,
    pub due_days: Option<u32>,
    pub suspend_after_days: Option<u32>,
    pub dunning_suspends_customer_logins: bool,
    pub audit_retention_days: Option<u32>,
}

pub struct TenantInput {
    pub name: String,
    pub slug: String,
    pub kind: TenantKind,
    pub commission_rate_bps: Option<u32>,
    pub invoice_mode: InvoiceMode,
    pub contact: Option<Contact>,
    pub billing: Option<Billing>,
    pub status: Option<TenantStatus>,
    pub owner: Option<(String, String, String)>,
    pub default_plan: Option<String>,
    pub terms: Terms,
}

pub fn slug(raw: &str) -> fields::Parsed<String> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = raw.as_bytes();
    let ok = (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&b| alnum(b) || b == b'-')
        && bytes.first().copied().is_some_and(alnum)
        && bytes.last().copied().is_some_and(alnum)
        && !raw.contains("--");
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit".into())
    }
}

impl TenantDraft {
    /// `creating` requires the owner; a patch forbids it.
    pub fn parse(&self, creating: bool) -> Result<TenantInput, Error> {
        let mut c = Checks::new();
        let name_ = c.required("name", self.name.as_deref(), |s| fields::text(s, 200));
        let slug_ = c.required("slug", self.slug.as_deref(), slug);
        let kind = c.required("kind", self.kind.as_deref(), |s| match s {
            "partner" => Ok(TenantKind::Partner),
            "reseller" => Ok(TenantKind::Reseller),
            _ => Err("must be partner or reseller".into()),
        });
        let commission = match (kind, self.commission_rate_bps) {
            (Some(TenantKind::Reseller), None) => {
                c.fail(
                    "commission_rate_bps",
                    "is required for resellers (basis points, 0 to 10000)",
                );
                None
            }
            (Some(TenantKind::Reseller), Some(bps)) if !(0..=10_000).contains(&bps) => {
                c.fail(
                    "commission_rate_bps",
                    "must be between 0 and 10000 basis points",
                );
                None
            }
            (Some(TenantKind::Reseller), Some(bps)) => u32::try_from(bps).ok(),
            (_, Some(_)) => {
                c.fail(
                    "commission_rate_bps",
                    "applies to resellers only; remove it or set kind to reseller",
                );
                None
            }
            (_, None) => None,
        };
        let invoice_mode = c
            .optional("invoice_mode", self.invoice_mode.as_deref(), |s| match s {
                "consolidated" => Ok(InvoiceMode::Consolidated),
                "per_customer" => Ok(InvoiceMode::PerCustomer),
                _ => Err("must be consolidated or per_customer".into()),
            })
            .unwrap_or_default();
        let status = c.optional("status", self.status.as_deref(), |s| match s {
            "active" => Ok(TenantStatus::Active),
            "suspended" => Ok(TenantStatus::Suspended),
            // Only as it is: provisioning ends through POST .../provision (checked there).
            "provisioning" => Ok(TenantStatus::Provisioning),
            _ => Err("must be active or suspended".into()),
        });
        let default_plan = c.optional("default_plan", self.default_plan.as_deref(), fields::code);
        let contact = self.contact.as_ref().map(|d| d.parse("contact", &mut c));
        let billing = self.billing.as_ref().map(|b| Billing {
            company_name: c.optional("billing.company_name", b.company_name.as_deref(), |s| {
                fields::text(s, 200)
            }),
            email: c.optional("billing.email", b.email.as_deref(), fields::email),
            address: b
                .address
                .as_ref()
                .and_then(|a| a.parse("billing.address", None, &mut c)),
            tax_id: c.optional("billing.tax_id", b.tax_id.as_deref(), |s| {
                fields::text(s, 50)
            }),
            currency: c.optional("billing.currency", b.currency.as_deref(), fields::currency),
            tax_rate_bps: b
                .tax_rate_bps
                .and_then(|v| c.check("billing.tax_rate_bps", fields::tax_rate(v))),
        });
        let owner = match (&self.owner, creating) {
            (Some(o), true) => {
                let email = c.required("owner.email", o.email.as_deref(), fields::email);
                let first = c.required("owner.first_name", o.first_name.as_deref(), name);
                let last = c.required("owner.last_name", o.last_name.as_deref(), name);
                match (email, first, last) {
                    (Some(e), Some(f), Some(l)) => Some((e, f, l)),
                    _ => None,
                }
            }
            (None, true) => {
                c.fail(
                    "owner",
                    "is required: the tenant's first owner {email, first_name, last_name}",
                );
                None
            }
            (Some(_), false) => {
                c.fail(
                    "owner",
                    "cannot be changed here; manage staff with /v1/members",
                );
                None
            }
            (None, false) => None,
        };
        if creating && self.status.is_some() {
            c.fail("status", "is set by the platform; a new tenant is active");
        }
        let mut days = |field: &str, v: Option<i64>, min: i64, max: i64| {
            v.and_then(|v| {
                c.check(
                    field,
                    u32::try_from(v)
                        .ok()
                        .filter(|_| (min..=max).contains(&v))
                        .ok_or_else(|| format!("must be a number of days from {min} to {max}")),
                )
            })
        };
        let terms = Terms {
            invoice_review_days: days("invoice_review_days", self.invoice_review_days, 0, 30),
            due_days: days("due_days", self.due_days, 0, 180),
            suspend_after_days: days("suspend_after_days", self.suspend_after_days, 1, 365),
            dunning_suspends_customer_logins: self
                .dunning_suspends_customer_logins
                .unwrap_or(false),
            audit_retention_days: days("audit_retention_days", self.audit_retention_days, 30, 3650),
        };
        c.finish()?;
        match (name_, slug_, kind) {
            (Some(name), Some(slug), Some(kind)) => Ok(TenantInput {
                name,
                slug,
                kind,
                commission_rate_bps: commission,
                invoice_mode,
                contact,
                billing,
                status,
                owner,
                default_plan,
                terms,
            }),
            _ => Err(Error::invalid("body", "is incomplete")),
        }
    }

    pub fn from_tenant(t: &Tenant) -> Self {
        Self {
            name: Some(t.name.clone()),
            slug: Some(t.slug.clone()),
            kind: Some(
                serde_json::to_value(t.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            ),
            commission_rate_bps: t.commission_rate_bps.map(i64::from),
            owner: None,
            invoice_mode: serde_json::to_value(t.invoice_mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            contact: t.contact.as_ref().map(ContactDraft::from_contact),
            billing: t.billing.as_ref().map(|b| BillingDraft {
                company_name: b.company_name.clone(),
                email: b.email.clone(),
                address: b.address.as_ref().map(AddressDraft::from_address),
                tax_id: b.tax_id.clone(),
                currency: b.currency.clone(),
                tax_rate_bps: b.tax_rate_bps.map(i64::from),
            }),
            status: serde_json::to_value(t.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            default_plan: t.default_plan.clone(),
            invoice_review_days: t.invoice_review_days.map(i64::from),
            due_days: t.due_days.map(i64::from),
            suspend_after_days: t.suspend_after_days.map(i64::from),
            dunning_suspends_customer_logins: Some(t.dunning_suspends_customer_logins),
            audit_retention_days: t.audit_retention_days.map(i64::from),
        }
    }
}

impl Tenant {
    /// Days its drafts wait for review.
    pub fn review_days(&self) -> u32 {
        self.invoice_review_days
            .unwrap_or(crate::model::invoice::REVIEW_DAYS)
    }

    /// Days from finalisation to the due date.
    pub fn due_days(&self) -> u32 {
        self.due_days.unwrap_or(crate::model::invoice::DUE_DAYS)
    }

    /// Days overdue at which the payer is suspended.
    pub fn suspend_after_days(&self) -> u32 {
        self.suspend_after_days
            .unwrap_or(crate::model::invoice::SUSPEND_AFTER_DAYS)
    }

    /// Its billing terms as given.
    pub fn set_terms(&mut self, terms: Terms) {
        self.invoice_review_days = terms.invoice_review_days;
        self.due_days = terms.due_days;
        self.suspend_after_days = terms.suspend_after_days;
        self.dunning_suspends_customer_logins = terms.dunning_suspends_customer_logins;
        self.audit_retention_days = terms.audit_retention_days;
    }

    /// Days its audit events are kept.
    pub fn audit_retention_days(&self) -> u32 {
        self.audit_retention_days
            .unwrap_or(crate::service::audit::RETENTION_DAYS)
    }

    /// Are its customers' logins suspended with it: it is suspended, and the operator
    /// chose so for it. (Dunning's suspension, or the operator's own, which takes over
    /// from dunning's when the operator sets the status by hand.)
    pub fn customer_logins_suspended(&self) -> bool {
        self.status == TenantStatus::Suspended && self.dunning_suspends_customer_logins
    }
}
