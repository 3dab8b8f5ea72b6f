//! The tenant's own pages: login (`/t/{slug}/login`) and registration
//! (`/t/{slug}/register`). Server-rendered HTML in the tenant's branding, with no platform
//! branding. Their forms post to the same origin and carry a CSRF token that must match
//! the page's cookie (double submit).

use std::sync::LazyLock;

use minijinja::{Environment, context};
use subtle::ConstantTimeEq;

use tenantry::Deps;
use tenantry::Error;
use tenantry::model::branding::Branding;
use tenantry::model::ids::TenantId;
use tenantry::service::connections::oauth::{self, CallbackQuery, Finished};
use tenantry::service::connectors::AuthKind;
use tenantry::service::links::LinkKind;
use tenantry::service::registration::{self, Registration, Verification};
use tenantry::service::{connections, sign_in, tenants};

/// The cookie holding a login page's CSRF token.
pub const CSRF_COOKIE: &str = "tenantry_csrf";

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/pages/base.html")),
        ("login.html", include_str!("../templates/pages/login.html")),
        (
            "register.html",
            include_str!("../templates/pages/register.html"),
        ),
        (
            "password.html",
            include_str!("../templates/pages/password.html"),
        ),
        (
            "email_change.html",
            include_str!("../templates/pages/email_change.html"),
        ),
        (
            "connect.html",
            include_str!("../templates/pages/connect.html"),
        ),
        (
            "support.html",
            include_str!("../templates/pages/support.html"),
        ),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("page template {name} does not parse: {e}"));
    }
    env
});

/// A page to send: its status, HTML and the cookie to set, if any.
pub struct Page {
    pub status: u16,
    pub html: String,
    pub cookie: Option<String>,
    /// Where a redirect (303) goes.
    pub location: Option<String>,
    /// What its `Content-Security-Policy` allows beyond the default (an OAuth
    /// provider its form leads to, the partner's page that frames it).
    pub policy: crate::api::PagePolicy,
}

/// A fresh CSRF token (32 random bytes, hex).
pub fn new_csrf_token() -> String {
    tenantry::service::links::random_token()
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

/// A tenant's branding and support contact, as its pages show them (`brand.…`
/// reads through to the branding).
pub struct Look {
    pub brand: Branding,
    pub support: tenantry::model::helpdesk::SupportSettings,
}

impl std::ops::Deref for Look {
    type Target = Branding;
    fn deref(&self) -> &Branding {
        &self.brand
    }
}

impl From<(Branding, tenantry::model::helpdesk::SupportSettings)> for Look {
    fn from((brand, support): (Branding, tenantry::model::helpdesk::SupportSettings)) -> Self {
        Self { brand, support }
    }
}

async fn brand_of_slug(deps: &Deps, slug: &str) -> Result<(TenantId, Look), Error> {
    let (tenant_id, brand, _) = tenant_of_slug(deps, slug).await?;
    Ok((tenant_id, brand))
}

/// The slug's tenant: its id, its branding, and the origins that may embed its
/// connect page.
async fn tenant_of_slug(deps: &Deps, slug: &str) -> Result<(TenantId, Look, Vec<String>), Error> {
    let tenant_id = tenantry::service::directory::tenant_of_slug(deps, slug).await?;
    let (t, _) = tenants::load(deps, &tenant_id).await?;
    let look = Look::from(tenantry::model::helpdesk::look(&t));
    Ok((tenant_id, look, t.allowed_origins))
}

/// Renders one of the tenant's pages with its slug, branding and a fresh CSRF token
/// (also set as the page's cookie), plus the page's own values.
fn page(
    template: &str,
    status: u16,
    slug: &str,
    look: &Look,
    values: minijinja::Value,
) -> Result<Page, Error> {
    let csrf = new_csrf_token();
    let (brand, support) = (&look.brand, &look.support);
    let palette = brand.palette();
    let html = PAGES
        .get_template(template)
        .and_then(|t| t.render(context! { slug, brand, support, palette, csrf, ..values }))
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("rendering {template}: {e}")))?;
    Ok(Page {
        status,
        html,
        cookie: Some(csrf_cookie(slug, &csrf)),
        location: None,
        policy: Default::default(),
    })
}

