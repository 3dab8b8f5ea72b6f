//! The API document (OpenAPI 3.1), generated from the route table and the request and
//! response types (`utoipa`'s `ToSchema` on the domain's drafts and views). The local
//! server serves it at `GET /openapi.json`; `docs/openapi.json` is the committed copy, and
//! a test fails when the two differ.
//!
//! The route table says method, path, permission (hence the credentials an operation
//! takes) and nothing about bodies: [`operation`] adds, per route, its summary, body,
//! query parameters and answer. A route it does not describe fails a test.

use std::sync::LazyLock;

use serde_json::{Value, json};
use tenantry::access::Permission;
use tenantry::model::billing::{Metric, MetricDraft, PlanDraft, PriceOverride};
use tenantry::model::branding::{Branding, BrandingDraft};
use tenantry::model::customer::{CustomerDraft, CustomerUserView, CustomerView};
use tenantry::model::ids::{
    ApiKeyId, CustomerId, EmailId, InboundEndpointId, MemberId, ProvisioningId, TenantId, UserId,
    WebhookEndpointId,
};
use tenantry::model::invoice::InvoiceView;
use tenantry::model::member::MemberDraft;
use tenantry::model::subscription::SubscriptionView;
use tenantry::model::tenant::TenantDraft;
use tenantry::service::api_keys::{ApiKeyDraft, IssuedApiKey};
use tenantry::service::catalog::{PlanView, PriceOverrideView};
use tenantry::service::connections::{
    ConnectionDraft, ConnectionEvent, ConnectionView, CredentialRead, Credentials, InviteDraft,
};
use tenantry::service::connectors::{ConnectorDraft, ConnectorView};
use tenantry::service::email_change::{Confirmation, EmailChanged};
use tenantry::service::events::{
    CustomerEvent, CustomerStatusEvent, CustomerUserEvent, EventType, InvoiceEvent, Redelivery,
    SubscriptionEvent, TestEvent, TestSent,
};
use tenantry::service::features::{
    CustomerEntitlements, CustomerFeatures, FeatureChange, TenantFeatures,
};
use tenantry::service::inbound::{
    EndpointWithSecret, InboundEndpointDraft, InboundEndpointView, RotationDraft,
};
use tenantry::service::invoices::{AdjustmentDraft, CreditNoteDraft, PaymentDraft, Statements};
use tenantry::service::links::LinkSent;
use tenantry::service::mail::EmailView;
use tenantry::service::me::Me;
use tenantry::service::members::MemberView;
use tenantry::service::outbound::{
    Attempt, WebhookEndpointDraft, WebhookEndpointView, WebhookEndpointWithSecret,
    WebhookRotationDraft,
};
use tenantry::service::provisioning::{Accepted, Provisioning, ProvisioningEvent, RequestDraft};
use tenantry::service::registration::{CodeSent, Registered, Registration, Verification};
use tenantry::service::sign_in::SignIn;
use tenantry::service::subscriptions::{SubscriptionChange, SubscriptionDraft};
use tenantry::service::templates::{CustomerTemplateDraft, CustomerTemplateView};
use tenantry::service::tenants::{CreatedTenant, TenantView};
use tenantry::service::usage::{UsageBatch, UsageLimits, UsageLimitsView, UsageReport, UsageView};
use tenantry::service::users::{PasswordSet, ResetRequested, SetPassword, UserDraft};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder,
    Ref, RefOr, Required, ResponseBuilder, Schema,
};

use crate::api::handlers::TokenView;
use crate::routes::{ROUTES, Route};

type Schemas = Vec<(String, RefOr<Schema>)>;

/// `T` and every schema it refers to, registered; a reference to it.
fn schema<T: ToSchema>(all: &mut Schemas) -> Ref {
    all.push((T::name().into_owned(), T::schema()));
    T::schemas(all);
    Ref::from_schema_name(T::name())
}

/// The body of a create: `T` (which doubles as the patch, where nothing is required)
/// with the fields a create must carry, registered as `<T without Draft>Create`.
fn create<T: ToSchema>(all: &mut Schemas, required: &[&str]) -> Ref {
    let draft = schema::<T>(all);
    let name = format!("{}Create", T::name().trim_end_matches("Draft"));
    let body = utoipa::openapi::schema::AllOfBuilder::new()
        .item(draft)
        .item(must_carry(required))
        .description(Some(format!(
            "`{}` with the fields a create must carry.",
            T::name()
        )));
    all.push((name.clone(), body.into()));
    Ref::from_schema_name(name)
}

/// An object schema that only says which fields must be there: `a` and `b.c` make `a`
/// and `b` required, and `c` required inside `b`.
fn must_carry(required: &[&str]) -> ObjectBuilder {
    let mut must = ObjectBuilder::new();
    let mut nested: Vec<(&str, Vec<&str>)> = Vec::new();
    for field in required {
        match field.split_once('.') {
            None => must = must.required(*field),
            Some((outer, inner)) => match nested.iter_mut().find(|(o, _)| *o == outer) {
                Some((_, inners)) => inners.push(inner),
                None => nested.push((outer, vec![inner])),
            },
        }
    }
    for (outer, inners) in nested {
        must = must.required(outer).property(outer, must_carry(&inners));
    }
    must
}

/// A page of a listing of `T` (`{"data": [...], "next_cursor": ...}`), registered as
/// `<T>Page`.
fn page<T: ToSchema>(all: &mut Schemas) -> Ref {
    let item = schema::<T>(all);
    let name = format!("{}Page", T::name().trim_end_matches("View"));
    let cursor = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .description(Some(
            "Pass back as `cursor` for the next page; `null` on the last page.",
        ));
    let page = ObjectBuilder::new()
        .property("data", ArrayBuilder::new().items(item))
        .required("data")
        .property("next_cursor", cursor)
        .required("next_cursor");
    all.push((name.clone(), page.into()));
    Ref::from_schema_name(name)
}

