//! Benchmark of the local server: throughput and latency at N connections, search over a
//! large tenant, and store calls per route. Run it with the `local` profile (release at
//! opt-level 3; the Lambda functions' release profile is tuned for size):
//!
//!     cargo run --profile local -p tenantry-tests --bin bench -- --customers 100000
//!
//! The server runs on its own runtime (2 worker threads) in this process, the load
//! generator on another (1 thread), both on loopback: on a 2-core machine they share the
//! cores.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use functions::api::App;
use functions::routes::ROUTES;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::Deps;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::model::api_key;
use tenantry::model::customer::CustomerDraft;
use tenantry::service::{auth, customers};
use tenantry::store::counting::{CountingStore, Counts};

// The local server's allocator, as in `tenantry serve`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per throughput run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Customers in the large tenant searched (0 skips the search benchmark).
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    /// Search requests measured.
    #[arg(long, default_value_t = 2_000)]
    searches: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    server_threads: u16,
    /// Worker threads of the load generator's runtime (one leaves the server's two
    /// workers fewer threads to share the cores with).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    client_threads: u16,
}

const ADJ: &[&str] = &[
    "Acme",
    "Bright",
    "Cobalt",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Raven",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
    "Société",
    "Müller",
    "Ålborg",
    "Éclair",
];
const NOUN: &[&str] = &[
    "Analytics",
    "Bakery",
    "Consulting",
    "Dynamics",
    "Engineering",
    "Foods",
    "Logistics",
    "Media",
    "Networks",
    "Partners",
    "Robotics",
    "Software",
    "Studios",
    "Systems",
    "Travel",
    "Ventures",
    "Works",
    "Labs",
    "Health",
    "Energy",
];
const SUFFIX: &[&str] = &[
    "Corporation",
    "Inc",
    "GmbH",
    "BV",
    "Ltd",
    "SAS",
    "LLC",
    "Group",
    "Holding",
    "Co",
];

fn company_name(i: usize) -> String {
    format!(
        "{} {} {} {}",
        ADJ[i % ADJ.len()],
        NOUN[(i / ADJ.len()) % NOUN.len()],
        SUFFIX[(i / (ADJ.len() * NOUN.len())) % SUFFIX.len()],
        i
    )
}

fn body(i: usize, tag: &str) -> Value {
    json!({
        "company": {"name": company_name(i), "country": "US", "phone": "+14155550100",
                    "address": {"line1": "1 Market St", "city": "San Francisco", "postal_code": "94105"}},
        "admin": {"first_name": "Ada", "last_name": "Admin", "email": format!("admin{i}.{tag}@bench.example.com")}
    })
}

struct Stats {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
    fn line(&self, what: &str) -> String {
        format!(
            "| {what} | {:.0} req/s | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} |",
            self.requests as f64 / self.elapsed.as_secs_f64(),
            self.pct(0.50),
            self.pct(0.99),
            self.latencies
                .last()
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            self.requests,
            self.errors
        )
    }
}

/// The connections' latencies and errors, summed once they all stop.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<(Vec<Duration>, usize)>>,
    started: Instant,
) -> Stats {
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Stats {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

/// `connections` loops, each sending the next request from `make` until `seconds` pass.
async fn load(
    client: &reqwest::Client,
    connections: usize,
    seconds: u64,
    expect: StatusCode,
    make: Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>,
) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (make, counter, _client) = (make.clone(), counter.clone(), client.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let t = Instant::now();
                    match make(n).send().await {
                        Ok(r) if r.status() == expect => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    gather(tasks, started).await
}

/// The lightest load generator: `connections` keep-alive HTTP/1.1 connections, each
/// writing the next prebuilt request and reading its answer's head (httparse) and
/// `Content-Length` body. reqwest builds, routes and pools every request, and on 2
/// cores that work is taken from the server measured; here a request costs the client a
/// write and a read. As in `load`, a latency counts only a whole 200 answer; any other
/// answer, or a failure to send or read one (a bad head, no `Content-Length`, no answer
/// within 5 s), counts one error, and the connection is opened again.
async fn raw_load(
    addr: std::net::SocketAddr,
    connections: usize,
    seconds: u64,
    requests: Arc<Vec<Vec<u8>>>,
) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (requests, counter) = (requests.clone(), counter.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                while Instant::now() < deadline {
                    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let mut conn = RawConnection {
                        stream,
                        buf: Vec::with_capacity(16 * 1024),
                    };
                    while Instant::now() < deadline {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let t = Instant::now();
                        match conn.exchange(&requests[n % requests.len()]).await {
                            Some(200) => lat.push(t.elapsed()),
                            Some(_) => errors += 1,
                            None => {
                                errors += 1;
                                break; // open the connection again
                            }
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    gather(tasks, started).await
}

/// One keep-alive connection of `raw_load`, with what it read past the last answer.
struct RawConnection {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl RawConnection {
    /// Sends one request and reads its whole answer: its status, or `None` when the
    /// connection cannot be used any more.
    async fn exchange(&mut self, request: &[u8]) -> Option<u16> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(request).await.ok()?;
        let (status, total) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(head)) => {
                    let length = response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .and_then(|v| v.trim().parse::<usize>().ok())?;
                    break (response.code?, head + length);
                }
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(_) => return None,
            }
        };
        while self.buf.len() < total {
            self.fill().await?;
        }
        self.buf.drain(..total);
        Some(status)
    }

    /// Reads what has arrived, waiting at most 5 s.
    async fn fill(&mut self) -> Option<()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk));
        match read.await {
            Ok(Ok(got)) if got > 0 => {
                self.buf.extend_from_slice(&chunk[..got]);
                Some(())
            }
            _ => None,
        }
    }
}