fn login(
    status: u16,
    slug: &str,
    brand: &Look,
    email: &str,
    error: Option<&str>,
    signed_in: bool,
) -> Result<Page, Error> {
    let values = context! { email, error, signed_in,
    registration_enabled => brand.registration_enabled };
    page("login.html", status, slug, brand, values)
}

/// The session cookie a sign-in sets: the access token, for the tenant's pages in a
/// browser (never read by authentication, which takes `Authorization` only).
pub fn session_cookie(tokens: &tenantry::ports::Tokens) -> String {
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
    login(200, slug, &brand, "", None, false)
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
    let fields = form_fields(form);
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let email = get("email");
    let again =
        |status: u16, message: &str| login(status, slug, &brand, &email, Some(message), false);
    if !csrf_matches(&get("csrf"), cookie(cookie_header, CSRF_COOKIE)) {
        return again(403, "This page expired. Please sign in again.");
    }
    let body = sign_in::SignIn {
        email: Some(email.clone()),
        password: Some(get("password").into()),
    };
    match sign_in::sign_in(deps, slug, &body).await {
        Ok(tokens) => {
            let mut signed_in = login(200, slug, &brand, &email, None, true)?;
            signed_in.cookie = Some(session_cookie(&tokens));
            Ok(signed_in)
        }
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

/// The fields of a posted form.
fn form_fields(form: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(form)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Which registration form a page shows.
#[derive(Clone, Copy)]
enum Step {
    Details,
    Verify,
    Done,
}

fn render_registration(
    slug: &str,
    brand: &Look,
    step: Step,
    form: &std::collections::HashMap<String, String>,
    errors: &[String],
) -> Result<Page, Error> {
    let step_name = match step {
        Step::Details => "details",
        Step::Verify => "verify",
        Step::Done => "done",
    };
    // Only what the page shows again: never the password or the code.
    let shown: std::collections::BTreeMap<&str, &str> =
        ["company_name", "first_name", "last_name", "email"]
            .into_iter()
            .map(|k| (k, form.get(k).map(String::as_str).unwrap_or_default()))
            .collect();
    let status = if errors.is_empty() { 200 } else { 422 };
    let values = context! { step => step_name, form => shown, errors,
    minutes => registration::CODE_MINUTES };
    page("register.html", status, slug, brand, values)
}

/// What a failed registration step tells the person at the form.
fn messages(e: &Error) -> Option<(u16, Vec<String>)> {
    let label = |field: &str| match field {
        "company_name" => "Company name",
        "first_name" => "First name",
        "last_name" => "Last name",
        "email" => "Email",
        "password" => "Password",
        "code" => "Code",
        _ => "A field",
    };
    match e {
        Error::Invalid(list) => Some((
            422,
            list.iter()
                .map(|f| format!("{} {}.", label(&f.field), f.detail))
                .collect(),
        )),
        Error::Conflict { detail, .. } => Some((409, vec![format!("{detail}.")])),
        Error::Throttled {
            retry_after_seconds,
        } => Some((
            429,
            vec![format!(
                "Please wait {retry_after_seconds} seconds before trying again."
            )],
        )),
        _ => None,
    }
}

fn with_status(mut page: Page, status: u16) -> Page {
    page.status = status;
    page
}

/// `GET /t/{slug}/register`: the first form (404 unless the tenant allows registration).
pub async fn register_page(deps: &Deps, slug: &str) -> Result<Page, Error> {
    let (_, brand) = registration::open_tenant(deps, slug).await?;
    let brand = Look::from(brand);
    render_registration(slug, &brand, Step::Details, &Default::default(), &[])
}

/// One registration form's post: the CSRF check, then `run` on the form's fields. On
/// success the `next` page; on a failure the person can fix, the same form (`shown`)
/// again with what to fix.
async fn registration_step<T>(
    deps: &Deps,
    slug: &str,
    form: &[u8],
    cookie_header: Option<&str>,
    shown: Step,
    next: (Step, u16),
    run: impl AsyncFnOnce(&std::collections::HashMap<String, String>) -> Result<T, Error>,
) -> Result<Page, Error> {
    let (_, brand) = registration::open_tenant(deps, slug).await?;
    let brand = Look::from(brand);
    let fields = form_fields(form);
    let csrf = fields.get("csrf").map(String::as_str).unwrap_or_default();
    if !csrf_matches(csrf, cookie(cookie_header, CSRF_COOKIE)) {
        let msg = ["This page expired. Please try again.".to_owned()];
        let page = render_registration(slug, &brand, shown, &fields, &msg)?;
        return Ok(with_status(page, 403));
    }
    match run(&fields).await {
        Ok(_) => Ok(with_status(
            render_registration(slug, &brand, next.0, &fields, &[])?,
            next.1,
        )),
        Err(e) => match messages(&e) {
            Some((status, msgs)) => Ok(with_status(
                render_registration(slug, &brand, shown, &fields, &msgs)?,
                status,
            )),
            None => Err(e),
        },
    }
}

/// The first form's post: emails the code and shows the second form, or shows the first
/// form again with what to fix.
pub async fn register_form(
    deps: &Deps,
    slug: &str,
    form: &[u8],
    cookie_header: Option<&str>,
    source: Option<&str>,
) -> Result<Page, Error> {
    let next = (Step::Verify, 200);
    registration_step(
        deps,
        slug,
        form,
        cookie_header,
        Step::Details,
        next,
        async |f| {
            let get = |k: &str| f.get(k).cloned();
            let body = Registration {
                company_name: get("company_name"),
                first_name: get("first_name"),
                last_name: get("last_name"),
                email: get("email"),
            };
            registration::start(deps, slug, &body, source).await
        },
    )
    .await
}

/// The second form's post: creates the account and says so, or shows the code form again.
pub async fn verify_form(
    deps: &Deps,
    slug: &str,
    form: &[u8],
    cookie_header: Option<&str>,
) -> Result<Page, Error> {
    let next = (Step::Done, 201);
    registration_step(
        deps,
        slug,
        form,
        cookie_header,
        Step::Verify,
        next,
        async |f| {
            let get = |k: &str| f.get(k).cloned();
            let body = Verification {
                email: get("email"),
                code: get("code").map(Into::into),
                password: get("password").map(Into::into),
            };
            registration::verify(deps, slug, &body).await
        },
    )
    .await
}

fn render_password(
    slug: &str,
    brand: &Look,
    token: Option<&str>,
    staff: bool,
    done: bool,
    errors: &[String],
    status: u16,
) -> Result<Page, Error> {
    render_password_page(slug, brand, (token, staff, done), Reset::No, errors, status)
}

/// Where the password page stands on a reset link asked for by email.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reset {
    /// Not about a reset request (a link's form, or a link that no longer works).
    No,
    /// The form that asks for one (no token: "forgot your password?").
    Form,
    /// Asked: the same answer whether or not the email has an account.
    Requested,
}

fn render_password_page(
    slug: &str,
    brand: &Look,
    (token, staff, done): (Option<&str>, bool, bool),
    reset: Reset,
    errors: &[String],
    status: u16,
) -> Result<Page, Error> {
    let values = context! { done, errors, staff, token_ok => token.is_some(),
    reset_form => reset == Reset::Form, reset_requested => reset == Reset::Requested,
    token => token.unwrap_or_default(),
    min_length => if staff { tenantry::model::fields::STAFF_PASSWORD_MIN } else { tenantry::model::fields::PASSWORD_MIN } };
    page("password.html", status, slug, brand, values)
}

/// `GET /t/{slug}/password?token=`: the form to set a password from an invitation or a
/// reset link (a customer user's or a staff member's), or a page saying the link no
/// longer works.
pub async fn password_page(deps: &Deps, slug: &str, token: Option<&str>) -> Result<Page, Error> {
    let (tenant_id, brand) = brand_of_slug(deps, slug).await?;
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        // No link: the form that asks for one by email.
        return render_password_page(slug, &brand, (None, false, false), Reset::Form, &[], 200);
    };
    match tenantry::service::links::password_link_kind(deps, &tenant_id, token).await? {
        Some(kind) => render_password(
            slug,
            &brand,
            Some(token),
            kind == LinkKind::Staff,
            false,
            &[],
            200,
        ),
        None => render_password(slug, &brand, None, false, false, &[], 410),
    }
}

/// The password form's post.
pub async fn password_form(
    deps: &Deps,
    slug: &str,
    form: &[u8],
    cookie_header: Option<&str>,
    source: Option<&str>,
) -> Result<Page, Error> {
    let (tenant_id, brand) = brand_of_slug(deps, slug).await?;
    let fields = form_fields(form);
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let token = get("token");
    if token.is_empty() && fields.contains_key("email") {
        return reset_form(deps, slug, &brand, &get, cookie_header, source).await;
    }
    // Whose link it is, for the form shown again (only when it is).
    let staff = async || {
        matches!(
            tenantry::service::links::password_link_kind(deps, &tenant_id, &token).await,
            Ok(Some(LinkKind::Staff))
        )
    };
    if !csrf_matches(&get("csrf"), cookie(cookie_header, CSRF_COOKIE)) {
        let msg = ["This page expired. Please try again.".to_owned()];
        return render_password(slug, &brand, Some(&token), staff().await, false, &msg, 403);
    }
    match tenantry::service::users::set_password(deps, slug, &token, &get("password")).await {
        Ok(v) => {
            let staff = v.kind == "staff";
            render_password(slug, &brand, None, staff, true, &[], 200)
        }
        Err(Error::Invalid(list)) if list.iter().any(|f| f.field == "token") => {
            render_password(slug, &brand, None, false, false, &[], 410)
        }
        Err(e) => match messages(&e) {
            Some((status, msgs)) => render_password(
                slug,
                &brand,
                Some(&token),
                staff().await,
                false,
                &msgs,
                status,
            ),
            None => Err(e),
        },
    }
}

/// The "forgot your password?" form's post: the same page whether or not the email has
/// an account (only a bad address or a throttle shows the form again).
async fn reset_form(
    deps: &Deps,
    slug: &str,
    brand: &Look,
    get: &impl Fn(&str) -> String,
    cookie_header: Option<&str>,
    source: Option<&str>,
) -> Result<Page, Error> {
    let again = |msgs: &[String], status| {
        render_password_page(slug, brand, (None, false, false), Reset::Form, msgs, status)
    };
    if !csrf_matches(&get("csrf"), cookie(cookie_header, CSRF_COOKIE)) {
        return again(&["This page expired. Please try again.".to_owned()], 403);
    }
    match tenantry::service::users::request_reset(deps, slug, &get("email"), source).await {
        Ok(_) => render_password_page(
            slug,
            brand,
            (None, false, false),
            Reset::Requested,
            &[],
            200,
        ),
        Err(e) => match messages(&e) {
            Some((status, msgs)) => again(&msgs, status),
            None => Err(e),
        },
    }
}

fn render_email_change(
    slug: &str,
    brand: &Look,
    token: &str,
    new_email: Option<&str>,
    done: bool,
    errors: &[String],
    status: u16,
) -> Result<Page, Error> {
    let values = context! { token, new_email, done, errors };
    page("email_change.html", status, slug, brand, values)
}

/// `GET /t/{slug}/email-change?token=`: what the link would change, and a button to
/// confirm it (opening the link changes nothing: mail scanners open links too).
pub async fn email_change_page(
    deps: &Deps,
    slug: &str,
    token: Option<&str>,
) -> Result<Page, Error> {
    let (tenant_id, brand) = brand_of_slug(deps, slug).await?;
    let token = token.unwrap_or_default();
    match tenantry::service::email_change::pending_address(deps, &tenant_id, token).await? {
        Some(new) => render_email_change(slug, &brand, token, Some(&new), false, &[], 200),
        None => render_email_change(slug, &brand, "", None, false, &[], 410),
    }
}

/// The confirmation's post.
pub async fn email_change_form(
    deps: &Deps,
    slug: &str,
    form: &[u8],
    cookie_header: Option<&str>,
) -> Result<Page, Error> {
    let (tenant_id, brand) = brand_of_slug(deps, slug).await?;
    let fields = form_fields(form);
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let token = get("token");
    // The address the link changes to, for the page: read again only on the rare paths.
    let shown =
        async || tenantry::service::email_change::pending_address(deps, &tenant_id, &token).await;
    if !csrf_matches(&get("csrf"), cookie(cookie_header, CSRF_COOKIE)) {
        let msg = ["This page expired. Please confirm again.".to_owned()];
        return match shown().await? {
            Some(new) => render_email_change(slug, &brand, &token, Some(&new), false, &msg, 403),
            None => render_email_change(slug, &brand, "", None, false, &[], 410),
        };
    }
    match tenantry::service::email_change::confirm(deps, slug, &token).await {
        Ok(done) => render_email_change(slug, &brand, "", Some(&done.email), true, &[], 200),
        Err(Error::Invalid(list)) if list.iter().any(|f| f.field == "token") => {
            render_email_change(slug, &brand, "", None, false, &[], 410)
        }
        Err(e) => match (messages(&e), shown().await?) {
            (Some((status, msgs)), Some(new)) => {
                render_email_change(slug, &brand, &token, Some(&new), false, &msgs, status)
            }
            (Some(_), None) => render_email_change(slug, &brand, "", None, false, &[], 410),
            (None, _) => Err(e),
        },
    }
}

/// What the connect page shows of a connection, or (none) that its link does not work.
struct Shown<'a> {
    token: &'a str,
    page: Option<&'a connections::ConnectPage>,
    done: bool,
    errors: &'a [String],
    /// Why a link that does not work does not (else the general wording).
    notice: Option<&'a str>,
}

