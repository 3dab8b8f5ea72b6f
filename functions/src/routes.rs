//! The route table: method, path, operation, Lambda binary and required permission.
//! Everything that serves HTTP is built from it, and tests walk it.

use http::Method;
use tenantry::access::Permission;

/// One operation per route; `api::call` maps each to its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    TenantsCreate,
    TenantsList,
    TenantsGet,
    TenantsUpdate,
    TenantApiKeysCreate,
    TenantEmailsList,
    TenantEmailsRedrive,
    TenantsProvision,
    ApiKeysList,
    ApiKeysCreate,
    ApiKeysDelete,
    MembersList,
    MembersCreate,
    MembersGet,
    MembersUpdate,
    MembersDelete,
    MembersResetPassword,
    CustomersList,
    CustomersCreate,
    CustomersGet,
    CustomersUpdate,
    CustomersDelete,
    CustomersDeactivate,
    CustomersSuspend,
    CustomersReactivate,
    CustomersRestore,
    Me,
    SignIn,
    StaffSignIn,
    LoginPage,
    RegisterPage,
    Register,
    RegisterVerify,
    PasswordPage,
    PasswordSet,
    EmailChangePage,
    EmailChangeConfirm,
    CustomerUsersList,
    CustomerUsersCreate,
    CustomerUsersGet,
    CustomerUsersUpdate,
    CustomerUsersDelete,
    CustomerUsersResetPassword,
    CustomerUsersDeactivate,
    CustomerUsersReactivate,
    BrandingGet,
    BrandingPut,
}

#[derive(Debug)]
pub struct Route {
    pub op: Op,
    pub method: Method,
    pub path: &'static str,
    /// The Lambda binary (`functions/src/bin/<binary>.rs`) that serves this route.
    pub binary: &'static str,
    pub permission: Permission,
}

impl Route {
    /// Operator routes name a tenant in the path; tenant-scoped routes never do.
    pub fn is_tenant_scoped(&self) -> bool {
        !self.permission.is_platform() && !self.permission.is_public()
    }
}

macro_rules! route {
    ($op:ident, $method:ident, $path:literal, $binary:literal, $perm:ident) => {
        Route {
            op: Op::$op,
            method: Method::$method,
            path: $path,
            binary: $binary,
            permission: Permission::$perm,
        }
    };
}

