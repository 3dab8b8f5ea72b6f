//! Memory of an audit log export: does it stay flat however many events it streams?
//!
//!     cargo run --release -p tenantry-tests --bin audit-export-bench -- [events]
//!
//! A tenant's log gets `events` audit events (default 100,000) spread over 30 days and
//! 50 customers, written through `audit::op` into the embedded store (redb, a file).
//! Then the local server (the same router `tenantry serve` runs) answers
//! `GET /v1/audit-events?format=ndjson` and `?format=csv` for the whole period, read
//! over loopback HTTP chunk by chunk and counted, and again for a tenth of the period.
//! Before each export the process's peak RSS is reset (`/proc/self/clear_refs`), so
//! each figure is the peak during that export alone: server, client and store cache.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tenantry::Deps;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::model::audit::{Actor, ActorKind, Target};
use tenantry::model::ids::CustomerId;
use tenantry::service::audit::{self, Entry, Log};
use tenantry::service::{api_keys, tenants};

struct Moving(Mutex<DateTime<Utc>>);
impl tenantry::ports::Clock for Moving {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// The process's resident set now and at its peak since the last reset, in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn reset_peak() {
    // "5" resets the peak resident set size (VmHWM) to the current one.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn export(
    base: &str,
    key: &str,
    format: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> anyhow::Result<()> {
    reset_peak();
    let (before, _) = rss();
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .get(format!("{base}/v1/audit-events"))
        .query(&[
            ("format", format),
            ("since", &since.to_rfc3339()),
            ("until", &until.to_rfc3339()),
        ])
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()?;
    let (mut bytes, mut lines, mut chunks) = (0usize, 0usize, 0usize);
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        chunks += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (_, peak) = rss();
    println!(
        "{format} {} days: {lines} lines, {:.1} MB in {chunks} chunks, {seconds:.2} s ({:.0} lines/s); RSS before {} MiB, peak during {} MiB",
        (until - since).num_days(),
        bytes as f64 / 1e6,
        lines as f64 / seconds,
        before / 1024,
        peak / 1024,
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000)
        .max(1_000);
    let e = |e: tenantry::Error| anyhow::anyhow!("{e}");
    let dir = tempfile::tempdir()?;
    let start: DateTime<Utc> = "2026-10-01T00:00:00Z".parse()?;
    let clock = Arc::new(Moving(Mutex::new(start)));
    let mut deps = Deps::new(Arc::new(EmbeddedStore::open(
        dir.path().join("bench.redb"),
    )?));
    deps.clock = clock.clone();
    let draft = serde_json::from_value(serde_json::json!({
        "name": "Bench", "slug": "auditbench", "kind": "partner",
        "owner": {"email": "o@auditbench.example.com", "first_name": "O", "last_name": "B"}}))?;
    let tenant_id = tenants::create(&deps, &draft)
        .await
        .map_err(e)?
        .tenant
        .tenant
        .id;
    let scope = tenantry_tests::owner_scope(tenant_id.as_str());
    let key = api_keys::create(
        &deps,
        &scope,
        &serde_json::from_value(serde_json::json!({"name": "bench", "role": "owner"}))?,
    )
    .await
    .map_err(e)?
    .secret;

    let customers: Vec<CustomerId> = (0..50).map(|_| CustomerId::generate()).collect();
    let step = Duration::milliseconds(30 * 24 * 3600 * 1000 / n as i64);
    let seeding = Instant::now();
    let mut ops = Vec::new();
    for i in 0..n {
        *clock.0.lock().expect("clock") = start + step * i as i32;
        let c = &customers[i % customers.len()];
        let entry = Entry::new("customer.updated", Target::new("customer", c))
            .customer(c)
            .fields(["company", "billing"])
            .value("status", "active")
            .by(Actor::new(
                ActorKind::ApiKey,
                "key_0197b2a7f3b27e5d8c6f708192a3b4c5",
            ));
        ops.push(
            audit::op(&deps, Log::Tenant(&tenant_id), entry)
                .await
                .map_err(e)?,
        );
        if ops.len() == 100 {
            deps.store.transact(std::mem::take(&mut ops)).await?;
        }
    }
    if !ops.is_empty() {
        deps.store.transact(ops).await?;
    }
    println!(
        "seeded {n} events over 30 days in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let end = start + Duration::days(30);
    *clock.0.lock().expect("clock") = end;

    let app = Arc::new(functions::api::App::all(deps));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            functions::server::router(app)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    export(&base, &key, "ndjson", start + Duration::days(27), end).await?;
    export(&base, &key, "ndjson", start, end).await?;
    export(&base, &key, "csv", start, end).await?;
    Ok(())
}
