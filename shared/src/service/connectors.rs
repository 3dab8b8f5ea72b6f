//! The operator's catalog of connectors: the external systems a customer can connect
//! (`api_key`: fields to ask for and an optional check request; `oauth2`: the provider's
//! authorization and token endpoints and the platform's client). The operator keeps it
//! (`POST|PATCH /v1/connectors`); any tenant's staff reads it. An OAuth client secret is
//! sealed in the vault under the platform's context (`connector`, its code) and never
//! shown again: views say only whether one is set.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::audit::{self, Entry, Log};
use super::{from_item, page, signing, to_data};
use crate::Deps;
use crate::error::{Error, ProblemKind};
use crate::model::audit::Target;
use crate::model::fields;
use crate::model::input::{Checks, from_value, merge_patch, to_value};
use crate::ports::{Condition, Item, Sealed, StoreError, VaultContext, WriteOp};
use crate::store::keys;

/// Connectors the catalog holds.
pub const MAX_CONNECTORS: usize = 200;
/// The vault purpose of a connector's OAuth client secret.
pub const PURPOSE: &str = "connector";
const MAX_FIELDS: usize = 10;
const MAX_HEADERS: usize = 10;
const MAX_SCOPES: usize = 50;
const MAX_PARAMS: usize = 20;
const MAX_URL_LEN: usize = 2000;
const MAX_BODY_LEN: usize = 4096;
const MAX_SECRET_LEN: usize = 4096;
/// Parameters of the authorization request the flow sets itself.
const RESERVED_PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

/// How a customer connects the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// The customer's contact enters credentials (an API key and the like).
    ApiKey,
    /// The customer's contact consents at the provider (authorization code with PKCE).
    Oauth2,
}

/// One credential the connect page asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialField {
    /// Its name in the credentials and in the check request's `{{name}}`.
    #[schema(example = "api_key")]
    pub name: String,
    #[schema(example = "Secret key")]
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Dashboard → Developers → API keys; starts with sk_live_")]
    pub help: Option<String>,
    /// Shown as a password field, and never shown back.
    pub secret: bool,
}

/// A request that must answer 2xx for entered credentials to be accepted; `{{name}}` in
/// its URL, headers and body stands for the field of that name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckRequest {
    /// `GET` or `POST`.
    #[schema(example = "GET")]
    pub method: String,
    #[schema(example = "https://api.stripe.com/v1/balance")]
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(example = json!({"Authorization": "Bearer {{api_key}}"}))]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// How the platform's client authenticates at a provider's token endpoint (RFC 6749,
/// 2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// The client id and secret in the request's form.
    #[default]
    ClientSecretPost,
    /// The client id and secret in an `Authorization: Basic` header.
    ClientSecretBasic,
}

/// An OAuth 2.0 provider and the platform's client there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth2 {
    pub authorize_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub client_id: String,
    /// Sealed under the platform's `connector` context; none for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Sealed>,
    pub pkce: bool,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_auth: TokenAuth,
}

/// A connector as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connector {
    pub code: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    pub auth: AuthKind,
    /// `api_key`: what to ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<CredentialField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/connectors`; merged with the stored connector for `PATCH` (a merge patch:
