//! Handlers, one per route: parse the request (ids included, once, here), call one
//! service function with the scope `authorize()` made, shape the reply. No rules here.
//! `routes` names each of them, so a Lambda links only its own.

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use tenantry::Error;
use tenantry::model::audit::Actor;
use tenantry::model::billing::{MetricDraft, PlanDraft, PriceOverride};
use tenantry::model::branding::BrandingDraft;
use tenantry::model::customer::{CustomerDraft, Transition};
use tenantry::model::ids::{
    ApiKeyId, ConnectionId, CustomerId, EmailId, InboundEndpointId, InvoiceId, MemberId,
    ProvisioningId, SupportRequestId, SupportSessionId, TenantId, UserId, WebhookEndpointId,
};
use tenantry::model::input::parse_json;
use tenantry::model::member::MemberDraft;
use tenantry::model::tenant::TenantDraft;
use tenantry::service::api_keys::ApiKeyDraft;
use tenantry::service::connections::{self, ConnectionDraft, InviteDraft};
use tenantry::service::connectors::{self, ConnectorDraft};
use tenantry::service::features::{self, FeatureChange};
use tenantry::service::inbound::{InboundEndpointDraft, RotationDraft};
use tenantry::service::outbound::{WebhookEndpointDraft, WebhookRotationDraft};
use tenantry::service::subscriptions::{SubscriptionChange, SubscriptionDraft};
use tenantry::service::templates::CustomerTemplateDraft;
use tenantry::service::usage::{UsageBatch, UsageLimits};
use tenantry::service::{
    api_keys, audit, catalog, customers, documents, email_change, events, helpdesk, inbound,
    invoices, mail, me, members, operator_keys, outbound, provisioning, registration, sign_in,
    staff, subscriptions, support, templates, tenants, usage, users,
};

use super::{Ctx, Reply};
use crate::pages;

type Result = std::result::Result<Reply, Error>;

fn page_reply(page: pages::Page) -> Reply {
    let status = http::StatusCode::from_u16(page.status).unwrap_or(http::StatusCode::OK);
    let mut reply = Reply::html(status, page.html);
    reply.cookie = page.cookie;
    reply.location = page.location;
    reply.page_policy = page.policy;
    reply
}

/// A sign-in's answer to API clients.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView<'a> {
    /// Always `Bearer`.
    token_type: &'static str,
    /// For `Authorization: Bearer`.
    access_token: &'a str,
    id_token: &'a str,
    /// Seconds the tokens work.
    expires_in: u64,
}

fn token_view(tokens: &tenantry::ports::Tokens) -> TokenView<'_> {
    TokenView {
        token_type: "Bearer",
        access_token: &tokens.access_token,
        id_token: &tokens.id_token,
        expires_in: tokens.expires_in,
    }
}

pub async fn tenants_create(cx: Ctx<'_>) -> Result {
    let v = tenants::create(cx.deps, &parse_json::<TenantDraft>(cx.body)?).await?;
    let loc = format!("/v1/tenants/{}", v.tenant.tenant.id);
    Reply::created(&v, loc)
}

pub async fn tenants_list(cx: Ctx<'_>) -> Result {
    Reply::ok(&tenants::list(cx.deps, cx.query("limit"), cx.query("cursor")).await?)
}

pub async fn tenants_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&tenants::get(cx.deps, &cx.named_tenant()?).await?)
}

pub async fn tenants_update(cx: Ctx<'_>) -> Result {
    let (tenant, patch) = (cx.named_tenant()?, parse_json::<Value>(cx.body)?);
    Reply::ok(&tenants::patch(cx.deps, &tenant, &patch, cx.if_version()?).await?)
}

pub async fn tenant_api_keys_create(cx: Ctx<'_>) -> Result {
    let scope = cx.operator_on_tenant()?;
    let draft = parse_json::<ApiKeyDraft>(cx.body)?;
    let v = api_keys::create(cx.deps, &scope, &draft).await?;
    Reply::json(StatusCode::CREATED, &v)
}

pub async fn tenant_emails_list(cx: Ctx<'_>) -> Result {
    let scope = cx.operator_on_tenant()?;
    let (state, limit, cursor) = (cx.query("state"), cx.query("limit"), cx.query("cursor"));
    Reply::ok(&mail::list(cx.deps, &scope, state, limit, cursor).await?)
}

pub async fn tenant_emails_redrive(cx: Ctx<'_>) -> Result {
    let scope = cx.operator_on_tenant()?;
    let email = EmailId::parse(cx.param("email_id"))?;
    Reply::ok(&mail::redrive(cx.deps, &scope, &email).await?)
}

pub async fn tenants_provision(cx: Ctx<'_>) -> Result {
    Reply::ok(&tenants::provision(cx.deps, &cx.named_tenant()?).await?)
}

pub async fn branding_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&tenants::branding(cx.deps, &cx.operator_on_tenant()?).await?)
}

pub async fn branding_put(cx: Ctx<'_>) -> Result {
    let scope = cx.operator_on_tenant()?;
    let draft: BrandingDraft = parse_json(cx.body)?;
    Reply::ok(&tenants::set_branding(cx.deps, &scope, &draft).await?)
}

pub async fn operator_keys_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&operator_keys::list(cx.deps, limit, cursor).await?)
}

pub async fn operator_keys_delete(cx: Ctx<'_>) -> Result {
    let key = ApiKeyId::parse(cx.param("key_id"))?;
    operator_keys::delete(cx.deps, cx.actor(), &key).await?;
    Ok(Reply::no_content())
}

pub async fn me_get(cx: Ctx<'_>) -> Result {
    let principal = cx.principal.ok_or(Error::Unauthenticated)?;
    Reply::ok(&me::describe(cx.deps, principal).await?)
}

pub async fn login_page(cx: Ctx<'_>) -> Result {
    Ok(page_reply(
        pages::login_page(cx.deps, cx.param("slug")).await?,
    ))
}

