//! The request pipeline shared by every Lambda and the local server: match the route,
//! authenticate, authorize, check the body, honour Idempotency-Key, call the handler,
//! answer JSON or problem+json, log one line.

pub(crate) mod handlers;
pub mod problem;

use std::collections::HashMap;
use std::time::Instant;
use tenantry::error::ProblemKind;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Serialize;
use serde_json::Value;
use tenantry::access::{CustomerScope, Permission, Principal, Scope, TenantScope, authorize};
use tenantry::model::audit::Origin;
use tenantry::model::ids::{CustomerId, TenantId};
use tenantry::service::{auth, idempotency};
use tenantry::{Deps, Error};
use tracing::Instrument;

use crate::routes::{ROUTES, Route};

/// POST routes whose answer holds a secret (a connect session's link, a support
/// session's token), so `Idempotency-Key` stores no answer of theirs (besides
/// credential reads).
const NOT_REPLAYED: [&str; 2] = ["CONNECT_SESSIONS_CREATE", "SUPPORT_SESSIONS_CREATE"];

/// Largest request body accepted: room for a batch of 1,000 usage events.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What a handler answers.
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub etag_version: Option<u64>,
    pub location: Option<String>,
    /// A `Set-Cookie` value (a sign-in's session).
    pub cookie: Option<String>,
    /// An HTML page instead of JSON (the tenant's login page).
    pub html: Option<String>,
    /// What an HTML page's `Content-Security-Policy` allows beyond the default.
    pub page_policy: PagePolicy,
    /// Bytes of any media type instead of JSON (a document), passed through untouched.
    pub bytes: Option<(HeaderValue, Bytes)>,
    /// A body of this media type written as it is read (an export), chunk by chunk.
    pub stream: Option<(HeaderValue, Chunks)>,
}

/// A body produced chunk by chunk; an error ends it.
pub type Chunks = futures::stream::BoxStream<'static, Result<Vec<u8>, Error>>;

/// A response's body: whole, or streamed (the local server writes it as it comes; a
/// Lambda's gateway takes it whole, up to `MAX_COLLECTED_BYTES`).
pub enum Payload {
    Full(Bytes),
    Stream(Chunks),
}

/// The most of a streamed body a Lambda answers: API Gateway takes a function's answer
/// whole, and at most 10 MB of it (6 MB from the function's side).
pub const MAX_COLLECTED_BYTES: usize = 5 * 1024 * 1024;

impl Reply {
    /// A view as JSON, status 200; its `version`, if it has one, is the ETag.
    pub fn ok(view: &impl Serialize) -> Result<Self, Error> {
        let body = serde_json::to_value(view)
            .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("serializing a view")))?;
        let etag_version = body.get("version").and_then(Value::as_u64);
        Ok(Self {
            status: StatusCode::OK,
            body: Some(body),
            etag_version,
            location: None,
            cookie: None,
            html: None,
            page_policy: PagePolicy::default(),
            bytes: None,
            stream: None,
        })
    }
    /// A view as JSON with another status than 200, and no ETag.
    pub fn json(status: StatusCode, view: &impl Serialize) -> Result<Self, Error> {
        Ok(Self {
            status,
            etag_version: None,
            ..Self::ok(view)?
        })
    }
    /// Bytes of `content_type` (e.g. `application/pdf`), with status 200.
    pub fn bytes(content_type: HeaderValue, bytes: Bytes) -> Self {
        Self {
            bytes: Some((content_type, bytes)),
            ..Self::no_content()
        }
        .with_status(StatusCode::OK)
    }
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    /// An HTML page with this status.
    pub fn html(status: StatusCode, html: String) -> Self {
        Self {
            status,
            body: None,
            etag_version: None,
            location: None,
            cookie: None,
            html: Some(html),
            page_policy: PagePolicy::default(),
            bytes: None,
            stream: None,
        }
    }
    /// A view just created, at `location`.
    pub fn created(view: &impl Serialize, location: String) -> Result<Self, Error> {
        Ok(Self {
            status: StatusCode::CREATED,
            location: Some(location),
            ..Self::ok(view)?
        })
    }
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            etag_version: None,
            location: None,
            cookie: None,
            html: None,
            page_policy: PagePolicy::default(),
            bytes: None,
            stream: None,
        }
    }
    /// A body of `content_type` streamed from `chunks`, status 200.
    pub fn stream(content_type: &'static str, chunks: Chunks) -> Self {
        Self {
            stream: Some((HeaderValue::from_static(content_type), chunks)),
            ..Self::no_content()
        }
        .with_status(StatusCode::OK)
    }
}

