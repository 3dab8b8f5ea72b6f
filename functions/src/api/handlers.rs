//! Handlers: parse the request, call one service function, shape the reply. No rules here.

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
    api_keys, customers, email_change, identity, mail, me, members, pages, registration, sign_in,
    staff, tenants, users,
};

use super::{Ctx, Reply};
use crate::routes::Op;

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

pub async fn call(op: Op, cx: Ctx<'_>) -> Result<Reply, Error> {
    let d = cx.deps;
    let (limit, cursor) = (cx.query("limit"), cx.query("cursor"));
    Ok(match op {
        Op::TenantsCreate => {
            let v = tenants::create(d, &parse_json::<TenantDraft>(cx.body)?).await?;
            let loc = format!("/v1/tenants/{}", id_of(&v));
            Reply::created(v, loc)
        }
        Op::TenantsList => Reply::ok(tenants::list(d, limit, cursor).await?),
        Op::TenantsGet => Reply::ok(tenants::get(d, cx.param("tenant_id")).await?),
        Op::TenantsUpdate => Reply::ok(
            tenants::patch(
                d,
                cx.param("tenant_id"),
                &parse_json::<Value>(cx.body)?,
                cx.if_version()?,
            )
            .await?,
        ),
        Op::TenantApiKeysCreate => {
            let v = api_keys::create(
                d,
                cx.param("tenant_id"),
                &parse_json::<ApiKeyDraft>(cx.body)?,
            )
            .await?;
            Reply {
                status: http::StatusCode::CREATED,
                etag_version: None,
                ..Reply::ok(v)
            }
        }
        Op::TenantEmailsList => {
            Reply::ok(mail::list(d, cx.param("tenant_id"), cx.query("state"), limit, cursor).await?)
        }
        Op::TenantEmailsRedrive => {
            Reply::ok(mail::redrive(d, cx.param("tenant_id"), cx.param("email_id")).await?)
        }
        Op::Me => Reply::ok(me::describe(d, cx.principal.ok_or(Error::Unauthenticated)?).await?),
        Op::LoginPage => {
            let page = pages::login_page(d, cx.param("slug")).await?;
            page_reply(page)
        }
        Op::BrandingGet => Reply::ok(tenants::branding(d, cx.param("tenant_id")).await?),
        Op::BrandingPut => {
            let draft: BrandingDraft = parse_json(cx.body)?;
            Reply::ok(tenants::set_branding(d, cx.param("tenant_id"), &draft).await?)
        }
        Op::SignIn if cx.is_form() => {
            page_reply(pages::login_form(d, cx.param("slug"), cx.body, cx.cookies()).await?)
        }
        Op::RegisterPage => page_reply(pages::register_page(d, cx.param("slug")).await?),
        Op::Register if cx.is_form() => {
            page_reply(pages::register_form(d, cx.param("slug"), cx.body, cx.cookies()).await?)
        }
        Op::Register => {
            let body: registration::Registration = parse_json(cx.body)?;
            let v = registration::start(d, cx.param("slug"), &body).await?;
            Reply {
                status: http::StatusCode::ACCEPTED,
                etag_version: None,
                ..Reply::ok(v)
            }
        }
        Op::RegisterVerify if cx.is_form() => {
            page_reply(pages::verify_form(d, cx.param("slug"), cx.body, cx.cookies()).await?)
        }
        Op::RegisterVerify => {
            let body: registration::Verification = parse_json(cx.body)?;
            let v = registration::verify(d, cx.param("slug"), &body).await?;
            Reply {
                status: http::StatusCode::CREATED,
                etag_version: None,
                ..Reply::ok(v)
            }
        }
        Op::StaffSignIn => {
            let body: sign_in::SignIn = parse_json(cx.body)?;
            let tokens = staff::sign_in(d, cx.param("slug"), &body).await?;
            // JSON only: staff sign in from their own tools, never on the tenant's pages.
            Reply::ok(tokens_json(&tokens))
        }
        Op::SignIn => {
            let body: sign_in::SignIn = parse_json(cx.body)?;
            let tokens = sign_in::sign_in(d, cx.param("slug"), &body).await?;
            let mut reply = Reply::ok(tokens_json(&tokens));
            // For the tenant's pages in a browser; API clients use the JSON.
            reply.cookie = Some(pages::session_cookie(&tokens));
            reply
        }
        Op::PasswordPage => {
            page_reply(pages::password_page(d, cx.param("slug"), cx.query("token")).await?)
        }
        Op::EmailChangePage => {
            page_reply(pages::email_change_page(d, cx.param("slug"), cx.query("token")).await?)
        }
        Op::EmailChangeConfirm if cx.is_form() => {
            page_reply(pages::email_change_form(d, cx.param("slug"), cx.body, cx.cookies()).await?)
        }
        Op::EmailChangeConfirm => {
            let body: email_change::Confirmation = parse_json(cx.body)?;
            Reply::ok(email_change::confirm_body(d, cx.param("slug"), &body).await?)
        }
        Op::PasswordSet if cx.is_form() => {
            page_reply(pages::password_form(d, cx.param("slug"), cx.body, cx.cookies()).await?)
        }
        Op::PasswordSet => {
            let body: users::SetPassword = parse_json(cx.body)?;
            Reply::ok(users::set_password_body(d, cx.param("slug"), &body).await?)
        }
        Op::CustomerUsersList => {
            let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
            Reply::ok(users::list(d, t, c, limit, cursor).await?)
        }
        Op::CustomerUsersCreate => {
            let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
            let v = users::create(d, t, c, &parse_json::<users::UserDraft>(cx.body)?).await?;
            let loc = format!("/v1/customers/{c}/users/{}", id_of(&v));
            Reply::created(v, loc)
        }
        Op::CustomerUsersGet => {
            let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
            Reply::ok(users::get(d, t, c, cx.param("user_id")).await?)
        }
        Op::CustomerUsersUpdate => {
            let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
            let patch = parse_json::<Value>(cx.body)?;
            Reply::ok(users::patch(d, t, c, cx.param("user_id"), &patch, cx.if_version()?).await?)
        }
        Op::CustomerUsersDelete => {
            let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
            users::delete(d, t, c, cx.param("user_id")).await?;
            Reply::no_content()
        }
        Op::CustomerUsersResetPassword => {
            let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
            let v = users::reset_password(d, t, c, cx.param("user_id")).await?;
            Reply {
                status: http::StatusCode::ACCEPTED,
                etag_version: None,
                ..Reply::ok(v)
            }
        }
        Op::CustomerUsersDeactivate | Op::CustomerUsersReactivate => {
            let (t, c) = customer_of(&cx.scope, cx.param("customer_id"))?;
            let active = op == Op::CustomerUsersReactivate;
            Reply::ok(users::set_active(d, t, c, cx.param("user_id"), active).await?)
        }
        Op::TenantsProvision => Reply::ok(identity::provision(d, cx.param("tenant_id")).await?),
        Op::ApiKeysList => Reply::ok(api_keys::list(d, cx.tenant_id()?, limit, cursor).await?),
        Op::ApiKeysCreate => {
            let v =
                api_keys::create(d, cx.tenant_id()?, &parse_json::<ApiKeyDraft>(cx.body)?).await?;
            Reply {
                status: http::StatusCode::CREATED,
                etag_version: None,
                ..Reply::ok(v)
            }
        }
        Op::ApiKeysDelete => {
            api_keys::delete(d, cx.tenant_id()?, cx.param("key_id")).await?;
            Reply::no_content()
        }
        Op::MembersList => Reply::ok(members::list(d, cx.tenant_id()?, limit, cursor).await?),
        Op::MembersCreate => {
            let v =
                members::create(d, cx.tenant_id()?, &parse_json::<MemberDraft>(cx.body)?).await?;
            let loc = format!("/v1/members/{}", id_of(&v));
            Reply::created(v, loc)
        }
        Op::MembersGet => Reply::ok(members::get(d, cx.tenant_id()?, cx.param("member_id")).await?),
        Op::MembersUpdate => Reply::ok(
            members::patch(
                d,
                cx.tenant_id()?,
                cx.param("member_id"),
                &parse_json::<Value>(cx.body)?,
                cx.if_version()?,
            )
            .await?,
        ),
        Op::MembersDelete => {
            members::delete(d, cx.tenant_id()?, cx.param("member_id")).await?;
            Reply::no_content()
        }
        Op::MembersResetPassword => {
            let v = staff::reset_password(d, cx.tenant_id()?, cx.param("member_id")).await?;
            Reply {
                status: http::StatusCode::ACCEPTED,
                etag_version: None,
                ..Reply::ok(v)
            }
        }
        Op::CustomersList => Reply::ok(
            customers::list(
                d,
                cx.tenant_id()?,
                cx.query("q"),
                cx.query("status"),
                limit,
                cursor,
            )
            .await?,
        ),
        Op::CustomersCreate => {
            let v = customers::create(d, cx.tenant_id()?, &parse_json::<CustomerDraft>(cx.body)?)
                .await?;
            let loc = format!("/v1/customers/{}", id_of(&v));
            Reply::created(v, loc)
        }
        Op::CustomersGet => {
            Reply::ok(customers::get(d, cx.tenant_id()?, cx.param("customer_id")).await?)
        }
        Op::CustomersUpdate => Reply::ok(
            customers::patch(
                d,
                cx.tenant_id()?,
                cx.param("customer_id"),
                &parse_json::<Value>(cx.body)?,
                cx.if_version()?,
            )
            .await?,
        ),
        Op::CustomersDelete => {
            let confirm = cx.query("confirm") == Some("true");
            Reply::ok(
                customers::transition(
                    d,
                    cx.tenant_id()?,
                    cx.param("customer_id"),
                    Transition::Delete,
                    confirm,
                )
                .await?,
            )
        }
        Op::CustomersDeactivate => transition(&cx, Transition::Deactivate).await?,
        Op::CustomersSuspend => transition(&cx, Transition::Suspend).await?,
        Op::CustomersReactivate => transition(&cx, Transition::Reactivate).await?,
        Op::CustomersRestore => transition(&cx, Transition::Restore).await?,
    })
}

async fn transition(cx: &Ctx<'_>, t: Transition) -> Result<Reply, Error> {
    Ok(Reply::ok(
        customers::transition(cx.deps, cx.tenant_id()?, cx.param("customer_id"), t, true).await?,
    ))
}