pub async fn customer_sign_in(cx: Ctx<'_>) -> Result {
    let (d, slug) = (cx.deps, cx.param("slug"));
    if cx.is_form() {
        return Ok(page_reply(
            pages::login_form(d, slug, cx.body, cx.cookies()).await?,
        ));
    }
    let body: sign_in::SignIn = parse_json(cx.body)?;
    let tokens = sign_in::sign_in(d, slug, &body).await?;
    let mut reply = Reply::ok(&token_view(&tokens))?;
    // For the tenant's pages in a browser; API clients use the JSON.
    reply.cookie = Some(pages::session_cookie(&tokens));
    Ok(reply)
}

pub async fn staff_sign_in(cx: Ctx<'_>) -> Result {
    let body: sign_in::SignIn = parse_json(cx.body)?;
    let tokens = staff::sign_in(cx.deps, cx.param("slug"), &body).await?;
    // JSON only: staff sign in from their own tools, never on the tenant's pages.
    Reply::ok(&token_view(&tokens))
}

pub async fn register_page(cx: Ctx<'_>) -> Result {
    Ok(page_reply(
        pages::register_page(cx.deps, cx.param("slug")).await?,
    ))
}

pub async fn register(cx: Ctx<'_>) -> Result {
    let (d, slug) = (cx.deps, cx.param("slug"));
    if cx.is_form() {
        return Ok(page_reply(
            pages::register_form(d, slug, cx.body, cx.cookies(), cx.source).await?,
        ));
    }
    let body: registration::Registration = parse_json(cx.body)?;
    let v = registration::start(d, slug, &body, cx.source).await?;
    Reply::json(StatusCode::ACCEPTED, &v)
}

pub async fn register_verify(cx: Ctx<'_>) -> Result {
    let (d, slug) = (cx.deps, cx.param("slug"));
    if cx.is_form() {
        return Ok(page_reply(
            pages::verify_form(d, slug, cx.body, cx.cookies()).await?,
        ));
    }
    let body: registration::Verification = parse_json(cx.body)?;
    let v = registration::verify(d, slug, &body).await?;
    Reply::json(StatusCode::CREATED, &v)
}

pub async fn password_page(cx: Ctx<'_>) -> Result {
    let page = pages::password_page(cx.deps, cx.param("slug"), cx.query("token")).await?;
    Ok(page_reply(page))
}

pub async fn password_set(cx: Ctx<'_>) -> Result {
    let (d, slug) = (cx.deps, cx.param("slug"));
    if cx.is_form() {
        return Ok(page_reply(
            pages::password_form(d, slug, cx.body, cx.cookies(), cx.source).await?,
        ));
    }
    let body: users::SetPassword = parse_json(cx.body)?;
    if body.asks_for_reset() {
        let email = body.email.as_deref().unwrap_or_default();
        let v = users::request_reset(d, slug, email, cx.source).await?;
        return Reply::json(StatusCode::ACCEPTED, &v);
    }
    Reply::ok(&users::set_password_body(d, slug, &body).await?)
}

pub async fn email_change_page(cx: Ctx<'_>) -> Result {
    let page = pages::email_change_page(cx.deps, cx.param("slug"), cx.query("token")).await?;
    Ok(page_reply(page))
}

pub async fn email_change_confirm(cx: Ctx<'_>) -> Result {
    let (d, slug) = (cx.deps, cx.param("slug"));
    if cx.is_form() {
        return Ok(page_reply(
            pages::email_change_form(d, slug, cx.body, cx.cookies()).await?,
        ));
    }
    let body: email_change::Confirmation = parse_json(cx.body)?;
    Reply::ok(&email_change::confirm_body(d, slug, &body).await?)
}

fn user_id(cx: &Ctx<'_>) -> std::result::Result<UserId, Error> {
    UserId::parse(cx.param("user_id"))
}

pub async fn customer_users_list(cx: Ctx<'_>) -> Result {
    let scope = cx.customer_in_area("users").await?;
    Reply::ok(&users::list(cx.deps, &scope, cx.query("limit"), cx.query("cursor")).await?)
}

pub async fn customer_users_create(cx: Ctx<'_>) -> Result {
    let scope = cx.customer_in_area("users").await?;
    let v = users::create(cx.deps, &scope, &parse_json::<users::UserDraft>(cx.body)?).await?;
    let loc = format!("/v1/customers/{}/users/{}", v.customer_id, v.id);
    Reply::created(&v, loc)
}

pub async fn customer_users_get(cx: Ctx<'_>) -> Result {
    let (scope, user) = (cx.customer_in_area("users").await?, user_id(&cx)?);
    Reply::ok(&users::get(cx.deps, &scope, &user).await?)
}

pub async fn customer_users_update(cx: Ctx<'_>) -> Result {
    let (scope, user) = (cx.customer_in_area("users").await?, user_id(&cx)?);
    let patch = parse_json::<Value>(cx.body)?;
    Reply::ok(&users::patch(cx.deps, &scope, &user, &patch, cx.if_version()?).await?)
}

pub async fn customer_users_delete(cx: Ctx<'_>) -> Result {
    let (scope, user) = (cx.customer_in_area("users").await?, user_id(&cx)?);
    users::delete(cx.deps, &scope, &user).await?;
    Ok(Reply::no_content())
}

pub async fn customer_users_reset_password(cx: Ctx<'_>) -> Result {
    let (scope, user) = (cx.customer_in_area("users").await?, user_id(&cx)?);
    let v = users::reset_password(cx.deps, &scope, &user).await?;
    Reply::json(StatusCode::ACCEPTED, &v)
}

pub async fn customer_users_deactivate(cx: Ctx<'_>) -> Result {
    set_user_active(cx, false).await
}

pub async fn customer_users_reactivate(cx: Ctx<'_>) -> Result {
    set_user_active(cx, true).await
}

async fn set_user_active(cx: Ctx<'_>, active: bool) -> Result {
    let (scope, user) = (cx.customer_in_area("users").await?, user_id(&cx)?);
    Reply::ok(&users::set_active(cx.deps, &scope, &user, active).await?)
}

pub async fn api_keys_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&api_keys::list(cx.deps, cx.tenant()?, limit, cursor).await?)
}