/// What a handler gets: the dependencies, the authorized scope and the parsed request.
/// Where a request came from (the client's address, as the local server's connection or
/// API Gateway's `sourceIp` says), set on the request before `dispatch`: public forms are
/// rate limited by it.
#[derive(Clone, Debug)]
pub struct SourceIp(pub String);

pub struct Ctx<'a> {
    pub deps: &'a Deps,
    /// The client's address, when the home knows it.
    pub source: Option<&'a str>,
    /// None on a public route.
    pub principal: Option<&'a Principal>,
    pub scope: Scope,
    pub params: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Ctx<'_> {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
    /// Who is calling (a key's, a member's or a user's id), for what it records; empty
    /// on a public route.
    pub fn actor(&self) -> &str {
        self.principal.map(|p| p.actor()).unwrap_or_default()
    }

    /// Where this deployment's pages are: `PUBLIC_URL`, else the request's own origin
    /// (`X-Forwarded-Proto` and `Host`; `http` for this machine's loopback).
    pub fn public_base(&self) -> String {
        if let Ok(url) = std::env::var("PUBLIC_URL") {
            return url.trim_end_matches('/').to_owned();
        }
        let header = |name: http::header::HeaderName| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        // A host name or address and a port, nothing else (else this machine's).
        let host = header(http::header::HOST);
        let host = if !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            host
        } else {
            "127.0.0.1"
        };
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let loopback = matches!(name, "127.0.0.1" | "localhost" | "[::1]");
        let proto = match self
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            Some(p @ ("http" | "https")) => p,
            _ if loopback => "http",
            _ => "https",
        };
        format!("{proto}://{host}")
    }

    /// The request's `Cookie` header, if any.
    pub fn cookies(&self) -> Option<&str> {
        self.headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
    }

    /// The body is a browser form (`application/x-www-form-urlencoded`).
    pub fn is_form(&self) -> bool {
        is_form(self.headers)
    }
    /// The customer's own company, on a route for its users (`/v1/me/...`).
    pub fn own_company(&self) -> Result<CustomerScope, Error> {
        match &self.scope {
            tenantry::access::Scope::Customer(c) => Ok(c.clone()),
            _ => Err(Error::Forbidden(
                "this route is for a customer's users, with their own token".into(),
            )),
        }
    }
    /// `customer()`, and for a customer's own users only while `area` is enabled for
    /// their company (its plan, the tenant and the company's switches): else 403.
    pub async fn customer_in_area(&self, area: &str) -> Result<CustomerScope, Error> {
        let scope = self.customer()?;
        if matches!(self.scope, tenantry::access::Scope::Customer(_)) {
            self.require_area(&scope, area).await?;
        }
        Ok(scope)
    }
    /// `own_company()` while `area` is enabled for it: else 403.
    pub async fn own_company_in_area(&self, area: &str) -> Result<CustomerScope, Error> {
        let scope = self.own_company()?;
        self.require_area(&scope, area).await?;
        Ok(scope)
    }
    async fn require_area(&self, scope: &CustomerScope, area: &str) -> Result<(), Error> {
        if tenantry::service::features::area_enabled(self.deps, scope, area).await? {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the {area} area is not enabled for this company"
            )))
        }
    }
    /// The tenant of a tenant-scoped route: from the verified principal only.
    pub fn tenant(&self) -> Result<&TenantScope, Error> {
        tenantry::access::tenant_of(&self.scope)
    }
    /// The customer a customer-level route names (`{customer_id}`), as the scope allows.
    pub fn customer(&self) -> Result<CustomerScope, Error> {
        let id = CustomerId::parse(self.param("customer_id"))?;
        tenantry::access::customer_of(&self.scope, id)
    }
    /// The tenant a platform route names (`{tenant_id}`), for the operator.
    pub fn named_tenant(&self) -> Result<TenantId, Error> {
        TenantId::parse(self.param("tenant_id"))
    }
    /// The operator acting inside the tenant a platform route names.
    pub fn operator_on_tenant(&self) -> Result<TenantScope, Error> {
        tenantry::access::operator_on(&self.scope, self.named_tenant()?)
    }
    /// `If-Match: "3"` (or W/"3", or 3): the version the client last read.
    pub fn if_version(&self) -> Result<Option<u64>, Error> {
        let Some(v) = self.headers.get(header::IF_MATCH) else {
            return Ok(None);
        };
        let s = v.to_str().unwrap_or_default().trim();
        let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
        s.parse::<u64>().map(Some).map_err(|_| {
            Error::invalid(
                "If-Match",
                "must be an ETag returned by this API, e.g. \"3\"",
            )
        })
    }
}