/// `null` clears a field). `fields` and `check` belong to `api_key` connectors, the
/// rest of the OAuth settings to `oauth2` ones.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDraft {
    /// Its name in requests, fixed once made.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "hubspot")]
    pub code: Option<String>,
    #[schema(max_length = 100, example = "HubSpot")]
    pub name: Option<String>,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// An http(s) URL of its logo, shown on the connect page.
    #[schema(example = "https://www.hubspot.com/hubfs/HubSpot_Logos/HubSpot-Inversed-Favicon.png")]
    pub logo_url: Option<String>,
    pub auth: Option<AuthKind>,
    /// `api_key`: the credentials to ask for (1 to 10).
    pub fields: Option<Vec<CredentialFieldDraft>>,
    /// `api_key`: a request that must answer 2xx before credentials are stored.
    pub check: Option<CheckRequest>,
    /// `oauth2`: the provider's authorization endpoint.
    #[schema(example = "https://app.hubspot.com/oauth/authorize")]
    pub authorize_url: Option<String>,
    /// `oauth2`: the provider's token endpoint.
    #[schema(example = "https://api.hubapi.com/oauth/v1/token")]
    pub token_url: Option<String>,
    /// `oauth2`: the scopes to ask for.
    #[schema(example = json!(["crm.objects.contacts.read"]))]
    pub scopes: Option<Vec<String>>,
    /// `oauth2`: the platform's client id at the provider.
    pub client_id: Option<String>,
    /// `oauth2`: the client's secret (write-only: sealed, never shown); none for a
    /// public client.
    pub client_secret: Option<String>,
    /// `oauth2`: use PKCE (S256); default true.
    pub pkce: Option<bool>,
    /// `oauth2`: extra parameters of the authorization request.
    #[schema(example = json!({"optional_scope": "crm.objects.deals.read"}))]
    pub authorize_params: Option<BTreeMap<String, String>>,
    /// `oauth2`: how the client authenticates at `token_url`; default
    /// `client_secret_post`.
    pub token_auth: Option<TokenAuth>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialFieldDraft {
    /// Lower case letters, digits and `_`.
    #[schema(example = "api_key")]
    pub name: Option<String>,
    #[schema(max_length = 100, example = "Secret key")]
    pub label: Option<String>,
    #[schema(max_length = 500)]
    pub help: Option<String>,
    /// Default true.
    pub secret: Option<bool>,
}

/// A connector as the API shows it (to the operator and to tenant staff alike): no
/// secret, only whether the OAuth client has one.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectorView {
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    pub auth: AuthKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<CredentialField>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whether the OAuth client has a secret (it is never shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_set: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkce: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_params: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_auth: Option<TokenAuth>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For `If-Match`.
    pub version: u64,
}

impl Connector {
    pub fn view(&self, version: u64) -> ConnectorView {
        let o = self.oauth2.as_ref();
        ConnectorView {
            code: self.code.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            logo_url: self.logo_url.clone(),
            auth: self.auth,
            fields: (self.auth == AuthKind::ApiKey).then(|| self.fields.clone()),
            check: self.check.clone(),
            authorize_url: o.map(|o| o.authorize_url.clone()),
            token_url: o.map(|o| o.token_url.clone()),
            scopes: o.map(|o| o.scopes.clone()),
            client_id: o.map(|o| o.client_id.clone()),
            client_secret_set: o.map(|o| o.client_secret.is_some()),
            pkce: o.map(|o| o.pkce),
            authorize_params: o.map(|o| o.authorize_params.clone()),
            token_auth: o.map(|o| o.token_auth),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version,
        }
    }

    /// The draft of the stored connector, for a merge patch (without its secret).
    fn draft(&self) -> ConnectorDraft {
        let o = self.oauth2.as_ref();
        ConnectorDraft {
            code: Some(self.code.clone()),
            name: Some(self.name.clone()),
            description: self.description.clone(),
            logo_url: self.logo_url.clone(),
            auth: Some(self.auth),
            fields: (!self.fields.is_empty()).then(|| {
                self.fields
                    .iter()
                    .map(|f| CredentialFieldDraft {
                        name: Some(f.name.clone()),
                        label: Some(f.label.clone()),
                        help: f.help.clone(),
                        secret: Some(f.secret),
                    })
                    .collect()
            }),
            check: self.check.clone(),
            authorize_url: o.map(|o| o.authorize_url.clone()),
            token_url: o.map(|o| o.token_url.clone()),
            scopes: o.map(|o| o.scopes.clone()),
            client_id: o.map(|o| o.client_id.clone()),
            client_secret: None,
            pkce: o.map(|o| o.pkce),
            authorize_params: o
                .filter(|o| !o.authorize_params.is_empty())
                .map(|o| o.authorize_params.clone()),
            // Only when chosen: a patch switching to `api_key` need not null a default.
            token_auth: o
                .map(|o| o.token_auth)
                .filter(|t| *t != TokenAuth::default()),
        }
    }
}

/// The vault context of a connector's client secret.
pub fn context(code: &str) -> VaultContext<'_> {
    VaultContext::of_platform(PURPOSE, code)
}

