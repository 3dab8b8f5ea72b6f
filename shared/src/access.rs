//! Principals, roles and permissions: the one `authorize()` gate every route calls.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::customer::CustomerRole;
use crate::model::ids::{CustomerId, SupportSessionId, TenantId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Owner,
    Member,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Owner => "owner",
            StaffRole::Member => "member",
        }
    }
}

/// Who is calling, as established by `service::auth::authenticate`.
///
/// Serialized flat with string values (`{"kind": "staff", "tenant_id": ..., "role": ...,
/// "actor": ...}`): the shape the Lambda authorizer hands to the route functions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Principal {
    /// The platform operator (an operator API key).
    Operator { key_id: String },
    /// Tenant staff, through a tenant API key (`actor` is the key's id) or a staff login
    /// (`actor` is the member's id).
    Staff {
        tenant_id: TenantId,
        role: StaffRole,
        actor: String,
        /// The tenant is suspended for an overdue invoice: only its billing routes answer.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        billing_only: bool,
    },
    /// A user of one of a tenant's customers, through a token of the tenant's customer
    /// pool. Tenant and customer come from our records, never from the token.
    Customer {
        tenant_id: TenantId,
        customer_id: CustomerId,
        user_id: UserId,
        /// The customer's admin, or one of its users.
        role: CustomerRole,
    },
    /// Tenant staff inside one customer through a support session: acts as the
    /// customer's admin (`user_id`), on behalf of `staff` (a member's or an API key's
    /// id), whose current role (`staff_role`, from our records at each request) bounds
    /// what it may do besides.
    Support {
        tenant_id: TenantId,
        customer_id: CustomerId,
        user_id: UserId,
        session_id: SupportSessionId,
        staff: String,
        staff_role: StaffRole,
    },
}

impl Principal {
    /// The actor id for logs and audit: never a secret.
    pub fn actor(&self) -> &str {
        match self {
            Principal::Operator { key_id } => key_id,
            Principal::Staff { actor, .. } => actor,
            Principal::Customer { user_id, .. } => user_id.as_str(),
            Principal::Support { staff, .. } => staff,
        }
    }
}

/// Everything a route can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Platform: create, list, read and change tenants, and issue their keys.
    ManageTenants,
    /// Platform: billable metrics, plans, and tenants' price overrides.
    ManageCatalog,
    /// The catalog, read: the operator, and any staff of a tenant (with its own prices).
    ReadCatalog,
    /// Invoices and commission statements, read: the operator (naming the tenant), a
    /// tenant's owners (their own), and a customer's admin (the final invoices addressed
    /// to its own company, with their documents).
    ReadInvoices,
    /// Platform: invoices' adjustments, payments, voids and credit notes.
    OperateBilling,
    /// Report customers' usage: a tenant's systems (owner and member keys).
    ReportUsage,
    /// A customer's own company, for any of its users: its entitlements.
    OwnCompany,
    /// A customer's own company, for its admin: usage and usage limits.
    OwnCompanyAdmin,
    /// Any staff of the tenant: read customers and members.
    ReadTenant,
    InviteCustomers,
    StartSupportSessions,
    ModifyCustomerSettings,
    AssistCustomers,
    ManageSubscriptions,
    /// Invite, change and remove staff.
    InviteMembers,
    ModifyBillingDetails,
    ModifyContactDetails,
    ManageInvoices,
    /// Create, edit, deactivate, suspend, delete and restore customers.
    ManageCustomers,
    /// Create and revoke the tenant's API keys (an owner's power: a key can carry owner rights).
    ManageApiKeys,
    /// A customer's users, read: any staff for any of their customers; a customer's admin
    /// for its own company only.
    ReadCustomerUsers,
    /// A customer's users: add, change, deactivate, reset, remove. Staff owners (like
    /// managing customers themselves) for any of their customers; a customer's admin for
    /// its own company only.
    ManageCustomerUsers,
    /// Who am I: any authenticated principal, about itself.
    Me,
    /// A connection's credentials, read by the partner's systems: an owner's power
    /// (owner keys and owners' logins), every read recorded.
    ReadCredentials,
    /// A tenant's inbound webhook endpoints and webhook endpoints: an owner's power (an
    /// endpoint provisions customers).
    ManageWebhooks,
    /// The audit log: a tenant's staff read their tenant's; the operator the platform's
    /// own (and a tenant's, through `ManageTenants`).
    ReadAuditLog,
    /// A customer's own final invoices (`/v1/me/invoices`): its admin's; a support
    /// session's within its member's role (as staff read invoices).
    OwnInvoices,
    /// A customer's admin in person (never a support session): approve or decline a
    /// session, set the company's support access.
    CustomerConsent,
    /// End a support session: the staff (any role) of its tenant, or its customer's
    /// admin.
    EndSupportSession,
    /// No credential at all: a tenant's login page (it is how credentials are made).
    Public,
    /// No credential: a signed webhook, whose signature (checked by its handler against
    /// the endpoint's secret) is its authentication.
    Webhook,
}