pub async fn api_keys_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<ApiKeyDraft>(cx.body)?;
    let v = api_keys::create(cx.deps, cx.tenant()?, &draft).await?;
    Reply::json(StatusCode::CREATED, &v)
}

pub async fn api_keys_delete(cx: Ctx<'_>) -> Result {
    let key = ApiKeyId::parse(cx.param("key_id"))?;
    api_keys::delete(cx.deps, cx.tenant()?, &key).await?;
    Ok(Reply::no_content())
}

fn member_id(cx: &Ctx<'_>) -> std::result::Result<MemberId, Error> {
    MemberId::parse(cx.param("member_id"))
}

pub async fn members_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&members::list(cx.deps, cx.tenant()?, limit, cursor).await?)
}

pub async fn members_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<MemberDraft>(cx.body)?;
    let v = members::create(cx.deps, cx.tenant()?, &draft).await?;
    let loc = format!("/v1/members/{}", v.id);
    Reply::created(&v, loc)
}

pub async fn members_get(cx: Ctx<'_>) -> Result {
    let member = member_id(&cx)?;
    Reply::ok(&members::get(cx.deps, cx.tenant()?, &member).await?)
}

pub async fn members_update(cx: Ctx<'_>) -> Result {
    let member = member_id(&cx)?;
    let patch = parse_json::<Value>(cx.body)?;
    let v = members::patch(cx.deps, cx.tenant()?, &member, &patch, cx.if_version()?).await?;
    Reply::ok(&v)
}

pub async fn members_delete(cx: Ctx<'_>) -> Result {
    let member = member_id(&cx)?;
    members::delete(cx.deps, cx.tenant()?, &member).await?;
    Ok(Reply::no_content())
}

pub async fn members_reset_password(cx: Ctx<'_>) -> Result {
    let member = member_id(&cx)?;
    let v = staff::reset_password(cx.deps, cx.tenant()?, &member).await?;
    Reply::json(StatusCode::ACCEPTED, &v)
}

pub async fn customers_list(cx: Ctx<'_>) -> Result {
    if let Some(ext) = cx.query("external_id") {
        return Reply::ok(&customers::find_by_external_id(cx.deps, cx.tenant()?, ext).await?);
    }
    let v = customers::list(
        cx.deps,
        cx.tenant()?,
        cx.query("q"),
        cx.query("status"),
        cx.query("limit"),
        cx.query("cursor"),
    )
    .await?;
    Reply::ok(&v)
}

pub async fn customers_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<CustomerDraft>(cx.body)?;
    let v = customers::create(cx.deps, cx.tenant()?, &draft).await?;
    let loc = format!("/v1/customers/{}", v.id);
    Reply::created(&v, loc)
}

fn customer_id(cx: &Ctx<'_>) -> std::result::Result<CustomerId, Error> {
    CustomerId::parse(cx.param("customer_id"))
}

pub async fn customers_get(cx: Ctx<'_>) -> Result {
    let customer = customer_id(&cx)?;
    Reply::ok(&customers::get(cx.deps, cx.tenant()?, &customer).await?)
}

pub async fn customers_update(cx: Ctx<'_>) -> Result {
    let customer = customer_id(&cx)?;
    let patch = parse_json::<Value>(cx.body)?;
    let v = customers::patch(cx.deps, cx.tenant()?, &customer, &patch, cx.if_version()?).await?;
    Reply::ok(&v)
}

pub async fn customers_delete(cx: Ctx<'_>) -> Result {
    let confirm = cx.query("confirm") == Some("true");
    transition(cx, Transition::Delete, confirm).await
}

pub async fn customers_deactivate(cx: Ctx<'_>) -> Result {
    transition(cx, Transition::Deactivate, true).await
}

pub async fn customers_suspend(cx: Ctx<'_>) -> Result {
    transition(cx, Transition::Suspend, true).await
}

pub async fn customers_reactivate(cx: Ctx<'_>) -> Result {
    transition(cx, Transition::Reactivate, true).await
}

pub async fn customers_restore(cx: Ctx<'_>) -> Result {
    transition(cx, Transition::Restore, true).await
}

async fn transition(cx: Ctx<'_>, t: Transition, confirm: bool) -> Result {
    let customer = customer_id(&cx)?;
    let v = customers::transition(cx.deps, cx.tenant()?, &customer, t, confirm).await?;
    Reply::ok(&v)
}

/// The tenant a catalog read is for: staff see their own prices; the operator none.
fn catalog_reader<'a>(cx: &'a Ctx<'_>) -> Option<&'a tenantry::access::TenantScope> {
    cx.tenant().ok()
}

pub async fn metrics_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&catalog::list_metrics(cx.deps, limit, cursor).await?)
}

pub async fn metrics_create(cx: Ctx<'_>) -> Result {
    let v = catalog::create_metric(cx.deps, &parse_json::<MetricDraft>(cx.body)?).await?;
    let loc = format!("/v1/billable-metrics/{}", v.code);
    Reply::created(&v, loc)
}

pub async fn plans_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&catalog::list_plans(cx.deps, catalog_reader(&cx), limit, cursor).await?)
}

pub async fn plans_create(cx: Ctx<'_>) -> Result {
    let v = catalog::create_plan(cx.deps, &parse_json::<PlanDraft>(cx.body)?).await?;
    let loc = format!("/v1/plans/{}", v.plan.code);
    Reply::created(&v, loc)
}

pub async fn plans_get(cx: Ctx<'_>) -> Result {
    let code = catalog::plan_code(cx.param("code"))?;
    Reply::ok(&catalog::get_plan(cx.deps, catalog_reader(&cx), code).await?)
}

pub async fn plans_update(cx: Ctx<'_>) -> Result {
    let code = catalog::plan_code(cx.param("code"))?;
    let draft = parse_json::<PlanDraft>(cx.body)?;
    Reply::ok(&catalog::patch_plan(cx.deps, code, &draft).await?)
}

pub async fn plans_archive(cx: Ctx<'_>) -> Result {
    let code = catalog::plan_code(cx.param("code"))?;
    Reply::ok(&catalog::archive_plan(cx.deps, code).await?)
}

