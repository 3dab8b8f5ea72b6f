//! A real OAuth 2.0 authorization server for the connect-flow tests: `oidc-provider`
//! (Node) as `tests/peers/oauth/server.mjs` runs it, on a free loopback port.
//!
//! It has one confidential client (`client_secret_post`, one exact redirect URI), needs
//! PKCE (S256), issues opaque access tokens and a refresh token to every code exchange,
//! and revokes tokens. Login is automatic (account `contact-1`); consent is a plain HTML
//! page, "Authorize Acme CRM", with the buttons `#allow` and `#deny`. `GET /api/me` is a
//! protected resource: 200 with `{"sub", "client_id", "scope"}` to a live access token,
//! 401 to anything else. `scripts/test` installs its `node_modules`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A running authorization server; dropping it stops it.
pub struct OAuthPeer {
    /// Its issuer, `http://127.0.0.1:<port>`.
    pub base: String,
    pub client_id: String,
    pub client_secret: String,
    /// How its client authenticates at the token endpoint (`client_secret_post` or
    /// `client_secret_basic`).
    pub token_auth: String,
    authorization_endpoint: String,
    token_endpoint: String,
    revocation_endpoint: String,
    child: Child,
    // The server exits when its stdin closes: a test that dies without dropping the
    // peer does not leave it running.
    _stdin: Option<ChildStdin>,
}

impl Drop for OAuthPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OAuthPeer {
    /// Its authorization endpoint (`/auth`).
    pub fn authorize_url(&self) -> String {
        self.authorization_endpoint.clone()
    }

    /// Its token endpoint (`/token`).
    pub fn token_url(&self) -> String {
        self.token_endpoint.clone()
    }

    /// Its revocation endpoint (`/token/revocation`).
    pub fn revocation_url(&self) -> String {
        self.revocation_endpoint.clone()
    }

    /// Its protected resource, `GET /api/me` with `Authorization: Bearer <access token>`.
    pub fn api_url(&self) -> String {
        format!("{}/api/me", self.base)
    }

    /// Revokes a refresh token (the whole grant goes with it): a refresh with it then
    /// answers 400 `invalid_grant`.
    pub async fn revoke(&self, refresh_token: &str) {
        let request = reqwest::Client::new().post(&self.revocation_endpoint);
        let request = if self.token_auth == "client_secret_basic" {
            request
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .form(&[
                    ("token", refresh_token),
                    ("token_type_hint", "refresh_token"),
                ])
        } else {
            request.form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ])
        };
        let response = request.send().await.expect("the revocation request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "revoking the refresh token: {body}");
    }
}

impl OAuthPeer {
    /// A person at the provider, over plain HTTP instead of a browser: follows
    /// `authorize_url` (the connect page's redirect) through the automatic login to the
    /// consent page, presses Allow (or Deny), and answers the URL the provider sends the
    /// browser back to (the app's callback, with `code` or `error`, and `state`), not
    /// followed. The provider's cookies are kept between its steps, as a browser would.
    pub async fn consent_over_http(&self, authorize_url: &str, allow: bool) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let mut jar: std::collections::BTreeMap<String, String> = Default::default();
        let (mut method, mut url) = (reqwest::Method::GET, authorize_url.to_owned());
        for _ in 0..12 {
            let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let response = http
                .request(method.clone(), &url)
                .header("cookie", cookies.join("; "))
                .send()
                .await
                .expect("the provider answers");
            for c in response.headers().get_all("set-cookie") {
                let pair = c
                    .to_str()
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    jar.insert(k.trim().to_owned(), v.to_owned());
                }
            }
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .expect("a redirect's location")
                    .to_owned();
                let next = reqwest::Url::parse(&url)
                    .and_then(|u| u.join(&location))
                    .expect("a location")
                    .to_string();
                if !next.starts_with(&self.base) {
                    return next;
                }
                (method, url) = (reqwest::Method::GET, next);
                continue;
            }
            let page = response.text().await.unwrap_or_default();
            assert!(
                status.is_success(),
                "the provider answered {status}: {page}"
            );
            let button = if allow { "/allow\"" } else { "/deny\"" };
            let action = page
                .split("action=\"")
                .skip(1)
                .filter_map(|rest| rest.split_once('"').map(|(a, _)| format!("{a}\"")))
                .find(|a| a.ends_with(button))
                .map(|a| a.trim_end_matches('"').to_owned())
                .unwrap_or_else(|| panic!("no consent form on the provider's page: {page}"));
            (method, url) = (reqwest::Method::POST, format!("{}{action}", self.base));
        }
        panic!("the provider never sent the browser back");
    }
}

/// The peer's folder, `tests/peers/oauth`.
fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/oauth")
}