/// An https URL with a host and no credentials (http only to this machine's loopback,
/// for trying a connector against a local server: no deployed sender reaches it).
fn url(raw: &str) -> fields::Parsed<String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let bad = || "must be an https URL with a host, such as https://api.example.com/v1".to_owned();
    let u = url::Url::parse(raw).map_err(|_| bad())?;
    let host = u.host_str().unwrap_or_default();
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let scheme_ok = u.scheme() == "https" || (u.scheme() == "http" && loopback);
    if !scheme_ok || host.is_empty() {
        return Err(bad());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("may not carry a user name or password".into());
    }
    Ok(raw.to_owned())
}

/// The `{{name}}` placeholders of a template text.
fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end].trim());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out
}

/// Fills a template's placeholders from `values`, each escaped by `escape` (a name it
/// lacks becomes empty).
pub fn fill_with(
    text: &str,
    values: &BTreeMap<String, String>,
    escape: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        if let Some(v) = values.get(after[..end].trim()) {
            out.push_str(&escape(v));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Fills a template's placeholders as they are (header values: one line each).
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> String {
    fill_with(text, values, str::to_owned)
}

/// A value for a URL's path or query: every byte but the unreserved ones percent-encoded,
/// so a value cannot add a path segment, a parameter or a fragment.
pub fn url_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A value for a JSON body's string (without its quotes), or a form body's field.
pub fn body_escape(template: &str) -> fn(&str) -> String {
    if template.trim_start().starts_with(['{', '[']) {
        |v| {
            let quoted = serde_json::Value::String(v.to_owned()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        }
    } else {
        url_escape
    }
}

/// A body template, checked: a JSON one (starting with `{` or `[`) must be JSON with
/// its placeholders inside string values only, so a value can only be a string's
/// contents; any other is a form, whose values are percent-encoded. It may not start
/// with a placeholder (its kind would be the value's to choose).
fn body_template(body: &str, names: &[String]) -> Result<(), String> {
    let body = body.trim_start();
    if body.starts_with("{{") {
        return Err("may not start with a placeholder".into());
    }
    if !body.starts_with(['{', '[']) {
        return Ok(());
    }
    const MARK: &str = "zq9placeholderzq9";
    let values: BTreeMap<String, String> =
        names.iter().map(|n| (n.clone(), MARK.to_owned())).collect();
    let json: serde_json::Value = serde_json::from_str(&fill(body, &values)).map_err(|_| {
        "starts like JSON but is not JSON once its placeholders are filled".to_owned()
    })?;
    fn in_strings(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => s.matches(MARK).count(),
            serde_json::Value::Array(a) => a.iter().map(in_strings).sum(),
            serde_json::Value::Object(o) => o.values().map(in_strings).sum(),
            _ => 0,
        }
    }
    // Every placeholder is in a string value: none in a key, none lost.
    let anywhere = json.to_string().matches(MARK).count();
    let wanted = placeholders(body).len();
    if in_strings(&json) != wanted || anywhere != wanted {
        return Err("may have placeholders only inside JSON string values".into());
    }
    Ok(())
}

/// The check request to send: its URL, headers and body with the credentials in their
/// placeholders, each escaped for where it stands.
pub fn filled_check(
    check: &CheckRequest,
    values: &BTreeMap<String, String>,
) -> (String, Vec<(String, String)>, Option<String>) {
    let url = fill_with(&check.url, values, url_escape);
    let headers = check
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), fill(v, values)))
        .collect();
    let body = check
        .body
        .as_ref()
        .map(|b| fill_with(b, values, body_escape(b)));
    (url, headers, body)
}

fn one_line(raw: &str, max: usize) -> fields::Parsed<String> {
    if raw.is_empty() || raw.len() > max {
        return Err(format!("must be 1 to {max} characters"));
    }
    if raw.chars().any(char::is_control) {
        return Err("must be one line, without control characters".into());
    }
    Ok(raw.to_owned())
}