/// The routes one process serves, matched by path then method.
pub struct App {
    pub deps: Deps,
    router: matchit::Router<Vec<&'static Route>>,
}

impl App {
    /// Every route: the local server.
    pub fn all(deps: Deps) -> Self {
        Self::new(deps, ROUTES)
    }

    /// These routes only: a Lambda serves its one route, and nothing else links.
    pub fn new(deps: Deps, routes: &[&'static Route]) -> Self {
        let mut by_path: Vec<(&str, Vec<&'static Route>)> = Vec::new();
        for &r in routes {
            match by_path.iter_mut().find(|(p, _)| *p == r.path) {
                Some((_, v)) => v.push(r),
                None => by_path.push((r.path, vec![r])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, routes) in by_path {
            router
                .insert(path, routes)
                .expect("route table paths are distinct and well-formed");
        }
        Self { deps, router }
    }
}

fn json_response(status: StatusCode, content_type: &'static str, body: &Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// What one page's `Content-Security-Policy` allows beyond a tenant page's default (no
/// scripts at all, images over https only, forms to this origin only, never framed).
#[derive(Clone, Debug, Default)]
pub struct PagePolicy {
    /// Origins its form may lead to besides its own (an OAuth provider the form
    /// redirects to).
    pub form_targets: Vec<String>,
    /// The one origin that may frame it (a connect session's).
    pub frame_ancestor: Option<String>,
    /// The nonce of its one inline script (a connect session's result, posted to the
    /// page that opened it).
    pub script_nonce: Option<String>,
}

/// An origin as a CSP source: nothing that could end a directive or a source list.
fn csp_source(origin: &str) -> Option<&str> {
    origin
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'))
        .then_some(origin)
}

fn page_csp(policy: &PagePolicy) -> HeaderValue {
    let mut form = String::from("'self'");
    for t in policy.form_targets.iter().filter_map(|t| csp_source(t)) {
        form.push(' ');
        form.push_str(t);
    }
    let frames = policy
        .frame_ancestor
        .as_deref()
        .and_then(csp_source)
        .unwrap_or("'none'");
    let scripts = match policy.script_nonce.as_deref().and_then(csp_source) {
        Some(n) => format!("; script-src 'nonce-{n}'"),
        None => String::new(),
    };
    let csp = format!(
        "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'{scripts}; form-action {form}; frame-ancestors {frames}; base-uri 'none'"
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| {
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'")
    })
}

fn html_response(status: StatusCode, page: &str, policy: &PagePolicy) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(page.to_owned()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, page_csp(policy));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn problem_response(e: &Error, request_id: &str, headers: &HeaderMap) -> Response<Bytes> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("?"));
    let p = problem::from_error(e, request_id, authorization);
    let mut r = json_response(p.status, problem::CONTENT_TYPE, &p.body);
    if matches!(e, Error::Unauthenticated) {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    // Throttled, or a conflict that passes (a document not stored yet): when to ask again.
    let retry_after = match e {
        Error::Throttled {
            retry_after_seconds,
        } => Some(*retry_after_seconds),
        Error::Conflict { extra, .. } => extra.get("retry_after_seconds").and_then(|v| v.as_u64()),
        _ => None,
    };
    if let Some(seconds) = retry_after
        && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// 413 for a body over the limit; also used by the server before the body is read.
pub fn too_large(request_id: &str) -> Response<Bytes> {
    let p = problem::problem(
        ProblemKind::BodyTooLarge,
        "Body too large",
        &format!("a request body may be at most {MAX_BODY_BYTES} bytes"),
    );
    let mut body = p.body;
    body["request_id"] = Value::from(request_id);
    json_response(p.status, problem::CONTENT_TYPE, &body)
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or_default().as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// A browser form's body (only public routes take one: the login and registration forms).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn is_json(headers: &HeaderMap, method: &Method) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json"
        || (method == Method::PATCH && mime == "application/merge-patch+json")
}

/// Who establishes the caller of a request. A trait rather than an enum, so a Lambda
/// route, which only reads its authorizer's verdict, links no token verification.
pub trait Authn {
    /// The caller of a route that is not public; `Error::Unauthenticated` without a
    /// valid credential.
    fn principal(
        self,
        deps: &Deps,
        headers: &HeaderMap,
    ) -> impl Future<Output = Result<Principal, Error>> + Send;
}

/// This process runs `authenticate()` on the request's bearer credential: the local
/// server (the same function the Lambda authorizer runs).
pub struct Bearer;

impl Authn for Bearer {
    async fn principal(self, deps: &Deps, headers: &HeaderMap) -> Result<Principal, Error> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        auth::authenticate(deps, auth::bearer(header)).await
    }
}

/// The API's Lambda authorizer, whose verdict travels in the request context and is never
/// re-verified here. `None`: it found no valid credential (401).
pub struct Authorizer(pub Option<Principal>);

impl Authn for Authorizer {
    async fn principal(self, _: &Deps, _: &HeaderMap) -> Result<Principal, Error> {
        self.0.ok_or(Error::Unauthenticated)
    }
}

/// Serves one request with its body whole (a Lambda's answer): a streamed body is
/// collected, up to `MAX_COLLECTED_BYTES`. Never panics on input and never answers 5xx
/// for bad input.
pub async fn dispatch(app: &App, req: Request<Bytes>, authn: impl Authn) -> Response<Bytes> {
    let response = dispatch_streaming(app, req, authn).await;
    let (mut parts, payload) = response.into_parts();
    let chunks = match payload {
        Payload::Full(b) => return Response::from_parts(parts, b),
        Payload::Stream(chunks) => chunks,
    };
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = Vec::new();
    let mut chunks = chunks;
    let failed = loop {
        match chunks.next().await {
            None => break None,
            Some(Ok(c)) if body.len() + c.len() <= MAX_COLLECTED_BYTES => body.extend(c),
            Some(Ok(_)) => {
                break Some(Error::bad_request(
                    ProblemKind::BodyTooLarge,
                    format!(
                        "this export is over {} MB, more than this deployment answers at once; export a shorter period (since, until)",
                        MAX_COLLECTED_BYTES / (1024 * 1024)
                    ),
                ));
            }
            Some(Err(e)) => break Some(e),
        }
    };
    match failed {
        None => Response::from_parts(parts, Bytes::from(body)),
        Some(e) => {
            if let Error::Unexpected(cause) = &e {
                tracing::error!(request_id = %request_id, error = format!("{cause:#}"), "export failed");
            }
            let mut r = problem_response(&e, &request_id, &HeaderMap::new());
            parts.status = r.status();
            parts.headers = std::mem::take(r.headers_mut());
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                parts.headers.insert("x-request-id", v);
            }
            Response::from_parts(parts, r.into_body())
        }
    }
}

/// Serves one request; a streamed body is left as a stream (the local server).
pub async fn dispatch_streaming(
    app: &App,
    req: Request<Bytes>,
    authn: impl Authn,
) -> Response<Payload> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let mut route_path = "-";
    let mut actor = String::new();
    let response = match app.router.at(&path) {
        Err(_) => problem_response(&Error::NotFound("route"), &request_id, &parts.headers)
            .map(Payload::Full),
        Ok(matched) => match matched.value.iter().find(|r| r.method == parts.method) {
            None => {
                let allow = matched
                    .value
                    .iter()
                    .map(|r| r.method.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let p = problem::problem(
                    ProblemKind::MethodNotAllowed,
                    "Method not allowed",
                    &format!("this path accepts {allow}"),
                );
                let mut r = json_response(p.status, problem::CONTENT_TYPE, &p.body);
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    r.headers_mut().insert(header::ALLOW, v);
                }
                r.map(Payload::Full)
            }
            Some(route) => {
                route_path = route.path;
                let params = matched
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                let query = parse_query(parts.uri.query());
                // Every line a service logs while serving this request carries its id.
                // An error-level span: enabled whatever level RUST_LOG lets through.
                let span = tracing::error_span!("request", request_id = %request_id);
                let source = parts.extensions.get::<SourceIp>().map(|s| s.0.as_str());
                let result = run(
                    app,
                    route,
                    authn,
                    &parts.headers,
                    (params, query),
                    (&body, source, &request_id),
                    &mut actor,
                )
                .instrument(span)
                .await;
                match result {
                    Ok(r) => r,
                    Err(e) => {
                        if let Error::Unexpected(cause) = &e {
                            tracing::error!(request_id = %request_id, route = route.path, error = format!("{cause:#}"), "request failed");
                        }
                        problem_response(&e, &request_id, &parts.headers).map(Payload::Full)
                    }
                }
            }
        },
    };
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(
        request_id = %request_id,
        method = %parts.method,
        route = route_path,
        status = response.status().as_u16(),
        actor = %actor,
        duration_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn run(
    app: &App,
    route: &Route,
    authn: impl Authn,
    headers: &HeaderMap,
    (params, query): (HashMap<String, String>, HashMap<String, String>),
    (body, source, request_id): (&Bytes, Option<&str>, &str),
    actor: &mut String,
) -> Result<Response<Payload>, Error> {
    // A login page: whatever credential comes along is not looked at.
    let principal: Option<Principal> = if route.permission.is_public() {
        None
    } else {
        Some(authn.principal(&app.deps, headers).await?)
    };
    let scope = match &principal {
        Some(p) => {
            *actor = p.actor().to_owned();
            authorize(p, route.permission)?
        }
        None => tenantry::access::Scope::Public,
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::bad_request(
            ProblemKind::BodyTooLarge,
            format!("a request body may be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    let has_body = matches!(route.method, Method::POST | Method::PATCH | Method::PUT);
    let form_ok = route.permission == Permission::Public && is_form(headers);
    if has_body && !body.is_empty() && !is_json(headers, &route.method) && !form_ok {
        return Err(unsupported_media_type());
    }
    // A credentials read is a read, recorded each time, and a connect session's answer
    // holds its link: no stored answer to replay (it would keep the secret in the
    // idempotency record).
    let replayable = route.method == Method::POST
        && route.permission != Permission::ReadCredentials
        && !NOT_REPLAYED.contains(&route.name);
    let ticket = match (replayable, headers.get("idempotency-key"), &principal) {
        (true, Some(k), Some(principal)) => {
            let k = k
                .to_str()
                .map_err(|_| Error::invalid("Idempotency-Key", "must be visible ASCII"))?;
            match idempotency::begin(
                &app.deps,
                principal,
                k,
                route.method.as_str(),
                route.path_for(&params).as_str(),
                body,
            )
            .await?
            {
                idempotency::Begin::Replay(r) => {
                    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
                    let ct = if status.is_success() {
                        "application/json"
                    } else {
                        problem::CONTENT_TYPE
                    };
                    let mut resp = json_response(status, ct, &r.body);
                    resp.headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    return Ok(resp.map(Payload::Full));
                }
                idempotency::Begin::Proceed(t) => Some(t),
            }
        }
        _ => None,
    };
    // Whatever this request changes is recorded under its caller and its trace.
    let deps = app.deps.acting(Origin {
        request_id: Some(request_id.to_owned()),
        source_ip: source.map(str::to_owned),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
        ..Origin::of_principal(principal.as_ref())
    });
    let cx = Ctx {
        deps: &deps,
        source,
        principal: principal.as_ref(),
        scope,
        params,
        query,
        headers,
        body,
    };
    let mut result = (route.handler)(cx).await;
    let streamed = result.as_mut().ok().and_then(|r| r.stream.take());
    let response = match &result {
        Err(_) => None,
        Ok(reply) => {
            let mut r = match (&reply.body, &reply.html, &reply.bytes) {
                _ if streamed.is_some() => {
                    let mut r = Response::new(Bytes::new());
                    *r.status_mut() = reply.status;
                    r
                }
                (_, _, Some((content_type, bytes))) => {
                    let mut r = Response::new(bytes.clone());
                    *r.status_mut() = reply.status;
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, content_type.clone());
                    r
                }
                (_, Some(page), None) => html_response(reply.status, page, &reply.page_policy),
                (Some(b), None, None) => json_response(reply.status, "application/json", b),
                (None, None, None) => {
                    let mut r = Response::new(Bytes::new());
                    *r.status_mut() = reply.status;
                    r
                }
            };
            if let Some(v) = reply
                .etag_version
                .and_then(|v| HeaderValue::from_str(&format!("\"{v}\"")).ok())
            {
                r.headers_mut().insert(header::ETAG, v);
            }
            if let Some(l) = reply
                .location
                .as_deref()
                .and_then(|l| HeaderValue::from_str(l).ok())
            {
                r.headers_mut().insert(header::LOCATION, l);
            }
            if let Some(c) = reply
                .cookie
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
            {
                r.headers_mut().insert(header::SET_COOKIE, c);
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            Some(r)
        }
    };
    if let Some(t) = ticket {
        let (status, stored) = match &result {
            Ok(reply) => (
                reply.status.as_u16(),
                reply.body.clone().unwrap_or(Value::Null),
            ),
            Err(e) => {
                let p = problem::from_error(e, "", None);
                (p.status.as_u16(), p.body)
            }
        };
        if let Err(e) = idempotency::finish(&app.deps, t, status, &stored).await {
            tracing::warn!(error = format!("{e:#}"), "idempotency record not saved");
        }
    }
    match (result, response) {
        (Ok(_), Some(r)) => Ok(match streamed {
            Some((content_type, chunks)) => {
                let (mut parts, _) = r.into_parts();
                parts.headers.insert(header::CONTENT_TYPE, content_type);
                parts
                    .headers
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Response::from_parts(parts, Payload::Stream(chunks))
            }
            None => r.map(Payload::Full),
        }),
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(Error::Unexpected(anyhow::anyhow!(
            "a reply without a response"
        ))),
    }
}

fn unsupported_media_type() -> Error {
    Error::BadRequest {
        kind: ProblemKind::UnsupportedMediaType,
        detail: "send the body as Content-Type: application/json".into(),
        field: None,
    }
}

impl Route {
    /// The concrete path of this route for some parameters (for idempotency fingerprints).
    fn path_for(&self, params: &HashMap<String, String>) -> String {
        let mut p = self.path.to_owned();
        for (k, v) in params {
            p = p.replace(&format!("{{{k}}}"), v);
        }
        p
    }
}
