//! Handlers, one per route: parse the request, call one service function, shape the
//! reply. No rules here. `routes` names each of them, so a Lambda links only its own.

use serde_json::Value;
use tenantry::Error;
use tenantry::access::customer_of;
use tenantry::model::branding::BrandingDraft;
use tenantry::model::customer::{CustomerDraft, Transition};
use tenantry::model::input::parse_json;
use tenantry::model::member::MemberDraft;
use tenantry::model::tenant::TenantDraft;
use tenantry::service::api_keys::ApiKeyDraft;
use tenantry::service::{
    api_keys, customers, email_change, mail, me, members, registration, sign_in, staff, tenants,
    users,
};

use super::{Ctx, Reply};
use crate::pages;

type Result = std::result::Result<Reply, Error>;

fn page_reply(page: pages::Page) -> Reply {
    let status = http::StatusCode::from_u16(page.status).unwrap_or(http::StatusCode::OK);
    let mut reply = Reply::html(status, page.html);
    reply.cookie = page.cookie;
    reply
}

/// A sign-in's answer to API clients.
fn tokens_json(tokens: &tenantry::ports::Tokens) -> Value {
    serde_json::json!({
        "token_type": "Bearer",
        "access_token": tokens.access_token,
        "id_token": tokens.id_token,
        "expires_in": tokens.expires_in,
    })
}

fn id_of(v: &Value) -> &str {
    v.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// A JSON answer with a status other than 200 and no ETag.
fn with_status(status: http::StatusCode, body: Value) -> Reply {
    Reply {
        status,
        etag_version: None,
        ..Reply::ok(body)
    }
}

pub async fn tenants_create(cx: Ctx<'_>) -> Result {
    let v = tenants::create(cx.deps, &parse_json::<TenantDraft>(cx.body)?).await?;
    let loc = format!("/v1/tenants/{}", id_of(&v));
    Ok(Reply::created(v, loc))
}

pub async fn tenants_list(cx: Ctx<'_>) -> Result {
    let v = tenants::list(cx.deps, cx.query("limit"), cx.query("cursor")).await?;
    Ok(Reply::ok(v))
}

pub async fn tenants_get(cx: Ctx<'_>) -> Result {
    Ok(Reply::ok(
        tenants::get(cx.deps, cx.param("tenant_id")).await?,
    ))
}

pub async fn tenants_update(cx: Ctx<'_>) -> Result {
    let patch = parse_json::<Value>(cx.body)?;
    let v = tenants::patch(cx.deps, cx.param("tenant_id"), &patch, cx.if_version()?).await?;
    Ok(Reply::ok(v))
}

pub async fn tenant_api_keys_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<ApiKeyDraft>(cx.body)?;
    let v = api_keys::create(cx.deps, cx.param("tenant_id"), &draft).await?;
    Ok(with_status(http::StatusCode::CREATED, v))
}

pub async fn tenant_emails_list(cx: Ctx<'_>) -> Result {
    let (state, limit, cursor) = (cx.query("state"), cx.query("limit"), cx.query("cursor"));
    let v = mail::list(cx.deps, cx.param("tenant_id"), state, limit, cursor).await?;
    Ok(Reply::ok(v))
}

pub async fn tenant_emails_redrive(cx: Ctx<'_>) -> Result {
    let v = mail::redrive(cx.deps, cx.param("tenant_id"), cx.param("email_id")).await?;
    Ok(Reply::ok(v))
}

pub async fn tenants_provision(cx: Ctx<'_>) -> Result {
    Ok(Reply::ok(
        tenants::provision(cx.deps, cx.param("tenant_id")).await?,
    ))
}

pub async fn branding_get(cx: Ctx<'_>) -> Result {
    Ok(Reply::ok(
        tenants::branding(cx.deps, cx.param("tenant_id")).await?,
    ))
}

