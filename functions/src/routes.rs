//! The route table: method, path, handler, Lambda binary, required permission, and what
//! the route needs from outside the store. Everything that serves HTTP is built from it,
//! and tests walk it.
//!
//! Each route is a `const` holding its handler as a function pointer. A Lambda binary
//! names its one route (`functions::lambda_main!(CUSTOMERS_GET)`), so it links that
//! handler and the clients its `needs` ask for, and nothing else; only the local server
//! and the tests take the whole table (`ROUTES`).

use std::future::Future;
use std::pin::Pin;

use http::Method;
use tenantry::Error;
use tenantry::access::Permission;

use crate::api::handlers;
use crate::api::{Ctx, Reply};

/// What a handler returns: its reply, later.
pub type Handled<'a> = Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send + 'a>>;

/// A route's handler.
pub type Handler = for<'a> fn(Ctx<'a>) -> Handled<'a>;

/// What a route needs besides the store and the clock, which every route has. The Lambda
/// home builds exactly these (`lambda::serve`), the local server has them all, and a test
/// replays every route's event with only what it declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The identity provider (Cognito; locally the embedded one): pools and logins.
    pub identity: bool,
    /// The vault (KMS; locally the key file): signing secrets.
    pub vault: bool,
    /// Outbound HTTP to partners' and providers' servers (public https addresses only).
    pub http: bool,
    /// The document store (S3; locally the data folder): final invoices' PDFs.
    pub documents: bool,
}

/// The store alone.
pub const STORE: Needs = Needs {
    identity: false,
    vault: false,
    http: false,
    documents: false,
};
/// The store and the identity provider.
pub const IDENTITY: Needs = Needs {
    identity: true,
    vault: false,
    http: false,
    documents: false,
};
/// The store and the document store (reads of stored PDFs).
pub const DOCUMENTS: Needs = Needs {
    identity: false,
    vault: false,
    http: false,
    documents: true,
};
/// The store and the vault.
pub const VAULT: Needs = Needs {
    identity: false,
    vault: true,
    http: false,
    documents: false,
};
/// The store, the vault and outbound HTTP (a connector's check request).
pub const VAULT_HTTP: Needs = Needs {
    identity: false,
    vault: true,
    http: true,
    documents: false,
};

pub struct Route {
    /// The route's constant in this module (`CUSTOMERS_GET`), which its binary names.
    pub name: &'static str,
    pub method: Method,
    pub path: &'static str,
    /// The Lambda binary (`functions/src/bin/<binary>.rs`) that serves this route.
    pub binary: &'static str,
    pub permission: Permission,
    pub needs: Needs,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("binary", &self.binary)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// Operator routes name a tenant in the path; tenant-scoped routes never do.
    pub fn is_tenant_scoped(&self) -> bool {
        !self.permission.is_platform() && !self.permission.is_public()
    }
}