fn render_connect(slug: &str, brand: &Look, shown: Shown<'_>, status: u16) -> Result<Page, Error> {
    let p = shown.page;
    // A connect session's page tells the partner's page that opened it how it ended:
    // connected, or (back from a provider) not; never while the form can be retried.
    let embedded = p.and_then(|p| p.embedded_by.as_deref().map(|origin| (p, origin)));
    let result = embedded.and_then(|(p, origin)| {
        let status = if shown.done {
            "authorized"
        } else if shown.token.is_empty() {
            "not_completed"
        } else {
            return None;
        };
        Some(serde_json::json!({
            "origin": origin,
            "message": {"type": "tenantry.connect", "status": status, "connection_id": p.connection.id},
        }))
    });
    let nonce = result.as_ref().map(|_| new_csrf_token());
    let values = context! {
        embedded => embedded.is_some(),
        // JSON in a data block: `<`, `>` and `&` escaped, so no text in it can end the
        // element.
        result => result.map(|r| minijinja::Value::from_safe_string(
            r.to_string()
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026"),
        )),
        nonce => nonce.clone(),
        token => shown.token,
        done => shown.done,
        errors => shown.errors,
        // What the page may show of the connector: never its OAuth client.
        connector => p.map(|p| context! {
            name => p.connector.name.clone(),
            logo_url => p.connector.logo_url.clone(),
            description => p.connector.description.clone(),
            oauth => p.connector.auth == AuthKind::Oauth2,
            fields => minijinja::Value::from_serialize(&p.connector.fields),
        }),
        company_name => p.map(|p| p.company_name.clone()),
        label => p.and_then(|p| p.connection.label.clone()),
        expires => p.map(|p| p.expires_at.format("%-d %B %Y, %H:%M UTC").to_string()),
        notice => shown.notice,
    };
    let mut rendered = page("connect.html", status, slug, brand, values)?;
    // An OAuth connector's button leads, through a redirect, to its provider.
    if let Some(origin) = p
        .filter(|_| !shown.done)
        .and_then(|p| p.connector.oauth2.as_ref())
        .and_then(|o| url::Url::parse(&o.authorize_url).ok())
        .map(|u| u.origin().ascii_serialization())
    {
        rendered.policy.form_targets.push(origin);
        // The provider's authorization endpoint may redirect on to another of its
        // origins (a federated sign-in), which `form-action` governs too.
        rendered.policy.form_targets.push("https:".to_owned());
    }
    rendered.policy.frame_ancestor = embedded.map(|(_, origin)| origin.to_owned());
    rendered.policy.script_nonce = nonce;
    Ok(rendered)
}