/// Node: `$NODE`, else `node` on the PATH, if it runs.
fn node() -> Option<PathBuf> {
    let node = std::env::var_os("NODE")
        .filter(|n| !n.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"));
    Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(node)
}

/// Starts the server for a client whose one redirect URI is `redirect_uri`, with access
/// tokens that live `access_token_ttl_secs`; refresh tokens are not rotated (the same one
/// works again and again until revoked). `None` (the test skips, saying why) only outside
/// CI when Node or the peer's `node_modules` is missing; under CI that fails.
pub async fn start(redirect_uri: &str, access_token_ttl_secs: u64) -> Option<OAuthPeer> {
    start_with(redirect_uri, access_token_ttl_secs, false).await
}

/// `start`, choosing whether every refresh answers a new refresh token and ends the old
/// one (`rotate_refresh_tokens`; reusing an ended one then revokes the whole grant).
pub async fn start_with(
    redirect_uri: &str,
    access_token_ttl_secs: u64,
    rotate_refresh_tokens: bool,
) -> Option<OAuthPeer> {
    start_with_auth(
        redirect_uri,
        access_token_ttl_secs,
        rotate_refresh_tokens,
        "client_secret_post",
    )
    .await
}

/// `start_with`, the client authenticating at the token and revocation endpoints by
/// `token_auth`: `client_secret_post` (its id and secret in the form) or
/// `client_secret_basic` (in an `Authorization: Basic` header); the other is refused.
pub async fn start_with_auth(
    redirect_uri: &str,
    access_token_ttl_secs: u64,
    rotate_refresh_tokens: bool,
    token_auth: &str,
) -> Option<OAuthPeer> {
    let dir = folder();
    let missing = match node() {
        None => Some("no node on the PATH".to_string()),
        Some(_) if !dir.join("node_modules/oidc-provider").is_dir() => Some(format!(
            "no {}",
            dir.join("node_modules/oidc-provider").display()
        )),
        Some(_) => None,
    };
    if let Some(missing) = missing {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the OAuth peer cannot run ({missing}): scripts/test installs it"
        );
        eprintln!("skipped: {missing} (scripts/test installs the OAuth peer)");
        return None;
    }
    let node = node().expect("node");

    let client_id = "tenantry".to_string();
    let client_secret = format!("{:032x}", rand::random::<u128>());
    let mut child = Command::new(node)
        .arg(dir.join("server.mjs"))
        .current_dir(&dir)
        .env("PORT", "0")
        .env("CLIENT_ID", &client_id)
        .env("CLIENT_SECRET", &client_secret)
        .env("REDIRECT_URI", redirect_uri)
        .env("ACCESS_TOKEN_TTL", access_token_ttl_secs.to_string())
        .env("TOKEN_AUTH", token_auth)
        .env(
            "ROTATE_REFRESH_TOKENS",
            if rotate_refresh_tokens { "1" } else { "0" },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let stdin = child.stdin.take();

    // Its first line on stdout is `listening <issuer>`; a thread reads it, then reads
    // on until the end so that the server never blocks on a full pipe.
    let stdout = child.stdout.take().expect("its stdout");
    let (ready, listening) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok);
        let _ = ready.send(first);
        for _ in lines {}
    });
    let line = match tokio::time::timeout(Duration::from_secs(60), listening).await {
        Ok(Ok(Some(line))) => line,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the OAuth peer did not start (its first line: {other:?})");
        }
    };
    let Some(base) = line.strip_prefix("listening ").map(str::to_string) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the OAuth peer said {line:?}, not `listening <issuer>`");
    };
    let mut peer = OAuthPeer {
        base,
        client_id,
        client_secret,
        token_auth: token_auth.to_owned(),
        authorization_endpoint: String::new(),
        token_endpoint: String::new(),
        revocation_endpoint: String::new(),
        child,
        _stdin: stdin,
    };

    // The endpoints, as its discovery document names them.
    let discovery: serde_json::Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", peer.base))
            .await
            .expect("the OAuth peer's discovery document")
            .json()
            .await
            .expect("a JSON discovery document");
    let endpoint = |name: &str| {
        discovery[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {discovery}"))
            .to_string()
    };
    peer.authorization_endpoint = endpoint("authorization_endpoint");
    peer.token_endpoint = endpoint("token_endpoint");
    peer.revocation_endpoint = endpoint("revocation_endpoint");
    Some(peer)
}

/// An `oauth2` connector (`acme_crm`, "Acme CRM") for `POST /v1/connectors` whose
/// provider is this peer.
pub fn connector(peer: &OAuthPeer) -> serde_json::Value {
    serde_json::json!({
        "code": "acme_crm", "name": "Acme CRM", "auth": "oauth2",
        "authorize_url": peer.authorize_url(), "token_url": peer.token_url(),
        "scopes": ["crm.read", "offline_access"],
        "client_id": peer.client_id, "client_secret": peer.client_secret,
        "pkce": true, "token_auth": peer.token_auth
    })
}

/// `connector(peer)` added to the catalog by the operator; the connector as answered.
pub async fn add_connector(app: &crate::app::TestApp, peer: &OAuthPeer) -> serde_json::Value {
    let made = app
        .post(&app.admin_key, "/v1/connectors", connector(peer))
        .await;
    assert_eq!(made.status, reqwest::StatusCode::CREATED, "{}", made.body);
    made.body
}
