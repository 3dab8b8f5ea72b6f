//! Tenantry's HTTP edge: the route table, thin handlers, and the two homes that serve
//! them — one Lambda binary per route, and the local server with every route.

pub mod api;
pub mod lambda;
pub mod routes;
pub mod server;

/// JSON logs through `tracing`, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}