/// What one route takes and answers, beyond the route table.
struct Operation {
    summary: &'static str,
    /// The JSON body's schema.
    body: Option<Ref>,
    /// Query parameters: name, required, description.
    query: &'static [(&'static str, bool, &'static str)],
    /// The success answer: status, and its JSON schema (`None`: no body).
    answer: (u16, Answer),
    /// Another success answer some requests get (status, description, schema).
    also: Option<(u16, &'static str, Ref)>,
}

enum Answer {
    Json(Ref),
    Html,
    /// A document: a PDF, or its HTML view (by `Accept`).
    Document,
    /// A page of JSON, or (`format=ndjson|csv`) the whole period as NDJSON or CSV.
    Log(Ref),
    Empty,
}

const PAGING: &[(&str, bool, &str)] = &[
    ("limit", false, "Items per page, 1 to 100 (default 20)."),
    (
        "cursor",
        false,
        "The `next_cursor` of the previous page, unchanged.",
    ),
];

const EMAILS_QUERY: &[(&str, bool, &str)] = &[
    ("state", true, "`dead`: the emails given up on."),
    PAGING[0],
    PAGING[1],
];

const PERIOD_QUERY: &[(&str, bool, &str)] = &[(
    "period",
    false,
    "The month, `YYYY-MM` (UTC); this month when left out.",
)];

const INVOICES_QUERY: &[(&str, bool, &str)] = &[
    (
        "status",
        false,
        "`draft`, `open`, `partially_paid`, `paid` or `void`.",
    ),
    ("period", false, "The month billed, `YYYY-MM`."),
    (
        "tenant_id",
        false,
        "The tenant whose invoices to list: required for the operator, refused for a tenant.",
    ),
    PAGING[0],
    PAGING[1],
];

const DOCUMENT_QUERY: &[(&str, bool, &str)] = &[(
    "credit_note",
    false,
    "A credit note's id (`cn_...`) on this invoice: that credit note's document instead.",
)];

const STATEMENTS_QUERY: &[(&str, bool, &str)] = &[
    (
        "period",
        false,
        "The month, `YYYY-MM`; every month when left out.",
    ),
    (
        "tenant_id",
        false,
        "The reseller whose statements to read: required for the operator, refused for a tenant.",
    ),
];

const CUSTOMERS_QUERY: &[(&str, bool, &str)] = &[
    ("q", false, "Words the company name starts with."),
    (
        "external_id",
        false,
        "The partner's own id: the one customer with it (the other filters are ignored).",
    ),
    (
        "status",
        false,
        "`active`, `inactive`, `suspended` or `deleted`.",
    ),
    PAGING[0],
    PAGING[1],
];

/// Every route's operation. `None` for a route this module does not describe yet (a
/// test fails on it).
fn operation(route: &Route, all: &mut Schemas) -> Option<Operation> {
    use Answer::{Empty, Html, Json, Log};
    let op = |summary, body, answer| Operation {
        summary,
        body,
        query: &[],
        answer,
        also: None,
    };
    Some(match route.name {
        "TENANTS_CREATE" => op(
            "Create a tenant (a partner or a reseller) with its first owner",
            Some(create::<TenantDraft>(
                all,
                &[
                    "name",
                    "slug",
                    "kind",
                    "owner.email",
                    "owner.first_name",
                    "owner.last_name",
                ],
            )),
            (201, Json(schema::<CreatedTenant>(all))),
        ),
        "TENANTS_LIST" => Operation {
            query: PAGING,
            ..op("List tenants", None, (200, Json(page::<TenantView>(all))))
        },
        "TENANTS_GET" => op(
            "Read a tenant",
            None,
            (200, Json(schema::<TenantView>(all))),
        ),
        "TENANTS_UPDATE" => op(
            "Change a tenant (JSON merge patch)",
            Some(schema::<TenantDraft>(all)),
            (200, Json(schema::<TenantView>(all))),
        ),
        "TENANTS_PROVISION" => op(
            "Finish a tenant's provisioning (its customer login pool)",
            None,
            (200, Json(schema::<TenantView>(all))),
        ),
        "TENANT_API_KEYS_CREATE" => op(
            "Issue an API key for a tenant (its secret is shown once)",
            Some(create::<ApiKeyDraft>(all, &["name", "role"])),
            (201, Json(schema::<IssuedApiKey>(all))),
        ),
        "TENANT_EMAILS_LIST" => Operation {
            query: EMAILS_QUERY,
            ..op(
                "List a tenant's dead-lettered emails",
                None,
                (200, Json(page::<EmailView>(all))),
            )
        },
        "TENANT_EMAILS_REDRIVE" => op(
            "Give a dead-lettered email another round of tries",
            None,
            (200, Json(schema::<EmailView>(all))),
        ),
        "TENANT_BRANDING_GET" => op(
            "Read a tenant's branding",
            None,
            (200, Json(schema::<Branding>(all))),
        ),
        "TENANT_BRANDING_PUT" => op(
            "Replace a tenant's branding",
            Some(schema::<BrandingDraft>(all)),
            (200, Json(schema::<Branding>(all))),
        ),
        "OPERATOR_KEYS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the operator's API keys",
                None,
                (
                    200,
                    Json(page::<tenantry::service::operator_keys::OperatorKey>(all)),
                ),
            )
        },
        "OPERATOR_KEYS_DELETE" => op(
            "Revoke an operator key (not the one the request is made with)",
            None,
            (204, Empty),
        ),
        "API_KEYS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the tenant's API keys",
                None,
                (200, Json(page::<tenantry::model::api_key::ApiKey>(all))),
            )
        },
        "API_KEYS_CREATE" => op(
            "Issue an API key (its secret is shown once)",
            Some(create::<ApiKeyDraft>(all, &["name", "role"])),
            (201, Json(schema::<IssuedApiKey>(all))),
        ),
        "API_KEYS_DELETE" => op("Revoke an API key", None, (204, Empty)),
        "MEMBERS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the tenant's staff",
                None,
                (200, Json(page::<MemberView>(all))),
            )
        },
        "MEMBERS_CREATE" => op(
            "Invite a staff member",
            Some(create::<MemberDraft>(
                all,
                &["email", "first_name", "last_name", "role"],
            )),
            (201, Json(schema::<MemberView>(all))),
        ),
        "MEMBERS_GET" => op(
            "Read a staff member",
            None,
            (200, Json(schema::<MemberView>(all))),
        ),
        "MEMBERS_UPDATE" => op(
            "Change a staff member (JSON merge patch)",
            Some(schema::<MemberDraft>(all)),
            (200, Json(schema::<MemberView>(all))),
        ),
        "MEMBERS_DELETE" => op("Remove a staff member", None, (204, Empty)),
        "MEMBERS_RESET_PASSWORD" => op(
            "Email a staff member a link to set a password",
            None,
            (202, Json(schema::<LinkSent>(all))),
        ),
        "CUSTOMERS_LIST" => Operation {
            query: CUSTOMERS_QUERY,
            ..op(
                "List and search customers, by company name",
                None,
                (200, Json(page::<CustomerView>(all))),
            )
        },
        "CUSTOMERS_CREATE" => op(
            "Create a customer with its admin",
            Some(create::<CustomerDraft>(
                all,
                &[
                    "company.name",
                    "admin.first_name",
                    "admin.last_name",
                    "admin.email",
                ],
            )),
            (201, Json(schema::<CustomerView>(all))),
        ),
        "CUSTOMERS_GET" => op(
            "Read a customer",
            None,
            (200, Json(schema::<CustomerView>(all))),
        ),
        "CUSTOMERS_UPDATE" => op(
            "Change a customer (JSON merge patch)",
            Some(schema::<CustomerDraft>(all)),
            (200, Json(schema::<CustomerView>(all))),
        ),
        "CUSTOMERS_DELETE" => Operation {
            query: &[(
                "confirm",
                true,
                "`true`: the customer can be restored for 30 days, then it is purged.",
            )],
            ..op(
                "Delete a customer (restorable for 30 days)",
                None,
                (200, Json(schema::<CustomerView>(all))),
            )
        },
        "CUSTOMERS_DEACTIVATE" => op(
            "Deactivate a customer",
            None,
            (200, Json(schema::<CustomerView>(all))),
        ),
        "CUSTOMERS_SUSPEND" => op(
            "Suspend a customer",
            None,
            (200, Json(schema::<CustomerView>(all))),
        ),
        "CUSTOMERS_REACTIVATE" => op(
            "Reactivate a customer",
            None,
            (200, Json(schema::<CustomerView>(all))),
        ),
        "CUSTOMERS_RESTORE" => op(
            "Restore a deleted customer",
            None,
            (200, Json(schema::<CustomerView>(all))),
        ),
        "CUSTOMER_USERS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List a customer's users",
                None,
                (200, Json(page::<CustomerUserView>(all))),
            )
        },
        "CUSTOMER_USERS_CREATE" => op(
            "Add a user to a customer",
            Some(create::<UserDraft>(
                all,
                &["email", "first_name", "last_name"],
            )),
            (201, Json(schema::<CustomerUserView>(all))),
        ),
        "CUSTOMER_USERS_GET" => op(
            "Read a customer's user",
            None,
            (200, Json(schema::<CustomerUserView>(all))),
        ),
        "CUSTOMER_USERS_UPDATE" => op(
            "Change a customer's user (JSON merge patch)",
            Some(schema::<UserDraft>(all)),
            (200, Json(schema::<CustomerUserView>(all))),
        ),
        "CUSTOMER_USERS_DELETE" => op("Remove a customer's user", None, (204, Empty)),
        "CUSTOMER_USERS_RESET_PASSWORD" => op(
            "Email a customer's user a link to set a new password",
            None,
            (202, Json(schema::<LinkSent>(all))),
        ),
        "CUSTOMER_USERS_DEACTIVATE" => op(
            "Deactivate a customer's user",
            None,
            (200, Json(schema::<CustomerUserView>(all))),
        ),
        "CUSTOMER_USERS_REACTIVATE" => op(
            "Reactivate a customer's user",
            None,
            (200, Json(schema::<CustomerUserView>(all))),
        ),
        "ME" => op("Who am I", None, (200, Json(schema::<Me>(all)))),
        "LOGIN_PAGE" => op("The tenant's login page", None, (200, Html)),
        "REGISTER_PAGE" => op("The tenant's registration page", None, (200, Html)),
        "PASSWORD_PAGE" => Operation {
            query: &[("token", false, "A password link's token.")],
            ..op(
                "The page that sets a password from a link, or asks for one",
                None,
                (200, Html),
            )
        },
        "EMAIL_CHANGE_PAGE" => Operation {
            query: &[("token", false, "An email change's token.")],
            ..op("The page that confirms a new email", None, (200, Html))
        },
        "SIGN_IN" => op(
            "Sign a customer user in (or the login page's form)",
            Some(schema::<SignIn>(all)),
            (200, Json(schema::<TokenView>(all))),
        ),
        "STAFF_SIGN_IN" => op(
            "Sign a staff member in",
            Some(schema::<SignIn>(all)),
            (200, Json(schema::<TokenView>(all))),
        ),
        "REGISTER" => op(
            "Register a company: step one, a code by email (or the page's form)",
            Some(schema::<Registration>(all)),
            (202, Json(schema::<CodeSent>(all))),
        ),
        "REGISTER_VERIFY" => op(
            "Register a company: step two, the code and a password (or the page's form)",
            Some(schema::<Verification>(all)),
            (201, Json(schema::<Registered>(all))),
        ),
        "PASSWORD_SET" => Operation {
            also: Some((
                202,
                "An email alone: a reset link is on its way if the email has an account.",
                schema::<ResetRequested>(all),
            )),
            ..op(
                "Set a password from a link's token, or ask for a link by email (or the page's forms)",
                Some(schema::<SetPassword>(all)),
                (200, Json(schema::<PasswordSet>(all))),
            )
        },
        "EMAIL_CHANGE_CONFIRM" => op(
            "Confirm a new email from its link (or the page's form)",
            Some(schema::<Confirmation>(all)),
            (200, Json(schema::<EmailChanged>(all))),
        ),
        "METRICS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the billable metrics",
                None,
                (200, Json(page::<Metric>(all))),
            )
        },
        "METRICS_CREATE" => op(
            "Add a billable metric",
            Some(create::<MetricDraft>(
                all,
                &["code", "name", "unit", "aggregation"],
            )),
            (201, Json(schema::<Metric>(all))),
        ),
        "PLANS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the plans (for a tenant, with its own prices)",
                None,
                (200, Json(page::<PlanView>(all))),
            )
        },
        "PLANS_CREATE" => op(
            "Add a plan (version 1)",
            Some(create::<PlanDraft>(
                all,
                &["code", "name", "currency", "base_amount"],
            )),
            (201, Json(schema::<PlanView>(all))),
        ),
        "PLANS_GET" => op(
            "Read a plan's current version (for a tenant, with its own prices)",
            None,
            (200, Json(schema::<PlanView>(all))),
        ),
        "PLANS_UPDATE" => op(
            "Change a plan: a price or an entitlement makes a new version",
            Some(schema::<PlanDraft>(all)),
            (200, Json(schema::<PlanView>(all))),
        ),
        "PLANS_ARCHIVE" => op(
            "Archive a plan: no new subscriptions",
            None,
            (200, Json(schema::<PlanView>(all))),
        ),
        "PRICE_OVERRIDES_PUT" => op(
            "Set a tenant's own prices for a plan",
            Some(schema::<PriceOverride>(all)),
            (200, Json(schema::<PriceOverrideView>(all))),
        ),
        "PRICE_OVERRIDES_DELETE" => op(
            "Remove a tenant's own prices for a plan",
            None,
            (204, Empty),
        ),
        "SUBSCRIPTION_CREATE" => op(
            "Subscribe a customer to a plan",
            Some(create::<SubscriptionDraft>(all, &["plan"])),
            (201, Json(schema::<SubscriptionView>(all))),
        ),
        "SUBSCRIPTION_GET" => op(
            "Read a customer's subscription",
            None,
            (200, Json(schema::<SubscriptionView>(all))),
        ),
        "SUBSCRIPTION_UPDATE" => op(
            "Change a customer's plan (an upgrade at once, a downgrade at the next period unless `at: now`)",
            Some(schema::<SubscriptionChange>(all)),
            (200, Json(schema::<SubscriptionView>(all))),
        ),
        "SUBSCRIPTION_CANCEL" => Operation {
            query: &[(
                "at",
                false,
                "`now` (today is its last day), or `period_end` (the default).",
            )],
            ..op(
                "Cancel a customer's subscription",
                None,
                (200, Json(schema::<SubscriptionView>(all))),
            )
        },
        "USAGE_REPORT" => op(
            "Report usage events (each counted once by its id; one result per event)",
            Some(schema::<UsageBatch>(all)),
            (200, Json(schema::<UsageReport>(all))),
        ),
        "CUSTOMER_USAGE" => Operation {
            query: PERIOD_QUERY,
            ..op(
                "A customer's usage in a period, with its limits and charges so far",
                None,
                (200, Json(schema::<UsageView>(all))),
            )
        },
        "ME_USAGE" => Operation {
            query: PERIOD_QUERY,
            ..op(
                "My company's usage in a period (a customer's admin)",
                None,
                (200, Json(schema::<UsageView>(all))),
            )
        },
        "ME_USAGE_LIMITS_GET" => op(
            "My company's own usage limits, and its plan's",
            None,
            (200, Json(schema::<UsageLimitsView>(all))),
        ),
        "ME_USAGE_LIMITS_PUT" => op(
            "Set my company's own usage limits (at most the plan's)",
            Some(schema::<UsageLimits>(all)),
            (200, Json(schema::<UsageLimitsView>(all))),
        ),
        "FEATURES_GET" => op(
            "The tenant's default for each feature area",
            None,
            (200, Json(schema::<TenantFeatures>(all))),
        ),
        "FEATURES_PUT" => op(
            "Switch feature areas on or off for every customer (`null` forgets a switch)",
            Some(schema::<FeatureChange>(all)),
            (200, Json(schema::<TenantFeatures>(all))),
        ),
        "CUSTOMER_FEATURES_GET" => op(
            "A customer's feature areas, each with why it is on or off",
            None,
            (200, Json(schema::<CustomerFeatures>(all))),
        ),
        "CUSTOMER_FEATURES_PUT" => op(
            "Switch feature areas on or off for one customer (never past its plan)",
            Some(schema::<FeatureChange>(all)),
            (200, Json(schema::<CustomerFeatures>(all))),
        ),
        "CUSTOMER_ENTITLEMENTS" => op(
            "What a customer may use now: features, limits and what is left (one store read)",
            None,
            (200, Json(schema::<CustomerEntitlements>(all))),
        ),
        "ME_ENTITLEMENTS" => op(
            "What my company may use now",
            None,
            (200, Json(schema::<CustomerEntitlements>(all))),
        ),
        "DEFAULT_PLAN_GET" => op(
            "The plan the tenant's new customers subscribe to",
            None,
            (
                200,
                Json(schema::<tenantry::service::tenants::DefaultPlan>(all)),
            ),
        ),
        "DEFAULT_PLAN_PUT" => op(
            "Set (or with `null` clear) the plan new customers subscribe to",
            Some(schema::<tenantry::service::tenants::DefaultPlan>(all)),
            (
                200,
                Json(schema::<tenantry::service::tenants::DefaultPlan>(all)),
            ),
        ),
        "INVOICES_LIST" => Operation {
            query: INVOICES_QUERY,
            ..op(
                "List invoices (a tenant: its own; the operator: one tenant's); a consolidated invoice without its customers' lines",
                None,
                (200, Json(page::<InvoiceView>(all))),
            )
        },
        "INVOICES_GET" => op(
            "Read an invoice with every line, grouped by customer",
            None,
            (200, Json(schema::<InvoiceView>(all))),
        ),
        "INVOICES_APPROVE" => op(
            "Approve a draft before its review window ends: it becomes final and numbered",
            None,
            (200, Json(schema::<InvoiceView>(all))),
        ),
        "INVOICES_ADJUST" => op(
            "Add a one-off charge or credit to a draft",
            Some(create::<AdjustmentDraft>(all, &["amount", "description"])),
            (200, Json(schema::<InvoiceView>(all))),
        ),
        "INVOICES_PAY" => op(
            "Record a payment against a final invoice",
            Some(create::<PaymentDraft>(
                all,
                &["amount", "date", "reference"],
            )),
            (200, Json(schema::<InvoiceView>(all))),
        ),
        "INVOICES_CREDIT" => op(
            "Issue a credit note on a final invoice (its own number); credited in full, the invoice is void",
            Some(create::<CreditNoteDraft>(all, &["reason"])),
            (201, Json(schema::<InvoiceView>(all))),
        ),
        "INVOICES_VOID" => op(
            "Void a draft",
            None,
            (200, Json(schema::<InvoiceView>(all))),
        ),
        "INVOICES_DOCUMENT" => Operation {
            query: DOCUMENT_QUERY,
            ..op(
                "An invoice's document (or one of its credit notes'): the PDF as issued (`Accept: application/pdf`, the default; final invoices only, stored within a minute of becoming final) or its HTML view as it is now (`Accept: text/html`)",
                None,
                (200, Answer::Document),
            )
        },
        "ME_INVOICES" => Operation {
            query: PAGING,
            ..op(
                "My company's final invoices (a reseller's customer's admin)",
                None,
                (200, Json(page::<InvoiceView>(all))),
            )
        },
        "COMMISSION_STATEMENTS" => Operation {
            query: STATEMENTS_QUERY,
            ..op(
                "A reseller's commission statements, one per month, a line per finalised invoice",
                None,
                (200, Json(schema::<Statements>(all))),
            )
        },
        "INBOUND_ENDPOINTS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the tenant's inbound webhook endpoints",
                None,
                (200, Json(page::<InboundEndpointView>(all))),
            )
        },
        "INBOUND_ENDPOINTS_CREATE" => op(
            "Make an inbound webhook endpoint (its signing secret is shown once)",
            Some(schema::<InboundEndpointDraft>(all)),
            (201, Json(schema::<EndpointWithSecret>(all))),
        ),
        "INBOUND_ENDPOINTS_GET" => op(
            "Read an inbound webhook endpoint",
            None,
            (200, Json(schema::<InboundEndpointView>(all))),
        ),
        "INBOUND_ENDPOINTS_UPDATE" => op(
            "Change an inbound endpoint's description, or turn it on or off",
            Some(schema::<InboundEndpointDraft>(all)),
            (200, Json(schema::<InboundEndpointView>(all))),
        ),
        "INBOUND_ENDPOINTS_DELETE" => op("Remove an inbound webhook endpoint", None, (204, Empty)),
        "INBOUND_ENDPOINTS_ROTATE" => op(
            "Make a new signing secret (shown once); the previous one stays valid for the overlap",
            Some(schema::<RotationDraft>(all)),
            (200, Json(schema::<EndpointWithSecret>(all))),
        ),
        "HOOKS_RECEIVE" => op(
            "Receive a signed provisioning webhook (Standard Webhooks); a resent webhook-id gets the first answer",
            Some(schema::<RequestDraft>(all)),
            (202, Json(schema::<Accepted>(all))),
        ),
        "PROVISIONING_CREATE" => op(
            "Provision a customer by its external_id, as a webhook would (worked off in the background)",
            Some(create::<RequestDraft>(all, &["type", "data"])),
            (202, Json(schema::<Accepted>(all))),
        ),
        "PROVISIONING_GET" => op(
            "Read a provisioning request: its state, its result, or what to fix",
            None,
            (200, Json(schema::<Provisioning>(all))),
        ),
        "WEBHOOK_ENDPOINTS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the tenant's webhook endpoints",
                None,
                (200, Json(page::<WebhookEndpointView>(all))),
            )
        },
        "WEBHOOK_ENDPOINTS_CREATE" => op(
            "Make a webhook endpoint for the tenant's events (its signing secret is shown once)",
            Some(create::<WebhookEndpointDraft>(all, &["url"])),
            (201, Json(schema::<WebhookEndpointWithSecret>(all))),
        ),
        "WEBHOOK_ENDPOINTS_GET" => op(
            "Read a webhook endpoint",
            None,
            (200, Json(schema::<WebhookEndpointView>(all))),
        ),
        "WEBHOOK_ENDPOINTS_UPDATE" => op(
            "Change a webhook endpoint, or enable it again",
            Some(schema::<WebhookEndpointDraft>(all)),
            (200, Json(schema::<WebhookEndpointView>(all))),
        ),
        "WEBHOOK_ENDPOINTS_DELETE" => op("Remove a webhook endpoint", None, (204, Empty)),
        "WEBHOOK_ENDPOINTS_ROTATE" => op(
            "Make a new signing secret (shown once); the previous one keeps signing for the overlap",
            Some(schema::<WebhookRotationDraft>(all)),
            (200, Json(schema::<WebhookEndpointWithSecret>(all))),
        ),
        "WEBHOOK_ENDPOINTS_TEST" => op(
            "Send a webhook.test event to this endpoint",
            None,
            (202, Json(schema::<TestSent>(all))),
        ),
        "WEBHOOK_ATTEMPTS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List an endpoint's delivery attempts (kept 30 days)",
                None,
                (200, Json(page::<Attempt>(all))),
            )
        },
        "WEBHOOK_ENDPOINTS_REDELIVER" => op(
            "Send a message to this endpoint again (its tries start afresh); messages are kept 30 days",
            Some(schema::<Redelivery>(all)),
            (202, Json(schema::<TestSent>(all))),
        ),
        "CUSTOMER_TEMPLATES_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the tenant's customer templates",
                None,
                (200, Json(page::<CustomerTemplateView>(all))),
            )
        },
        "CUSTOMER_TEMPLATES_CREATE" => op(
            "Make a customer template (a plan, feature switches, max_users, permission sets)",
            Some(create::<CustomerTemplateDraft>(all, &["code"])),
            (201, Json(schema::<CustomerTemplateView>(all))),
        ),
        "CUSTOMER_TEMPLATES_GET" => op(
            "Read a customer template",
            None,
            (200, Json(schema::<CustomerTemplateView>(all))),
        ),
        "CUSTOMER_TEMPLATES_UPDATE" => op(
            "Change a customer template (JSON merge patch); customers made from it keep what they started with",
            Some(schema::<CustomerTemplateDraft>(all)),
            (200, Json(schema::<CustomerTemplateView>(all))),
        ),
        "CUSTOMER_TEMPLATES_DELETE" => op("Remove a customer template", None, (204, Empty)),
        "CONNECTORS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the connectors a customer can connect (no secrets)",
                None,
                (200, Json(page::<ConnectorView>(all))),
            )
        },
        "CONNECTORS_CREATE" => op(
            "Add a connector: api_key (fields, an optional check request) or oauth2 (the provider and the platform's client)",
            Some(create::<ConnectorDraft>(all, &["code", "name", "auth"])),
            (201, Json(schema::<ConnectorView>(all))),
        ),
        "CONNECTORS_GET" => op(
            "Read a connector (no secrets)",
            None,
            (200, Json(schema::<ConnectorView>(all))),
        ),
        "CONNECTORS_UPDATE" => op(
            "Change a connector (JSON merge patch); client_secret: a new one is sealed, null removes it",
            Some(schema::<ConnectorDraft>(all)),
            (200, Json(schema::<ConnectorView>(all))),
        ),
        "CONNECTIONS_CREATE" => op(
            "Add a connection to a customer (pending until its contact authorizes it)",
            Some(create::<ConnectionDraft>(all, &["connector"])),
            (201, Json(schema::<ConnectionView>(all))),
        ),
        "CUSTOMER_CONNECTIONS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List a customer's connections",
                None,
                (200, Json(page::<ConnectionView>(all))),
            )
        },
        "CONNECTIONS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List the tenant's connections",
                None,
                (200, Json(page::<ConnectionView>(all))),
            )
        },
        "CONNECTIONS_GET" => op(
            "Read a connection (never its credentials)",
            None,
            (200, Json(schema::<ConnectionView>(all))),
        ),
        "CONNECTIONS_DELETE" => op(
            "Delete a connection; its credentials are erased",
            None,
            (204, Empty),
        ),
        "CONNECTIONS_INVITE" => op(
            "Email the customer's contact a single-use link to the branded connect page (a link sent before stops working)",
            Some(schema::<InviteDraft>(all)),
            (200, Json(schema::<ConnectionView>(all))),
        ),
        "CONNECTIONS_INVITE_END" => op(
            "End the invite: its link stops working at once",
            None,
            (204, Empty),
        ),
        "CONNECTIONS_CREDENTIALS" => op(
            "Read the connection's credentials (owners only; every read is recorded)",
            None,
            (200, Json(schema::<Credentials>(all))),
        ),
        "CONNECTIONS_READS_LIST" => Operation {
            query: PAGING,
            ..op(
                "List who read the connection's credentials, and when",
                None,
                (200, Json(page::<CredentialRead>(all))),
            )
        },
        "CONNECT_PAGE" => op(
            "The tenant's connect page behind an invite's link (no login; opening it changes nothing)",
            None,
            (200, Html),
        ),
        "CONNECT_SUBMIT" => op(
            "The connect page's form: an api_key connector's fields (and the page's csrf), checked and stored; for an oauth2 connector, a 303 to the provider's authorization URL",
            None,
            (200, Html),
        ),
        "CONNECT_SESSIONS_CREATE" => op(
            "Start a connect session: a single-use link (30 minutes) to the connect page for the partner's own front end, framed by or opened from one of the tenant's allowed origins; its result is posted to that origin (Idempotency-Key is not replayed: the answer holds the link)",
            Some(schema::<tenantry::service::connections::SessionDraft>(all)),
            (
                201,
                Json(schema::<tenantry::service::connections::ConnectSession>(
                    all,
                )),
            ),
        ),
        "ALLOWED_ORIGINS_GET" => op(
            "The origins that may embed the tenant's connect page",
            None,
            (
                200,
                Json(schema::<tenantry::service::tenants::AllowedOrigins>(all)),
            ),
        ),
        "ALLOWED_ORIGINS_PUT" => op(
            "Set the origins that may embed the tenant's connect page (the whole list; owners only)",
            Some(schema::<tenantry::service::tenants::AllowedOrigins>(all)),
            (
                200,
                Json(schema::<tenantry::service::tenants::AllowedOrigins>(all)),
            ),
        ),
        "CONNECT_CALLBACK" => Operation {
            query: &[
                (
                    "state",
                    false,
                    "The `state` of the authorization this browser started (its cookie must hold the same).",
                ),
                ("code", false, "The provider's authorization code."),
                (
                    "error",
                    false,
                    "The provider's error instead of a code (`access_denied`: consent refused).",
                ),
                (
                    "error_description",
                    false,
                    "The provider's words on the error (not shown).",
                ),
                (
                    "iss",
                    false,
                    "The provider's issuer (RFC 9207), when it sends one.",
                ),
            ],
            ..op(
                "Where an OAuth provider sends the contact back: the code exchanged, the tokens stored, a page saying so (or why not)",
                None,
                (200, Html),
            )
        },
        "AUDIT_EVENTS_LIST" => Operation {
            query: AUDIT_QUERY,
            ..op(
                "The tenant's audit log, newest first (staff); with an operator key, the platform's own. `format=ndjson|csv` streams the whole period",
                None,
                (200, Log(schema::<tenantry::service::audit::AuditPage>(all))),
            )
        },
        "ME_AUDIT_EVENTS" => Operation {
            query: AUDIT_QUERY,
            ..op(
                "What happened in my company, newest first, including what staff did in support sessions (a customer's admin)",
                None,
                (200, Log(schema::<tenantry::service::audit::AuditPage>(all))),
            )
        },
        "TENANT_AUDIT_EVENTS" => Operation {
            query: AUDIT_QUERY,
            ..op(
                "A tenant's audit log, newest first (the operator)",
                None,
                (200, Log(schema::<tenantry::service::audit::AuditPage>(all))),
            )
        },
        "SUPPORT_SESSIONS_CREATE" => op(
            "Start a support session in a customer: its token acts as the customer's admin (and, within your own role, changes its feature switches and connections) for `minutes`; at once where the customer allows it, else once its admin approves (`status: pending_approval`)",
            Some(create::<tenantry::service::support::SupportSessionDraft>(
                all,
                &["reason"],
            )),
            (
                201,
                Json(schema::<tenantry::model::support::StartedSession>(all)),
            ),
        ),
        "SUPPORT_SESSIONS_LIST" => Operation {
            query: PAGING,
            ..op(
                "A customer's support sessions, newest first: who, when, why, how long, what was done",
                None,
                (
                    200,
                    Json(page::<tenantry::model::support::SupportSessionView>(all)),
                ),
            )
        },
        "SUPPORT_SESSIONS_END" => op(
            "End a support session (waiting or active) at once: the tenant's staff, or the customer's admin",
            None,
            (
                200,
                Json(schema::<tenantry::model::support::SupportSessionView>(all)),
            ),
        ),
        "ME_SUPPORT_SESSIONS" => Operation {
            query: PAGING,
            ..op(
                "My company's support sessions, newest first, with what was done in each (a customer's admin)",
                None,
                (
                    200,
                    Json(page::<tenantry::model::support::SupportSessionView>(all)),
                ),
            )
        },
        "ME_SUPPORT_SESSIONS_APPROVE" => op(
            "Approve a waiting support session: it starts now (a customer's admin, not a session)",
            None,
            (
                200,
                Json(schema::<tenantry::model::support::SupportSessionView>(all)),
            ),
        ),
        "ME_SUPPORT_SESSIONS_DECLINE" => op(
            "Decline a waiting support session (a customer's admin, not a session)",
            None,
            (
                200,
                Json(schema::<tenantry::model::support::SupportSessionView>(all)),
            ),
        ),
        "ME_SUPPORT_ACCESS_PUT" => op(
            "Set my company's support access (`allowed`, `approval`, `disabled`; `null` leaves it to the staff): it wins over the staff's; disabling ends waiting and active sessions",
            Some(schema::<tenantry::service::support::AccessDraft>(all)),
            (
                200,
                Json(schema::<tenantry::service::support::AccessView>(all)),
            ),
        ),
        "SUPPORT_PAGE" => op(
            "The branded page behind a support session's approval link: who asks, why, for how long; approve or decline",
            None,
            (200, Html),
        ),
        "SUPPORT_SUBMIT" => op(
            "The approval page's form (`decision=approve|decline` and the page's csrf)",
            None,
            (200, Html),
        ),
        "SUPPORT_SETTINGS_GET" => op(
            "The tenant's support settings: who answers its customers (`first_line`: the tenant, the default; or `platform`), and its support email, phone, page and hours (shown on its pages and in its customers' emails)",
            None,
            (
                200,
                Json(schema::<tenantry::model::helpdesk::SupportSettings>(all)),
            ),
        ),
        "SUPPORT_SETTINGS_PUT" => op(
            "Set the tenant's support settings (the whole settings; owners)",
            Some(schema::<tenantry::service::tenants::SupportSettingsDraft>(
                all,
            )),
            (
                200,
                Json(schema::<tenantry::model::helpdesk::SupportSettings>(all)),
            ),
        ),
        "ME_SUPPORT_REQUESTS_CREATE" => op(
            "Ask the tenant for help (a customer's user): mailed to its support address, replies to you, listed for its staff",
            Some(create::<tenantry::service::helpdesk::RequestDraft>(
                all,
                &["subject", "message", "category"],
            )),
            (
                201,
                Json(schema::<tenantry::model::helpdesk::OwnRequestView>(all)),
            ),
        ),
        "ME_SUPPORT_REQUESTS" => op(
            "My own support requests, newest first (the latest 100)",
            None,
            (
                200,
                Json(page::<tenantry::model::helpdesk::OwnRequestView>(all)),
            ),
        ),
        "SUPPORT_REQUESTS_LIST" => Operation {
            query: &[
                ("status", false, "`open` (the default) or `closed`."),
                ("limit", false, "Items per page, 1 to 100 (default 20)."),
                (
                    "cursor",
                    false,
                    "The `next_cursor` of the previous page, unchanged.",
                ),
            ],
            ..op(
                "The tenant's customers' support requests of one status, oldest first, with the staff's notes",
                None,
                (
                    200,
                    Json(page::<tenantry::model::helpdesk::SupportRequest>(all)),
                ),
            )
        },
        "SUPPORT_REQUESTS_NOTE" => op(
            "Add a note to a request (kept for the staff and the platform, never shown to the customer)",
            Some(schema::<tenantry::service::helpdesk::NoteDraft>(all)),
            (
                200,
                Json(schema::<tenantry::model::helpdesk::SupportRequest>(all)),
            ),
        ),
        "SUPPORT_REQUESTS_CLOSE" => op(
            "Close a request",
            None,
            (
                200,
                Json(schema::<tenantry::model::helpdesk::SupportRequest>(all)),
            ),
        ),
        "SUPPORT_REQUESTS_ESCALATE" => op(
            "Escalate a request to the platform, with an optional last note: listed for the operator and mailed to the platform's support address with the tenant's notes",
            Some(schema::<tenantry::service::helpdesk::NoteDraft>(all)),
            (
                200,
                Json(schema::<tenantry::model::helpdesk::SupportRequest>(all)),
            ),
        ),
        "ESCALATIONS_LIST" => Operation {
            query: PAGING,
            ..op(
                "Requests tenants escalated to the platform, newest first (the operator)",
                None,
                (
                    200,
                    Json(page::<tenantry::model::helpdesk::Escalation>(all)),
                ),
            )
        },
        _ => return None,
    })
}