pub async fn branding_put(cx: Ctx<'_>) -> Result {
    let draft: BrandingDraft = parse_json(cx.body)?;
    let v = tenants::set_branding(cx.deps, cx.param("tenant_id"), &draft).await?;
    Ok(Reply::ok(v))
}

pub async fn me_get(cx: Ctx<'_>) -> Result {
    let principal = cx.principal.ok_or(Error::Unauthenticated)?;
    Ok(Reply::ok(me::describe(cx.deps, principal).await?))
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
    let mut reply = Reply::ok(tokens_json(&tokens));
    // For the tenant's pages in a browser; API clients use the JSON.
    reply.cookie = Some(pages::session_cookie(&tokens));
    Ok(reply)
}

pub async fn staff_sign_in(cx: Ctx<'_>) -> Result {
    let body: sign_in::SignIn = parse_json(cx.body)?;
    let tokens = staff::sign_in(cx.deps, cx.param("slug"), &body).await?;
    // JSON only: staff sign in from their own tools, never on the tenant's pages.
    Ok(Reply::ok(tokens_json(&tokens)))
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
            pages::register_form(d, slug, cx.body, cx.cookies()).await?,
        ));
    }
    let body: registration::Registration = parse_json(cx.body)?;
    let v = registration::start(d, slug, &body).await?;
    Ok(with_status(http::StatusCode::ACCEPTED, v))
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
    Ok(with_status(http::StatusCode::CREATED, v))
}

pub async fn password_page(cx: Ctx<'_>) -> Result {
    let page = pages::password_page(cx.deps, cx.param("slug"), cx.query("token")).await?;
    Ok(page_reply(page))
}

pub async fn password_set(cx: Ctx<'_>) -> Result {
    let (d, slug) = (cx.deps, cx.param("slug"));
    if cx.is_form() {
        return Ok(page_reply(
            pages::password_form(d, slug, cx.body, cx.cookies()).await?,
        ));
    }
    let body: users::SetPassword = parse_json(cx.body)?;
    Ok(Reply::ok(users::set_password_body(d, slug, &body).await?))
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
    Ok(Reply::ok(email_change::confirm_body(d, slug, &body).await?))
}

pub async fn customer_users_list(cx: Ctx<'_>) -> Result {
    let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
    let v = users::list(cx.deps, t, c, cx.query("limit"), cx.query("cursor")).await?;
    Ok(Reply::ok(v))
}

pub async fn customer_users_create(cx: Ctx<'_>) -> Result {
    let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
    let v = users::create(cx.deps, t, c, &parse_json::<users::UserDraft>(cx.body)?).await?;
    let loc = format!("/v1/customers/{c}/users/{}", id_of(&v));
    Ok(Reply::created(v, loc))
}

pub async fn customer_users_get(cx: Ctx<'_>) -> Result {
    let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
    Ok(Reply::ok(
        users::get(cx.deps, t, c, cx.param("user_id")).await?,
    ))
}

pub async fn customer_users_update(cx: Ctx<'_>) -> Result {
    let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
    let patch = parse_json::<Value>(cx.body)?;
    let v = users::patch(cx.deps, t, c, cx.param("user_id"), &patch, cx.if_version()?).await?;
    Ok(Reply::ok(v))
}

pub async fn customer_users_delete(cx: Ctx<'_>) -> Result {
    let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
    users::delete(cx.deps, t, c, cx.param("user_id")).await?;
    Ok(Reply::no_content())
}

pub async fn customer_users_reset_password(cx: Ctx<'_>) -> Result {
    let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
    let v = users::reset_password(cx.deps, t, c, cx.param("user_id")).await?;
    Ok(with_status(http::StatusCode::ACCEPTED, v))
}

pub async fn customer_users_deactivate(cx: Ctx<'_>) -> Result {
    set_user_active(cx, false).await
}

pub async fn customer_users_reactivate(cx: Ctx<'_>) -> Result {
    set_user_active(cx, true).await
}