impl Permission {
    /// The staff matrix of the design: what a member may do; an owner may do everything.
    fn member_may(self) -> bool {
        matches!(
            self,
            Permission::ReadTenant
                | Permission::ReadCatalog
                | Permission::ReportUsage
                | Permission::Me
                | Permission::InviteCustomers
                | Permission::StartSupportSessions
                | Permission::ModifyCustomerSettings
                | Permission::AssistCustomers
                | Permission::ReadCustomerUsers
                | Permission::ReadAuditLog
                | Permission::EndSupportSession
        )
    }

    pub fn is_platform(self) -> bool {
        matches!(
            self,
            Permission::ManageTenants | Permission::ManageCatalog | Permission::OperateBilling
        )
    }

    /// What a tenant suspended by dunning still reaches: its invoices and who it is.
    pub fn is_billing(self) -> bool {
        matches!(
            self,
            Permission::ReadInvoices | Permission::ManageInvoices | Permission::Me
        )
    }

    /// Routes of a customer's own company (`/v1/me/...`), for its users only.
    pub fn is_own_company(self) -> bool {
        matches!(
            self,
            Permission::OwnCompany
                | Permission::OwnCompanyAdmin
                | Permission::OwnInvoices
                | Permission::CustomerConsent
        )
    }

    /// What a support session reaches besides what its customer's admin may do: the
    /// settings staff change for a customer and the configuration they assist with,
    /// each also within the staff member's own role.
    fn is_support_assist(self) -> bool {
        matches!(
            self,
            Permission::ModifyCustomerSettings | Permission::AssistCustomers
        )
    }

    pub fn allows(self, role: StaffRole) -> bool {
        !self.is_platform() && (role == StaffRole::Owner || self.member_may())
    }

    /// The routes of a customer's users, which its admin reaches too.
    pub fn is_customer_users(self) -> bool {
        matches!(
            self,
            Permission::ReadCustomerUsers | Permission::ManageCustomerUsers
        )
    }

    /// Served without authentication (a webhook authenticates by its signature).
    pub fn is_public(self) -> bool {
        matches!(self, Permission::Public | Permission::Webhook)
    }
}

/// A tenant as an authorized request may act on it. Only `authorize()` makes one (for
/// staff, from the verified principal), and `operator_on` (the operator naming a tenant
/// on a platform route): a tenant id from anywhere else cannot become a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantScope {
    tenant_id: TenantId,
    role: StaffRole,
}

impl TenantScope {
    /// The domain acting for a tenant it found in its own records: scheduled work, or
    /// a self-registration verified on the tenant's own page (found by its slug).
    pub(crate) fn acting_for(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            role: StaffRole::Owner,
        }
    }

    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    pub fn role(&self) -> StaffRole {
        self.role
    }
}

/// One customer of one tenant as an authorized request may act on it: staff name any
/// customer of their own tenant; a customer's admin only its own company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerScope {
    tenant_id: TenantId,
    customer_id: CustomerId,
}

