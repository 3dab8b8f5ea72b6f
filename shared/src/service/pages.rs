//! The tenant's own login page (`/t/{slug}/login`): server-rendered HTML in the tenant's
//! branding, with no platform branding. Its form posts to the same origin and carries a
//! CSRF token that must match the page's cookie (double submit).

use std::sync::LazyLock;

use minijinja::{Environment, context};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::{sign_in, tenants};
use crate::Deps;
use crate::error::Error;
use crate::model::branding::Branding;

/// The cookie holding a login page's CSRF token.
pub const CSRF_COOKIE: &str = "tenantry_csrf";

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template(
        "login.html",
        include_str!("../../templates/pages/login.html"),
    )
    .expect("the login page template parses");
    env
});

/// A page to send: its status, HTML and the cookie to set, if any.
pub struct Page {
    pub status: u16,
    pub html: String,
    pub cookie: Option<String>,
}

/// A fresh CSRF token (32 random bytes, hex).
pub fn new_csrf_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Does the form's token match the cookie's? Constant time; both must be present.
pub fn csrf_matches(form: &str, cookie: Option<&str>) -> bool {
    match cookie {
        Some(c) if !form.is_empty() && c.len() == form.len() => {
            bool::from(c.as_bytes().ct_eq(form.as_bytes()))
        }
        _ => false,
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn brand_of_slug(deps: &Deps, slug: &str) -> Result<(String, Branding), Error> {
    let tenant_id = sign_in::tenant_of_slug(deps, slug).await?;
    let (t, _) = tenants::load(deps, &tenant_id).await?;
    let brand = t.branding.unwrap_or_else(|| Branding::default_for(&t.name));
    Ok((tenant_id, brand))
}

fn render(
    slug: &str,
    brand: &Branding,
    csrf: &str,
    email: &str,
    error: Option<&str>,
    signed_in: bool,
) -> Result<String, Error> {
    PAGES
        .get_template("login.html")
        .and_then(|t| t.render(context! { slug, brand, csrf, email, error, signed_in }))
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("rendering the login page: {e}")))
}

/// The session cookie a sign-in sets: the access token, for the tenant's pages in a
/// browser (never read by authentication, which takes `Authorization` only).
pub fn session_cookie(tokens: &crate::ports::Tokens) -> String {
    format!(
        "tenantry_session={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        tokens.access_token, tokens.expires_in
    )
}

fn csrf_cookie(slug: &str, token: &str) -> String {
    format!(
        "{CSRF_COOKIE}={token}; Path=/t/{slug}/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"
    )
}

/// `GET /t/{slug}/login`: the form, with a new CSRF token in it and in a cookie.
pub async fn login_page(deps: &Deps, slug: &str) -> Result<Page, Error> {
    let (_, brand) = brand_of_slug(deps, slug).await?;
    let token = new_csrf_token();
    Ok(Page {
        status: 200,
        html: render(slug, &brand, &token, "", None, false)?,
        cookie: Some(csrf_cookie(slug, &token)),
    })
}

/// The form's post: signs in (the page sets the session cookie), or shows the form again
/// with one message for every failure. A missing or wrong CSRF token is refused before
/// any credential is checked.
pub async fn login_form(
    deps: &Deps,
    slug: &str,
    form: &[u8],
    cookie_header: Option<&str>,
) -> Result<Page, Error> {
    let (_, brand) = brand_of_slug(deps, slug).await?;
    let field = |name: &str| {
        url::form_urlencoded::parse(form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (email, password, csrf) = (field("email"), field("password"), field("csrf"));
    let again = |status: u16, message: &str| -> Result<Page, Error> {
        let token = new_csrf_token();
        Ok(Page {
            status,
            html: render(slug, &brand, &token, &email, Some(message), false)?,
            cookie: Some(csrf_cookie(slug, &token)),
        })
    };
    if !csrf_matches(&csrf, cookie(cookie_header, CSRF_COOKIE)) {
        return again(403, "This page expired. Please sign in again.");
    }
    let body = sign_in::SignIn {
        email: Some(email.clone()),
        password: Some(password),
    };
    match sign_in::sign_in(deps, slug, &body).await {
        Ok(tokens) => Ok(Page {
            status: 200,
            html: render(slug, &brand, "", &email, None, true)?,
            cookie: Some(session_cookie(&tokens)),
        }),
        Err(Error::InvalidLogin | Error::Invalid(_)) => {
            again(401, "The email or password is wrong.")
        }
        Err(Error::Throttled { .. }) => again(
            429,
            "Too many attempts. Please wait a few minutes and try again.",
        ),
        Err(e) => Err(e),
    }
}
