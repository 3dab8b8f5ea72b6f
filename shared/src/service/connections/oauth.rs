//! An `oauth2` connector's side of a connect link: the authorization code flow with PKCE
//! (S256), its `state` bound to the link and to the browser that started it, the code
//! exchanged at the provider's token endpoint, and the tokens refreshed before use.
//!
//! Starting (`start`) stores the `state`'s hash (`CSTATE#<hash>`, 15 minutes) with the
//! link it belongs to and the PKCE verifier, and answers the provider's authorization
//! URL. The callback (`finish`) uses the `state` up first, so a replayed or racing
//! callback exchanges no code; then the link must still work, the provider's code is
//! exchanged, and the tokens are stored as the `api_key` fields are: sealed, in the
//! transaction that uses the link up.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ConnectPage, open_link_hash};
use crate::Deps;
use crate::error::Error;
use crate::model::ids::{ConnectionId, TenantId};
use crate::ports::{Condition, Item, WebhookSendError, WriteOp};
use crate::service::connectors::{self, Connector, OAuth2, TokenAuth};
use crate::service::{from_item, links, signing, to_data};
use crate::store::keys;

/// How long a started authorization waits for the provider's callback.
pub const STATE_MINUTES: i64 = 15;
/// A token is refreshed before use when it expires within this many seconds.
pub const REFRESH_MARGIN_SECONDS: i64 = 60;
/// The most of a token endpoint's answer read.
const TOKEN_ANSWER_BYTES: usize = 32 * 1024;
/// The longest token kept (providers' tokens are far shorter).
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// A started authorization, as stored under its `state`'s hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Started {
    connection_id: ConnectionId,
    /// The hash of the link it was started from.
    link: String,
    /// The PKCE verifier (none without PKCE). Useless without the provider's code,
    /// which only the callback carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verifier: Option<String>,
    redirect_uri: String,
    expires_at: DateTime<Utc>,
}

/// Where to send the contact's browser, and the `state` its cookie must hold.
pub struct Authorization {
    pub url: String,
    pub state: String,
}

/// The random secrets of a start: `state` (32 bytes, hex) and the PKCE verifier
/// (32 bytes, base64url: 43 characters of the unreserved set).
fn verifier() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier (RFC 7636, 4.2).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn settings(connector: &Connector) -> Result<&OAuth2, Error> {
    connector.oauth2.as_ref().ok_or_else(|| {
        Error::conflict(
            crate::error::ProblemKind::ConnectorUnavailable,
            "this connector does not authorize through OAuth",
        )
    })
}

/// The connect page's button of an `oauth2` connector: a new `state` for this link,
/// and the provider's authorization URL carrying it. Nothing else changes: the link
/// keeps working until the callback completes.
pub async fn start(
    deps: &Deps,
    tenant_id: &TenantId,
    page: &ConnectPage,
    redirect_uri: &str,
) -> Result<Authorization, Error> {
    let o = settings(&page.connector)?;
    let state = links::random_token();
    let verifier = o.pkce.then(verifier);
    let mut url = url::Url::parse(&o.authorize_url)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("a stored authorize_url: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &o.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", &state);
        if !o.scopes.is_empty() {
            q.append_pair("scope", &o.scopes.join(" "));
        }
        if let Some(v) = &verifier {
            q.append_pair("code_challenge", &challenge(v))
                .append_pair("code_challenge_method", "S256");
        }
        for (k, v) in &o.authorize_params {
            q.append_pair(k, v);
        }
    }
    let now = deps.clock.now();
    // Never past the link's own end.
    let expires_at = (now + Duration::minutes(STATE_MINUTES)).min(page.expires_at);
    let started = Started {
        connection_id: page.connection.id.clone(),
        link: page.link_hash.clone(),
        verifier,
        redirect_uri: redirect_uri.to_owned(),
        expires_at,
    };
    let mut item = Item::new(
        keys::connect_state(tenant_id, &links::token_hash(&state)),
        to_data(&started)?,
    );
    item.expires_at = Some(expires_at.timestamp());
    deps.store.transact(vec![WriteOp::create(item)]).await?;
    Ok(Authorization {
        url: url.into(),
        state,
    })
}