impl CustomerScope {
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }
}

/// The platform operator's reach: only `authorize()` makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformScope(());

/// Where an authorized request may act.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Platform(PlatformScope),
    /// The tenant comes from the verified principal, never from the request.
    Tenant(TenantScope),
    /// One customer of one tenant, both from the verified principal.
    Customer(CustomerScope),
    /// A public route: no principal.
    Public,
}

/// The one gate: may `principal` do `permission`, and in which scope.
pub fn authorize(principal: &Principal, permission: Permission) -> Result<Scope, Error> {
    match principal {
        _ if permission.is_public() => Ok(Scope::Public),
        Principal::Operator { .. }
            if permission.is_platform()
                || permission == Permission::Me
                || permission == Permission::ReadCatalog
                || permission == Permission::ReadInvoices
                || permission == Permission::ReadAuditLog =>
        {
            Ok(Scope::Platform(PlatformScope(())))
        }
        Principal::Operator { .. } | Principal::Staff { .. } if permission.is_own_company() => Err(
            Error::Forbidden("this route is for a customer's users, with their own token".into()),
        ),
        Principal::Operator { .. } => Err(Error::Forbidden(
            "an operator key acts on tenants through /v1/tenants; tenant routes need a tenant key"
                .into(),
        )),
        Principal::Staff { .. } if permission.is_platform() => Err(Error::Forbidden(
            "this route is for the platform operator".into(),
        )),
        Principal::Staff {
            billing_only: true,
            ..
        } if !permission.is_billing() => Err(Error::Forbidden(
            "the tenant is suspended for an overdue invoice: only its invoices, statements and /v1/me answer until it is paid".into(),
        )),
        Principal::Staff {
            tenant_id, role, ..
        } if permission.allows(*role) => Ok(Scope::Tenant(TenantScope {
            tenant_id: tenant_id.clone(),
            role: *role,
        })),
        Principal::Staff { role, .. } => Err(Error::Forbidden(format!(
            "a tenant {} may not do this; it needs an owner",
            role.as_str()
        ))),
        // Any user: who it is, and what its company may use. Its admin also: its company's
        // users, usage and usage limits, and the invoices addressed to its company (a
        // reseller's customer: the service shows it only those).
        Principal::Customer { role, .. }
            if permission == Permission::Me
                || permission == Permission::OwnCompany
                || (*role == CustomerRole::Admin
                    && (permission == Permission::OwnCompanyAdmin
                        || permission == Permission::ReadInvoices
                        || permission == Permission::OwnInvoices
                        || permission.is_customer_users())) =>
        {
            own_company(principal).map(Scope::Customer)
        }
        Principal::Customer {
            role: CustomerRole::Admin,
            ..
        } if permission == Permission::CustomerConsent
            || permission == Permission::EndSupportSession =>
        {
            own_company(principal).map(Scope::Customer)
        }
        // The staff and operator API does not exist for a customer's users: what they may
        // not reach looks exactly like what is not there.
        Principal::Customer { .. } => Err(Error::NotFound("resource")),
        // A support session: its customer's admin's routes of its one customer, and the
        // settings and assistance staff give a customer; what staff permissions also
        // govern (its users, its invoices, settings, assistance) only within the staff
        // member's own current role. Never the consent that is the customer's alone,
        // nor anything of the tenant's.
        Principal::Support { staff_role, .. }
            if permission == Permission::Me
                || permission == Permission::OwnCompany
                || permission == Permission::OwnCompanyAdmin
                || ((permission == Permission::ReadInvoices
                    || permission.is_customer_users()
                    || permission.is_support_assist())
                    && permission.allows(*staff_role))
                || (permission == Permission::OwnInvoices
                    && Permission::ReadInvoices.allows(*staff_role)) =>
        {
            own_company(principal).map(Scope::Customer)
        }
        Principal::Support { .. } => Err(Error::NotFound("resource")),
    }
}

