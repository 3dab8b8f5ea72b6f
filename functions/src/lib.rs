//! Tenantry's HTTP edge: the route table, thin handlers, and the two homes that serve
//! them — one Lambda binary per route, and the local server with every route.

pub mod api;
pub mod demo;
pub mod document;
pub mod lambda;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod server;
pub mod test_clock;

/// JSON logs through `tracing`, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    init_tracing_at(tracing::Level::INFO)
}

/// `init_tracing`, with `default` when `RUST_LOG` says nothing (the demo: warnings only).
pub fn init_tracing_at(default: tracing::Level) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    // `Targets` reads the usual `RUST_LOG` directives (`info`, `tenantry=debug,warn`)
    // without the regex engine `EnvFilter` links into every function.
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(default));
    let _ = tracing_subscriber::fmt()
        .json()
        // A request's span (its request id) on every line logged while serving it.
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        // The filter below decides; the builder's own INFO ceiling would cap it.
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .finish()
        .with(filter)
        .try_init();
}
