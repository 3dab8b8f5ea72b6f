//! The local server: every route on one port over the embedded store.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use tokio::net::TcpListener;

use crate::api::{App, Bearer, MAX_BODY_BYTES, Payload, SourceIp, dispatch_streaming, too_large};

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        let source = SourceIp(peer.ip().to_string());
        parts.extensions.insert(source);
    }
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let rejected = || too_large(&uuid::Uuid::new_v4().to_string()).map(Body::from);
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return rejected();
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return rejected(),
    };
    // An export is written to the client as it is read.
    dispatch_streaming(&app, http::Request::from_parts(parts, bytes), Bearer)
        .await
        .map(|payload| match payload {
            Payload::Full(b) => Body::from(b),
            Payload::Stream(chunks) => Body::from_stream(futures::StreamExt::map(chunks, |c| {
                c.map_err(|e| {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "export failed; its response is cut short"
                    );
                    std::io::Error::other("export failed")
                })
            })),
        })
}

/// Every route, and the API document at `GET /openapi.json`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/openapi.json",
            axum::routing::get(|| async { axum::Json(crate::openapi::document()) }),
        )
        .fallback(handle)
        .with_state(app)
}

/// The router, plus the local issuer's public keys where token verifiers look for them:
/// `<issuer>/.well-known/jwks.json` and `<issuer>/<pool>/.well-known/jwks.json` (one key
/// signs every local pool's tokens). In AWS, Cognito serves each pool's keys.
pub fn router_with_jwks(app: Arc<App>, jwks: serde_json::Value) -> Router {
    let keys = axum::Json(jwks);
    let serve_keys = move || {
        let keys = keys.clone();
        async move { ([(http::header::CACHE_CONTROL, "public, max-age=300")], keys) }
    };
    Router::new()
        .route(
            "/identity/.well-known/jwks.json",
            axum::routing::get(serve_keys.clone()),
        )
        .route(
            "/identity/{pool}/.well-known/jwks.json",
            axum::routing::get(serve_keys),
        )
        .merge(router(app))
}

/// Serves until the process is stopped (Ctrl-C or SIGTERM).
pub async fn serve(listener: TcpListener, app: Arc<App>) -> std::io::Result<()> {
    serve_router(listener, router(app)).await
}

/// Serves `router` until the process is stopped.
pub async fn serve_router(listener: TcpListener, router: Router) -> std::io::Result<()> {
    // With each connection's peer address: the source public forms are rate limited by.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