/// What the provider's callback came to.
pub enum Finished {
    /// The tokens are stored: the connection is authorized.
    Authorized(Box<ConnectPage>),
    /// Consent refused, or the provider failed: the page says why, and the link still
    /// works (`page`).
    NotCompleted {
        page: Box<ConnectPage>,
        reason: String,
    },
    /// The callback came to another browser than the one that started it: nothing was
    /// used up.
    OtherBrowser,
    /// No authorization waits under this `state` (made up, used, expired), or its link
    /// no longer works.
    Unknown,
}

/// The callback's query: `state`, and `code` or the provider's `error`.
pub struct CallbackQuery<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// `GET /t/{slug}/connect/callback`: the `state` (which must be the one this browser's
/// cookie holds) is used up, the code exchanged, the tokens stored; the link must still
/// work (`allowed_origins`: as `open_link`).
pub async fn finish(
    deps: &Deps,
    tenant_id: &TenantId,
    allowed_origins: &[String],
    query: &CallbackQuery<'_>,
    browser_state: Option<&str>,
) -> Result<Finished, Error> {
    let Some(state) = query
        .state
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(Finished::Unknown);
    };
    let Some(item) = deps
        .store
        .get(&keys::connect_state(tenant_id, &links::token_hash(state)))
        .await?
    else {
        return Ok(Finished::Unknown);
    };
    let started: Started = from_item(&item)?;
    if started.expires_at <= deps.clock.now() {
        return Ok(Finished::Unknown);
    }
    let same_browser = browser_state.is_some_and(|b| {
        b.len() == state.len() && bool::from(b.as_bytes().ct_eq(state.as_bytes()))
    });
    if !same_browser {
        return Ok(Finished::OtherBrowser);
    }
    // Used up before anything else: a replayed or racing callback stops here.
    let used = deps
        .store
        .transact(vec![WriteOp::Delete {
            key: item.key(),
            condition: Condition::VersionIs(item.version),
        }])
        .await;
    if used.is_err() {
        return Ok(Finished::Unknown);
    }
    let Some(page) = open_link_hash(deps, tenant_id, allowed_origins, &started.link).await? else {
        return Ok(Finished::Unknown);
    };
    if page.connection.id != started.connection_id {
        return Ok(Finished::Unknown);
    }
    let page = Box::new(page);
    let name = page.connector.name.clone();
    if let Some(error) = query.error {
        let reason = if error == "access_denied" {
            format!("Access to {name} was not allowed, so nothing was connected.")
        } else {
            format!(
                "{name} did not complete the authorization ({}), so nothing was connected.",
                shown_code(error)
            )
        };
        return Ok(Finished::NotCompleted { page, reason });
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Ok(Finished::NotCompleted {
            page,
            reason: format!("{name} sent no authorization code, so nothing was connected."),
        });
    };
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", started.redirect_uri.clone()),
    ];
    if let Some(v) = &started.verifier {
        form.push(("code_verifier", v.clone()));
    }
    let now = deps.clock.now();
    let tokens = match token_request(deps, &page.connector, form).await? {
        TokenAnswer::Tokens(t) => t,
        TokenAnswer::Refused(error) => {
            return Ok(Finished::NotCompleted {
                page,
                reason: format!(
                    "{name} did not accept the authorization ({}). Please try again.",
                    shown_code(&error)
                ),
            });
        }
        TokenAnswer::Unreachable => {
            return Ok(Finished::NotCompleted {
                page,
                reason: format!("{name} could not be reached. Please try again in a moment."),
            });
        }
    };
    let credentials = tokens.into_credentials(now, None);
    super::authorize(deps, tenant_id, &page, &credentials).await?;
    Ok(Finished::Authorized(page))
}

/// A provider's error code as a page may show it: `[a-z0-9_]`, at most 64 characters.
fn shown_code(error: &str) -> &str {
    let plain = !error.is_empty()
        && error.len() <= 64
        && error
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain { error } else { "error" }
}