/// `GET /t/{slug}/connect/{token}`: who asks for which access, and the form to give it
/// (opening the link changes nothing: mail scanners open links too).
pub async fn connect_page(deps: &Deps, slug: &str, token: &str) -> Result<Page, Error> {
    let (tenant_id, brand, allowed) = tenant_of_slug(deps, slug).await?;
    let found = connections::open_link(deps, &tenant_id, &allowed, token).await?;
    let shown = Shown {
        token,
        page: found.as_ref(),
        done: false,
        errors: &[],
        notice: None,
    };
    render_connect(slug, &brand, shown, if found.is_some() { 200 } else { 410 })
}

/// The connect page's form: the credentials, checked and stored; a refusal keeps the
/// link working and says why. For an `oauth2` connector, the button: off to the
/// provider (303), with the `state` in this browser's cookie.
pub async fn connect_form(
    deps: &Deps,
    slug: &str,
    token: &str,
    form: &[u8],
    cookie_header: Option<&str>,
    public_base: &str,
) -> Result<Page, Error> {
    let (tenant_id, brand, allowed) = tenant_of_slug(deps, slug).await?;
    let show = |page: Option<&connections::ConnectPage>, done: bool, msgs: &[String], status| {
        let shown = Shown {
            token: if done { "" } else { token },
            page,
            done,
            errors: msgs,
            notice: None,
        };
        render_connect(slug, &brand, shown, status)
    };
    let Some(found) = connections::open_link(deps, &tenant_id, &allowed, token).await? else {
        return show(None, false, &[], 410);
    };
    let fields = form_fields(form);
    // A connect session's page may sit in the partner's frame, where the browser keeps
    // this site's cookies from it: the link's token in the path is the form's proof
    // (only whoever holds the link can post to it).
    if found.embedded_by.is_none()
        && !csrf_matches(
            fields.get("csrf").map(String::as_str).unwrap_or_default(),
            cookie(cookie_header, CSRF_COOKIE),
        )
    {
        let msg = ["This page expired. Please enter the details again.".to_owned()];
        return show(Some(&found), false, &msg, 403);
    }
    let unavailable = || {
        ["This could not be done just now, and nothing was stored. Please try again in a moment.".to_owned()]
    };
    if found.connector.auth == AuthKind::Oauth2 {
        let redirect_uri = format!("{public_base}/t/{slug}/connect/callback");
        return match connections::oauth::start(deps, &tenant_id, &found, &redirect_uri).await {
            Ok(started) => Ok(to_provider(slug, &found.connector.name, started)),
            Err(Error::Unavailable(_)) => show(Some(&found), false, &unavailable(), 503),
            Err(e) => Err(e),
        };
    }
    let values: std::collections::BTreeMap<String, String> =
        fields.into_iter().filter(|(k, _)| k != "csrf").collect();
    match connections::submit_api_key(deps, &tenant_id, &found, &values).await {
        Ok(connections::Submitted::Authorized(_)) => show(Some(&found), true, &[], 200),
        Ok(connections::Submitted::NotAccepted(why)) => show(Some(&found), false, &[why], 422),
        Err(Error::Unavailable(_)) => show(Some(&found), false, &unavailable(), 503),
        Err(Error::Invalid(list)) => {
            let msgs: Vec<String> = list.into_iter().map(|f| f.detail).collect();
            show(Some(&found), false, &msgs, 422)
        }
        // Something changed meanwhile (a second submission used the link up, the
        // connection or the customer changed): the link as it is now.
        Err(Error::Conflict {
            kind: tenantry::error::ProblemKind::ConcurrentUpdate,
            ..
        }) => match connections::open_link(deps, &tenant_id, &allowed, token).await? {
            Some(now) => {
                let msg =
                    ["Something changed meanwhile. Please enter the details again.".to_owned()];
                show(Some(&now), false, &msg, 409)
            }
            None => show(None, false, &[], 410),
        },
        Err(e) => Err(e),
    }
}

