//! Cost of a connection's two hot paths: the connect page behind an invite's link, and
//! a credentials read:
//!
//!     cargo run --release -p tenantry-tests --bin connect-bench -- [reads]
//!
//! A tenant, an `api_key` connector without a check request, one customer and ten
//! connections, each invited, are made through the services (embedded store, the local
//! vault). Then the connect page (`pages::connect_page`: slug, branding, link,
//! connection, customer, connector, and the HTML rendered) is opened `reads` times
//! (default 2,000) round the ten links, each timed, counting the store calls. Then each
//! connection is authorized through the page's service, and its credentials are read
//! `reads` times in all (`connections::credentials`: the read recorded, the sealed
//! credentials opened). No HTTP in front: the calls a request's handler makes.
//!
//! Then ten `oauth2` connections, authorized through the OAuth callback's service
//! against a token endpoint on the loopback whose tokens live 30 s, so that each of
//! `reads / 4` credentials reads refreshes them first: the lease written, the client
//! secret opened, one token request over loopback HTTP, the new tokens sealed and
//! written.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tenantry_tests::percentile;

use tenantry::Deps;
use tenantry::adapters::embedded::{EmbeddedStore, FileVault};
use tenantry::model::ids::TenantId;
use tenantry::service::{connections, connectors, customers, tenants};
use tenantry::store::counting::CountingStore;

