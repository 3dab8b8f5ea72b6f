//! Benchmark of the monthly invoice run on the embedded store: `tenants` tenants of
//! `customers` customers each, every customer on a plan for the whole month, billed by
//! `invoice_run::run_all` (the local worker pool). Run it in release:
//!
//!     cargo run --release -p tenantry-tests --bin invoice-bench -- --tenants 1 --customers 100000
//!     cargo run --release -p tenantry-tests --bin invoice-bench -- --tenants 1000 --customers 100
//!
//! Tenants alternate between consolidated and per-customer invoicing (one tenant:
//! consolidated). Seeding goes through the services (customers with the tenant's default
//! plan), then the store's counters are reset and the run is measured alone.

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use futures::StreamExt;
use serde_json::json;
use tenantry::Deps;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::model::billing::{Period, PlanDraft};
use tenantry::model::customer::CustomerDraft;
use tenantry::model::tenant::TenantDraft;
use tenantry::service::{catalog, customers, invoice_run, tenants};
use tenantry::store::counting::CountingStore;
use tenantry_tests::app::TestClock;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1)]
    tenants: usize,
    /// Customers per tenant.
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    /// Tenants billed at once (the local worker pool).
    #[arg(long, default_value_t = 4)]
    workers: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let counting = Arc::new(CountingStore::new(Arc::new(EmbeddedStore::open(
        dir.path().join("bench.redb"),
    )?)));
    let counts = counting.counts.clone();
    let clock = Arc::new(TestClock::at("2026-11-01T09:00:00Z".parse()?));
    let deps = Deps::new(counting).with_clock(clock.clone());
    let e = |e: tenantry::Error| anyhow::anyhow!("{e}");

    let plan: PlanDraft = serde_json::from_value(json!({
        "code": "starter", "name": "Starter", "currency": "EUR", "base_amount": 3000,
        "included_seats": 2, "seat_amount": 600}))?;
    catalog::create_plan(&deps, &plan).await.map_err(e)?;
    let seeding = Instant::now();
    let mut tenant_ids = Vec::new();
    for t in 0..args.tenants {
        let mode = if t % 2 == 0 {
            "consolidated"
        } else {
            "per_customer"
        };
        let draft: TenantDraft = serde_json::from_value(json!({
            "name": format!("Bench {t}"), "slug": format!("bench-{t}"), "kind": "partner",
            "invoice_mode": mode, "default_plan": "starter",
            "owner": {"email": format!("o{t}@bench.example.com"), "first_name": "O", "last_name": "B"}}))?;
        let created = tenants::create(&deps, &draft).await.map_err(e)?;
        tenant_ids.push(created.tenant.tenant.id.to_string());
    }
    let total = args.tenants * args.customers;
    let jobs = tenant_ids
        .iter()
        .flat_map(|t| (0..args.customers).map(move |i| (t.clone(), i)));
    let failed = futures::stream::iter(jobs)
        .map(|(t, i)| {
            let deps = deps.clone();
            async move {
                let scope = tenantry_tests::owner_scope(&t);
                let draft: CustomerDraft = serde_json::from_value(json!({
                    "company": {"name": format!("Customer {i}")},
                    "admin": {"first_name": "Ada", "last_name": "Admin",
                        "email": format!("admin{i}@c{i}.example.com")}}))
                .expect("a customer draft");
                customers::create(&deps, &scope, &draft).await.is_err()
            }
        })
        .buffer_unordered(8)
        .filter(|failed| futures::future::ready(*failed))
        .count()
        .await;
    anyhow::ensure!(failed == 0, "{failed} customers were not created");
    eprintln!(
        "seeded {} tenants, {total} customers in {:.1} s",
        args.tenants,
        seeding.elapsed().as_secs_f64()
    );

    // 1 December, 02:00: November is billed.
    *clock.0.lock().expect("clock") = "2026-12-01T02:00:00Z".parse()?;
    counts.take();
    counts.take_items_written();
    let started = Instant::now();
    let report = invoice_run::run_all(
        &deps,
        Period::parse("2026-11").map_err(anyhow::Error::msg)?,
        args.workers,
    )
    .await
    .map_err(e)?;
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.failed.is_empty(), "failed: {:?}", report.failed);
    let (reads, transactions, queried) = counts.take();
    let written = counts.take_items_written();
    let mut invoices = 0;
    let mut billed = 0;
    for t in &tenant_ids {
        let id = tenantry::model::ids::TenantId::from_record(t.clone());
        let (state, _) = invoice_run::state(
            &deps,
            &id,
            Period::parse("2026-11").map_err(anyhow::Error::msg)?,
        )
        .await
        .map_err(e)?
        .ok_or_else(|| anyhow::anyhow!("no run state for {t}"))?;
        anyhow::ensure!(
            state.done && state.billed as usize == args.customers,
            "{t}: {state:?}"
        );
        billed += state.billed;
    }
    // Consolidated tenants (even) have one invoice; per-customer ones, one per customer.
    for i in 0..tenant_ids.len() {
        invoices += if i % 2 == 0 { 1 } else { args.customers };
    }
    let n = total as f64;
    println!(
        "| tenants × customers | workers | wall time | customers/s | invoices | store reads / customer | queries' items / customer | transactions / customer | items written / customer |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} × {} | {} | {:.1} s | {:.0} | {} | {:.2} | {:.2} | {:.3} | {:.2} |",
        args.tenants,
        args.customers,
        args.workers,
        elapsed,
        billed as f64 / elapsed,
        invoices,
        reads as f64 / n,
        queried as f64 / n,
        transactions as f64 / n,
        written as f64 / n,
    );
    Ok(())
}