const AUDIT_QUERY: &[(&str, bool, &str)] = &[
    ("limit", false, "Events per page, 1 to 100 (default 20)."),
    (
        "cursor",
        false,
        "The `next_cursor` of the previous page, unchanged.",
    ),
    (
        "actor",
        false,
        "Only this actor's events: its id (`mem_…`, `key_…`, `usr_…`, a job's name).",
    ),
    (
        "action",
        false,
        "Only this action (`customer.suspended`), or every action under a prefix ending in a dot (`customer.`).",
    ),
    ("target", false, "Only events on this target id."),
    (
        "customer_id",
        false,
        "Only events concerning this customer.",
    ),
    (
        "since",
        false,
        "From this time (RFC 3339, inclusive); default 30 days before `until`.",
    ),
    (
        "until",
        false,
        "Up to this time (RFC 3339, exclusive); default now.",
    ),
    (
        "format",
        false,
        "`json` (a page, the default), or `ndjson` or `csv`: every event of the period, streamed.",
    ),
];

/// The credentials a route takes, by its permission (security scheme names).
fn credentials(permission: Permission) -> &'static [&'static str] {
    match permission {
        Permission::Public | Permission::Webhook => &[],
        Permission::ManageTenants | Permission::ManageCatalog | Permission::OperateBilling => {
            &["operatorKey"]
        }
        Permission::ReadCatalog | Permission::ReadAuditLog => {
            &["operatorKey", "tenantKey", "staffToken"]
        }
        Permission::ReadInvoices => &["operatorKey", "tenantKey", "staffToken", "customerToken"],
        Permission::OwnCompany
        | Permission::OwnCompanyAdmin
        | Permission::OwnInvoices
        | Permission::CustomerConsent => &["customerToken"],
        Permission::EndSupportSession => &["tenantKey", "staffToken", "customerToken"],
        Permission::Me => &["operatorKey", "tenantKey", "staffToken", "customerToken"],
        p if p.is_customer_users() => &["tenantKey", "staffToken", "customerToken"],
        _ => &["tenantKey", "staffToken"],
    }
}