macro_rules! routes {
    ($($name:ident: $method:ident $path:literal => $handler:ident, $binary:literal, $perm:ident, $needs:ident;)*) => {
        $(
            pub const $name: Route = {
                fn handler(cx: Ctx<'_>) -> Handled<'_> {
                    Box::pin(handlers::$handler(cx))
                }
                Route {
                    name: stringify!($name),
                    method: Method::$method,
                    path: $path,
                    binary: $binary,
                    permission: Permission::$perm,
                    needs: $needs,
                    handler,
                }
            };
        )*
        /// Every route: the local server's table.
        pub static ROUTES: &[&Route] = &[$(&$name),*];
    };
}

routes! {
    TENANTS_CREATE: POST "/v1/tenants" => tenants_create, "tenants-create", ManageTenants, IDENTITY;
    TENANTS_LIST: GET "/v1/tenants" => tenants_list, "tenants-list", ManageTenants, STORE;
    TENANTS_GET: GET "/v1/tenants/{tenant_id}" => tenants_get, "tenants-get", ManageTenants, STORE;
    TENANTS_UPDATE: PATCH "/v1/tenants/{tenant_id}" => tenants_update, "tenants-update", ManageTenants, STORE;
    TENANT_API_KEYS_CREATE: POST "/v1/tenants/{tenant_id}/api-keys" => tenant_api_keys_create, "tenant-api-keys-create", ManageTenants, STORE;
    TENANT_EMAILS_LIST: GET "/v1/tenants/{tenant_id}/emails" => tenant_emails_list, "tenant-emails-list", ManageTenants, STORE;
    TENANT_EMAILS_REDRIVE: POST "/v1/tenants/{tenant_id}/emails/{email_id}/redrive" => tenant_emails_redrive, "tenant-emails-redrive", ManageTenants, STORE;
    TENANTS_PROVISION: POST "/v1/tenants/{tenant_id}/provision" => tenants_provision, "tenants-provision", ManageTenants, IDENTITY;
    API_KEYS_LIST: GET "/v1/api-keys" => api_keys_list, "api-keys-list", ManageApiKeys, STORE;
    API_KEYS_CREATE: POST "/v1/api-keys" => api_keys_create, "api-keys-create", ManageApiKeys, STORE;
    API_KEYS_DELETE: DELETE "/v1/api-keys/{key_id}" => api_keys_delete, "api-keys-delete", ManageApiKeys, STORE;
    MEMBERS_LIST: GET "/v1/members" => members_list, "members-list", ReadTenant, STORE;
    MEMBERS_CREATE: POST "/v1/members" => members_create, "members-create", InviteMembers, IDENTITY;
    MEMBERS_GET: GET "/v1/members/{member_id}" => members_get, "members-get", ReadTenant, STORE;
    MEMBERS_UPDATE: PATCH "/v1/members/{member_id}" => members_update, "members-update", InviteMembers, STORE;
    MEMBERS_DELETE: DELETE "/v1/members/{member_id}" => members_delete, "members-delete", InviteMembers, IDENTITY;
    MEMBERS_RESET_PASSWORD: POST "/v1/members/{member_id}/reset-password" => members_reset_password, "members-reset-password", InviteMembers, IDENTITY;
    CUSTOMERS_LIST: GET "/v1/customers" => customers_list, "customers-list", ReadTenant, STORE;
    CUSTOMERS_CREATE: POST "/v1/customers" => customers_create, "customers-create", ManageCustomers, IDENTITY;
    CUSTOMERS_GET: GET "/v1/customers/{customer_id}" => customers_get, "customers-get", ReadTenant, STORE;
    CUSTOMERS_UPDATE: PATCH "/v1/customers/{customer_id}" => customers_update, "customers-update", ManageCustomers, STORE;
    CUSTOMERS_DELETE: DELETE "/v1/customers/{customer_id}" => customers_delete, "customers-delete", ManageCustomers, IDENTITY;
    CUSTOMERS_DEACTIVATE: POST "/v1/customers/{customer_id}/deactivate" => customers_deactivate, "customers-deactivate", ManageCustomers, IDENTITY;
    CUSTOMERS_SUSPEND: POST "/v1/customers/{customer_id}/suspend" => customers_suspend, "customers-suspend", ManageCustomers, IDENTITY;
    CUSTOMERS_REACTIVATE: POST "/v1/customers/{customer_id}/reactivate" => customers_reactivate, "customers-reactivate", ManageCustomers, IDENTITY;
    CUSTOMERS_RESTORE: POST "/v1/customers/{customer_id}/restore" => customers_restore, "customers-restore", ManageCustomers, IDENTITY;
    CUSTOMER_USERS_LIST: GET "/v1/customers/{customer_id}/users" => customer_users_list, "customer-users-list", ReadCustomerUsers, STORE;
    CUSTOMER_USERS_CREATE: POST "/v1/customers/{customer_id}/users" => customer_users_create, "customer-users-create", ManageCustomerUsers, IDENTITY;
    CUSTOMER_USERS_GET: GET "/v1/customers/{customer_id}/users/{user_id}" => customer_users_get, "customer-users-get", ReadCustomerUsers, STORE;
    CUSTOMER_USERS_UPDATE: PATCH "/v1/customers/{customer_id}/users/{user_id}" => customer_users_update, "customer-users-update", ManageCustomerUsers, STORE;
    CUSTOMER_USERS_DELETE: DELETE "/v1/customers/{customer_id}/users/{user_id}" => customer_users_delete, "customer-users-delete", ManageCustomerUsers, IDENTITY;
    CUSTOMER_USERS_RESET_PASSWORD: POST "/v1/customers/{customer_id}/users/{user_id}/reset-password" => customer_users_reset_password, "customer-users-reset-password", ManageCustomerUsers, STORE;
    CUSTOMER_USERS_DEACTIVATE: POST "/v1/customers/{customer_id}/users/{user_id}/deactivate" => customer_users_deactivate, "customer-users-deactivate", ManageCustomerUsers, IDENTITY;
    CUSTOMER_USERS_REACTIVATE: POST "/v1/customers/{customer_id}/users/{user_id}/reactivate" => customer_users_reactivate, "customer-users-reactivate", ManageCustomerUsers, IDENTITY;
    PASSWORD_PAGE: GET "/t/{slug}/password" => password_page, "password-page", Public, STORE;
    PASSWORD_SET: POST "/t/{slug}/password" => password_set, "password-set", Public, IDENTITY;
    EMAIL_CHANGE_PAGE: GET "/t/{slug}/email-change" => email_change_page, "email-change-page", Public, STORE;
    EMAIL_CHANGE_CONFIRM: POST "/t/{slug}/email-change" => email_change_confirm, "email-change-confirm", Public, IDENTITY;
    ME: GET "/v1/me" => me_get, "me", Me, STORE;
    SIGN_IN: POST "/t/{slug}/login" => customer_sign_in, "sign-in", Public, IDENTITY;
    STAFF_SIGN_IN: POST "/t/{slug}/staff/login" => staff_sign_in, "staff-sign-in", Public, IDENTITY;
    LOGIN_PAGE: GET "/t/{slug}/login" => login_page, "login-page", Public, STORE;
    REGISTER_PAGE: GET "/t/{slug}/register" => register_page, "register-page", Public, STORE;
    REGISTER: POST "/t/{slug}/register" => register, "register", Public, STORE;
    REGISTER_VERIFY: POST "/t/{slug}/register/verify" => register_verify, "register-verify", Public, IDENTITY;
    TENANT_BRANDING_GET: GET "/v1/tenants/{tenant_id}/branding" => branding_get, "tenant-branding-get", ManageTenants, STORE;
    TENANT_BRANDING_PUT: PUT "/v1/tenants/{tenant_id}/branding" => branding_put, "tenant-branding-put", ManageTenants, STORE;
    OPERATOR_KEYS_LIST: GET "/v1/operator-keys" => operator_keys_list, "operator-keys-list", ManageTenants, STORE;
    OPERATOR_KEYS_DELETE: DELETE "/v1/operator-keys/{key_id}" => operator_keys_delete, "operator-keys-delete", ManageTenants, STORE;
    METRICS_LIST: GET "/v1/billable-metrics" => metrics_list, "metrics-list", ReadCatalog, STORE;
    METRICS_CREATE: POST "/v1/billable-metrics" => metrics_create, "metrics-create", ManageCatalog, STORE;
    PLANS_LIST: GET "/v1/plans" => plans_list, "plans-list", ReadCatalog, STORE;
    PLANS_CREATE: POST "/v1/plans" => plans_create, "plans-create", ManageCatalog, STORE;
    PLANS_GET: GET "/v1/plans/{code}" => plans_get, "plans-get", ReadCatalog, STORE;
    PLANS_UPDATE: PATCH "/v1/plans/{code}" => plans_update, "plans-update", ManageCatalog, STORE;
    PLANS_ARCHIVE: POST "/v1/plans/{code}/archive" => plans_archive, "plans-archive", ManageCatalog, STORE;
    PRICE_OVERRIDES_PUT: PUT "/v1/tenants/{tenant_id}/price-overrides/{code}" => price_overrides_put, "price-overrides-put", ManageCatalog, STORE;
    SUBSCRIPTION_CREATE: POST "/v1/customers/{customer_id}/subscription" => subscription_create, "subscription-create", ManageSubscriptions, STORE;
    SUBSCRIPTION_GET: GET "/v1/customers/{customer_id}/subscription" => subscription_get, "subscription-get", ReadTenant, STORE;
    SUBSCRIPTION_UPDATE: PATCH "/v1/customers/{customer_id}/subscription" => subscription_update, "subscription-update", ManageSubscriptions, STORE;
    SUBSCRIPTION_CANCEL: DELETE "/v1/customers/{customer_id}/subscription" => subscription_cancel, "subscription-cancel", ManageSubscriptions, STORE;
    USAGE_REPORT: POST "/v1/usage" => usage_report, "usage-report", ReportUsage, STORE;
    CUSTOMER_USAGE: GET "/v1/customers/{customer_id}/usage" => customer_usage, "customer-usage", ReadTenant, STORE;
    ME_USAGE: GET "/v1/me/usage" => me_usage, "me-usage", OwnCompanyAdmin, STORE;
    ME_USAGE_LIMITS_GET: GET "/v1/me/usage-limits" => me_usage_limits_get, "me-usage-limits-get", OwnCompanyAdmin, STORE;
    ME_USAGE_LIMITS_PUT: PUT "/v1/me/usage-limits" => me_usage_limits_put, "me-usage-limits-put", OwnCompanyAdmin, STORE;
    FEATURES_GET: GET "/v1/features" => features_get, "features-get", ReadTenant, STORE;
    FEATURES_PUT: PUT "/v1/features" => features_put, "features-put", ModifyCustomerSettings, STORE;
    CUSTOMER_FEATURES_GET: GET "/v1/customers/{customer_id}/features" => customer_features_get, "customer-features-get", ReadTenant, STORE;
    CUSTOMER_FEATURES_PUT: PUT "/v1/customers/{customer_id}/features" => customer_features_put, "customer-features-put", ModifyCustomerSettings, STORE;
    CUSTOMER_ENTITLEMENTS: GET "/v1/customers/{customer_id}/entitlements" => customer_entitlements, "customer-entitlements", ReadTenant, STORE;
    ME_ENTITLEMENTS: GET "/v1/me/entitlements" => me_entitlements, "me-entitlements", OwnCompany, STORE;
    DEFAULT_PLAN_GET: GET "/v1/default-plan" => default_plan_get, "default-plan-get", ReadTenant, STORE;
    DEFAULT_PLAN_PUT: PUT "/v1/default-plan" => default_plan_put, "default-plan-put", ManageSubscriptions, STORE;
    PRICE_OVERRIDES_DELETE: DELETE "/v1/tenants/{tenant_id}/price-overrides/{code}" => price_overrides_delete, "price-overrides-delete", ManageCatalog, STORE;
    INVOICES_LIST: GET "/v1/invoices" => invoices_list, "invoices-list", ReadInvoices, STORE;
    INVOICES_GET: GET "/v1/invoices/{invoice_id}" => invoices_get, "invoices-get", ReadInvoices, STORE;
    INVOICES_APPROVE: POST "/v1/invoices/{invoice_id}/approve" => invoices_approve, "invoices-approve", ManageInvoices, STORE;
    INVOICES_ADJUST: POST "/v1/invoices/{invoice_id}/adjustments" => invoices_adjust, "invoices-adjust", OperateBilling, STORE;
    INVOICES_PAY: POST "/v1/invoices/{invoice_id}/payments" => invoices_pay, "invoices-pay", OperateBilling, STORE;
    INVOICES_CREDIT: POST "/v1/invoices/{invoice_id}/credit-notes" => invoices_credit, "invoices-credit", OperateBilling, STORE;
    INVOICES_VOID: POST "/v1/invoices/{invoice_id}/void" => invoices_void, "invoices-void", OperateBilling, STORE;
    INVOICES_DOCUMENT: GET "/v1/invoices/{invoice_id}/document" => invoices_document, "invoices-document", ReadInvoices, DOCUMENTS;
    ME_INVOICES: GET "/v1/me/invoices" => me_invoices, "me-invoices", OwnInvoices, STORE;
    COMMISSION_STATEMENTS: GET "/v1/commission-statements" => commission_statements, "commission-statements", ReadInvoices, STORE;
    INBOUND_ENDPOINTS_LIST: GET "/v1/inbound-endpoints" => inbound_endpoints_list, "inbound-endpoints-list", ManageWebhooks, STORE;
    INBOUND_ENDPOINTS_CREATE: POST "/v1/inbound-endpoints" => inbound_endpoints_create, "inbound-endpoints-create", ManageWebhooks, VAULT;
    INBOUND_ENDPOINTS_GET: GET "/v1/inbound-endpoints/{endpoint_id}" => inbound_endpoints_get, "inbound-endpoints-get", ManageWebhooks, STORE;
    INBOUND_ENDPOINTS_UPDATE: PATCH "/v1/inbound-endpoints/{endpoint_id}" => inbound_endpoints_update, "inbound-endpoints-update", ManageWebhooks, STORE;
    INBOUND_ENDPOINTS_DELETE: DELETE "/v1/inbound-endpoints/{endpoint_id}" => inbound_endpoints_delete, "inbound-endpoints-delete", ManageWebhooks, STORE;
    INBOUND_ENDPOINTS_ROTATE: POST "/v1/inbound-endpoints/{endpoint_id}/rotate-secret" => inbound_endpoints_rotate, "inbound-endpoints-rotate", ManageWebhooks, VAULT;
    HOOKS_RECEIVE: POST "/hooks/v1/{endpoint_id}" => hooks_receive, "hooks-receive", Webhook, VAULT;
    PROVISIONING_CREATE: POST "/v1/provisioning" => provisioning_create, "provisioning-create", ManageCustomers, STORE;
    PROVISIONING_GET: GET "/v1/provisioning/{provisioning_id}" => provisioning_get, "provisioning-get", ReadTenant, STORE;
    WEBHOOK_ENDPOINTS_LIST: GET "/v1/webhook-endpoints" => webhook_endpoints_list, "webhook-endpoints-list", ManageWebhooks, STORE;
    WEBHOOK_ENDPOINTS_CREATE: POST "/v1/webhook-endpoints" => webhook_endpoints_create, "webhook-endpoints-create", ManageWebhooks, VAULT;
    WEBHOOK_ENDPOINTS_GET: GET "/v1/webhook-endpoints/{webhook_endpoint_id}" => webhook_endpoints_get, "webhook-endpoints-get", ManageWebhooks, STORE;
    WEBHOOK_ENDPOINTS_UPDATE: PATCH "/v1/webhook-endpoints/{webhook_endpoint_id}" => webhook_endpoints_update, "webhook-endpoints-update", ManageWebhooks, STORE;
    WEBHOOK_ENDPOINTS_DELETE: DELETE "/v1/webhook-endpoints/{webhook_endpoint_id}" => webhook_endpoints_delete, "webhook-endpoints-delete", ManageWebhooks, STORE;
    WEBHOOK_ENDPOINTS_ROTATE: POST "/v1/webhook-endpoints/{webhook_endpoint_id}/rotate-secret" => webhook_endpoints_rotate, "webhook-endpoints-rotate", ManageWebhooks, VAULT;
    WEBHOOK_ENDPOINTS_TEST: POST "/v1/webhook-endpoints/{webhook_endpoint_id}/test" => webhook_endpoints_test, "webhook-endpoints-test", ManageWebhooks, STORE;
    WEBHOOK_ATTEMPTS_LIST: GET "/v1/webhook-endpoints/{webhook_endpoint_id}/attempts" => webhook_attempts_list, "webhook-attempts-list", ManageWebhooks, STORE;
    WEBHOOK_ENDPOINTS_REDELIVER: POST "/v1/webhook-endpoints/{webhook_endpoint_id}/redeliver" => webhook_endpoints_redeliver, "webhook-endpoints-redeliver", ManageWebhooks, STORE;
    CUSTOMER_TEMPLATES_LIST: GET "/v1/customer-templates" => customer_templates_list, "customer-templates-list", ReadTenant, STORE;
    CUSTOMER_TEMPLATES_CREATE: POST "/v1/customer-templates" => customer_templates_create, "customer-templates-create", ManageCustomers, STORE;
    CUSTOMER_TEMPLATES_GET: GET "/v1/customer-templates/{code}" => customer_templates_get, "customer-templates-get", ReadTenant, STORE;
    CUSTOMER_TEMPLATES_UPDATE: PATCH "/v1/customer-templates/{code}" => customer_templates_update, "customer-templates-update", ManageCustomers, STORE;
    CUSTOMER_TEMPLATES_DELETE: DELETE "/v1/customer-templates/{code}" => customer_templates_delete, "customer-templates-delete", ManageCustomers, STORE;
    CONNECTORS_LIST: GET "/v1/connectors" => connectors_list, "connectors-list", ReadCatalog, STORE;
    CONNECTORS_CREATE: POST "/v1/connectors" => connectors_create, "connectors-create", ManageCatalog, VAULT;
    CONNECTORS_GET: GET "/v1/connectors/{code}" => connectors_get, "connectors-get", ReadCatalog, STORE;
    CONNECTORS_UPDATE: PATCH "/v1/connectors/{code}" => connectors_update, "connectors-update", ManageCatalog, VAULT;
    CONNECTIONS_CREATE: POST "/v1/customers/{customer_id}/connections" => connections_create, "connections-create", AssistCustomers, STORE;
    CUSTOMER_CONNECTIONS_LIST: GET "/v1/customers/{customer_id}/connections" => customer_connections_list, "customer-connections-list", ReadTenant, STORE;
    CONNECTIONS_LIST: GET "/v1/connections" => connections_list, "connections-list", ReadTenant, STORE;
    CONNECTIONS_GET: GET "/v1/connections/{connection_id}" => connections_get, "connections-get", ReadTenant, STORE;
    CONNECTIONS_DELETE: DELETE "/v1/connections/{connection_id}" => connections_delete, "connections-delete", AssistCustomers, STORE;
    CONNECTIONS_INVITE: POST "/v1/connections/{connection_id}/invite" => connections_invite, "connections-invite", AssistCustomers, STORE;
    CONNECTIONS_INVITE_END: DELETE "/v1/connections/{connection_id}/invite" => connections_invite_end, "connections-invite-end", AssistCustomers, STORE;
    CONNECTIONS_CREDENTIALS: POST "/v1/connections/{connection_id}/credentials" => connections_credentials, "connections-credentials", ReadCredentials, VAULT_HTTP;
    CONNECTIONS_READS_LIST: GET "/v1/connections/{connection_id}/credential-reads" => connections_reads_list, "connections-reads-list", ReadTenant, STORE;
    CONNECT_SESSIONS_CREATE: POST "/v1/connect-sessions" => connect_sessions_create, "connect-sessions-create", AssistCustomers, STORE;
    ALLOWED_ORIGINS_GET: GET "/v1/allowed-origins" => allowed_origins_get, "allowed-origins-get", ReadTenant, STORE;
    ALLOWED_ORIGINS_PUT: PUT "/v1/allowed-origins" => allowed_origins_put, "allowed-origins-put", ManageWebhooks, STORE;
    CONNECT_CALLBACK: GET "/t/{slug}/connect/callback" => connect_callback, "connect-callback", Public, VAULT_HTTP;
    CONNECT_PAGE: GET "/t/{slug}/connect/{token}" => connect_page, "connect-page", Public, STORE;
    CONNECT_SUBMIT: POST "/t/{slug}/connect/{token}" => connect_submit, "connect-submit", Public, VAULT_HTTP;
    AUDIT_EVENTS_LIST: GET "/v1/audit-events" => audit_events_list, "audit-events-list", ReadAuditLog, STORE;
    ME_AUDIT_EVENTS: GET "/v1/me/audit-events" => me_audit_events, "me-audit-events", OwnCompanyAdmin, STORE;
    TENANT_AUDIT_EVENTS: GET "/v1/tenants/{tenant_id}/audit-events" => tenant_audit_events, "tenant-audit-events", ManageTenants, STORE;
    SUPPORT_SESSIONS_CREATE: POST "/v1/customers/{customer_id}/support-sessions" => support_sessions_create, "support-sessions-create", StartSupportSessions, STORE;
    SUPPORT_SESSIONS_LIST: GET "/v1/customers/{customer_id}/support-sessions" => support_sessions_list, "support-sessions-list", ReadTenant, STORE;
    SUPPORT_SESSIONS_END: POST "/v1/support-sessions/{session_id}/end" => support_sessions_end, "support-sessions-end", EndSupportSession, STORE;
    ME_SUPPORT_SESSIONS: GET "/v1/me/support-sessions" => me_support_sessions, "me-support-sessions", OwnCompanyAdmin, STORE;
    ME_SUPPORT_SESSIONS_APPROVE: POST "/v1/me/support-sessions/{session_id}/approve" => me_support_sessions_approve, "me-support-sessions-approve", CustomerConsent, STORE;
    ME_SUPPORT_SESSIONS_DECLINE: POST "/v1/me/support-sessions/{session_id}/decline" => me_support_sessions_decline, "me-support-sessions-decline", CustomerConsent, STORE;
    ME_SUPPORT_ACCESS_PUT: PUT "/v1/me/support-access" => me_support_access_put, "me-support-access-put", CustomerConsent, STORE;
    SUPPORT_PAGE: GET "/t/{slug}/support/{token}" => support_page, "support-page", Public, STORE;
    SUPPORT_SUBMIT: POST "/t/{slug}/support/{token}" => support_submit, "support-submit", Public, STORE;
    SUPPORT_SETTINGS_GET: GET "/v1/support-settings" => support_settings_get, "support-settings-get", ReadTenant, STORE;
    SUPPORT_SETTINGS_PUT: PUT "/v1/support-settings" => support_settings_put, "support-settings-put", ModifyContactDetails, STORE;
    ME_SUPPORT_REQUESTS_CREATE: POST "/v1/me/support-requests" => me_support_requests_create, "me-support-requests-create", OwnCompany, STORE;
    ME_SUPPORT_REQUESTS: GET "/v1/me/support-requests" => me_support_requests, "me-support-requests", OwnCompany, STORE;
    SUPPORT_REQUESTS_LIST: GET "/v1/support-requests" => support_requests_list, "support-requests-list", ReadTenant, STORE;
    SUPPORT_REQUESTS_NOTE: POST "/v1/support-requests/{request_id}/notes" => support_requests_note, "support-requests-note", AssistCustomers, STORE;
    SUPPORT_REQUESTS_CLOSE: POST "/v1/support-requests/{request_id}/close" => support_requests_close, "support-requests-close", AssistCustomers, STORE;
    SUPPORT_REQUESTS_ESCALATE: POST "/v1/support-requests/{request_id}/escalate" => support_requests_escalate, "support-requests-escalate", AssistCustomers, STORE;
    ESCALATIONS_LIST: GET "/v1/escalations" => escalations_list, "escalations-list", ManageTenants, STORE;
}

/// The route a binary serves (tests and tools; a Lambda names its route statically).
pub fn by_binary(binary: &str) -> Option<&'static Route> {
    ROUTES.iter().copied().find(|r| r.binary == binary)
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

    /// A binary names its route's constant and no binary name: what it links follows from
    /// the constant, not from a string looked up at run time.
    #[test]
    fn every_route_has_its_lambda_binary_naming_its_route() {
        for r in ROUTES {
            let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/bin")
                .join(format!("{}.rs", r.binary));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|_| panic!("missing {}", file.display()));
            assert!(
                text.contains(&format!("lambda_main!({})", r.name)),
                "{} does not serve {}",
                file.display(),
                r.name
            );
            assert!(
                !text.contains(&format!("\"{}\"", r.binary)),
                "{} names its binary as a string",
                file.display()
            );
        }
    }
}
