//! A provider's API on the loopback for connectors' check requests: `GET /v1/account`
//! answers 200 to `Authorization: Bearer good-key` for `?account=acme`, 401 to anything
//! else, and counts the checks it got.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Starts it; its base URL and its count of checks.
pub async fn start() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let checks = Arc::new(AtomicUsize::new(0));
    let count = checks.clone();
    let app = axum::Router::new().route(
        "/v1/account",
        axum::routing::get(move |headers: http::HeaderMap, uri: http::Uri| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let key = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if key == "Bearer good-key" && uri.query() == Some("account=acme") {
                    http::StatusCode::OK
                } else {
                    http::StatusCode::UNAUTHORIZED
                }
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), checks)
}

/// An `api_key` connector (`crm`, "Acme CRM") whose check calls this provider.
pub fn connector(base: &str) -> serde_json::Value {
    serde_json::json!({
        "code": "crm", "name": "Acme CRM", "auth": "api_key",
        "fields": [
            {"name": "account", "label": "Account name", "secret": false},
            {"name": "api_key", "label": "API key", "help": "Settings, then API"}
        ],
        "check": {"method": "GET", "url": format!("{base}/v1/account?account={{{{account}}}}"),
            "headers": {"Authorization": "Bearer {{api_key}}"}}
    })
}

/// A token endpoint on the loopback that answers any request with a token set (for the
/// policy replay, which needs a callback to succeed); its URL.
pub async fn token_endpoint() -> String {
    token_endpoint_expiring(3600).await
}

/// `token_endpoint`, its access tokens living `expires_in` seconds (under 60: each read
/// refreshes them).
pub async fn token_endpoint_expiring(expires_in: u64) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move || async move {
            axum::Json(serde_json::json!({
                "access_token": "fixture-access-token", "token_type": "Bearer",
                "expires_in": expires_in, "refresh_token": "fixture-refresh-token", "scope": "read"
            }))
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/token")
}