fn parse_check(c: &mut Checks, check: &CheckRequest, names: &[String]) -> Option<CheckRequest> {
    let method = check.method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST") {
        c.fail("check.method", "must be GET or POST");
    }
    // The URL with its placeholders filled must still be a URL, and no value may name
    // the host: placeholders stand in its path and query only.
    let sample: BTreeMap<String, String> =
        names.iter().map(|n| (n.clone(), "x".to_owned())).collect();
    if let Err(e) = url(&fill(&check.url, &sample)) {
        c.fail("check.url", e);
    }
    // Filled with two different values, the URL must keep its scheme, host, port and
    // user: then no value can choose where the request goes.
    let origin = |v: &str| {
        let values: BTreeMap<String, String> =
            names.iter().map(|n| (n.clone(), v.to_owned())).collect();
        url::Url::parse(&fill_with(&check.url, &values, url_escape))
            .ok()
            .map(|u| {
                (
                    u.scheme().to_owned(),
                    u.host_str().map(str::to_owned),
                    u.port_or_known_default(),
                    u.username().to_owned(),
                )
            })
    };
    if origin("xa1") != origin("xb2") {
        c.fail(
            "check.url",
            "may have placeholders in its path and query only, not in its scheme or host",
        );
    }
    if check.headers.len() > MAX_HEADERS {
        c.fail("check.headers", format!("at most {MAX_HEADERS} headers"));
    }
    for (name, value) in &check.headers {
        let token = !name.is_empty()
            && name.len() <= 100
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            c.fail(
                &format!("check.headers.{name}"),
                "must be a header name (letters, digits and -)",
            );
        }
        c.check(&format!("check.headers.{name}"), one_line(value, 1000));
    }
    if let Some(body) = &check.body
        && let Err(e) = body_template(body, names)
    {
        c.fail("check.body", e);
    }
    if check.body.as_ref().is_some_and(|b| b.len() > MAX_BODY_LEN) {
        c.fail(
            "check.body",
            format!("must be at most {MAX_BODY_LEN} bytes"),
        );
    }
    let texts = std::iter::once(("check.url".to_owned(), check.url.as_str()))
        .chain(
            check
                .headers
                .iter()
                .map(|(k, v)| (format!("check.headers.{k}"), v.as_str())),
        )
        .chain(
            check
                .body
                .iter()
                .map(|b| ("check.body".to_owned(), b.as_str())),
        );
    for (field, text) in texts {
        for p in placeholders(text) {
            if !names.iter().any(|n| n == p) {
                c.fail(
                    &field,
                    format!("names {{{{{p}}}}}, which is none of the connector's fields"),
                );
            }
        }
    }
    Some(CheckRequest {
        method,
        ..check.clone()
    })
}

