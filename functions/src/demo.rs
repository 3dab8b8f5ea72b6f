//! `tenantry serve --demo`: a partner to try everything with, seeded on first start: its
//! owner's API key, its branding with registration open, a few customers (one admin with
//! a password to sign in with, users with their permission sets), so a walk-through needs
//! no ids copied from one answer into the next.

use serde_json::json;
use tenantry::access::{Permission, Principal, StaffRole, authorize, tenant_of};
use tenantry::error::ProblemKind;
use tenantry::model::input::from_value;
use tenantry::service::{api_keys, customers, tenants, users};
use tenantry::{Deps, Error};

/// The demo tenant's slug: its pages are `/t/demo/...`.
pub const SLUG: &str = "demo";
/// The customer admin to sign in as, and its password.
pub const ADMIN_EMAIL: &str = "ada@northwind.example.com";
pub const ADMIN_PASSWORD: &str = "Demo$ecret-2026";

/// What the demo made, for the terminal.
pub struct Seeded {
    pub tenant_id: String,
    pub owner_key: String,
}

/// Seeds the demo partner; `None` when it is there already (a second start on the same
/// data folder: its key was printed the first time and is stored only hashed).
pub async fn seed(deps: &Deps) -> Result<Option<Seeded>, Error> {
    // What the seed makes is recorded as the work of `demo`.
    let deps = &deps.acting(tenantry::service::audit::job_origin("demo"));
    let draft = from_value(json!({
        "name": "Demo Partners", "slug": SLUG, "kind": "partner",
        "contact": {"name": "Olive Owner", "email": "owner@demo-partners.example.com"},
        "owner": {"email": "owner@demo-partners.example.com", "first_name": "Olive", "last_name": "Owner"}
    }))?;
    let tenant = match tenants::create(deps, &draft).await {
        Ok(t) => t,
        Err(Error::Conflict {
            kind: ProblemKind::DuplicateSlug,
            ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let tenant_id = tenant.tenant.tenant.id.clone();
    // The demo acts as its own owner would: through the one gate, with an owner's reach.
    let owner = Principal::Staff {
        tenant_id: tenant_id.clone(),
        role: StaffRole::Owner,
        actor: "demo".into(),
        billing_only: false,
    };
    let scope = tenant_of(&authorize(&owner, Permission::ManageCustomers)?)?.clone();
    let branding = from_value(json!({
        "product_name": "Demo Cloud", "primary_color": "#0f766e", "accent_color": "#f59e0b",
        "support_email": "help@demo-partners.example.com", "registration_enabled": true
    }))?;
    tenants::set_branding(deps, &scope, &branding).await?;
    let key = api_keys::create(
        deps,
        &scope,
        &from_value(json!({"name": "demo owner", "role": "owner"}))?,
    )
    .await?;
    let northwind = customers::create(
        deps,
        &scope,
        &from_value(json!({
            "company": {"name": "Northwind Traders", "website": "https://northwind.example.com", "country": "GB"},
            "admin": {"first_name": "Ada", "last_name": "Admin", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            "max_users": 10
        }))?,
    )
    .await?;
    let users = tenantry::access::customer_of(
        &authorize(&owner, Permission::ManageCustomerUsers)?,
        northwind.id.clone(),
    )?;
    for (email, first, set) in [
        (
            "bob@northwind.example.com",
            "Bob",
            json!({"permission_set": "full"}),
        ),
        (
            "cleo@northwind.example.com",
            "Cleo",
            json!({"permission_set": "read_only"}),
        ),
    ] {
        let mut body = json!({"email": email, "first_name": first, "last_name": "User"});
        if let (Some(b), Some(extra)) = (body.as_object_mut(), set.as_object()) {
            b.extend(extra.clone());
        }
        users::create(deps, &users, &from_value(body)?).await?;
    }
    for (name, email) in [
        ("Contoso Ltd", "admin@contoso.example.com"),
        ("Fabrikam Inc", "admin@fabrikam.example.com"),
    ] {
        customers::create(
            deps,
            &scope,
            &from_value(json!({
                "company": {"name": name},
                "admin": {"first_name": "Sam", "last_name": "Admin", "email": email}
            }))?,
        )
        .await?;
    }
    Ok(Some(Seeded {
        tenant_id: tenant_id.to_string(),
        owner_key: key.secret,
    }))
}

/// What the terminal shows after seeding: where to look and what to sign in with.
pub fn banner(base: &str, operator_key: &str, seeded: Option<&Seeded>, outbox: &str) -> String {
    let key = match seeded {
        Some(s) => format!(
            "  tenant {} (\"Demo Partners\"), owner API key:\n    export TENANTRY_KEY={}\n",
            s.tenant_id, s.owner_key
        ),
        None => "  the demo partner was seeded on an earlier start: its key was printed then\n  (delete the data folder to start over)\n".to_owned(),
    };
    format!(
        "Tenantry demo on {base}\n\
         {key}\
         \x20 operator key:   export TENANTRY_ADMIN_KEY={operator_key}\n\
         \x20 login page:     {base}/t/{SLUG}/login   (sign in as {ADMIN_EMAIL} / {ADMIN_PASSWORD})\n\
         \x20 register page:  {base}/t/{SLUG}/register\n\
         \x20 forgot password: {base}/t/{SLUG}/password\n\
         \x20 API document:   {base}/openapi.json\n\
         \x20 emails:         {outbox}\n\
         Try: curl -s {base}/v1/customers -H \"Authorization: Bearer $TENANTRY_KEY\"\n"
    )
}