/// The cookie holding the `state` of an OAuth authorization this browser started:
/// `tenantry_connect_<the state's first 16 characters>`, so that two started at once
/// (two tabs) keep their own.
pub fn state_cookie(state: &str) -> String {
    let prefix: String = state
        .chars()
        .take(16)
        .filter(char::is_ascii_hexdigit)
        .collect();
    format!("tenantry_connect_{prefix}")
}

/// Off to the provider: a 303 to its authorization URL, the `state` in a cookie for
/// the callback only (`SameSite=Lax`: the provider's redirect back is a top-level
/// navigation from its site).
fn to_provider(slug: &str, connector_name: &str, started: oauth::Authorization) -> Page {
    let seconds = oauth::STATE_MINUTES * 60;
    let html = format!(
        "<!doctype html><title>Continue</title><p>Continue to {}.</p>",
        minijinja::HtmlEscape(connector_name)
    );
    Page {
        status: 303,
        html,
        cookie: Some(format!(
            "{}={}; Path=/t/{slug}/connect/callback; Max-Age={seconds}; HttpOnly; Secure; SameSite=Lax",
            state_cookie(&started.state),
            started.state
        )),
        location: Some(started.url),
        policy: Default::default(),
    }
}

/// `GET /t/{slug}/connect/callback`: the provider sends the contact back here, with a
/// code (or an error) and the `state`; the tokens are stored and the page says so, or
/// says why not (the link still works while it has not expired).
pub async fn connect_callback(
    deps: &Deps,
    slug: &str,
    query: &CallbackQuery<'_>,
    cookie_header: Option<&str>,
) -> Result<Page, Error> {
    let (tenant_id, brand, allowed) = tenant_of_slug(deps, slug).await?;
    let name = state_cookie(query.state.unwrap_or_default());
    let browser_state = cookie(cookie_header, &name);
    let finished = oauth::finish(deps, &tenant_id, &allowed, query, browser_state).await;
    let render = |page: Option<&connections::ConnectPage>,
                  done: bool,
                  errors: &[String],
                  notice: Option<&str>,
                  status: u16| {
        let shown = Shown {
            token: "",
            page,
            done,
            errors,
            notice,
        };
        render_connect(slug, &brand, shown, status)
    };
    match finished {
        Ok(Finished::Authorized(page)) => render(Some(&page), true, &[], None, 200),
        Ok(Finished::NotCompleted { page, reason }) => {
            let msgs = [reason];
            render_retry(slug, &brand, &page, &msgs)
        }
        Ok(Finished::OtherBrowser) => render(
            None,
            false,
            &[],
            Some(
                "This authorization was started in another browser. Open the link from your invitation again, in this browser.",
            ),
            403,
        ),
        Ok(Finished::Unknown) => render(None, false, &[], None, 410),
        // The link was used up, or the connection or the customer changed, meanwhile;
        // or the connector is no longer an OAuth one.
        Err(Error::Conflict { .. }) => render(
            None,
            false,
            &[],
            Some(
                "Something changed while this was being completed, and nothing was stored. Open the link again to try once more.",
            ),
            409,
        ),
        // The key service or the store failed: said on the page, nothing stored.
        Err(Error::Unavailable(_)) => render(
            None,
            false,
            &[],
            Some(
                "This could not be completed just now, and nothing was stored. Open the link again in a moment.",
            ),
            503,
        ),
        Err(e) => Err(e),
    }
}