/// The connector `draft` describes, checked; the client secret comes apart (`secret`).
fn parse(
    draft: &ConnectorDraft,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Connector, Error> {
    let mut c = Checks::new();
    let code = c.required("code", draft.code.as_deref(), fields::code);
    let name = c.required("name", draft.name.as_deref(), |s| fields::text(s, 100));
    let description = c.optional("description", draft.description.as_deref(), |s| {
        fields::paragraphs(s, 1000)
    });
    let logo_url = c.optional("logo_url", draft.logo_url.as_deref(), url);
    let Some(auth) = draft.auth else {
        c.fail("auth", "is required: api_key or oauth2");
        c.finish()?;
        return Err(Error::invalid("auth", "is required: api_key or oauth2"));
    };
    let only = |c: &mut Checks, field: &str, present: bool, kind: &str| {
        if present {
            c.fail(
                field,
                format!("belongs to {kind} connectors only; leave it out (or null)"),
            );
        }
    };
    let mut fields_out = Vec::new();
    let mut check = None;
    let mut oauth2 = None;
    match auth {
        AuthKind::ApiKey => {
            for (field, present) in [
                ("authorize_url", draft.authorize_url.is_some()),
                ("token_url", draft.token_url.is_some()),
                ("scopes", draft.scopes.is_some()),
                ("client_id", draft.client_id.is_some()),
                ("client_secret", draft.client_secret.is_some()),
                ("pkce", draft.pkce.is_some()),
                ("authorize_params", draft.authorize_params.is_some()),
                ("token_auth", draft.token_auth.is_some()),
            ] {
                only(&mut c, field, present, "oauth2");
            }
            let list = draft.fields.as_deref().unwrap_or_default();
            if list.is_empty() || list.len() > MAX_FIELDS {
                c.fail(
                    "fields",
                    format!("is required: 1 to {MAX_FIELDS} credentials to ask for"),
                );
            }
            for (i, f) in list.iter().enumerate() {
                let at = |k: &str| format!("fields[{i}].{k}");
                let name = c.required(&at("name"), f.name.as_deref(), fields::code);
                if name.as_deref() == Some("csrf") {
                    c.fail(
                        &at("name"),
                        "csrf is the connect page's own; choose another name",
                    );
                }
                if name
                    .as_ref()
                    .is_some_and(|n| fields_out.iter().any(|o: &CredentialField| &o.name == n))
                {
                    c.fail(&at("name"), "is another field's name already");
                }
                let label = c.required(&at("label"), f.label.as_deref(), |s| fields::text(s, 100));
                let help = c.optional(&at("help"), f.help.as_deref(), |s| fields::text(s, 500));
                if let (Some(name), Some(label)) = (name, label) {
                    fields_out.push(CredentialField {
                        name,
                        label,
                        help,
                        secret: f.secret.unwrap_or(true),
                    });
                }
            }
            let names: Vec<String> = fields_out.iter().map(|f| f.name.clone()).collect();
            check = draft
                .check
                .as_ref()
                .and_then(|k| parse_check(&mut c, k, &names));
        }
        AuthKind::Oauth2 => {
            only(&mut c, "fields", draft.fields.is_some(), "api_key");
            only(&mut c, "check", draft.check.is_some(), "api_key");
            let authorize_url = c.required("authorize_url", draft.authorize_url.as_deref(), url);
            let token_url = c.required("token_url", draft.token_url.as_deref(), url);
            let client_id = c.required("client_id", draft.client_id.as_deref(), |s| {
                one_line(s, 500)
            });
            let scopes = draft.scopes.clone().unwrap_or_default();
            if scopes.len() > MAX_SCOPES {
                c.fail("scopes", format!("at most {MAX_SCOPES} scopes"));
            }
            for (i, s) in scopes.iter().enumerate() {
                let ok = !s.is_empty()
                    && s.len() <= 200
                    && s.bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
                if !ok {
                    c.fail(
                        &format!("scopes[{i}]"),
                        "must be 1 to 200 printable characters without spaces",
                    );
                }
            }
            let params = draft.authorize_params.clone().unwrap_or_default();
            if params.len() > MAX_PARAMS {
                c.fail(
                    "authorize_params",
                    format!("at most {MAX_PARAMS} parameters"),
                );
            }
            for (k, v) in &params {
                let field = format!("authorize_params.{k}");
                if RESERVED_PARAMS.contains(&k.as_str()) {
                    c.fail(&field, "is set by the flow itself; leave it out");
                } else if k.is_empty() || k.len() > 100 || !k.bytes().all(|b| b.is_ascii_graphic())
                {
                    c.fail(
                        &field,
                        "must be a parameter name (1 to 100 printable characters)",
                    );
                }
                c.check(&field, one_line(v, 500));
            }
            if let Some(s) = &draft.client_secret
                && (s.is_empty() || s.len() > MAX_SECRET_LEN)
            {
                c.fail(
                    "client_secret",
                    format!("must be 1 to {MAX_SECRET_LEN} characters (null: a public client)"),
                );
            }
            if let (Some(authorize_url), Some(token_url), Some(client_id)) =
                (authorize_url, token_url, client_id)
            {
                oauth2 = Some(OAuth2 {
                    authorize_url,
                    token_url,
                    scopes,
                    client_id,
                    client_secret: None,
                    pkce: draft.pkce.unwrap_or(true),
                    authorize_params: params,
                    token_auth: draft.token_auth.unwrap_or_default(),
                });
            }
        }
    }
    c.finish()?;
    Ok(Connector {
        code: code.unwrap_or_default(),
        name: name.unwrap_or_default(),
        description,
        logo_url,
        auth,
        fields: fields_out,
        check,
        oauth2,
        created_at,
        updated_at: now,
    })
}

fn item_of(c: &Connector, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::connector(&c.code), to_data(c)?);
    item.version = version;
    Ok(item)
}

/// The connector named `code`, if the catalog has it.
pub(crate) async fn find(deps: &Deps, code: &str) -> Result<Option<(Connector, Item)>, Error> {
    if fields::code(code).is_err() {
        return Ok(None);
    }
    match deps.store.get(&keys::connector(code)).await? {
        Some(item) => Ok(Some((from_item(&item)?, item))),
        None => Ok(None),
    }
}

