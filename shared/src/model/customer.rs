//! Customers: the company record, its admin, its primary contact, and its lifecycle.

use crate::error::ProblemKind;
use crate::model::ids::{CustomerId, UserId};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

use super::fields::{self, Address, Contact};
use super::input::{AddressDraft, Checks, ContactDraft, name};
use super::text;
use crate::error::Error;

/// Longest folded company name: it is part of keys, which DynamoDB caps at 1 KiB.
pub const MAX_FOLDED_NAME_BYTES: usize = 300;
/// Most search-index entries one customer may have (its word prefixes plus the
/// everyone-entry), so a create fits in one transaction beside its other writes.
pub const MAX_SEARCH_ENTRIES: usize = 90;

/// Days a deleted customer can still be restored before the purge removes it.
pub const PURGE_GRACE_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    Active,
    Inactive,
    Suspended,
    Deleted,
}

impl CustomerStatus {
    pub const ALL: [CustomerStatus; 4] =
        [Self::Active, Self::Inactive, Self::Suspended, Self::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What can be done to a customer's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Deactivate,
    Suspend,
    Reactivate,
    Delete,
    Restore,
}

impl Transition {
    pub const ALL: [Transition; 5] = [
        Self::Deactivate,
        Self::Suspend,
        Self::Reactivate,
        Self::Delete,
        Self::Restore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Suspend => "suspend",
            Self::Reactivate => "reactivate",
            Self::Delete => "delete",
            Self::Restore => "restore",
        }
    }

    fn allowed_from(self, from: CustomerStatus) -> bool {
        use CustomerStatus::*;
        match self {
            Self::Deactivate => from == Active,
            Self::Suspend => matches!(from, Active | Inactive),
            Self::Reactivate => matches!(from, Inactive | Suspended),
            Self::Delete => from != Deleted,
            Self::Restore => from == Deleted,
        }
    }