/// A GET request's bytes, with a bearer key, for `raw_load`.
fn raw_get(addr: std::net::SocketAddr, path: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\naccept: application/json\r\n\r\n"
    )
    .into_bytes()
}

/// Usage ingestion: batches of 1,000 events for 10 customers, on `connections.min(4)`
/// connections; and the store calls of one batch, of its resend (all duplicates).
async fn usage_bench(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
    base: &str,
    admin: &str,
    counts: &Counts,
    args: &Args,
) -> anyhow::Result<()> {
    let post = |key: &str, path: &str, b: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&b)
    };
    post(admin, "/v1/billable-metrics", json!({"code": "ai_operations", "name": "AI operations", "unit": "operation", "aggregation": "sum"})).send().await?;
    post(admin, "/v1/plans", json!({"code": "growth", "name": "Growth", "currency": "EUR", "base_amount": 4900,
        "charges": [{"metric": "ai_operations", "model": "package", "package_size": 1000, "package_amount": 100}],
        "entitlements": {"features": ["dashboard"], "limits": {"ai_operations": 1_000_000_000}}})).send().await?;
    let tenant: Value = post(admin, "/v1/tenants", json!({"name": "Usage", "slug": "usage-bench", "kind": "partner", "owner": {"email": "o@usage.example.com", "first_name": "O", "last_name": "U"}})).send().await?.json().await?;
    let tid = tenant["id"].as_str().unwrap_or_default().to_owned();
    let key: Value = post(
        admin,
        &format!("/v1/tenants/{tid}/api-keys"),
        json!({"name": "u", "role": "owner"}),
    )
    .send()
    .await?
    .json()
    .await?;
    let key = key["secret"].as_str().unwrap_or_default().to_owned();
    let mut customers = Vec::new();
    for i in 0..10 {
        let c: Value = post(&key, "/v1/customers", body(8_000_000 + i, "usage"))
            .send()
            .await?
            .json()
            .await?;
        let id = c["id"].as_str().unwrap_or_default().to_owned();
        post(
            &key,
            &format!("/v1/customers/{id}/subscription"),
            json!({"plan": "growth"}),
        )
        .send()
        .await?;
        customers.push(id);
    }
    let customers = Arc::new(customers);
    let now = chrono::Utc::now().to_rfc3339();
    let batch = {
        let (customers, now) = (customers.clone(), now.clone());
        move |n: usize| {
            let events: Vec<Value> = (0..1000)
                .map(|i| {
                    json!({"id": format!("b{n}-{i}"), "customer_id": customers[i % customers.len()],
                    "metric": "ai_operations", "value": 1, "timestamp": now})
                })
                .collect();
            json!({"events": events})
        }
    };
    // One batch and its resend, counted.
    counts.take();
    counts.take_items_written();
    let r: Value = post(&key, "/v1/usage", batch(usize::MAX))
        .send()
        .await?
        .json()
        .await?;
    let (reads, writes, _) = counts.take();
    let items = counts.take_items_written();
    let again: Value = post(&key, "/v1/usage", batch(usize::MAX))
        .send()
        .await?
        .json()
        .await?;
    let (dup_reads, dup_writes, _) = counts.take();
    let dup_items = counts.take_items_written();
    println!("\n## Usage ingestion (1,000 events per call, 10 customers)\n");
    println!(
        "| call | accepted | duplicates | store reads | transactions | items written | items written per event |\n|---|---|---|---|---|---|---|"
    );
    println!(
        "| new events | {} | {} | {reads} | {writes} | {items} | {:.3} |",
        r["accepted"],
        r["duplicates"],
        items as f64 / 1000.0
    );
    println!(
        "| the same events again | {} | {} | {dup_reads} | {dup_writes} | {dup_items} | {:.3} |",
        again["accepted"],
        again["duplicates"],
        dup_items as f64 / 1000.0
    );
    // Throughput: distinct batches on a few connections.
    let connections = args.connections.min(4);
    let (k, b, c2, make) = (
        key.clone(),
        base.to_owned(),
        client.clone(),
        Arc::new(batch),
    );
    let stats = load(
        client,
        connections,
        args.seconds,
        StatusCode::OK,
        Arc::new(move |n| {
            c2.post(format!("{b}/v1/usage"))
                .bearer_auth(&k)
                .json(&make(n))
        }),
    )
    .await;
    let events = stats.requests as f64 * 1000.0;
    println!(
        "\n| ingestion, {connections} connections, {} s | {:.0} events/s | batch p50 {:.1} ms | p99 {:.1} ms | {} batches | {} errors |",
        args.seconds,
        events / stats.elapsed.as_secs_f64(),
        stats.pct(0.5),
        stats.pct(0.99),
        stats.requests,
        stats.errors
    );
    let usage: Value = client
        .get(format!("{base}/v1/customers/{}/usage", customers[0]))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "\nOne customer's month after the run: {} (its tenth of every batch).",
        usage["metrics"][0]["value"]
    );

    // The entitlements check a partner's application makes on every request of its own.
    counts.take();
    let one = client
        .get(format!("{base}/v1/customers/{}/entitlements", customers[0]))
        .bearer_auth(&key)
        .send()
        .await?;
    let status = one.status();
    let _ = one.bytes().await?;
    let (reads, writes, _) = counts.take();
    println!(
        "\n## Entitlements read\n\nOne `GET /v1/customers/{{id}}/entitlements` ({status}): {reads} store reads with authentication, {writes} writes.\n"
    );
    println!(
        "| request | throughput | p50 | p99 | max | requests | errors |\n|---|---|---|---|---|---|---|"
    );
    let (k, b, c2, ids) = (
        key.clone(),
        base.to_owned(),
        client.clone(),
        customers.clone(),
    );
    let stats = load(
        client,
        args.connections,
        args.seconds,
        StatusCode::OK,
        Arc::new(move |n| {
            c2.get(format!(
                "{b}/v1/customers/{}/entitlements",
                ids[n % ids.len()]
            ))
            .bearer_auth(&k)
        }),
    )
    .await;
    println!(
        "{}",
        stats.line(&format!(
            "GET /v1/customers/{{id}}/entitlements ({} connections, reqwest)",
            args.connections
        ))
    );
    // The same, and a plain customer read for comparison, from the lightest client.
    let entitlements: Vec<Vec<u8>> = customers
        .iter()
        .map(|c| raw_get(addr, &format!("/v1/customers/{c}/entitlements"), &key))
        .collect();
    let stats = raw_load(addr, args.connections, args.seconds, Arc::new(entitlements)).await;
    println!(
        "{}",
        stats.line(&format!(
            "GET /v1/customers/{{id}}/entitlements ({} connections, raw HTTP/1.1)",
            args.connections
        ))
    );
    let plain: Vec<Vec<u8>> = customers
        .iter()
        .map(|c| raw_get(addr, &format!("/v1/customers/{c}"), &key))
        .collect();
    let stats = raw_load(addr, args.connections, args.seconds, Arc::new(plain)).await;
    println!(
        "{}",
        stats.line(&format!(
            "GET /v1/customers/{{id}} ({} connections, raw HTTP/1.1)",
            args.connections
        ))
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The server's JSON request log is formatted as in production, then discarded.
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::sink)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .init();
    let dir = tempfile::tempdir()?;
    let counting = Arc::new(CountingStore::new(Arc::new(EmbeddedStore::open(
        dir.path().join("bench.redb"),
    )?)));
    let counts: Arc<Counts> = counting.counts.clone();
    // As `tenantry serve` runs: with the embedded identity provider (its logins live in
    // the same store, so their writes are counted).
    let issuer = Arc::new(tenantry::adapters::embedded::LocalIssuer::open(
        dir.path().join("identity"),
        "http://127.0.0.1:3000/identity",
    )?);
    let deps = Deps::new(counting.clone()).with_identity(
        Arc::new(tenantry::adapters::embedded::EmbeddedIdentity::new(
            counting,
            issuer.clone(),
        )),
        Arc::new(tenantry::service::tokens::Verifier::new(issuer)),
    );

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.server_threads))
        .enable_all()
        .thread_name("server")
        .build()?;
    let admin = api_key::new_secret();
    let addr = server_rt.block_on(async {
        auth::register_operator_key(&deps, &admin)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App::all(deps.clone()));
        tokio::spawn(functions::server::serve(listener, app));
        anyhow::Ok(addr)
    })?;
    let base = format!("http://{addr}");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.client_threads))
        .enable_all()
        .thread_name("client")
        .build()?;
    client_rt.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections * 2).build()?;
        let call = |m: Method, key: &str, path: &str, b: Option<Value>| {
            let mut r = client.request(m, format!("{base}{path}")).bearer_auth(key);
            if let Some(b) = b {
                r = r.json(&b);
            }
            r
        };
        let tenant: Value = call(Method::POST, &admin, "/v1/tenants", Some(json!({"name": "Bench", "slug": "bench", "kind": "partner", "owner": {"email": "o@bench.example.com", "first_name": "O", "last_name": "B"}}))).send().await?.json().await?;
        let tid = tenant["id"].as_str().unwrap_or_default().to_owned();
        let key: Value = call(Method::POST, &admin, &format!("/v1/tenants/{tid}/api-keys"), Some(json!({"name": "bench", "role": "owner"}))).send().await?.json().await?;
        let key = key["secret"].as_str().unwrap_or_default().to_owned();

        println!("## Store calls per request (authentication counted separately)\n");
        println!("| route | auth reads | reads | writes (transactions) | items queried |\n|---|---|---|---|---|");
        // The first use of a key also refreshes its last_used_at (at most every 5 minutes);
        // measure the steady state after that.
        auth::authenticate(&deps, Some(&key)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        auth::authenticate(&deps, Some(&admin)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        counts.take();
        auth::authenticate(&deps, Some(&key)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let (auth_reads, _, _) = counts.take();
        // Warm last_used_at so the per-route counts below show steady state.
        let cid: Value = call(Method::POST, &key, "/v1/customers", Some(body(9_999_999, "calls"))).send().await?.json().await?;
        let cid = cid["id"].as_str().unwrap_or_default().to_owned();
        let mem: Value = call(Method::POST, &key, "/v1/members", Some(json!({"email": "m@bench.example.com", "first_name": "M", "last_name": "B", "role": "member"}))).send().await?.json().await?;
        let extra_key: Value = call(Method::POST, &key, "/v1/api-keys", Some(json!({"name": "x", "role": "member"}))).send().await?.json().await?;
        let params: HashMap<&str, String> = HashMap::from([
            ("tenant_id", tid.clone()),
            ("customer_id", cid.clone()),
            ("member_id", mem["id"].as_str().unwrap_or_default().to_owned()),
            ("key_id", extra_key["id"].as_str().unwrap_or_default().to_owned()),
        ]);
        let mut signin = body(9_999_997, "signin");
        signin["admin"]["email"] = json!("signin@bench.example.com");
        signin["admin"]["password"] = json!("Sup3r$ecret!");
        call(Method::POST, &key, "/v1/customers", Some(signin)).send().await?;
        let mut n = 0;
        for route in ROUTES {
            n += 1;
            let mut path = route.path.to_owned();
            for (k, v) in &params {
                path = path.replace(&format!("{{{k}}}"), v);
            }
            let (m, b, who) = match route.name {
                "TENANTS_CREATE" => (Method::POST, Some(json!({"name": "B2", "slug": format!("bench-{n}"), "kind": "partner", "owner": {"email": "o@b2.example.com", "first_name": "O", "last_name": "B"}})), &admin),
                "TENANTS_LIST" | "TENANTS_GET" => (Method::GET, None, &admin),
                "TENANTS_UPDATE" => (Method::PATCH, Some(json!({"name": "Bench 2"})), &admin),
                "TENANTS_PROVISION" | "TENANT_BRANDING_GET" => (Method::from_bytes(route.method.as_str().as_bytes())?, None, &admin),
                "TENANT_BRANDING_PUT" => (Method::PUT, Some(json!({"product_name": "Bench Cloud", "primary_color": "#0f766e"})), &admin),
                "LOGIN_PAGE" => {
                    path = "/t/bench/login".into();
                    (Method::GET, None, &key)
                }
                "SIGN_IN" => {
                    path = "/t/bench/login".into();
                    (Method::POST, Some(json!({"email": "signin@bench.example.com", "password": "Sup3r$ecret!"})), &key)
                }
                "TENANT_API_KEYS_CREATE" => (Method::POST, Some(json!({"name": "k", "role": "member"})), &admin),
                "TENANT_EMAILS_LIST" => {
                    path.push_str("?state=dead");
                    (Method::GET, None, &admin)
                }
                "API_KEYS_CREATE" => (Method::POST, Some(json!({"name": "k", "role": "member"})), &key),
                "MEMBERS_CREATE" => (Method::POST, Some(json!({"email": "m2@bench.example.com", "first_name": "M", "last_name": "B", "role": "member"})), &key),
                "MEMBERS_UPDATE" => (Method::PATCH, Some(json!({"first_name": "Mo"})), &key),
                "CUSTOMERS_CREATE" => (Method::POST, Some(body(9_999_998, "calls")), &key),
                "CUSTOMERS_UPDATE" => (Method::PATCH, Some(json!({"company": {"description": "changed"}})), &key),
                "CUSTOMERS_DEACTIVATE" | "CUSTOMERS_SUSPEND" | "CUSTOMERS_REACTIVATE" | "CUSTOMERS_RESTORE" => (Method::POST, None, &key),
                "CUSTOMERS_DELETE" => {
                    path.push_str("?confirm=true");
                    (Method::DELETE, None, &key)
                }
                _ => (Method::from_bytes(route.method.as_str().as_bytes())?, None, &key),
            };
            // Put the customer in a state where the transition is allowed.
            if route.name == "CUSTOMERS_REACTIVATE" {
                call(Method::POST, &key, &format!("/v1/customers/{cid}/deactivate"), None).send().await?;
            }
            if route.name == "CUSTOMERS_RESTORE" {
                call(Method::DELETE, &key, &format!("/v1/customers/{cid}?confirm=true"), None).send().await?;
            }
            if route.name == "CUSTOMERS_DEACTIVATE" {
                call(Method::POST, &key, &format!("/v1/customers/{cid}/reactivate"), None).send().await?;
            }
            counts.take();
            let r = call(m, who, &path, b).send().await?;
            let status = r.status();
            let (reads, writes, items) = counts.take();
            let label = format!("{} {} ({status})", route.method, route.path);
            // A public route authenticates nothing: all its reads are its own.
            let auth = if route.permission.is_public() { 0 } else { auth_reads };
            println!("| {label} | {auth} | {} | {writes} | {items} |", reads.saturating_sub(auth));
            if route.name == "CUSTOMERS_DELETE" {
                call(Method::POST, &key, &format!("/v1/customers/{cid}/restore"), None).send().await?;
            }
        }

        println!("\n## Throughput at {} connections, {} s each\n", args.connections, args.seconds);
        println!("| request | throughput | p50 | p99 | max | requests | errors |\n|---|---|---|---|---|---|---|");
        let tag = format!("{:x}", rand::rng().random::<u32>());
        let (k, b) = (key.clone(), base.clone());
        let c2 = client.clone();
        let post = load(&client, args.connections, args.seconds, StatusCode::CREATED, Arc::new(move |i| c2.post(format!("{b}/v1/customers")).bearer_auth(&k).json(&body(i, &tag)))).await;
        println!("{}", post.line("POST /v1/customers"));
        let list: Value = call(Method::GET, &key, "/v1/customers?limit=100", None).send().await?.json().await?;
        let ids: Arc<Vec<String>> = Arc::new(list["data"].as_array().map(|a| a.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect()).unwrap_or_default());
        let (k, b, c2) = (key.clone(), base.clone(), client.clone());
        let get = load(&client, args.connections, args.seconds, StatusCode::OK, Arc::new(move |i| c2.get(format!("{b}/v1/customers/{}", ids[i % ids.len()])).bearer_auth(&k))).await;
        println!("{}", get.line("GET /v1/customers/{id}"));

        usage_bench(&client, addr, &base, &admin, &counts, &args).await?;

        if args.customers > 0 {
            let big: Value = call(Method::POST, &admin, "/v1/tenants", Some(json!({"name": "Big", "slug": "big", "kind": "partner", "owner": {"email": "o@big.example.com", "first_name": "O", "last_name": "B"}}))).send().await?.json().await?;
            let big_id = big["id"].as_str().unwrap_or_default().to_owned();
            let big_key: Value = call(Method::POST, &admin, &format!("/v1/tenants/{big_id}/api-keys"), Some(json!({"name": "b", "role": "owner"}))).send().await?.json().await?;
            let big_key = big_key["secret"].as_str().unwrap_or_default().to_owned();
            call(Method::GET, &big_key, "/v1/customers?limit=1", None).send().await?;
            let seeded = Instant::now();
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let workers: Vec<_> = (0..64)
                .map(|_| {
                    let (deps, next, scope, total) = (deps.clone(), next.clone(), tenantry_tests::owner_scope(&big_id), args.customers);
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= total {
                                break;
                            }
                            let draft: CustomerDraft = serde_json::from_value(body(i, "big")).expect("valid body");
                            if let Err(e) = customers::create(&deps, &scope, &draft).await {
                                eprintln!("seed {i}: {e}");
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                let _ = w.await;
            }
            let seed_secs = seeded.elapsed().as_secs_f64();
            println!("\n## Search over one tenant with {} customers\n", args.customers);
            println!("Seeded through the service in {seed_secs:.0} s ({:.0} creates/s, 64 concurrent).\n", args.customers as f64 / seed_secs);
            let single: Vec<String> = ADJ.iter().chain(NOUN).chain(SUFFIX).flat_map(|w| {
                let f = tenantry::model::text::fold(w);
                vec![f[..2.min(f.len())].to_owned(), f[..4.min(f.len())].to_owned(), f.clone()]
            }).chain(["12345".to_owned(), "9".to_owned()]).collect();
            let multi: Vec<String> = ["acme corp", "zeph lab", "granite eng", "societe group", "harbor media ltd", "quartz 12"].iter().map(|s| s.to_string()).collect();
            for (label, queries) in [("one word", &single), ("several words", &multi)] {
            let mut lat = Vec::with_capacity(args.searches);
            let mut max_items = 0;
            let mut max_reads = 0;
            counts.take();
            for i in 0..args.searches {
                let q = &queries[i % queries.len()];
                let t = Instant::now();
                let r = call(Method::GET, &big_key, &format!("/v1/customers?q={}&limit=20", q.replace(' ', "%20")), None).send().await?;
                let ok = r.status() == StatusCode::OK;
                let _ = r.bytes().await?;
                lat.push(t.elapsed());
                let (reads, _, items) = counts.take();
                if ok {
                    max_items = max_items.max(items);
                    max_reads = max_reads.max(reads);
                }
            }
            lat.sort();
            let s = Stats { requests: lat.len(), errors: 0, elapsed: Duration::from_secs(1), latencies: lat };
            println!("| search, {label}, 1 connection, limit 20 | p50 {:.2} ms | p99 {:.2} ms | max {:.2} ms | {} requests | at most {} index items and {} store reads per page (incl. auth) |", s.pct(0.5), s.pct(0.99), s.pct(1.0), s.requests, max_items, max_reads);
            }
            let (k, b, c2, qs) = (big_key.clone(), base.clone(), client.clone(), Arc::new(single));
            let loaded = load(&client, args.connections, args.seconds, StatusCode::OK, Arc::new(move |i| c2.get(format!("{b}/v1/customers?q={}&limit=20", qs[i % qs.len()].replace(' ', "%20"))).bearer_auth(&k))).await;
            println!("\n| request | throughput | p50 | p99 | max | requests | errors |\n|---|---|---|---|---|---|---|");
            println!("{}", loaded.line(&format!("GET /v1/customers?q= ({} connections)", args.connections)));
        }
        anyhow::Ok(())
    })?;
    drop(server_rt);
    Ok(())
}
