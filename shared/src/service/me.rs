//! `GET /v1/me`: who the caller is, from our records.

use serde_json::{Value, json};

use super::{customers, from_item, members, tenants};
use crate::Deps;
use crate::access::{Permission, Principal, StaffRole};
use crate::error::Error;
use crate::model::customer::{CustomerRole, CustomerUser};
use crate::model::ids;
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
    ]
    .into_iter()
    .filter(|(p, _)| p.allows(role))
    .map(|(_, name)| name)
    .collect()
}

async fn tenant_summary(deps: &Deps, tenant_id: &str) -> Result<Value, Error> {
    let (t, _) = tenants::load(deps, tenant_id).await?;
    Ok(json!({ "id": t.id, "slug": t.slug, "name": t.name, "status": t.status }))
}

/// Operator: no read. Staff key: one read (its tenant); staff login: two (its member,
/// its tenant). Customer user: three (tenant, customer, user).
pub async fn describe(deps: &Deps, principal: &Principal) -> Result<Value, Error> {
    Ok(match principal {
        Principal::Operator { key_id } => json!({
            "kind": "operator",
            "key_id": key_id,
            "permissions": ["manage_tenants"],
        }),
        Principal::Staff {
            tenant_id,
            role,
            actor,
        } if ids::is_valid(ids::MEMBER, actor) => {
            // A staff login: the member it signs in as.
            let (m, _) = match members::load(deps, tenant_id, actor).await {
                Err(Error::NotFound(_)) => return Err(Error::Unauthenticated),
                other => other?,
            };
            json!({
                "kind": "staff",
                "member": {
                    "id": m.id,
                    "email": m.email,
                    "first_name": m.first_name,
                    "last_name": m.last_name,
                },
                "role": role,
                "tenant": tenant_summary(deps, tenant_id).await?,
                "permissions": staff_permissions(*role),
            })
        }
        Principal::Staff {
            tenant_id,
            role,
            actor,
        } => json!({
            "kind": "staff",
            "key_id": actor,
            "role": role,
            "tenant": tenant_summary(deps, tenant_id).await?,
            "permissions": staff_permissions(*role),
        }),
        Principal::Customer {
            tenant_id,
            customer_id,
            user_id,
            role,
        } => {
            let (customer, _) = customers::load(deps, tenant_id, customer_id).await?;
            let user_item = deps
                .store
                .get(&keys::customer_user(tenant_id, customer_id, user_id))
                .await?
                .ok_or(Error::Unauthenticated)?;
            let user: CustomerUser = from_item(&user_item)?;
            json!({
                "kind": "customer_user",
                "user": {
                    "id": user.id,
                    "email": user.email,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "role": user.role,
                },
                "tenant": tenant_summary(deps, tenant_id).await?,
                "customer": {
                    "id": customer.id,
                    "name": customer.company.name,
                    "status": customer.status,
                },
                "permission_set": user.permissions.name(),
                "permissions": user.permissions.permissions(),
                // What this user may do to its company's users (the admin only).
                "manages_users": *role == CustomerRole::Admin,
            })
        }
    })
}