    /// The transitions allowed from `from`, for error messages.
    pub fn allowed(from: CustomerStatus) -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|t| t.allowed_from(from))
            .map(Self::as_str)
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Company {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Company {
    /// The folded name: compared for uniqueness and ordered in listings.
    pub fn name_key(&self) -> String {
        text::fold(&self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Admin {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The subject (`sub`) of the admin's login in the tenant's pool, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_subject: Option<String>,
}

/// A login's subject -> the customer user it signs in as (`keys::login_subject`): the
/// first record `authenticate()` reads for a token. `enabled` is the user's own state
/// (a deactivated user is disabled); for the admin it also follows the customer's
/// status. The customer's status is checked as well, so every user of a customer that is
/// not active is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginRecord {
    pub user_id: UserId,
    pub customer_id: CustomerId,
    pub enabled: bool,
    /// Records written before users had roles are all admins'.
    #[serde(default = "CustomerRole::admin")]
    pub role: CustomerRole,
    /// The last successful sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A customer user's role: the customer's one admin, or a user it (or tenant staff) added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerRole {
    Admin,
    User,
}

impl CustomerRole {
    fn admin() -> Self {
        CustomerRole::Admin
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerRole::Admin => "admin",
            CustomerRole::User => "user",
        }
    }
}

/// The named areas of a customer's account that a `limited` permission set opens.
pub const AREAS: &[&str] = &[
    "dashboard",
    "users",
    "billing",
    "reports",
    "settings",
    "integrations",
    "support",
];

/// What a customer user may do in its company's account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "permission_set", rename_all = "snake_case")]
pub enum PermissionSet {
    /// Everything (the admin always has this).
    #[default]
    Full,
    /// Read everything, change nothing.
    ReadOnly,
    /// Read and change the named areas only (`AREAS`).
    Limited { areas: Vec<String> },
    /// Exactly these permissions: `<area>:read` or `<area>:write`.
    Custom { permissions: Vec<String> },
}

impl PermissionSet {
    pub fn name(&self) -> &'static str {
        match self {
            PermissionSet::Full => "full",
            PermissionSet::ReadOnly => "read_only",
            PermissionSet::Limited { .. } => "limited",
            PermissionSet::Custom { .. } => "custom",
        }
    }

    /// The explicit permissions this set grants, `<area>:read|write`.
    pub fn permissions(&self) -> Vec<String> {
        let all = |modes: &[&str]| -> Vec<String> {
            AREAS
                .iter()
                .flat_map(|a| modes.iter().map(move |m| format!("{a}:{m}")))
                .collect()
        };
        match self {
            PermissionSet::Full => all(&["read", "write"]),
            PermissionSet::ReadOnly => all(&["read"]),
            PermissionSet::Limited { areas } => areas
                .iter()
                .flat_map(|a| [format!("{a}:read"), format!("{a}:write")])
                .collect(),
            PermissionSet::Custom { permissions } => permissions.clone(),
        }
    }

    /// Parses `permission_set` with its `areas` or `permissions`, naming bad fields.
    pub fn parse(
        set: Option<&str>,
        areas: Option<&[String]>,
        permissions: Option<&[String]>,
    ) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let known = |a: &str| AREAS.contains(&a);
        let list = |field: &str,
                    v: Option<&[String]>,
                    ok: &dyn Fn(&str) -> bool,
                    hint: String,
                    errors: &mut Vec<crate::FieldError>|
         -> Vec<String> {
            match v {
                None | Some([]) => {
                    errors.push(crate::FieldError::new(
                        field,
                        format!("is required for this permission set: {hint}"),
                    ));
                    Vec::new()
                }
                Some(items) => {
                    let mut out: Vec<String> = Vec::new();
                    for i in items {
                        let i = i.trim().to_ascii_lowercase();
                        if !ok(&i) {
                            errors.push(crate::FieldError::new(
                                field,
                                format!("has {i:?}, which is not one of {hint}"),
                            ));
                        } else if !out.contains(&i) {
                            out.push(i);
                        }
                    }
                    out
                }
            }
        };
        let stray = |field: &str, v: Option<&[String]>, errors: &mut Vec<crate::FieldError>| {
            if v.is_some() {
                errors.push(crate::FieldError::new(field, "only goes with the permission set that uses it (limited: areas, custom: permissions)"));
            }
        };
        let set = match set.map(str::trim) {
            None | Some("full") => {
                stray("areas", areas, &mut errors);
                stray("permissions", permissions, &mut errors);
                PermissionSet::Full
            }
            Some("read_only") => {
                stray("areas", areas, &mut errors);
                stray("permissions", permissions, &mut errors);
                PermissionSet::ReadOnly
            }
            Some("limited") => {
                stray("permissions", permissions, &mut errors);
                PermissionSet::Limited {
                    areas: list("areas", areas, &known, AREAS.join(", "), &mut errors),
                }
            }
            Some("custom") => {
                stray("areas", areas, &mut errors);
                let ok = |p: &str| {
                    p.split_once(':')
                        .is_some_and(|(a, m)| known(a) && (m == "read" || m == "write"))
                };
                PermissionSet::Custom {
                    permissions: list(
                        "permissions",
                        permissions,
                        &ok,
                        "<area>:read or <area>:write, with an area of ".to_owned()
                            + &AREAS.join(", "),
                        &mut errors,
                    ),
                }
            }
            Some(_) => {
                errors.push(crate::FieldError::new(
                    "permission_set",
                    "must be one of full, read_only, limited (with areas), custom (with permissions)",
                ));
                PermissionSet::Full
            }
        };
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(Error::Invalid(errors))
        }
    }
}

/// A customer user's own state: a deactivated user cannot sign in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    #[default]
    Active,
    Inactive,
}

/// Most users a customer may have, whatever its `max_users`.
pub const MAX_USERS_LIMIT: u32 = 10_000;

fn one() -> u32 {
    1
}