/// A token endpoint's answer (RFC 6749, 5.1).
#[derive(Deserialize)]
struct TokenSet {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    /// Seconds; some providers send it as a string or with a fraction.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

impl TokenSet {
    /// The credentials as stored: `access_token`, `token_type`, and when known
    /// `expires_at` (RFC 3339), `refresh_token` (else `kept_refresh`, the one used),
    /// `scope`.
    fn into_credentials(
        self,
        now: DateTime<Utc>,
        kept_refresh: Option<&String>,
    ) -> BTreeMap<String, String> {
        let mut c = BTreeMap::new();
        c.insert("access_token".to_owned(), self.access_token);
        c.insert(
            "token_type".to_owned(),
            self.token_type.unwrap_or_else(|| "Bearer".to_owned()),
        );
        // Whole seconds, rounded up, at least one; at most ten years.
        let seconds = match &self.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| s.min(10.0 * 365.0 * 24.0 * 3600.0).ceil() as i64);
        if let Some(s) = seconds {
            let at = now + Duration::seconds(s.max(1));
            c.insert(
                "expires_at".to_owned(),
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
        }
        if let Some(r) = self.refresh_token.or_else(|| kept_refresh.cloned()) {
            c.insert("refresh_token".to_owned(), r);
        }
        if let Some(s) = self.scope {
            c.insert("scope".to_owned(), s);
        }
        c
    }
}

enum TokenAnswer {
    Tokens(TokenSet),
    /// The provider answered an error: its `error` code (e.g. `invalid_grant`).
    Refused(String),
    /// No usable answer: not reached, a 5xx, or not a token answer.
    Unreachable,
}

/// One request to the connector's token endpoint, the client authenticating with its
/// id and secret in the form (`client_secret_post`) or in a Basic header
/// (`client_secret_basic`: each form-encoded first, RFC 6749 2.3.1). A public client
/// sends its id in the form.
async fn token_request(
    deps: &Deps,
    connector: &Connector,
    mut form: Vec<(&'static str, String)>,
) -> Result<TokenAnswer, Error> {
    let o = settings(connector)?;
    let secret =
        match &o.client_secret {
            Some(sealed) => {
                let secret = deps
                    .vault()?
                    .open(&connectors::context(&connector.code), sealed)
                    .await
                    .map_err(signing::vault_failed)?;
                Some(String::from_utf8(secret).map_err(|_| {
                    Error::Unexpected(anyhow::anyhow!("a client secret is not UTF-8"))
                })?)
            }
            None => None,
        };
    let mut headers = vec![
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("accept", "application/json".to_owned()),
    ];
    match (secret, o.token_auth) {
        (Some(secret), TokenAuth::ClientSecretBasic) => {
            let encode = |s: &str| -> String {
                url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
            };
            let pair = format!("{}:{}", encode(&o.client_id), encode(&secret));
            headers.push((
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            ));
        }
        (secret, _) => {
            form.push(("client_id", o.client_id.clone()));
            if let Some(secret) = secret {
                form.push(("client_secret", secret));
            }
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let answer = deps
        .outbound()?
        .request(
            "POST",
            &o.token_url,
            &headers,
            Some(body.as_bytes()),
            TOKEN_ANSWER_BYTES,
        )
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(WebhookSendError::Refused(why) | WebhookSendError::Failed(why)) => {
            tracing::warn!(connector = %connector.code, error = %why, "a token request failed");
            return Ok(TokenAnswer::Unreachable);
        }
    };
    if (200..300).contains(&answer.status) {
        return Ok(match serde_json::from_str::<TokenSet>(&answer.body) {
            Ok(t)
                if !t.access_token.is_empty()
                    && t.access_token.len() <= MAX_TOKEN_LEN
                    && t.refresh_token
                        .as_ref()
                        .is_none_or(|r| r.len() <= MAX_TOKEN_LEN) =>
            {
                TokenAnswer::Tokens(t)
            }
            _ => {
                tracing::warn!(connector = %connector.code, status = answer.status, "a token answer is not a token set");
                TokenAnswer::Unreachable
            }
        });
    }
    #[derive(Deserialize)]
    struct TokenError {
        error: String,
    }
    match serde_json::from_str::<TokenError>(&answer.body) {
        Ok(e) if (400..500).contains(&answer.status) => {
            tracing::info!(connector = %connector.code, status = answer.status, error = %shown_code(&e.error), "a token request was refused");
            Ok(TokenAnswer::Refused(e.error))
        }
        _ => {
            tracing::warn!(connector = %connector.code, status = answer.status, "a token endpoint failed");
            Ok(TokenAnswer::Unreachable)
        }
    }
}

/// When stored tokens expire, if the provider said.
fn expires_at(credentials: &BTreeMap<String, String>) -> Option<DateTime<Utc>> {
    credentials
        .get("expires_at")
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|e| e.with_timezone(&Utc))
}

/// Do these stored tokens need a refresh before use (they expire within a minute and
/// there is a refresh token)?
pub(super) fn due_for_refresh(credentials: &BTreeMap<String, String>, now: DateTime<Utc>) -> bool {
    credentials.contains_key("refresh_token")
        && expires_at(credentials)
            .is_some_and(|e| e <= now + Duration::seconds(REFRESH_MARGIN_SECONDS))
}

/// Does the access token still work now (it has not expired, or never does)?
pub(super) fn still_valid(credentials: &BTreeMap<String, String>, now: DateTime<Utc>) -> bool {
    expires_at(credentials).is_none_or(|e| e > now)
}

/// What a refresh came to.
pub(super) enum Refreshed {
    Tokens(BTreeMap<String, String>),
    /// The provider no longer accepts the grant (`invalid_grant`): a new authorization
    /// is needed.
    Revoked,
    /// Not now (not reached, a 5xx, another refusal): the stored tokens are unchanged.
    Failed(String),
}

/// A `refresh_token` grant with the stored refresh token.
pub(super) async fn refresh(
    deps: &Deps,
    connector: &Connector,
    credentials: &BTreeMap<String, String>,
) -> Result<Refreshed, Error> {
    let Some(refresh_token) = credentials.get("refresh_token") else {
        return Ok(Refreshed::Failed("no refresh token".into()));
    };
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.clone()),
    ];
    let now = deps.clock.now();
    Ok(match token_request(deps, connector, form).await? {
        TokenAnswer::Tokens(t) => Refreshed::Tokens(t.into_credentials(now, Some(refresh_token))),
        TokenAnswer::Refused(e) if e == "invalid_grant" => Refreshed::Revoked,
        TokenAnswer::Refused(e) => Refreshed::Failed(shown_code(&e).to_owned()),
        TokenAnswer::Unreachable => Refreshed::Failed("not reached".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = verifier();
        assert_eq!(v.len(), 43);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn expires_in_is_read_as_a_number_a_fraction_or_a_string() {
        let now = Utc::now();
        let at = |v: serde_json::Value| {
            let t: TokenSet =
                serde_json::from_value(serde_json::json!({"access_token": "a", "expires_in": v}))
                    .expect("a token set");
            t.into_credentials(now, None).get("expires_at").cloned()
        };
        let in_secs = |s: i64| {
            Some((now + Duration::seconds(s)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        assert_eq!(at(serde_json::json!(3600)), in_secs(3600));
        assert_eq!(at(serde_json::json!(3599.5)), in_secs(3600));
        assert_eq!(at(serde_json::json!("3599.5")), in_secs(3600));
        assert_eq!(at(serde_json::json!(0.2)), in_secs(1));
        assert_eq!(at(serde_json::json!(-5)), None);
        assert_eq!(at(serde_json::json!("soon")), None);
    }

    #[test]
    fn a_provider_error_is_shown_only_when_plain() {
        assert_eq!(shown_code("access_denied"), "access_denied");
        assert_eq!(shown_code("<script>"), "error");
        assert_eq!(shown_code(""), "error");
    }

    #[test]
    fn tokens_are_refreshed_within_a_minute_of_their_end() {
        let now = Utc::now();
        let with = |secs: i64, refresh: bool| {
            let mut c = BTreeMap::new();
            c.insert(
                "expires_at".to_owned(),
                (now + Duration::seconds(secs)).to_rfc3339(),
            );
            if refresh {
                c.insert("refresh_token".to_owned(), "r".to_owned());
            }
            c
        };
        assert!(due_for_refresh(&with(59, true), now));
        assert!(!due_for_refresh(&with(120, true), now));
        assert!(!due_for_refresh(&with(10, false), now));
        assert!(!due_for_refresh(&BTreeMap::new(), now));
    }
}