fn problem_schema() -> RefOr<Schema> {
    use tenantry::error::ProblemKind;
    let kinds: Vec<String> = ProblemKind::ALL
        .iter()
        .map(|k| format!("urn:tenantry:problem:{}", k.name()))
        .collect();
    let catalogue: Vec<String> = ProblemKind::ALL
        .iter()
        .map(|k| format!("- `{}` ({}): {}", k.name(), k.status(), k.meaning()))
        .collect();
    serde_json::from_value(json!({
        "type": "object",
        "description": "An error (RFC 9457 problem details). `type` names the kind of problem; `errors` lists every bad field of a 422; other members add what the kind says (e.g. `field`, `allowed_transitions`).",
        "required": ["type", "title", "status", "detail", "request_id"],
        "properties": {
            "type": {
                "type": "string",
                "enum": kinds,
                "description": format!("The kinds of problem:\n{}", catalogue.join("\n")),
            },
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "detail"],
                    "properties": {"field": {"type": "string"}, "detail": {"type": "string"}}
                }
            }
        },
        "additionalProperties": true
    }))
    .unwrap_or_else(|_| ObjectBuilder::new().into())
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            crate::api::problem::CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The `{name}` segments of a path.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn build() -> OpenApi {
    let mut all: Schemas = Vec::new();
    all.push(("Problem".into(), problem_schema()));
    let mut paths = PathsBuilder::new();
    for route in ROUTES {
        let Some(op) = operation(route, &mut all) else {
            continue;
        };
        let method = match route.method.as_str() {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            _ => HttpMethod::Delete,
        };
        let tag = route
            .path
            .trim_start_matches("/v1/")
            .trim_start_matches("/t/{slug}/")
            .split('/')
            .next()
            .unwrap_or_default();
        let tag = if route.path.starts_with("/t/") {
            "pages and logins"
        } else {
            tag
        };
        let mut b = OperationBuilder::new()
            .operation_id(Some(route.binary))
            .summary(Some(op.summary))
            .tag(tag);
        for name in path_params(route.path) {
            // An id's schema is its type's (prefix and pattern, `model::ids`).
            use utoipa::PartialSchema;
            let (schema, description) = match name {
                "tenant_id" => (TenantId::schema(), "The tenant's id."),
                "customer_id" => (CustomerId::schema(), "The customer's id."),
                "user_id" => (UserId::schema(), "The user's id."),
                "member_id" => (MemberId::schema(), "The staff member's id."),
                "key_id" => (ApiKeyId::schema(), "The API key's id."),
                "email_id" => (EmailId::schema(), "The email's id."),
                "endpoint_id" => (InboundEndpointId::schema(), "The inbound endpoint's id."),
                "provisioning_id" => (ProvisioningId::schema(), "The provisioning request's id."),
                "webhook_endpoint_id" => {
                    (WebhookEndpointId::schema(), "The webhook endpoint's id.")
                }
                "code" => (
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[a-z][a-z0-9_]{0,39}$"))
                        .examples(["growth"])
                        .into(),
                    "The plan's code.",
                ),
                _ => (
                    ObjectBuilder::new().schema_type(Type::String).into(),
                    "The tenant's slug, as in its login page's address.",
                ),
            };
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(Some(description))
                    .schema(Some(schema)),
            );
        }
        for (name, required, description) in op.query {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(if *required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(*description))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        if route.permission == Permission::Webhook {
            for (name, description) in [
                (
                    "webhook-id",
                    "The message's id: a resend keeps it, and gets the first answer.",
                ),
                (
                    "webhook-timestamp",
                    "Unix seconds when it was signed; within five minutes of now.",
                ),
                (
                    "webhook-signature",
                    "`v1,<base64 HMAC-SHA256>` under the endpoint's secret; several, space-separated, during a rotation.",
                ),
            ] {
                b = b.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Header)
                        .required(Required::True)
                        .description(Some(description))
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
            b = b
                .response("401", problem("The signature or the timestamp does not check out (`errors` names the header)."))
                .response("403", problem("The endpoint is disabled."))
                .response("413", problem("The body is over 64 KiB."));
        }
        if route.method == http::Method::PATCH {
            b = b.parameter(
                ParameterBuilder::new()
                    .name("If-Match")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "The `version` last read: a change since is refused (412).",
                    ))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        // A credentials read keeps no answer to replay (see api/mod.rs).
        if route.method == http::Method::POST
            && !route.permission.is_public()
            && route.permission != Permission::ReadCredentials
        {
            b = b.parameter(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "Retries with the same key get the first answer again, and change nothing.",
                    ))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .max_length(Some(255)),
                    )),
            );
        }
        if let Some(body) = op.body {
            let content = || ContentBuilder::new().schema(Some(body.clone())).build();
            let mut rb = RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", content());
            if route.method == http::Method::PATCH {
                rb = rb.content("application/merge-patch+json", content());
            }
            b = b.request_body(Some(rb.build()));
        }
        let (status, answer) = op.answer;
        // A document's PDF may be refused for the invoice's state (a draft, or not
        // stored yet), although the route reads.
        let refusable = route.method != http::Method::GET || matches!(answer, Answer::Document);
        let mut ok = ResponseBuilder::new().description(match status {
            201 => "Created.",
            202 => "Accepted: it is on its way.",
            204 => "Done.",
            _ => "OK.",
        });
        ok = match answer {
            Answer::Json(r) => ok.content(
                "application/json",
                ContentBuilder::new().schema(Some(r)).build(),
            ),
            Answer::Html => ok.content(
                "text/html; charset=utf-8",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ),
            Answer::Document => ok
                .content(
                    "application/pdf",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String).format(
                            Some(utoipa::openapi::SchemaFormat::Custom("binary".into())),
                        )))
                        .build(),
                )
                .content(
                    "text/html; charset=utf-8",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                ),
            Answer::Log(r) => ok
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(r)).build(),
                )
                .content(
                    "application/x-ndjson",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .content(
                    "text/csv; charset=utf-8",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                ),
            Answer::Empty => ok,
        };
        if status == 201 && route.permission != Permission::Public {
            ok = ok.header(
                "Location",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("Where the new resource is."))
                    .build(),
            );
        }
        b = b.response(status.to_string(), ok.build());
        if let Some((status, description, r)) = op.also {
            b = b.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(r)).build(),
                    )
                    .build(),
            );
        }
        b = b
            .response(
                "400",
                problem("Malformed: not one JSON object, an unknown field, a bad query."),
            )
            .response(
                "404",
                problem("Not found, or another tenant's: they look the same."),
            )
            .response(
                "422",
                problem("Invalid values; `errors` names every bad field."),
            )
            .response("default", problem("Any other error, as problem details."));
        if !route.permission.is_public() {
            b = b
                .response("401", problem("No valid credential."))
                .response("403", problem("A known caller without the permission."));
        }
        if refusable {
            b = b.response(
                "409",
                problem(
                    "Refused in the current state (a change made meanwhile, a state that does not allow it, a duplicate); `type` says which.",
                ),
            );
        }
        let names = credentials(route.permission);
        if !names.is_empty() {
            b = b.securities(Some(
                names
                    .iter()
                    .map(|n| SecurityRequirement::new(*n, Vec::<String>::new())),
            ));
        }
        paths = paths.path(route.path, PathItem::new(method, b.build()));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    let bearer = |description: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build(),
        )
    };
    // The events' payloads, for the document's `webhooks`.
    schema::<ProvisioningEvent>(&mut all);
    schema::<TestEvent>(&mut all);
    schema::<CustomerEvent>(&mut all);
    schema::<CustomerStatusEvent>(&mut all);
    schema::<CustomerUserEvent>(&mut all);
    schema::<SubscriptionEvent>(&mut all);
    schema::<InvoiceEvent>(&mut all);
    schema::<ConnectionEvent>(&mut all);
    let components = ComponentsBuilder::new()
        .schemas_from_iter(all)
        .security_scheme(
            "operatorKey",
            bearer("The platform operator's API key (`tk_...`)."),
        )
        .security_scheme(
            "tenantKey",
            bearer("A tenant's API key (`tk_...`), owner or member."),
        )
        .security_scheme(
            "staffToken",
            bearer("A staff member's access token (`POST /t/{slug}/staff/login`)."),
        )
        .security_scheme(
            "customerToken",
            bearer("A customer user's access token (`POST /t/{slug}/login`)."),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Tenantry")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The control plane for partners' and resellers' customer accounts. Errors are problem details (`application/problem+json`). Lists are paged by cursor: `limit` (1-100) and `cursor`, answered with `next_cursor` (`null` on the last page).",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The events Tenantry sends to a tenant's webhook endpoints (OpenAPI 3.1 `webhooks`):
/// each type, its payload's schema, the signature headers.
fn webhooks() -> Value {
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    let parameters = json!([
        header(
            "webhook-id",
            "The message's id (`msg_...`): the same on every retry; deduplicate by it."
        ),
        header(
            "webhook-timestamp",
            "Unix seconds when this attempt was signed; refuse one more than five minutes off."
        ),
        header(
            "webhook-signature",
            "`v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>` under each of the endpoint's live secrets, space-separated."
        ),
    ]);
    let mut out = serde_json::Map::new();
    for event in tenantry::service::events::EVENT_TYPES {
        let (schema, summary) = match EventType::parse(event) {
            Some(EventType::CustomerCreated) => (
                "CustomerEvent",
                "A customer was created (by API, self-registration or provisioning).",
            ),
            Some(EventType::CustomerUpdated) => (
                "CustomerEvent",
                "A customer's details changed (its admin's confirmed new email included).",
            ),
            Some(EventType::CustomerStatusChanged) => (
                "CustomerStatusEvent",
                "A customer was deactivated, suspended (by hand or by dunning), reactivated or restored.",
            ),
            Some(EventType::CustomerDeleted) => (
                "CustomerEvent",
                "A customer was deleted (it can be restored for 30 days, then it is purged).",
            ),
            Some(EventType::CustomerUserCreated) => (
                "CustomerUserEvent",
                "A user was added to a customer (the admin a customer is created with comes with customer.created).",
            ),
            Some(EventType::CustomerUserRemoved) => (
                "CustomerUserEvent",
                "A user was removed from a customer: the user as it was.",
            ),
            Some(EventType::SubscriptionCreated) => (
                "SubscriptionEvent",
                "A customer subscribed to a plan (by hand, or to the tenant's default plan when created).",
            ),
            Some(EventType::SubscriptionChanged) => (
                "SubscriptionEvent",
                "A subscription's plan changed, or a change was scheduled for the next period.",
            ),
            Some(EventType::SubscriptionCanceled) => (
                "SubscriptionEvent",
                "A subscription was canceled (at the period's end or at once), or ended with its deleted customer.",
            ),
            Some(EventType::InvoiceDrafted) => (
                "InvoiceEvent",
                "The monthly run made a draft invoice: a per-customer one as it is written, a consolidated one when the run ends.",
            ),
            Some(EventType::InvoiceFinalized) => {
                ("InvoiceEvent", "A draft became final: numbered, sent, due.")
            }
            Some(EventType::InvoicePaid) => (
                "InvoiceEvent",
                "A final invoice was paid in full (payments and credit notes cover it).",
            ),
            Some(EventType::InvoiceOverdue) => (
                "InvoiceEvent",
                "A final invoice is unpaid a day after its due date (its first reminder).",
            ),
            Some(EventType::ProvisioningSucceeded) => (
                "ProvisioningEvent",
                "A provisioning request succeeded: its result names the customer and what was done.",
            ),
            Some(EventType::ProvisioningFailed) => (
                "ProvisioningEvent",
                "A provisioning request failed for good: its error names the fields to fix.",
            ),
            Some(EventType::ConnectionAuthorized) => (
                "ConnectionEvent",
                "A customer's contact authorized a connection: its credentials are stored.",
            ),
            Some(EventType::ConnectionFailed) => (
                "ConnectionEvent",
                "The provider no longer accepts a connection's grant (a refresh answered `invalid_grant`): it is `reauthorization_required`, its credentials erased.",
            ),
            Some(EventType::WebhookTest) | None => (
                "TestEvent",
                "A test event, sent by POST /v1/webhook-endpoints/{id}/test.",
            ),
        };
        out.insert(
            event.to_owned(),
            json!({"post": {
                "operationId": format!("event-{}", event.replace('.', "-")),
                "summary": summary,
                "description": "Sent signed (Standard Webhooks) to each enabled endpoint that wants this type. Any 2xx answer within 10 s is a delivery; anything else is tried again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h. Payload version 1: fields may be added, none removed or changed.",
                "tags": ["events"],
                "parameters": parameters,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}},
                "responses": {"2XX": {"description": "Received."}},
            }}),
        );
    }
    Value::Object(out)
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(build()).unwrap_or(Value::Null);
    doc["webhooks"] = webhooks();
    doc
});