/// A stored customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub status: CustomerStatus,
    pub company: Company,
    pub admin: Admin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_contact: Option<Contact>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_after: Option<DateTime<Utc>>,
    /// Where a restore returns to: a suspended customer stays suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_before_deletion: Option<CustomerStatus>,
    /// The most users (admin included) the customer may have; none: no cap of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users: Option<u32>,
    /// Its users, admin included: kept in the profile so a cap is checked in the same
    /// transaction that adds a user.
    #[serde(default = "one")]
    pub user_count: u32,
    /// The partner's own id for this customer, unique in the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Where a reseller's invoices to this customer go and the tax they carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<CustomerBilling>,
    /// Suspended by the dunning of an unpaid invoice (`true`), not by hand: only then
    /// does its payment reactivate the customer. Absent on records older than the mark:
    /// their dunning reactivates as it did then (when its invoice suspended them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_by_dunning: Option<bool>,
    /// The customer template it was made from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Named permission sets its users may be given by name (its template's, as they
    /// stood when it was made).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permission_sets: BTreeMap<String, PermissionSet>,
    /// Support sessions, as the tenant's staff set it; none: allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_access: Option<crate::model::support::SupportAccess>,
    /// Support sessions, as the customer's admin set it: it wins over the staff's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_access_by_admin: Option<crate::model::support::SupportAccess>,
    /// Support sessions started before this time are over: the customer was
    /// suspended, deactivated or deleted, or support access was disabled since.
    /// Reactivating it (or allowing access again) does not bring them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_ended_at: Option<DateTime<Utc>>,
}

/// A customer's billing details. They count where the customer pays its own invoices (a
/// reseller's customers); a partner's customers are billed to the partner.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerBilling {
    /// Where its invoices go; none: the primary contact's email, else the admin's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Its tax id, printed on its invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// Tax on its invoices, in basis points (1900 = 19%); none: no tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate_bps: Option<u32>,
}

/// `billing` of a customer's body.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBillingDraft {
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[schema(min_length = 1, max_length = 50)]
    pub tax_id: Option<String>,
    #[schema(minimum = 0, maximum = 10000)]
    pub tax_rate_bps: Option<i64>,
}

impl CustomerBillingDraft {
    fn parse(&self, c: &mut Checks) -> Option<CustomerBilling> {
        let billing = CustomerBilling {
            email: c.optional("billing.email", self.email.as_deref(), fields::email),
            tax_id: c.optional("billing.tax_id", self.tax_id.as_deref(), |s| {
                fields::text(s, 50)
            }),
            tax_rate_bps: self
                .tax_rate_bps
                .and_then(|v| c.check("billing.tax_rate_bps", fields::tax_rate(v))),
        };
        (billing != CustomerBilling::default()).then_some(billing)
    }

    fn from_billing(b: &CustomerBilling) -> Self {
        Self {
            email: b.email.clone(),
            tax_id: b.tax_id.clone(),
            tax_rate_bps: b.tax_rate_bps.map(i64::from),
        }
    }
}

impl Customer {
    /// The API's view of a customer (internal bookkeeping left out).
    /// Whether staff may start a support session: the admin's choice, else the staff's.
    pub fn support_access(&self) -> crate::model::support::SupportAccess {
        self.support_access_by_admin
            .or(self.support_access)
            .unwrap_or_default()
    }

    pub fn view(&self, version: u64) -> CustomerView {
        CustomerView {
            id: self.id.clone(),
            status: self.status,
            company: self.company.clone(),
            admin: AdminView {
                id: self.admin.id.clone(),
                email: self.admin.email.clone(),
                first_name: self.admin.first_name.clone(),
                last_name: self.admin.last_name.clone(),
            },
            primary_contact: self.primary_contact.clone(),
            max_users: self.max_users,
            user_count: self.user_count,
            external_id: self.external_id.clone(),
            billing: self.billing.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
            purge_after: self.purge_after,
            template: self.template.clone(),
            permission_sets: self.permission_sets.keys().cloned().collect(),
            support_access: self.support_access(),
            support_access_by_admin: self.support_access_by_admin,
            version,
            email_change: None,
        }
    }