async fn load(deps: &Deps, code: &str) -> Result<(Connector, Item), Error> {
    find(deps, code).await?.ok_or(Error::NotFound("connector"))
}

/// `client_secret_basic` authenticates with the client's secret: a client without one
/// cannot use it.
fn basic_has_secret(o: Option<&OAuth2>, has_secret: bool) -> Result<(), Error> {
    if o.is_some_and(|o| o.token_auth == TokenAuth::ClientSecretBasic) && !has_secret {
        return Err(Error::invalid(
            "token_auth",
            "client_secret_basic needs a client_secret; a public client uses client_secret_post",
        ));
    }
    Ok(())
}

async fn seal(deps: &Deps, code: &str, secret: &str) -> Result<Sealed, Error> {
    deps.vault()?
        .seal(&context(code), secret.as_bytes())
        .await
        .map_err(signing::vault_failed)
}

/// `POST /v1/connectors` (the operator).
pub async fn create(deps: &Deps, draft: &ConnectorDraft) -> Result<ConnectorView, Error> {
    let now = deps.clock.now();
    let mut connector = parse(draft, now, now)?;
    let existing = page::all_under(deps, keys::connectors_partition(), "", MAX_CONNECTORS).await?;
    if existing.len() >= MAX_CONNECTORS {
        return Err(Error::conflict(
            ProblemKind::ConnectorLimitReached,
            format!("the catalog holds at most {MAX_CONNECTORS} connectors"),
        ));
    }
    basic_has_secret(connector.oauth2.as_ref(), draft.client_secret.is_some())?;
    if let (Some(o), Some(secret)) = (connector.oauth2.as_mut(), &draft.client_secret) {
        o.client_secret = Some(seal(deps, &connector.code, secret).await?);
    }
    // The catalog is the platform's: its log, not a tenant's.
    let entry = Entry::new(
        "connector.created",
        Target::new("connector", &connector.code),
    )
    .value("auth", connector.auth);
    let ops = vec![
        WriteOp::create(item_of(&connector, 1)?),
        audit::op(deps, Log::Platform, entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(connector.view(1)),
        Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => Err(Error::conflict(
            ProblemKind::DuplicateConnector,
            format!(
                "a connector with code {} exists; change it with PATCH, or choose another code",
                connector.code
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(deps: &Deps, code: &str) -> Result<ConnectorView, Error> {
    let (c, item) = load(deps, code).await?;
    Ok(c.view(item.version))
}

pub async fn list(
    deps: &Deps,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<ConnectorView>, Error> {
    page::list_prefix(
        deps,
        "connectors",
        keys::connectors_partition(),
        "",
        limit,
        cursor,
        |item| Ok(from_item::<Connector>(item)?.view(item.version)),
    )
    .await
}

/// `PATCH /v1/connectors/{code}` (a merge patch). `client_secret`: a new one is sealed,
/// `null` removes it, leaving it out keeps it.
pub async fn update(
    deps: &Deps,
    code: &str,
    patch: &Value,
    if_version: Option<u64>,
) -> Result<ConnectorView, Error> {
    let Some(obj) = patch.as_object() else {
        return Err(Error::invalid(
            "body",
            "must be a JSON object (a merge patch)",
        ));
    };
    let (current, item) = load(deps, code).await?;
    if obj
        .get("code")
        .is_some_and(|c| c.as_str() != Some(current.code.as_str()))
    {
        return Err(Error::invalid(
            "code",
            "cannot change; make a new connector with the new code",
        ));
    }
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(format!(
            "the connector is at version {}; read it again",
            item.version
        )));
    }
    let mut doc = to_value(&current.draft());
    merge_patch(&mut doc, patch);
    let draft = from_value::<ConnectorDraft>(doc)?;
    let mut next = parse(&draft, current.created_at, current.updated_at)?;
    if let Some(o) = next.oauth2.as_mut() {
        o.client_secret = match (obj.get("client_secret"), &draft.client_secret) {
            (Some(_), Some(secret)) => Some(seal(deps, code, secret).await?),
            (Some(_), None) => None,
            // Left out: the sealed one stays.
            (None, _) => current
                .oauth2
                .as_ref()
                .and_then(|o| o.client_secret.clone()),
        };
    }
    basic_has_secret(
        next.oauth2.as_ref(),
        next.oauth2
            .as_ref()
            .is_some_and(|o| o.client_secret.is_some()),
    )?;
    if next == current {
        return Ok(current.view(item.version));
    }
    next.updated_at = deps.clock.now();
    // By name only: `oauth2` holds the sealed client secret.
    let entry =
        Entry::new("connector.updated", Target::new("connector", code)).diff(&current, &next);
    let ops = vec![
        WriteOp::Put {
            item: item_of(&next, item.version + 1)?,
            condition: Condition::VersionIs(item.version),
        },
        audit::op(deps, Log::Platform, entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(next.view(item.version + 1)),
        Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {
            Err(Error::concurrent_update())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_filled() {
        let t = "Bearer {{api_key}} for {{ account }} and {{api_key}}";
        assert_eq!(placeholders(t), ["api_key", "account", "api_key"]);
        let values = BTreeMap::from([
            ("api_key".to_owned(), "sk_1".to_owned()),
            ("account".to_owned(), "acct".to_owned()),
        ]);
        assert_eq!(fill(t, &values), "Bearer sk_1 for acct and sk_1");
        assert_eq!(fill("no {{ end", &values), "no {{ end");
        assert_eq!(fill("{{missing}}!", &values), "!");
    }

    #[test]
    fn a_template_whose_values_could_choose_the_host_or_the_json_is_refused() {
        let names = ["host".to_owned(), "n".to_owned()];
        let check = |url: &str, body: Option<&str>| {
            let mut c = Checks::new();
            let k = CheckRequest {
                method: "POST".into(),
                url: url.into(),
                headers: BTreeMap::new(),
                body: body.map(str::to_owned),
            };
            parse_check(&mut c, &k, &names);
            c.finish().err().map(|e| e.to_string()).unwrap_or_default()
        };
        for url in [
            "https://{{host}}.example.com/v1",
            "https:///{{host}}/v1",
            "https://api.example.com:{{n}}/v1",
            "https://{{n}}@api.example.com/v1",
            "{{host}}://api.example.com/v1",
        ] {
            assert!(!check(url, None).is_empty(), "{url} is refused");
        }
        assert!(check("https://api.example.com/v1/{{host}}?n={{n}}", None).is_empty());
        for body in [
            "{{n}}&key={{host}}",
            "{\"ids\": [{{n}}]}",
            "{\"n\": {{n}}}",
            "{\"{{n}}\": \"x\"}",
            "{\"n\": \"{{n}}\"",
        ] {
            assert!(
                !check("https://api.example.com/v1", Some(body)).is_empty(),
                "{body} is refused"
            );
        }
        for body in [
            "{\"n\": \"{{n}}\", \"h\": [\"a{{host}}b\"]}",
            "n={{n}}&h={{host}}",
        ] {
            assert!(
                check("https://api.example.com/v1", Some(body)).is_empty(),
                "{body} is taken"
            );
        }
    }

    #[test]
    fn a_value_cannot_change_the_check_requests_url_or_body() {
        let values = BTreeMap::from([
            ("account".to_owned(), "acme&admin=1#x/../y".to_owned()),
            ("api_key".to_owned(), "k\"}, \"x\": \"".to_owned()),
        ]);
        let check = CheckRequest {
            method: "POST".into(),
            url: "https://api.example.com/v1/{{account}}?a={{account}}".into(),
            headers: BTreeMap::from([("Authorization".into(), "Bearer {{api_key}}".into())]),
            body: Some("{\"key\": \"{{api_key}}\"}".into()),
        };
        let (url, headers, body) = filled_check(&check, &values);
        assert_eq!(
            url,
            "https://api.example.com/v1/acme%26admin%3D1%23x%2F..%2Fy?a=acme%26admin%3D1%23x%2F..%2Fy"
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&body.expect("a body")).expect("still JSON");
        assert_eq!(parsed, serde_json::json!({"key": "k\"}, \"x\": \""}));
        assert_eq!(headers[0].1, "Bearer k\"}, \"x\": \"");
        let form = CheckRequest {
            body: Some("key={{api_key}}".into()),
            ..check
        };
        assert_eq!(
            filled_check(&form, &values).2.as_deref(),
            Some("key=k%22%7D%2C%20%22x%22%3A%20%22")
        );
    }
}