/// The API document, as JSON.
pub fn document() -> &'static Value {
    &DOCUMENT
}

/// The routes the document does not describe (it should be none).
pub fn undescribed() -> Vec<&'static str> {
    let mut all = Vec::new();
    ROUTES
        .iter()
        .filter(|r| operation(r, &mut all).is_none())
        .map(|r| r.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_with_its_method_and_credentials() {
        assert_eq!(
            undescribed(),
            Vec::<&str>::new(),
            "routes without an operation"
        );
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
            assert_eq!(op["operationId"], r.binary, "{} {}", r.method, r.path);
            let security = op["security"].as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(
                security == 0,
                r.permission.is_public(),
                "{}: public routes and only they take no credential",
                r.binary
            );
        }
        // Every reference resolves.
        let text = doc.to_string();
        for (at, _) in text.match_indices("#/components/schemas/") {
            let name: String = text[at + 21..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                doc["components"]["schemas"].get(&name).is_some(),
                "no schema {name}"
            );
        }
    }

    /// `docs/openapi.json` is what the code generates (`tenantry openapi > docs/openapi.json`).
    #[test]
    fn the_committed_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let committed: Value = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        assert!(
            &committed == document(),
            "docs/openapi.json is not current: run `cargo run --bin tenantry -- openapi > docs/openapi.json`"
        );
    }
}