    pub fn check_transition(&self, t: Transition, now: DateTime<Utc>) -> Result<(), Error> {
        if !t.allowed_from(self.status) {
            let allowed = Transition::allowed(self.status);
            let mut e = Error::conflict(
                ProblemKind::InvalidTransition,
                format!(
                    "cannot {} a customer that is {}; allowed: {}",
                    t.as_str(),
                    self.status.as_str(),
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            );
            if let Error::Conflict { extra, .. } = &mut e {
                extra.insert("customer_status".into(), json!(self.status));
                extra.insert("allowed_transitions".into(), json!(allowed));
            }
            return Err(e);
        }
        if t == Transition::Restore && self.purge_after.is_some_and(|p| p <= now) {
            return Err(Error::conflict(
                ProblemKind::PurgeDue,
                "the 30-day restore window has passed; this customer is being purged",
            ));
        }
        Ok(())
    }

    /// Applies a transition already checked by `check_transition`.
    pub fn apply(&mut self, t: Transition, now: DateTime<Utc>) {
        self.updated_at = now;
        if matches!(
            t,
            Transition::Deactivate | Transition::Suspend | Transition::Delete
        ) {
            self.sessions_ended_at = Some(now);
        }
        match t {
            Transition::Deactivate => self.status = CustomerStatus::Inactive,
            Transition::Suspend => self.status = CustomerStatus::Suspended,
            Transition::Reactivate => self.status = CustomerStatus::Active,
            Transition::Delete => {
                self.status_before_deletion = Some(self.status);
                self.status = CustomerStatus::Deleted;
                self.deleted_at = Some(now);
                self.purge_after = Some(now + chrono::Duration::days(PURGE_GRACE_DAYS));
            }
            Transition::Restore => {
                self.status = self
                    .status_before_deletion
                    .take()
                    .unwrap_or(CustomerStatus::Active);
                self.deleted_at = None;
                self.purge_after = None;
            }
        }
    }
}

// ---- input

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyDraft {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub website: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub address: Option<AddressDraft>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminDraft {
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: Option<String>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::input::never_shown"
    )]
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// `POST /v1/customers` and, merged with the current record, `PATCH /v1/customers/{id}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerDraft {
    pub company: Option<CompanyDraft>,
    pub admin: Option<AdminDraft>,
    pub primary_contact: Option<ContactDraft>,
    /// Caps the customer's users (admin included), 1 to `MAX_USERS_LIMIT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users: Option<i64>,
    /// The partner's own id for the customer: 1 to 100 letters, digits and `._:-`,
    /// unique in the tenant (usage events may name the customer by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,100}$", example = "crm-4711")]
    pub external_id: Option<String>,
    /// Billing details, for a reseller's customer (it pays its own invoices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<CustomerBillingDraft>,
    /// A customer template's code: the customer starts with its plan, feature switches,
    /// `max_users` (unless given here) and permission sets. At creation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "agency_standard")]
    pub template: Option<String>,
    /// Support sessions: `allowed` (the default), `approval` (the customer's admin
    /// approves each) or `disabled`. The admin's own choice wins over this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_access: Option<crate::model::support::SupportAccess>,
}

/// A validated customer body. The password, if any, is still plain here and is
/// hashed by the service before anything is stored.
pub struct CustomerInput {
    pub company: Company,
    pub admin_email: String,
    pub admin_first_name: String,
    pub admin_last_name: String,
    pub admin_password: Option<SecretString>,
    pub primary_contact: Option<Contact>,
    pub max_users: Option<u32>,
    pub external_id: Option<String>,
    pub billing: Option<CustomerBilling>,
}

/// A partner's own id for a customer.
pub fn external_id(raw: &str) -> fields::Parsed<String> {
    if (1..=100).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b))
    {
        Ok(raw.to_owned())
    } else {
        Err("must be 1 to 100 letters, digits, dots, colons, underscores and hyphens".into())
    }
}