/// The customer a customer-level route acts on: staff name any customer of their tenant
/// (the service then finds it or answers 404); a customer's admin only its own, and any
/// other id looks exactly like one that does not exist.
pub fn customer_of(scope: &Scope, customer_id: CustomerId) -> Result<CustomerScope, Error> {
    match scope {
        Scope::Tenant(t) => Ok(CustomerScope {
            tenant_id: t.tenant_id.clone(),
            customer_id,
        }),
        Scope::Customer(own) if own.customer_id == customer_id => Ok(own.clone()),
        Scope::Customer(_) => Err(Error::NotFound("customer")),
        Scope::Platform(_) | Scope::Public => Err(Error::Forbidden(
            "this route needs a tenant key or a customer admin's token".into(),
        )),
    }
}

/// A customer as the holder of a link its admin was sent acts in it (a support
/// session's approval page): the domain found the customer by the link, under the
/// tenant the page's slug names.
pub(crate) fn customer_scope_for_link(
    tenant_id: TenantId,
    customer_id: CustomerId,
) -> CustomerScope {
    CustomerScope {
        tenant_id,
        customer_id,
    }
}

/// A customer user's own company, from its verified principal.
pub fn own_company(principal: &Principal) -> Result<CustomerScope, Error> {
    match principal {
        Principal::Customer {
            tenant_id,
            customer_id,
            ..
        }
        | Principal::Support {
            tenant_id,
            customer_id,
            ..
        } => Ok(CustomerScope {
            tenant_id: tenant_id.clone(),
            customer_id: customer_id.clone(),
        }),
        _ => Err(Error::Forbidden(
            "this is for a customer's users, with their own token".into(),
        )),
    }
}

/// The tenant of a scope that `authorize` made for a tenant permission.
pub fn tenant_of(scope: &Scope) -> Result<&TenantScope, Error> {
    match scope {
        Scope::Tenant(t) => Ok(t),
        Scope::Platform(_) | Scope::Customer(_) | Scope::Public => {
            Err(Error::Forbidden("this route needs a tenant key".into()))
        }
    }
}

/// The operator acting on the tenant a platform route names, with an owner's reach.
pub fn operator_on(scope: &Scope, tenant_id: TenantId) -> Result<TenantScope, Error> {
    match scope {
        Scope::Platform(_) => Ok(TenantScope {
            tenant_id,
            role: StaffRole::Owner,
        }),
        Scope::Tenant(_) | Scope::Customer(_) | Scope::Public => Err(Error::Forbidden(
            "this route is for the platform operator".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: StaffRole) -> Principal {
        Principal::Staff {
            tenant_id: TenantId::generate(),
            role,
            actor: "key_1".into(),
            billing_only: false,
        }
    }

    #[test]
    fn members_follow_the_matrix_and_owners_may_do_all_tenant_things() {
        use Permission::*;
        for p in [
            ReadTenant,
            InviteCustomers,
            StartSupportSessions,
            ModifyCustomerSettings,
            AssistCustomers,
        ] {
            assert!(authorize(&staff(StaffRole::Member), p).is_ok(), "{p:?}");
        }
        for p in [
            ManageSubscriptions,
            InviteMembers,
            ModifyBillingDetails,
            ModifyContactDetails,
            ManageInvoices,
            ManageCustomers,
            ManageApiKeys,
            ReadCredentials,
        ] {
            assert!(
                matches!(
                    authorize(&staff(StaffRole::Member), p),
                    Err(Error::Forbidden(_))
                ),
                "{p:?}"
            );
            assert!(authorize(&staff(StaffRole::Owner), p).is_ok(), "{p:?}");
        }
    }

    #[test]
    fn operators_and_staff_stay_on_their_side() {
        let op = Principal::Operator {
            key_id: "key_op".into(),
        };
        assert_eq!(
            authorize(&op, Permission::ManageTenants).unwrap(),
            Scope::Platform(PlatformScope(()))
        );
        assert!(authorize(&op, Permission::ReadTenant).is_err());
        assert!(authorize(&staff(StaffRole::Owner), Permission::ManageTenants).is_err());
    }
}