async fn set_user_active(cx: Ctx<'_>, active: bool) -> Result {
    let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
    let v = users::set_active(cx.deps, t, c, cx.param("user_id"), active).await?;
    Ok(Reply::ok(v))
}

pub async fn api_keys_list(cx: Ctx<'_>) -> Result {
    let v = api_keys::list(
        cx.deps,
        cx.tenant_id()?,
        cx.query("limit"),
        cx.query("cursor"),
    )
    .await?;
    Ok(Reply::ok(v))
}

pub async fn api_keys_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<ApiKeyDraft>(cx.body)?;
    let v = api_keys::create(cx.deps, cx.tenant_id()?, &draft).await?;
    Ok(with_status(http::StatusCode::CREATED, v))
}

pub async fn api_keys_delete(cx: Ctx<'_>) -> Result {
    api_keys::delete(cx.deps, cx.tenant_id()?, cx.param("key_id")).await?;
    Ok(Reply::no_content())
}

pub async fn members_list(cx: Ctx<'_>) -> Result {
    let v = members::list(
        cx.deps,
        cx.tenant_id()?,
        cx.query("limit"),
        cx.query("cursor"),
    )
    .await?;
    Ok(Reply::ok(v))
}

pub async fn members_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<MemberDraft>(cx.body)?;
    let v = members::create(cx.deps, cx.tenant_id()?, &draft).await?;
    let loc = format!("/v1/members/{}", id_of(&v));
    Ok(Reply::created(v, loc))
}

pub async fn members_get(cx: Ctx<'_>) -> Result {
    let v = members::get(cx.deps, cx.tenant_id()?, cx.param("member_id")).await?;
    Ok(Reply::ok(v))
}

pub async fn members_update(cx: Ctx<'_>) -> Result {
    let patch = parse_json::<Value>(cx.body)?;
    let (t, m) = (cx.tenant_id()?, cx.param("member_id"));
    let v = members::patch(cx.deps, t, m, &patch, cx.if_version()?).await?;
    Ok(Reply::ok(v))
}

pub async fn members_delete(cx: Ctx<'_>) -> Result {
    members::delete(cx.deps, cx.tenant_id()?, cx.param("member_id")).await?;
    Ok(Reply::no_content())
}

pub async fn members_reset_password(cx: Ctx<'_>) -> Result {
    let v = staff::reset_password(cx.deps, cx.tenant_id()?, cx.param("member_id")).await?;
    Ok(with_status(http::StatusCode::ACCEPTED, v))
}

pub async fn customers_list(cx: Ctx<'_>) -> Result {
    let v = customers::list(
        cx.deps,
        cx.tenant_id()?,
        cx.query("q"),
        cx.query("status"),
        cx.query("limit"),
        cx.query("cursor"),
    )
    .await?;
    Ok(Reply::ok(v))
}

pub async fn customers_create(cx: Ctx<'_>) -> Result {
    let draft = parse_json::<CustomerDraft>(cx.body)?;
    let v = customers::create(cx.deps, cx.tenant_id()?, &draft).await?;
    let loc = format!("/v1/customers/{}", id_of(&v));
    Ok(Reply::created(v, loc))
}

pub async fn customers_get(cx: Ctx<'_>) -> Result {
    let v = customers::get(cx.deps, cx.tenant_id()?, cx.param("customer_id")).await?;
    Ok(Reply::ok(v))
}

pub async fn customers_update(cx: Ctx<'_>) -> Result {
    let patch = parse_json::<Value>(cx.body)?;
    let (t, c) = (cx.tenant_id()?, cx.param("customer_id"));
    let v = customers::patch(cx.deps, t, c, &patch, cx.if_version()?).await?;
    Ok(Reply::ok(v))
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
    let (tenant, customer) = (cx.tenant_id()?, cx.param("customer_id"));
    let v = customers::transition(cx.deps, tenant, customer, t, confirm).await?;
    Ok(Reply::ok(v))
}