pub async fn price_overrides_put(cx: Ctx<'_>) -> Result {
    let scope = cx.operator_on_tenant()?;
    let code = catalog::plan_code(cx.param("code"))?;
    let prices = parse_json::<PriceOverride>(cx.body)?;
    Reply::ok(&catalog::put_override(cx.deps, &scope, code, &prices).await?)
}

pub async fn price_overrides_delete(cx: Ctx<'_>) -> Result {
    let scope = cx.operator_on_tenant()?;
    let code = catalog::plan_code(cx.param("code"))?;
    catalog::delete_override(cx.deps, &scope, code).await?;
    Ok(Reply::no_content())
}

pub async fn subscription_create(cx: Ctx<'_>) -> Result {
    let customer = cx.customer()?;
    let draft = parse_json::<SubscriptionDraft>(cx.body)?;
    let v = subscriptions::create(cx.deps, &customer, &draft).await?;
    let loc = format!("/v1/customers/{}/subscription", customer.customer_id());
    Reply::created(&v, loc)
}

pub async fn subscription_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&subscriptions::get(cx.deps, &cx.customer()?).await?)
}

pub async fn subscription_update(cx: Ctx<'_>) -> Result {
    let (tenant, customer) = (cx.tenant()?, cx.customer()?);
    let change = parse_json::<SubscriptionChange>(cx.body)?;
    let v = subscriptions::change(cx.deps, tenant, &customer, &change, cx.if_version()?).await?;
    Reply::ok(&v)
}

pub async fn subscription_cancel(cx: Ctx<'_>) -> Result {
    let customer = cx.customer()?;
    let (at, version) = (cx.query("at"), cx.if_version()?);
    Reply::ok(&subscriptions::cancel(cx.deps, &customer, at, version).await?)
}

pub async fn usage_report(cx: Ctx<'_>) -> Result {
    let batch = parse_json::<UsageBatch>(cx.body)?;
    Reply::ok(&usage::report(cx.deps, cx.tenant()?, &batch).await?)
}

pub async fn customer_usage(cx: Ctx<'_>) -> Result {
    let (tenant, customer) = (cx.tenant()?, cx.customer()?);
    Reply::ok(&usage::of_customer(cx.deps, Some(tenant), &customer, cx.query("period")).await?)
}

pub async fn me_usage(cx: Ctx<'_>) -> Result {
    let own = cx.own_company_in_area("billing").await?;
    Reply::ok(&usage::of_customer(cx.deps, None, &own, cx.query("period")).await?)
}

pub async fn me_usage_limits_get(cx: Ctx<'_>) -> Result {
    let own = cx.own_company_in_area("billing").await?;
    Reply::ok(&usage::limits(cx.deps, &own).await?)
}

pub async fn me_usage_limits_put(cx: Ctx<'_>) -> Result {
    let own = cx.own_company_in_area("billing").await?;
    let wanted = parse_json::<UsageLimits>(cx.body)?;
    Reply::ok(&usage::set_limits(cx.deps, &own, &wanted).await?)
}

pub async fn features_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&features::tenant_defaults(cx.deps, cx.tenant()?).await?)
}

pub async fn features_put(cx: Ctx<'_>) -> Result {
    let change = parse_json::<FeatureChange>(cx.body)?;
    Reply::ok(&features::set_tenant_defaults(cx.deps, cx.tenant()?, &change).await?)
}

pub async fn customer_features_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&features::of_customer(cx.deps, &cx.customer()?).await?)
}

pub async fn customer_features_put(cx: Ctx<'_>) -> Result {
    let customer = cx.customer()?;
    let change = parse_json::<FeatureChange>(cx.body)?;
    Reply::ok(&features::set_for_customer(cx.deps, &customer, &change).await?)
}

pub async fn customer_entitlements(cx: Ctx<'_>) -> Result {
    Reply::ok(&features::entitlements(cx.deps, &cx.customer()?).await?)
}

pub async fn me_entitlements(cx: Ctx<'_>) -> Result {
    Reply::ok(&features::entitlements(cx.deps, &cx.own_company()?).await?)
}

pub async fn default_plan_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&tenants::default_plan(cx.deps, cx.tenant()?).await?)
}

pub async fn default_plan_put(cx: Ctx<'_>) -> Result {
    let wanted = parse_json::<tenants::DefaultPlan>(cx.body)?;
    Reply::ok(&tenants::set_default_plan(cx.deps, cx.tenant()?, &wanted).await?)
}

/// Who reads invoices: the operator, a tenant's staff, or a customer's admin.
fn reach_of<'a>(cx: &'a Ctx<'_>) -> std::result::Result<invoices::Reach<'a>, Error> {
    use tenantry::access::Scope;
    Ok(match &cx.scope {
        Scope::Platform(_) => invoices::Reach::Operator,
        Scope::Tenant(t) => invoices::Reach::Tenant(t),
        Scope::Customer(c) => invoices::Reach::Customer(c),
        Scope::Public => return Err(Error::NotFound("invoice")),
    })
}

/// `reach_of`, and for a customer's admin only while its company's billing area is
/// enabled.
async fn invoice_reach<'a>(cx: &'a Ctx<'_>) -> std::result::Result<invoices::Reach<'a>, Error> {
    let reach = reach_of(cx)?;
    if let invoices::Reach::Customer(_) = reach {
        cx.own_company_in_area("billing").await?;
    }
    Ok(reach)
}

fn invoice_id(cx: &Ctx<'_>) -> std::result::Result<InvoiceId, Error> {
    InvoiceId::parse(cx.param("invoice_id"))
}

pub async fn invoices_list(cx: Ctx<'_>) -> Result {
    let filter = invoices::Filter {
        status: cx.query("status"),
        period: cx.query("period"),
        tenant_id: cx.query("tenant_id"),
        limit: cx.query("limit"),
        cursor: cx.query("cursor"),
    };
    Reply::ok(&invoices::list(cx.deps, invoice_reach(&cx).await?, &filter).await?)
}

