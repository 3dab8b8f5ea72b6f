//! Cost of receiving a signed provisioning webhook, and of working it:
//!
//!     cargo run --release -p tenantry-tests --bin hook-bench -- [webhooks]
//!
//! A tenant and an inbound endpoint are made through the services (embedded store, the
//! local vault). Then `webhooks` (default 5,000) distinct `customer.provision` webhooks
//! are signed and received one after another (`inbound::receive`: verification, the
//! body's checks, the record), each timed, counting the store calls. Then the same
//! number is sent again with their first ids (resends). Last, every request is
//! worked (`provisioning::work_due`), which creates `webhooks` customers. No HTTP: the
//! service calls a request's handler makes. Last, the `provisioning.succeeded` events
//! this wrote are delivered (`events::deliver_due`, one sweep after another) to a local
//! receiver (an HTTP server on the loopback answering 204), each signed.

use std::sync::Arc;
use std::time::Instant;

use tenantry_tests::percentile;

use tenantry::Deps;
use tenantry::adapters::embedded::{EmbeddedStore, FileVault};
use tenantry::service::{inbound, provisioning, tenants};
use tenantry::store::counting::CountingStore;
use tenantry::webhooks::{Signed, SigningSecret};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5_000)
        .max(1_000);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(CountingStore::new(Arc::new(EmbeddedStore::open(
        dir.path().join("bench.redb"),
    )?)));
    let counts = store.counts.clone();
    let deps =
        Deps::new(store).with_vault(Arc::new(FileVault::open(dir.path().join("vault.key"))?));
    let draft = serde_json::from_value(
        serde_json::json!({"name": "Bench", "slug": "hookbench", "kind": "partner",
        "owner": {"email": "o@hookbench.example.com", "first_name": "O", "last_name": "B"}}),
    )?;
    let tenant = tenants::create(&deps, &draft)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let scope = tenantry_tests::owner_scope(tenant.tenant.tenant.id.as_str());
    // The receiver of the events, and the endpoint that sends them there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = received.clone();
    let receiver = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });
    let outbound_draft =
        serde_json::from_value(serde_json::json!({"url": format!("http://{addr}/hooks")}))?;
    tenantry::service::outbound::create(&deps, &scope, &outbound_draft)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let endpoint = inbound::create(&deps, &scope, &Default::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secret = SigningSecret::parse(&endpoint.secret).map_err(|e| anyhow::anyhow!(e))?;
    let id = endpoint.endpoint.id.to_string();

    for round in ["first", "resend"] {
        counts.take();
        let mut times = Vec::with_capacity(n);
        let started = Instant::now();
        for i in 0..n {
            let body = serde_json::to_vec(&serde_json::json!({
                "type": "customer.provision",
                "data": {"external_id": format!("bench-{i}"),
                    "company": {"name": format!("Bench company {i}")},
                    "admin": {"first_name": "Ada", "last_name": "Admin", "email": format!("a{i}@bench{i}.example.com")}}
            }))?;
            let msg = format!("msg_{i}");
            let ts = chrono::Utc::now().timestamp();
            let sig = secret.sign(&msg, ts, &body);
            let ts = ts.to_string();
            let t = Instant::now();
            let signed = Signed {
                id: Some(&msg),
                timestamp: Some(&ts),
                signature: Some(&sig),
            };
            inbound::receive(&deps, &id, signed, &body)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let total = started.elapsed().as_secs_f64();
        let (reads, writes, _) = counts.take();
        times.sort_by(f64::total_cmp);
        println!(
            "{round}: {n} webhooks in {total:.2} s ({:.0}/s); p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; per webhook {:.2} reads, {:.2} writes",
            n as f64 / total,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1],
            reads as f64 / n as f64,
            writes as f64 / n as f64,
        );
    }

    counts.take();
    let started = Instant::now();
    let mut worked = 0;
    loop {
        let report = provisioning::work_due(&deps)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if report.due == 0 {
            break;
        }
        worked += report.succeeded;
    }
    let total = started.elapsed().as_secs_f64();
    let (reads, writes, queried) = counts.take();
    println!(
        "work: {worked} requests (customers created) in {total:.2} s ({:.0}/s); per request {:.2} reads, {:.2} writes, {:.2} index items queried",
        worked as f64 / total,
        reads as f64 / worked as f64,
        writes as f64 / worked as f64,
        queried as f64 / worked as f64,
    );

    counts.take();
    let sender = tenantry::adapters::http::HttpSender::allowing_loopback();
    let started = Instant::now();
    loop {
        let r = tenantry::service::events::deliver_due(&deps, &sender)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if r.due == 0 {
            break;
        }
    }
    let total = started.elapsed().as_secs_f64();
    let delivered = received.load(std::sync::atomic::Ordering::Relaxed);
    let (reads, writes, queried) = counts.take();
    println!(
        "deliver: {delivered} events signed and delivered in {total:.2} s ({:.0}/s), one sweep after another; per event {:.2} reads, {:.2} writes, {:.2} index items queried",
        delivered as f64 / total,
        reads as f64 / delivered as f64,
        writes as f64 / delivered as f64,
        queried as f64 / delivered as f64,
    );
    Ok(())
}