fn report(what: &str, n: usize, total: f64, times: &mut [f64], counts: (u64, u64, u64)) {
    times.sort_by(f64::total_cmp);
    println!(
        "{what}: {n} in {total:.2} s ({:.0}/s); p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; per call {:.2} reads, {:.2} writes",
        n as f64 / total,
        percentile(times, 0.5),
        percentile(times, 0.99),
        times[times.len() - 1],
        counts.0 as f64 / n as f64,
        counts.1 as f64 / n as f64,
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2_000)
        .max(100);
    let e = |e: tenantry::Error| anyhow::anyhow!("{e}");
    let dir = tempfile::tempdir()?;
    let store = Arc::new(CountingStore::new(Arc::new(EmbeddedStore::open(
        dir.path().join("bench.redb"),
    )?)));
    let counts = store.counts.clone();
    let deps = Deps::new(store)
        .with_vault(Arc::new(FileVault::open(dir.path().join("vault.key"))?))
        .with_outbound(Arc::new(
            tenantry::adapters::http::HttpSender::allowing_loopback(),
        ));
    let draft = serde_json::from_value(
        serde_json::json!({"name": "Bench", "slug": "connectbench", "kind": "partner",
        "owner": {"email": "o@connectbench.example.com", "first_name": "O", "last_name": "B"}}),
    )?;
    let tenant = tenants::create(&deps, &draft).await.map_err(e)?;
    let tenant_id = tenant.tenant.tenant.id.clone();
    let scope = tenantry_tests::owner_scope(tenant_id.as_str());
    let connector = serde_json::from_value(serde_json::json!({
        "code": "bench_key", "name": "Bench key", "auth": "api_key",
        "fields": [{"name": "account", "label": "Account", "secret": false},
            {"name": "api_key", "label": "API key"}]}))?;
    connectors::create(&deps, &connector).await.map_err(e)?;
    let customer = serde_json::from_value(serde_json::json!({
        "company": {"name": "Bench Bakery"},
        "admin": {"first_name": "Ada", "last_name": "Admin", "email": "ada@bench-bakery.example.com"},
        "primary_contact": {"name": "Pat", "email": "pat@bench-bakery.example.com"}}))?;
    let c = customers::create(&deps, &scope, &customer)
        .await
        .map_err(e)?;
    let of_customer = tenantry::access::customer_of(
        &tenantry::access::Scope::Tenant(scope.clone()),
        c.id.clone(),
    )
    .map_err(e)?;
    // Ten connections to `connector`, each invited: their ids and links' tokens.
    let invited = |connector: &'static str| {
        let (deps, scope, of_customer, tenant_id) = (&deps, &scope, &of_customer, &tenant_id);
        async move {
            let mut links = Vec::new();
            for _ in 0..10 {
                let draft = serde_json::from_value(serde_json::json!({ "connector": connector }))?;
                let made = connections::create(deps, of_customer, "key_bench", &draft)
                    .await
                    .map_err(e)?;
                connections::invite(deps, scope, "key_bench", &made.id, &Default::default())
                    .await
                    .map_err(e)?;
                let token = tenantry_tests::app::pending_link_token(
                    deps,
                    tenant_id.as_str(),
                    "pat@bench-bakery.example.com",
                    "connection_invite",
                )
                .await
                .ok_or_else(|| anyhow::anyhow!("no invite"))?;
                links.push((made.id, token));
            }
            anyhow::Ok(links)
        }
    };
    let links = invited("bench_key").await?;

    counts.take();
    let mut times = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let token = &links[i % links.len()].1;
        let t = Instant::now();
        let page = functions::pages::connect_page(&deps, "connectbench", token)
            .await
            .map_err(e)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(page.status == 200, "the page answered {}", page.status);
    }
    let total = started.elapsed().as_secs_f64();
    report("connect page", n, total, &mut times, counts.take());

    let t_id = TenantId::from_record(tenant_id.as_str());
    for (_, token) in &links {
        let page = connections::open_link(&deps, &t_id, &[], token)
            .await
            .map_err(e)?
            .ok_or_else(|| anyhow::anyhow!("a link that does not work"))?;
        let values = BTreeMap::from([
            ("account".to_owned(), "acme".to_owned()),
            ("api_key".to_owned(), "sk_bench_key".to_owned()),
        ]);
        connections::submit_api_key(&deps, &t_id, &page, &values)
            .await
            .map_err(e)?;
    }
    counts.take();
    let mut times = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let id = &links[i % links.len()].0;
        let t = Instant::now();
        let read = connections::credentials(&deps, &scope, "key_bench", id)
            .await
            .map_err(e)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(read.credentials.len() == 2, "the credentials");
    }
    let total = started.elapsed().as_secs_f64();
    report("credentials read", n, total, &mut times, counts.take());

    let token_url = tenantry_tests::provider::token_endpoint_expiring(30).await;
    let oauth = serde_json::from_value(serde_json::json!({
        "code": "bench_oauth", "name": "Bench OAuth", "auth": "oauth2",
        "authorize_url": "https://provider.example.com/authorize", "token_url": token_url,
        "client_id": "bench", "client_secret": "bench-client-secret", "scopes": ["read"]}))?;
    connectors::create(&deps, &oauth).await.map_err(e)?;
    let mut ids = Vec::new();
    for (id, token) in invited("bench_oauth").await? {
        let page = connections::open_link(&deps, &t_id, &[], &token)
            .await
            .map_err(e)?
            .ok_or_else(|| anyhow::anyhow!("a link that does not work"))?;
        let started = connections::oauth::start(
            &deps,
            &t_id,
            &page,
            "http://127.0.0.1/t/connectbench/connect/callback",
        )
        .await
        .map_err(e)?;
        let query = connections::oauth::CallbackQuery {
            state: Some(&started.state),
            code: Some("bench-code"),
            error: None,
        };
        let done = connections::oauth::finish(&deps, &t_id, &[], &query, Some(&started.state))
            .await
            .map_err(e)?;
        anyhow::ensure!(
            matches!(done, connections::oauth::Finished::Authorized(_)),
            "not authorized"
        );
        ids.push(id);
    }
    let m = n / 4;
    counts.take();
    let mut times = Vec::with_capacity(m);
    let started = Instant::now();
    for i in 0..m {
        let id = &ids[i % ids.len()];
        let t = Instant::now();
        let read = connections::credentials(&deps, &scope, "key_bench", id)
            .await
            .map_err(e)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(read.credentials.contains_key("access_token"), "a token");
    }
    let total = started.elapsed().as_secs_f64();
    report(
        "credentials read with a refresh",
        m,
        total,
        &mut times,
        counts.take(),
    );
    Ok(())
}