impl CustomerDraft {
    pub fn parse(&self) -> Result<CustomerInput, Error> {
        let mut c = Checks::new();
        let company = match &self.company {
            None => {
                c.fail("company", "is required");
                None
            }
            Some(d) => {
                let name_ = c.required("company.name", d.name.as_deref(), |s| fields::text(s, 200));
                let country = c.optional("company.country", d.country.as_deref(), fields::country);
                let country_ok = d.country.is_none() || country.is_some();
                let address = d.address.as_ref().and_then(|a| {
                    // Without a valid country the postal code can only be checked as text.
                    a.parse(
                        "company.address",
                        if country_ok { country.as_deref() } else { None },
                        &mut c,
                    )
                });
                let company = Company {
                    name: name_.unwrap_or_default(),
                    website: c.optional("company.website", d.website.as_deref(), fields::website),
                    phone: c.optional("company.phone", d.phone.as_deref(), fields::phone),
                    country,
                    address,
                    description: c.optional("company.description", d.description.as_deref(), |s| {
                        fields::paragraphs(s, 2000)
                    }),
                };
                if company.name.is_empty() {
                    None
                } else {
                    Some(company)
                }
            }
        };
        if let Some(co) = &company {
            let key = co.name_key();
            if key.is_empty() {
                c.fail("company.name", "must contain letters or digits");
            } else if key.len() > MAX_FOLDED_NAME_BYTES {
                c.fail("company.name", format!("is too long once spelled in plain letters (at most {MAX_FOLDED_NAME_BYTES}); shorten it"));
            } else if text::index_prefixes(&co.name).len() + 1 > MAX_SEARCH_ENTRIES {
                c.fail(
                    "company.name",
                    "has too many distinct words to index for search; shorten it",
                );
            }
        }
        let (mut email, mut first, mut last, mut password) = (None, None, None, None);
        match &self.admin {
            None => c.fail("admin", "is required"),
            Some(a) => {
                first = c.required("admin.first_name", a.first_name.as_deref(), name);
                last = c.required("admin.last_name", a.last_name.as_deref(), name);
                email = c.required("admin.email", a.email.as_deref(), fields::email);
                if let Some(p) = &a.password
                    && c.check("admin.password", fields::password(p.expose_secret()))
                        .is_some()
                {
                    password = Some(p.clone());
                }
            }
        }
        let primary_contact = self
            .primary_contact
            .as_ref()
            .map(|p| p.parse("primary_contact", &mut c));
        let max_users = match self.max_users {
            None => None,
            Some(n) if (1..=i64::from(MAX_USERS_LIMIT)).contains(&n) => Some(n as u32),
            Some(_) => {
                c.fail(
                    "max_users",
                    format!("must be from 1 (the admin alone) to {MAX_USERS_LIMIT}"),
                );
                None
            }
        };
        let external_id = c.optional("external_id", self.external_id.as_deref(), external_id);
        let billing = self.billing.as_ref().and_then(|b| b.parse(&mut c));
        c.finish()?;
        match (company, email, first, last) {
            (Some(company), Some(admin_email), Some(admin_first_name), Some(admin_last_name)) => {
                Ok(CustomerInput {
                    company,
                    admin_email,
                    admin_first_name,
                    admin_last_name,
                    admin_password: password,
                    primary_contact,
                    max_users,
                    external_id,
                    billing,
                })
            }
            _ => Err(Error::invalid("body", "is incomplete")),
        }
    }

    /// The draft a stored customer would have been created from (no password).
    pub fn from_customer(x: &Customer) -> Self {
        Self {
            company: Some(CompanyDraft {
                name: Some(x.company.name.clone()),
                website: x.company.website.clone(),
                phone: x.company.phone.clone(),
                country: x.company.country.clone(),
                address: x.company.address.as_ref().map(AddressDraft::from_address),
                description: x.company.description.clone(),
            }),
            admin: Some(AdminDraft {
                first_name: Some(x.admin.first_name.clone()),
                last_name: Some(x.admin.last_name.clone()),
                email: Some(x.admin.email.clone()),
                password: None,
            }),
            primary_contact: x.primary_contact.as_ref().map(ContactDraft::from_contact),
            max_users: x.max_users.map(i64::from),
            external_id: x.external_id.clone(),
            billing: x.billing.as_ref().map(CustomerBillingDraft::from_billing),
            template: None,
            support_access: x.support_access,
        }
    }
}

/// A customer user. The admin is the first; more users come with customer logins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerUser {
    pub id: UserId,
    pub customer_id: CustomerId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    /// argon2id PHC string; never leaves the store. Only without an identity provider:
    /// with one, the provider holds the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// The subject (`sub`) of the user's login, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_subject: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub permissions: PermissionSet,
    #[serde(default)]
    pub status: UserStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Which of the user's password links work: those issued at this generation. Raised
    /// when a link sets the password, so the user's other links stop working.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub link_generation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CustomerUser {
    /// The API's view of a user (no password hash, no login subject).
    pub fn view(&self, version: u64, last_login_at: Option<DateTime<Utc>>) -> CustomerUserView {
        let (areas, permissions) = match &self.permissions {
            PermissionSet::Limited { areas } => {
                (Some(areas.clone()), self.permissions.permissions())
            }
            set => (None, set.permissions()),
        };
        CustomerUserView {
            id: self.id.clone(),
            customer_id: self.customer_id.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            role: self.role.clone(),
            status: self.status,
            permission_set: self.permissions.name(),
            areas,
            permissions,
            has_login: self.login_subject.is_some() || self.password_hash.is_some(),
            last_login_at,
            created_at: self.created_at,
            updated_at: self.updated_at.unwrap_or(self.created_at),
            version,
            email_change: None,
        }
    }
}