pub async fn invoices_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&invoices::get(cx.deps, invoice_reach(&cx).await?, &invoice_id(&cx)?).await?)
}

pub async fn invoices_approve(cx: Ctx<'_>) -> Result {
    Reply::ok(&invoices::approve(cx.deps, cx.tenant()?, &invoice_id(&cx)?).await?)
}

pub async fn invoices_adjust(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<invoices::AdjustmentDraft>(cx.body)?;
    Reply::ok(&invoices::add_adjustment(cx.deps, &invoice_id(&cx)?, &draft).await?)
}

pub async fn invoices_pay(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<invoices::PaymentDraft>(cx.body)?;
    Reply::ok(&invoices::record_payment(cx.deps, &invoice_id(&cx)?, &draft).await?)
}

pub async fn invoices_credit(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<invoices::CreditNoteDraft>(cx.body)?;
    let id = invoice_id(&cx)?;
    let view = invoices::credit(cx.deps, &id, &draft).await?;
    Reply::created(&view, format!("/v1/invoices/{id}"))
}

pub async fn invoices_void(cx: Ctx<'_>) -> Result {
    Reply::ok(&invoices::void(cx.deps, &invoice_id(&cx)?).await?)
}

pub async fn me_invoices(cx: Ctx<'_>) -> Result {
    let own = cx.own_company_in_area("billing").await?;
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&invoices::list_own(cx.deps, &own, limit, cursor).await?)
}

pub async fn commission_statements(cx: Ctx<'_>) -> Result {
    let (tenant_id, period) = (cx.query("tenant_id"), cx.query("period"));
    let reach = reach_of(&cx)?;
    Reply::ok(&invoices::commission_statements(cx.deps, reach, tenant_id, period).await?)
}

/// `GET /v1/invoices/{id}/document`: the PDF as issued, stored by `documents-render`
/// (`Accept: application/pdf`, the default; 409 for a draft or one not stored yet), or the
/// HTML view as it is now (`Accept: text/html`).
pub async fn invoices_document(cx: Ctx<'_>) -> Result {
    // A credit note's id that cannot exist is a 404 before any read.
    let note = cx
        .query("credit_note")
        .map(tenantry::model::ids::CreditNoteId::parse)
        .transpose()?;
    let reach = invoice_reach(&cx).await?;
    let accept = cx
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let wants_html = accept.contains("text/html") && !accept.contains("application/pdf");
    if wants_html {
        // The HTML view shows the invoice as it is now, a draft too.
        let (view, tenant, note) =
            invoices::for_document(cx.deps, reach, &invoice_id(&cx)?, note.as_ref()).await?;
        let layout = crate::document::layout_of(&view, &tenant, note.as_ref());
        return Ok(Reply::html(StatusCode::OK, crate::document::html(&layout)?));
    }
    // The PDF as issued, stored by `documents-render`: this function never renders one,
    // so it does not link the PDF writer and its fonts.
    let pdf = documents::issued(cx.deps, reach, &invoice_id(&cx)?, note.as_ref()).await?;
    Ok(Reply::bytes(
        http::HeaderValue::from_static("application/pdf"),
        bytes::Bytes::from(pdf),
    ))
}

pub async fn inbound_endpoints_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&inbound::list(cx.deps, cx.tenant()?, limit, cursor).await?)
}

pub async fn inbound_endpoints_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<InboundEndpointDraft>(cx.body)?;
    let v = inbound::create(cx.deps, cx.tenant()?, &draft).await?;
    let loc = format!("/v1/inbound-endpoints/{}", v.endpoint.id);
    Reply::created(&v, loc)
}

pub async fn inbound_endpoints_get(cx: Ctx<'_>) -> Result {
    let id = InboundEndpointId::parse(cx.param("endpoint_id"))?;
    Reply::ok(&inbound::get(cx.deps, cx.tenant()?, &id).await?)
}

pub async fn inbound_endpoints_update(cx: Ctx<'_>) -> Result {
    let id = InboundEndpointId::parse(cx.param("endpoint_id"))?;
    let draft = parse_json::<InboundEndpointDraft>(cx.body)?;
    let if_version = cx.if_version()?;
    Reply::ok(&inbound::update(cx.deps, cx.tenant()?, &id, &draft, if_version).await?)
}

pub async fn inbound_endpoints_delete(cx: Ctx<'_>) -> Result {
    let id = InboundEndpointId::parse(cx.param("endpoint_id"))?;
    inbound::delete(cx.deps, cx.tenant()?, &id).await?;
    Ok(Reply::no_content())
}

pub async fn inbound_endpoints_rotate(cx: Ctx<'_>) -> Result {
    let id = InboundEndpointId::parse(cx.param("endpoint_id"))?;
    let draft = if cx.body.is_empty() {
        RotationDraft::default()
    } else {
        parse_json::<RotationDraft>(cx.body)?
    };
    Reply::ok(&inbound::rotate(cx.deps, cx.tenant()?, &id, &draft).await?)
}

/// A signed webhook: no credential but its signature, which the service checks before
/// anything else.
pub async fn hooks_receive(cx: Ctx<'_>) -> Result {
    use tenantry::webhooks::{ID_HEADER, SIGNATURE_HEADER, Signed, TIMESTAMP_HEADER};
    let header = |name: &str| cx.headers.get(name).and_then(|v| v.to_str().ok());
    let signed = Signed {
        id: header(ID_HEADER),
        timestamp: header(TIMESTAMP_HEADER),
        signature: header(SIGNATURE_HEADER),
    };
    let recorded = inbound::receive(cx.deps, cx.param("endpoint_id"), signed, cx.body).await?;
    Reply::json(StatusCode::ACCEPTED, &recorded.accepted)
}

pub async fn provisioning_create(cx: Ctx<'_>) -> Result {
    let checked = provisioning::check(cx.body)?;
    let source = provisioning::Source::Api {
        actor: cx.actor().to_owned(),
    };
    let recorded = provisioning::record(cx.deps, cx.tenant()?, checked, source).await?;
    Reply::json(StatusCode::ACCEPTED, &recorded.accepted)
}

