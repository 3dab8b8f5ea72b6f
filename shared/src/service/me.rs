//! `GET /v1/me`: who the caller is, from our records.

use serde::Serialize;

use super::{customers, from_item, members, tenants};
use crate::Deps;
use crate::access::{Permission, Principal, StaffRole};
use crate::error::Error;
use crate::model::customer::{CustomerRole, CustomerStatus, CustomerUser};
use crate::model::ids::{CustomerId, MemberId, TenantId, UserId};
use crate::model::support::{ActClaim, SessionClaims};
use crate::model::tenant::TenantStatus;
use crate::store::keys;

/// The staff permissions a role carries, by name.
fn staff_permissions(role: StaffRole) -> Vec<&'static str> {
    use Permission::*;
    [
        (ReadTenant, "read_tenant"),
        (InviteCustomers, "invite_customers"),
        (StartSupportSessions, "start_support_sessions"),
        (ModifyCustomerSettings, "modify_customer_settings"),
        (AssistCustomers, "assist_customers"),
        (ReadCustomerUsers, "read_customer_users"),
        (ManageCustomerUsers, "manage_customer_users"),
        (ManageSubscriptions, "manage_subscriptions"),
        (InviteMembers, "invite_members"),
        (ModifyBillingDetails, "modify_billing_details"),
        (ModifyContactDetails, "modify_contact_details"),
        (ManageInvoices, "manage_invoices"),
        (ManageCustomers, "manage_customers"),
        (ManageApiKeys, "manage_api_keys"),
        (ReadCredentials, "read_credentials"),
    ]
    .into_iter()
    .filter(|(p, _)| p.allows(role))
    .map(|(_, name)| name)
    .collect()
}

/// Who the caller is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Me {
    /// The platform operator's key.
    Operator {
        key_id: String,
        permissions: Vec<&'static str>,
    },
    /// Tenant staff: a staff login (`member`) or a tenant API key (`key_id`).
    Staff {
        #[serde(skip_serializing_if = "Option::is_none")]
        member: Option<MemberSummary>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        role: StaffRole,
        tenant: TenantSummary,
        permissions: Vec<&'static str>,
    },
    /// A user of one of the tenant's customers.
    CustomerUser {
        /// Inside a support session: its claims (RFC 8693: `sub` the admin it acts as,
        /// `act` the staff member, `sid` the session).
        #[serde(skip_serializing_if = "Option::is_none")]
        support_session: Option<Box<SessionClaims>>,
        user: UserSummary,
        tenant: TenantSummary,
        customer: CustomerSummary,
        permission_set: &'static str,
        /// Its permission set's permissions within the areas enabled for its company.
        permissions: Vec<String>,
        /// The feature areas enabled for its company (plan, tenant and company switches).
        enabled_areas: Vec<String>,
        /// What this user may do to its company's users (the admin only).
        manages_users: bool,
    },
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenantSummary {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemberSummary {
    pub id: MemberId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub name: String,
    pub status: CustomerStatus,
}

async fn tenant_summary(deps: &Deps, tenant_id: &TenantId) -> Result<TenantSummary, Error> {
    let (t, _) = tenants::load(deps, tenant_id).await?;
    Ok(TenantSummary {
        id: t.id,
        slug: t.slug,
        name: t.name,
        status: t.status,
    })
}

/// Operator: no read. Staff key: one read (its tenant); staff login: two (its member,
/// its tenant). Customer user: three (tenant, customer, user).
pub async fn describe(deps: &Deps, principal: &Principal) -> Result<Me, Error> {
    Ok(match principal {
        Principal::Operator { key_id } => Me::Operator {
            key_id: key_id.clone(),
            permissions: vec!["manage_tenants"],
        },
        Principal::Staff {
            tenant_id,
            role,
            actor,
            ..
        } => match MemberId::parse(actor) {
            Ok(member_id) => {
                // A staff login: the member it signs in as.
                let (m, _) = match members::load(deps, tenant_id, &member_id).await {
                    Err(Error::NotFound(_)) => return Err(Error::Unauthenticated),
                    other => other?,
                };
                Me::Staff {
                    member: Some(MemberSummary {
                        id: m.id,
                        email: m.email,
                        first_name: m.first_name,
                        last_name: m.last_name,
                    }),
                    key_id: None,
                    role: *role,
                    tenant: tenant_summary(deps, tenant_id).await?,
                    permissions: staff_permissions(*role),
                }
            }
            Err(_) => Me::Staff {
                member: None,
                key_id: Some(actor.clone()),
                role: *role,
                tenant: tenant_summary(deps, tenant_id).await?,
                permissions: staff_permissions(*role),
            },
        },
        Principal::Customer {
            tenant_id,
            customer_id,
            user_id,
            role,
        } => {
            customer_user(
                deps,
                principal,
                (tenant_id, customer_id, user_id),
                *role,
                None,
            )
            .await?
        }
        // A support session: its customer's admin, and the session's claims.
        Principal::Support {
            tenant_id,
            customer_id,
            user_id,
            session_id,
            staff,
            ..
        } => {
            let claims = SessionClaims {
                sub: user_id.to_string(),
                act: ActClaim { sub: staff.clone() },
                sid: session_id.to_string(),
                may_act: None,
                exp: None,
            };
            customer_user(
                deps,
                principal,
                (tenant_id, customer_id, user_id),
                CustomerRole::Admin,
                Some(Box::new(claims)),
            )
            .await?
        }
    })
}

/// A customer user's own description (its admin's, in a support session).
async fn customer_user(
    deps: &Deps,
    principal: &Principal,
    (tenant_id, customer_id, user_id): (&TenantId, &CustomerId, &UserId),
    role: CustomerRole,
    support_session: Option<Box<SessionClaims>>,
) -> Result<Me, Error> {
    Ok({
        {
            let (customer, _) = customers::load(deps, tenant_id, customer_id).await?;
            let user_item = deps
                .store
                .get(&keys::customer_user(tenant_id, customer_id, user_id))
                .await?
                .ok_or(Error::Unauthenticated)?;
            let user: CustomerUser = from_item(&user_item)?;
            let scope = crate::access::own_company(principal)?;
            let enabled = super::features::entitlements(deps, &scope).await?.features;
            let permissions = user
                .permissions
                .permissions()
                .into_iter()
                .filter(|p| {
                    enabled
                        .iter()
                        .any(|a| p.split(':').next() == Some(a.as_str()))
                })
                .collect();
            Me::CustomerUser {
                permission_set: user.permissions.name(),
                permissions,
                enabled_areas: enabled,
                user: UserSummary {
                    id: user.id,
                    email: user.email,
                    first_name: user.first_name,
                    last_name: user.last_name,
                    role: user.role,
                },
                tenant: tenant_summary(deps, tenant_id).await?,
                customer: CustomerSummary {
                    id: customer.id,
                    name: customer.company.name,
                    status: customer.status,
                },
                manages_users: role == CustomerRole::Admin,
                support_session,
            }
        }
    })
}