/// The callback did not complete: the reason, and (the link still working) the way
/// back, which is the link from the invitation.
fn render_retry(
    slug: &str,
    brand: &Look,
    page: &connections::ConnectPage,
    msgs: &[String],
) -> Result<Page, Error> {
    let shown = Shown {
        token: "",
        page: Some(page),
        done: false,
        errors: msgs,
        notice: None,
    };
    render_connect(slug, brand, shown, 422)
}

/// The support approval page's values for a waiting session.
fn support_values(
    token: &str,
    found: Option<&(
        tenantry::model::support::SupportSession,
        tenantry::model::customer::Customer,
        String,
    )>,
    answered: Option<&str>,
    until: Option<String>,
    errors: &[&str],
) -> minijinja::Value {
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%-d %B %Y, %H:%M UTC").to_string();
    context! {
        token,
        session => found.map(|(s, _, _)| s.id.to_string()),
        company_name => found.map(|(_, c, _)| c.company.name.clone()),
        staff_name => found.map(|(_, _, n)| n.clone()),
        reason => found.map(|(s, _, _)| s.reason.clone()),
        minutes => found.map(|(s, _, _)| s.minutes),
        expires => found.and_then(|(s, _, _)| s.approval_expires_at.map(when)),
        answered,
        until,
        errors,
    }
}