pub async fn provisioning_get(cx: Ctx<'_>) -> Result {
    let id = ProvisioningId::parse(cx.param("provisioning_id"))?;
    Reply::ok(&provisioning::get(cx.deps, cx.tenant()?, &id).await?)
}

pub async fn webhook_endpoints_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&outbound::list(cx.deps, cx.tenant()?, limit, cursor).await?)
}

pub async fn webhook_endpoints_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<WebhookEndpointDraft>(cx.body)?;
    let v = outbound::create(cx.deps, cx.tenant()?, &draft).await?;
    let loc = format!("/v1/webhook-endpoints/{}", v.endpoint.id);
    Reply::created(&v, loc)
}

pub async fn webhook_endpoints_get(cx: Ctx<'_>) -> Result {
    let id = WebhookEndpointId::parse(cx.param("webhook_endpoint_id"))?;
    Reply::ok(&outbound::get(cx.deps, cx.tenant()?, &id).await?)
}

pub async fn webhook_endpoints_update(cx: Ctx<'_>) -> Result {
    let id = WebhookEndpointId::parse(cx.param("webhook_endpoint_id"))?;
    let draft = parse_json::<WebhookEndpointDraft>(cx.body)?;
    let if_version = cx.if_version()?;
    Reply::ok(&outbound::update(cx.deps, cx.tenant()?, &id, &draft, if_version).await?)
}

pub async fn webhook_endpoints_delete(cx: Ctx<'_>) -> Result {
    let id = WebhookEndpointId::parse(cx.param("webhook_endpoint_id"))?;
    outbound::delete(cx.deps, cx.tenant()?, &id).await?;
    Ok(Reply::no_content())
}

pub async fn webhook_endpoints_rotate(cx: Ctx<'_>) -> Result {
    let id = WebhookEndpointId::parse(cx.param("webhook_endpoint_id"))?;
    let draft = if cx.body.is_empty() {
        WebhookRotationDraft::default()
    } else {
        parse_json::<WebhookRotationDraft>(cx.body)?
    };
    Reply::ok(&outbound::rotate(cx.deps, cx.tenant()?, &id, &draft).await?)
}

pub async fn webhook_endpoints_test(cx: Ctx<'_>) -> Result {
    let id = WebhookEndpointId::parse(cx.param("webhook_endpoint_id"))?;
    Reply::json(
        StatusCode::ACCEPTED,
        &events::send_test(cx.deps, cx.tenant()?, &id).await?,
    )
}

pub async fn webhook_endpoints_redeliver(cx: Ctx<'_>) -> Result {
    let id = WebhookEndpointId::parse(cx.param("webhook_endpoint_id"))?;
    let draft = parse_json::<events::Redelivery>(cx.body)?;
    Reply::json(
        StatusCode::ACCEPTED,
        &events::redeliver(cx.deps, cx.tenant()?, &id, &draft).await?,
    )
}

pub async fn webhook_attempts_list(cx: Ctx<'_>) -> Result {
    let id = WebhookEndpointId::parse(cx.param("webhook_endpoint_id"))?;
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&outbound::attempts(cx.deps, cx.tenant()?, &id, limit, cursor).await?)
}

/// A template's code from the path: a malformed one names no template.
fn template_code<'c>(cx: &'c Ctx<'_>) -> std::result::Result<&'c str, Error> {
    let raw = cx.param("code");
    tenantry::model::fields::code(raw)
        .map(|_| raw)
        .map_err(|_| Error::NotFound("customer template"))
}

pub async fn customer_templates_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&templates::list(cx.deps, cx.tenant()?, limit, cursor).await?)
}

pub async fn customer_templates_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<CustomerTemplateDraft>(cx.body)?;
    let v = templates::create(cx.deps, cx.tenant()?, &draft).await?;
    let loc = format!("/v1/customer-templates/{}", v.code);
    Reply::created(&v, loc)
}

pub async fn customer_templates_get(cx: Ctx<'_>) -> Result {
    let code = template_code(&cx)?;
    Reply::ok(&templates::get(cx.deps, cx.tenant()?, code).await?)
}

pub async fn customer_templates_update(cx: Ctx<'_>) -> Result {
    let code = template_code(&cx)?;
    let patch = parse_json::<Value>(cx.body)?;
    let if_version = cx.if_version()?;
    Reply::ok(&templates::update(cx.deps, cx.tenant()?, code, &patch, if_version).await?)
}

pub async fn customer_templates_delete(cx: Ctx<'_>) -> Result {
    let code = template_code(&cx)?;
    templates::delete(cx.deps, cx.tenant()?, code).await?;
    Ok(Reply::no_content())
}

fn connector_code<'c>(cx: &'c Ctx<'_>) -> std::result::Result<&'c str, Error> {
    let raw = cx.param("code");
    tenantry::model::fields::code(raw)
        .map(|_| raw)
        .map_err(|_| Error::NotFound("connector"))
}

pub async fn connectors_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&connectors::list(cx.deps, limit, cursor).await?)
}

pub async fn connectors_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<ConnectorDraft>(cx.body)?;
    let v = connectors::create(cx.deps, &draft).await?;
    let loc = format!("/v1/connectors/{}", v.code);
    Reply::created(&v, loc)
}

pub async fn connectors_get(cx: Ctx<'_>) -> Result {
    let code = connector_code(&cx)?;
    Reply::ok(&connectors::get(cx.deps, code).await?)
}

pub async fn connectors_update(cx: Ctx<'_>) -> Result {
    let code = connector_code(&cx)?;
    let patch = parse_json::<Value>(cx.body)?;
    let if_version = cx.if_version()?;
    Reply::ok(&connectors::update(cx.deps, code, &patch, if_version).await?)
}

fn connection_id(cx: &Ctx<'_>) -> std::result::Result<ConnectionId, Error> {
    ConnectionId::parse(cx.param("connection_id")).map_err(|_| Error::NotFound("connection"))
}