/// A customer as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    pub id: CustomerId,
    pub status: CustomerStatus,
    pub company: Company,
    pub admin: AdminView,
    pub primary_contact: Option<Contact>,
    /// The most users (admin included) it may have; `null`: no cap of its own.
    pub max_users: Option<u32>,
    pub user_count: u32,
    /// The partner's own id for this customer (unique in the tenant), if set.
    pub external_id: Option<String>,
    /// Its billing details (a reseller's customer pays its own invoices), if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing: Option<CustomerBilling>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// A deleted customer is purged then, unless restored before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_after: Option<DateTime<Utc>>,
    /// The customer template it was made from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The names of the permission sets its users may be given besides the built-in
    /// ones (from its template).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permission_sets: Vec<String>,
    /// Whether staff may start support sessions: `allowed`, `approval` or `disabled`
    /// (the customer's admin's choice, else the staff's, else `allowed`).
    pub support_access: crate::model::support::SupportAccess,
    /// The customer's admin's own choice, which wins over the staff's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_access_by_admin: Option<crate::model::support::SupportAccess>,
    /// For `If-Match`.
    pub version: u64,
    /// A `PATCH` that asked for a new admin email: the verification it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_change: Option<EmailChangePending>,
}

/// A customer's admin, inside [`CustomerView`].
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminView {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// A customer user as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerUserView {
    pub id: UserId,
    pub customer_id: CustomerId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `admin` or `user`.
    pub role: String,
    pub status: UserStatus,
    /// `full`, `read_only`, `limited` (with `areas`) or `custom`.
    pub permission_set: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub areas: Option<Vec<String>>,
    /// What the set grants, `<area>:read|write`.
    pub permissions: Vec<String>,
    /// Whether the user has a login (a password set).
    pub has_login: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For `If-Match`.
    pub version: u64,
    /// A `PATCH` that asked for a new email: the verification it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_change: Option<EmailChangePending>,
}

/// What a `PATCH` answers about an email change it asked for: the email changes once
/// its owner confirms the link sent to the new address.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EmailChangePending {
    /// Always `verification_sent`.
    pub status: &'static str,
    pub pending_email: String,
    /// Seconds the link works.
    pub expires_in: i64,
    pub detail: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_read_from_a_body_never_reaches_debug_output_or_json() {
        let draft: CustomerDraft = serde_json::from_value(json!({
            "company": {"name": "Hunter Co"},
            "admin": {"email": "a@hunter.example.com", "first_name": "A", "last_name": "H", "password": "hunter2-Secret!"}
        }))
        .unwrap();
        let admin = draft.admin.as_ref().unwrap();
        assert_eq!(
            admin.password.as_ref().map(|p| p.expose_secret()),
            Some("hunter2-Secret!")
        );
        assert!(!format!("{draft:?}").contains("hunter2"), "{draft:?}");
        assert!(!serde_json::to_string(&draft).unwrap().contains("hunter2"));
    }

    #[test]
    fn a_body_with_many_mistakes_lists_every_field() {
        let draft: CustomerDraft = serde_json::from_value(json!({
            "company": {"name": "", "phone": "555", "country": "XX", "address": {"postal_code": "1"}},
            "admin": {"email": "nope", "password": "weak"}
        }))
        .unwrap();
        let Err(Error::Invalid(errs)) = draft.parse() else {
            panic!("expected 422")
        };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "company.name",
            "company.phone",
            "company.country",
            "company.address.line1",
            "admin.first_name",
            "admin.last_name",
            "admin.email",
            "admin.password",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        use CustomerStatus::*;
        assert_eq!(
            Transition::allowed(Active),
            vec!["deactivate", "suspend", "delete"]
        );
        assert_eq!(
            Transition::allowed(Inactive),
            vec!["suspend", "reactivate", "delete"]
        );
        assert_eq!(Transition::allowed(Suspended), vec!["reactivate", "delete"]);
        assert_eq!(Transition::allowed(Deleted), vec!["restore"]);
    }
}