/// `GET /t/{slug}/support/{token}`: who asks to step into the company's account and
/// why, with approve and decline (opening the link changes nothing).
pub async fn support_page(deps: &Deps, slug: &str, token: &str) -> Result<Page, Error> {
    let (tenant_id, brand) = brand_of_slug(deps, slug).await?;
    let found = tenantry::service::support::by_approval_link(deps, &tenant_id, token).await?;
    let status = if found.is_some() { 200 } else { 410 };
    page(
        "support.html",
        status,
        slug,
        &brand,
        support_values(token, found.as_ref(), None, None, &[]),
    )
}

/// The approval page's form: `decision=approve|decline`, with the page's CSRF token.
pub async fn support_form(
    deps: &Deps,
    slug: &str,
    token: &str,
    form: &[u8],
    cookie_header: Option<&str>,
) -> Result<Page, Error> {
    let (tenant_id, brand) = brand_of_slug(deps, slug).await?;
    let Some(found) = tenantry::service::support::by_approval_link(deps, &tenant_id, token).await?
    else {
        return page(
            "support.html",
            410,
            slug,
            &brand,
            support_values(token, None, None, None, &[]),
        );
    };
    let fields = form_fields(form);
    let show = |status: u16, msg: &str| {
        page(
            "support.html",
            status,
            slug,
            &brand,
            support_values(token, Some(&found), None, None, &[msg]),
        )
    };
    if !csrf_matches(
        fields.get("csrf").map(String::as_str).unwrap_or_default(),
        cookie(cookie_header, CSRF_COOKIE),
    ) {
        return show(403, "This page expired. Please choose again.");
    }
    let approve = match fields.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("decline") => false,
        _ => return show(422, "Choose Approve or Decline."),
    };
    match tenantry::service::support::answer_by_link(deps, &tenant_id, token, approve).await {
        Ok(Some(v)) => {
            let until = v
                .expires_at
                .map(|t| t.format("%-d %B %Y, %H:%M UTC").to_string());
            let answered = if approve { "approved" } else { "declined" };
            page(
                "support.html",
                200,
                slug,
                &brand,
                support_values(token, Some(&found), Some(answered), until, &[]),
            )
        }
        // Answered meanwhile (another tab), or lapsed.
        Ok(None)
        | Err(Error::Conflict {
            kind:
                tenantry::error::ProblemKind::ConcurrentUpdate
                | tenantry::error::ProblemKind::SupportSessionOver,
            ..
        }) => page(
            "support.html",
            410,
            slug,
            &brand,
            support_values(token, None, None, None, &[]),
        ),
        Err(e) => Err(e),
    }
}