pub async fn connections_create(cx: Ctx<'_>) -> Result {
    let customer = cx.customer()?;
    let draft = parse_json::<ConnectionDraft>(cx.body)?;
    let v = connections::create(cx.deps, &customer, cx.actor(), &draft).await?;
    let loc = format!("/v1/connections/{}", v.id);
    Reply::created(&v, loc)
}

pub async fn customer_connections_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    let customer = cx.customer()?;
    Reply::ok(&connections::list_of_customer(cx.deps, &customer, limit, cursor).await?)
}

pub async fn connections_list(cx: Ctx<'_>) -> Result {
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&connections::list(cx.deps, cx.tenant()?, limit, cursor).await?)
}

pub async fn connections_get(cx: Ctx<'_>) -> Result {
    let id = connection_id(&cx)?;
    Reply::ok(&connections::get(cx.deps, cx.tenant()?, &id).await?)
}

pub async fn connections_delete(cx: Ctx<'_>) -> Result {
    let id = connection_id(&cx)?;
    connections::delete(cx.deps, cx.tenant()?, &id).await?;
    Ok(Reply::no_content())
}

pub async fn connections_invite(cx: Ctx<'_>) -> Result {
    let id = connection_id(&cx)?;
    let draft = parse_json::<InviteDraft>(cx.body)?;
    // Staff, or a support session inside the connection's customer.
    match &cx.scope {
        tenantry::access::Scope::Customer(c) => {
            Reply::ok(&connections::invite_in_customer(cx.deps, c, cx.actor(), &id, &draft).await?)
        }
        _ => Reply::ok(&connections::invite(cx.deps, cx.tenant()?, cx.actor(), &id, &draft).await?),
    }
}

pub async fn connections_invite_end(cx: Ctx<'_>) -> Result {
    let id = connection_id(&cx)?;
    connections::end_invite(cx.deps, cx.tenant()?, &id).await?;
    Ok(Reply::no_content())
}

pub async fn connections_credentials(cx: Ctx<'_>) -> Result {
    let id = connection_id(&cx)?;
    Reply::ok(&connections::credentials(cx.deps, cx.tenant()?, cx.actor(), &id).await?)
}

pub async fn connections_reads_list(cx: Ctx<'_>) -> Result {
    let id = connection_id(&cx)?;
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Reply::ok(&connections::reads(cx.deps, cx.tenant()?, &id, limit, cursor).await?)
}

pub async fn connect_page(cx: Ctx<'_>) -> Result {
    let page = pages::connect_page(cx.deps, cx.param("slug"), cx.param("token")).await?;
    Ok(page_reply(page))
}

pub async fn connect_submit(cx: Ctx<'_>) -> Result {
    let (slug, token) = (cx.param("slug"), cx.param("token"));
    let base = cx.public_base();
    let page = pages::connect_form(cx.deps, slug, token, cx.body, cx.cookies(), &base).await?;
    Ok(page_reply(page))
}

pub async fn connect_sessions_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<connections::SessionDraft>(cx.body)?;
    let base = cx.public_base();
    let s = connections::start_session(cx.deps, cx.tenant()?, cx.actor(), &draft, &base).await?;
    Reply::json(http::StatusCode::CREATED, &s)
}

pub async fn allowed_origins_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&tenants::allowed_origins(cx.deps, cx.tenant()?).await?)
}

pub async fn allowed_origins_put(cx: Ctx<'_>) -> Result {
    let wanted = parse_json::<tenants::AllowedOrigins>(cx.body)?;
    Reply::ok(&tenants::set_allowed_origins(cx.deps, cx.tenant()?, &wanted).await?)
}

pub async fn connect_callback(cx: Ctx<'_>) -> Result {
    let query = tenantry::service::connections::oauth::CallbackQuery {
        state: cx.query("state"),
        code: cx.query("code"),
        error: cx.query("error"),
    };
    let page = pages::connect_callback(cx.deps, cx.param("slug"), &query, cx.cookies()).await?;
    Ok(page_reply(page))
}

// ---- the audit log

/// A page of a log (`format` none or `json`), or the whole filtered period streamed as
/// NDJSON or CSV. `customer` narrows it to one customer's history whatever the query
/// says (a customer's admin reads its own company only).
async fn audit_reply(
    cx: &Ctx<'_>,
    tenant: Option<TenantId>,
    customer: Option<CustomerId>,
) -> Result {
    let mut filter =
        audit::Filter::parse(&|n| cx.query(n).map(str::to_owned), cx.deps.clock.now())?;
    if customer.is_some() {
        // The customer's own view: its history, without the staff's addresses.
        filter.customer_id = customer;
        filter.for_customer = true;
    }
    let format = audit::Format::parse(cx.query("format"))?;
    let limit = tenantry::service::page::limit(cx.query("limit"))?;
    if let Some(format) = format {
        return Ok(Reply::stream(
            format.content_type(),
            Box::pin(audit::export(cx.deps.clone(), tenant, filter, format)),
        ));
    }
    let log = match &tenant {
        Some(t) => audit::Log::Tenant(t),
        None => audit::Log::Platform,
    };
    Reply::ok(&audit::list(cx.deps, log, &filter, limit, cx.query("cursor")).await?)
}

pub async fn audit_events_list(cx: Ctx<'_>) -> Result {
    // The operator reads the platform's own log here; staff their tenant's.
    let tenant = match &cx.scope {
        tenantry::access::Scope::Platform(_) => None,
        _ => Some(cx.tenant()?.tenant_id().clone()),
    };
    audit_reply(&cx, tenant, None).await
}

pub async fn me_audit_events(cx: Ctx<'_>) -> Result {
    let own = cx.own_company()?;
    audit_reply(
        &cx,
        Some(own.tenant_id().clone()),
        Some(own.customer_id().clone()),
    )
    .await
}

pub async fn tenant_audit_events(cx: Ctx<'_>) -> Result {
    let scope = cx.operator_on_tenant()?;
    // A tenant that does not exist has no log: 404, not an empty one.
    tenants::get(cx.deps, scope.tenant_id()).await?;
    audit_reply(&cx, Some(scope.tenant_id().clone()), None).await
}

// ---- support sessions