pub static ROUTES: &[Route] = &[
    route!(
        TenantsCreate,
        POST,
        "/v1/tenants",
        "tenants-create",
        ManageTenants
    ),
    route!(
        TenantsList,
        GET,
        "/v1/tenants",
        "tenants-list",
        ManageTenants
    ),
    route!(
        TenantsGet,
        GET,
        "/v1/tenants/{tenant_id}",
        "tenants-get",
        ManageTenants
    ),
    route!(
        TenantsUpdate,
        PATCH,
        "/v1/tenants/{tenant_id}",
        "tenants-update",
        ManageTenants
    ),
    route!(
        TenantApiKeysCreate,
        POST,
        "/v1/tenants/{tenant_id}/api-keys",
        "tenant-api-keys-create",
        ManageTenants
    ),
    route!(
        TenantEmailsList,
        GET,
        "/v1/tenants/{tenant_id}/emails",
        "tenant-emails-list",
        ManageTenants
    ),
    route!(
        TenantEmailsRedrive,
        POST,
        "/v1/tenants/{tenant_id}/emails/{email_id}/redrive",
        "tenant-emails-redrive",
        ManageTenants
    ),
    route!(
        TenantsProvision,
        POST,
        "/v1/tenants/{tenant_id}/provision",
        "tenants-provision",
        ManageTenants
    ),
    route!(
        ApiKeysList,
        GET,
        "/v1/api-keys",
        "api-keys-list",
        ManageApiKeys
    ),
    route!(
        ApiKeysCreate,
        POST,
        "/v1/api-keys",
        "api-keys-create",
        ManageApiKeys
    ),
    route!(
        ApiKeysDelete,
        DELETE,
        "/v1/api-keys/{key_id}",
        "api-keys-delete",
        ManageApiKeys
    ),
    route!(MembersList, GET, "/v1/members", "members-list", ReadTenant),
    route!(
        MembersCreate,
        POST,
        "/v1/members",
        "members-create",
        InviteMembers
    ),
    route!(
        MembersGet,
        GET,
        "/v1/members/{member_id}",
        "members-get",
        ReadTenant
    ),
    route!(
        MembersUpdate,
        PATCH,
        "/v1/members/{member_id}",
        "members-update",
        InviteMembers
    ),
    route!(
        MembersDelete,
        DELETE,
        "/v1/members/{member_id}",
        "members-delete",
        InviteMembers
    ),
    route!(
        MembersResetPassword,
        POST,
        "/v1/members/{member_id}/reset-password",
        "members-reset-password",
        InviteMembers
    ),
    route!(
        CustomersList,
        GET,
        "/v1/customers",
        "customers-list",
        ReadTenant
    ),
    route!(
        CustomersCreate,
        POST,
        "/v1/customers",
        "customers-create",
        ManageCustomers
    ),
    route!(
        CustomersGet,
        GET,
        "/v1/customers/{customer_id}",
        "customers-get",
        ReadTenant
    ),
    route!(
        CustomersUpdate,
        PATCH,
        "/v1/customers/{customer_id}",
        "customers-update",
        ManageCustomers
    ),
    route!(
        CustomersDelete,
        DELETE,
        "/v1/customers/{customer_id}",
        "customers-delete",
        ManageCustomers
    ),
    route!(
        CustomersDeactivate,
        POST,
        "/v1/customers/{customer_id}/deactivate",
        "customers-deactivate",
        ManageCustomers
    ),
    route!(
        CustomersSuspend,
        POST,
        "/v1/customers/{customer_id}/suspend",
        "customers-suspend",
        ManageCustomers
    ),
    route!(
        CustomersReactivate,
        POST,
        "/v1/customers/{customer_id}/reactivate",
        "customers-reactivate",
        ManageCustomers
    ),
    route!(
        CustomersRestore,
        POST,
        "/v1/customers/{customer_id}/restore",
        "customers-restore",
        ManageCustomers
    ),
    route!(
        CustomerUsersList,
        GET,
        "/v1/customers/{customer_id}/users",
        "customer-users-list",
        ReadCustomerUsers
    ),
    route!(
        CustomerUsersCreate,
        POST,
        "/v1/customers/{customer_id}/users",
        "customer-users-create",
        ManageCustomerUsers
    ),
    route!(
        CustomerUsersGet,
        GET,
        "/v1/customers/{customer_id}/users/{user_id}",
        "customer-users-get",
        ReadCustomerUsers
    ),
    route!(
        CustomerUsersUpdate,
        PATCH,
        "/v1/customers/{customer_id}/users/{user_id}",
        "customer-users-update",
        ManageCustomerUsers
    ),
    route!(
        CustomerUsersDelete,
        DELETE,
        "/v1/customers/{customer_id}/users/{user_id}",
        "customer-users-delete",
        ManageCustomerUsers
    ),
    route!(
        CustomerUsersResetPassword,
        POST,
        "/v1/customers/{customer_id}/users/{user_id}/reset-password",
        "customer-users-reset-password",
        ManageCustomerUsers
    ),
    route!(
        CustomerUsersDeactivate,
        POST,
        "/v1/customers/{customer_id}/users/{user_id}/deactivate",
        "customer-users-deactivate",
        ManageCustomerUsers
    ),
    route!(
        CustomerUsersReactivate,
        POST,
        "/v1/customers/{customer_id}/users/{user_id}/reactivate",
        "customer-users-reactivate",
        ManageCustomerUsers
    ),
    route!(
        PasswordPage,
        GET,
        "/t/{slug}/password",
        "password-page",
        Public
    ),
    route!(
        PasswordSet,
        POST,
        "/t/{slug}/password",
        "password-set",
        Public
    ),
    route!(
        EmailChangePage,
        GET,
        "/t/{slug}/email-change",
        "email-change-page",
        Public
    ),
    route!(
        EmailChangeConfirm,
        POST,
        "/t/{slug}/email-change",
        "email-change-confirm",
        Public
    ),
    route!(Me, GET, "/v1/me", "me", Me),
    route!(SignIn, POST, "/t/{slug}/login", "sign-in", Public),
    route!(
        StaffSignIn,
        POST,
        "/t/{slug}/staff/login",
        "staff-sign-in",
        Public
    ),
    route!(LoginPage, GET, "/t/{slug}/login", "login-page", Public),
    route!(
        RegisterPage,
        GET,
        "/t/{slug}/register",
        "register-page",
        Public
    ),
    route!(Register, POST, "/t/{slug}/register", "register", Public),
    route!(
        RegisterVerify,
        POST,
        "/t/{slug}/register/verify",
        "register-verify",
        Public
    ),
    route!(
        BrandingGet,
        GET,
        "/v1/tenants/{tenant_id}/branding",
        "tenant-branding-get",
        ManageTenants
    ),
    route!(
        BrandingPut,
        PUT,
        "/v1/tenants/{tenant_id}/branding",
        "tenant-branding-put",
        ManageTenants
    ),
];

pub fn by_binary(binary: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.binary == binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_scoped_routes_never_name_a_tenant_and_binaries_are_unique() {
        let mut binaries = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(binaries.insert(r.binary), "{} twice", r.binary);
            if r.is_tenant_scoped() {
                assert!(!r.path.contains("{tenant_id}"), "{} names a tenant", r.path);
            }
            if r.path.contains("{tenant_id}") {
                assert!(!r.is_tenant_scoped(), "{} is not an operator route", r.path);
            }
        }
    }

    #[test]
    fn every_route_has_its_lambda_binary() {
        for r in ROUTES {
            let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/bin")
                .join(format!("{}.rs", r.binary));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|_| panic!("missing {}", file.display()));
            assert!(
                text.contains(&format!("\"{}\"", r.binary)),
                "{} serves another route",
                file.display()
            );
        }
    }
}