fn session_id(cx: &Ctx<'_>) -> std::result::Result<SupportSessionId, Error> {
    SupportSessionId::parse(cx.param("session_id"))
}

/// Who acts, as the audit log names it.
fn acting(cx: &Ctx<'_>) -> std::result::Result<Actor, Error> {
    cx.principal.map(Actor::of).ok_or(Error::Unauthenticated)
}

pub async fn support_sessions_create(cx: Ctx<'_>) -> Result {
    let customer_id = CustomerId::parse(cx.param("customer_id"))?;
    let draft = parse_json::<support::SupportSessionDraft>(cx.body)?;
    let started = support::start(cx.deps, cx.tenant()?, acting(&cx)?, &customer_id, &draft).await?;
    let loc = format!("/v1/customers/{customer_id}/support-sessions");
    Reply::created(&started, loc)
}

pub async fn support_sessions_list(cx: Ctx<'_>) -> Result {
    let customer = cx.customer()?;
    Reply::ok(&support::list(cx.deps, &customer, cx.query("limit"), cx.query("cursor")).await?)
}

pub async fn support_sessions_end(cx: Ctx<'_>) -> Result {
    let id = session_id(&cx)?;
    let party = match &cx.scope {
        tenantry::access::Scope::Tenant(t) => support::Party::Staff(t),
        tenantry::access::Scope::Customer(c) => support::Party::Customer(c),
        _ => return Err(Error::NotFound("support session")),
    };
    Reply::ok(&support::end(cx.deps, party, acting(&cx)?, &id).await?)
}

pub async fn me_support_sessions(cx: Ctx<'_>) -> Result {
    let own = cx.own_company()?;
    Reply::ok(&support::list(cx.deps, &own, cx.query("limit"), cx.query("cursor")).await?)
}

pub async fn me_support_sessions_approve(cx: Ctx<'_>) -> Result {
    let id = session_id(&cx)?;
    Reply::ok(&support::approve(cx.deps, &cx.own_company()?, acting(&cx)?, &id).await?)
}

pub async fn me_support_sessions_decline(cx: Ctx<'_>) -> Result {
    let id = session_id(&cx)?;
    Reply::ok(&support::decline(cx.deps, &cx.own_company()?, acting(&cx)?, &id).await?)
}

pub async fn me_support_access_put(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<support::AccessDraft>(cx.body)?;
    Reply::ok(&support::set_access(cx.deps, &cx.own_company()?, acting(&cx)?, &draft).await?)
}

pub async fn support_page(cx: Ctx<'_>) -> Result {
    let page = pages::support_page(cx.deps, cx.param("slug"), cx.param("token")).await?;
    Ok(page_reply(page))
}

pub async fn support_submit(cx: Ctx<'_>) -> Result {
    let (slug, token) = (cx.param("slug"), cx.param("token"));
    let page = pages::support_form(cx.deps, slug, token, cx.body, cx.cookies()).await?;
    Ok(page_reply(page))
}

// ---- first-line support

fn request_id(cx: &Ctx<'_>) -> std::result::Result<SupportRequestId, Error> {
    SupportRequestId::parse(cx.param("request_id"))
}

pub async fn support_settings_get(cx: Ctx<'_>) -> Result {
    Reply::ok(&tenants::support_settings(cx.deps, cx.tenant()?).await?)
}

pub async fn support_settings_put(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<tenants::SupportSettingsDraft>(cx.body)?;
    Reply::ok(&tenants::set_support_settings(cx.deps, cx.tenant()?, &draft).await?)
}

/// The customer user a `/v1/me` route acts for (a support session: the admin).
fn own_user(cx: &Ctx<'_>) -> std::result::Result<UserId, Error> {
    match cx.principal {
        Some(
            tenantry::access::Principal::Customer { user_id, .. }
            | tenantry::access::Principal::Support { user_id, .. },
        ) => Ok(user_id.clone()),
        _ => Err(Error::Forbidden(
            "this route is for a customer's users, with their own token".into(),
        )),
    }
}

pub async fn me_support_requests_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<helpdesk::RequestDraft>(cx.body)?;
    let own = cx.own_company()?;
    let platform = helpdesk::platform_support_address();
    let v = helpdesk::open(cx.deps, &own, &own_user(&cx)?, &draft, platform.as_deref()).await?;
    Reply::created(&v, "/v1/me/support-requests".into())
}

pub async fn me_support_requests(cx: Ctx<'_>) -> Result {
    let own = cx.own_company()?;
    Reply::ok(&helpdesk::own(cx.deps, &own, &own_user(&cx)?).await?)
}

pub async fn support_requests_list(cx: Ctx<'_>) -> Result {
    let (status, limit, cursor) = (cx.query("status"), cx.query("limit"), cx.query("cursor"));
    Reply::ok(&helpdesk::list(cx.deps, cx.tenant()?, status, limit, cursor).await?)
}

pub async fn support_requests_note(cx: Ctx<'_>) -> Result {
    let id = request_id(&cx)?;
    let draft = parse_json::<helpdesk::NoteDraft>(cx.body)?;
    Reply::ok(&helpdesk::note(cx.deps, cx.tenant()?, acting(&cx)?, &id, &draft).await?)
}

pub async fn support_requests_close(cx: Ctx<'_>) -> Result {
    let id = request_id(&cx)?;
    Reply::ok(&helpdesk::close(cx.deps, cx.tenant()?, &id).await?)
}

pub async fn support_requests_escalate(cx: Ctx<'_>) -> Result {
    let id = request_id(&cx)?;
    let draft = parse_json::<helpdesk::NoteDraft>(cx.body)?;
    let platform = helpdesk::platform_support_address();
    let tenant = cx.tenant()?;
    Reply::ok(
        &helpdesk::escalate(
            cx.deps,
            tenant,
            acting(&cx)?,
            &id,
            &draft,
            platform.as_deref(),
        )
        .await?,
    )
}

pub async fn escalations_list(cx: Ctx<'_>) -> Result {
    Reply::ok(&helpdesk::escalations(cx.deps, cx.query("limit"), cx.query("cursor")).await?)
}
