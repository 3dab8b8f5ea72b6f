//! The local CLI: `serve` runs every route on the embedded store and delivers its emails
//! into `<data>/outbox/` as `.eml` files; `purge` runs the purge job; `mail` delivers due
//! emails once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use functions::api::App;
use tenantry::Deps;
use tenantry::adapters::embedded::{
    EmbeddedIdentity, EmbeddedStore, FileDocuments, FileMailer, FileVault, LocalIssuer,
};
use tenantry::model::api_key;
use tenantry::model::billing::Period;
use tenantry::service::mail::{self, MailSettings};
use tenantry::service::tokens::Verifier;
use tenantry::service::{auth, documents, events, invoice_run, jobs, provisioning, purge};

// mimalloc rather than glibc's malloc: under load, the entitlements read's throughput
// rose by about 30% with it (docs/figures.md). The Lambda functions keep the system
// allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tenantry", about = "Tenantry control plane, on your laptop")]
struct Cli {
    /// Directory holding the store file.
    #[arg(
        long,
        global = true,
        default_value = ".tenantry",
        env = "TENANTRY_DATA"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every API route on one port.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000", env = "TENANTRY_ADDR")]
        addr: SocketAddr,
        /// Seed a demo partner (its key, branding, customers and users) on first start,
        /// print what to try, and log warnings only (unless RUST_LOG says otherwise).
        #[arg(long)]
        demo: bool,
        /// A test clock the operator moves forward (`POST /v1/test-clock/advance`), each
        /// scheduled job that falls due on the way running before the call answers.
        #[arg(long)]
        test_clock: bool,
    },
    /// Purge customers deleted more than 30 days ago, once.
    Purge,
    /// Bill a month for every tenant (draft invoices), once; a rerun changes nothing.
    InvoiceRun {
        /// The month, `YYYY-MM`.
        #[arg(long)]
        period: String,
    },
    /// Run every scheduled job that is due now, once: the invoice run of the month that
    /// closed, invoices whose review window ended, dunning steps, purges.
    Jobs,
    /// Deliver the emails that are due into <data>/outbox/, once.
    Mail,
    /// Once, after upgrading a data folder made before the due-work index: give emails
    /// still pending and customers waiting for their purge their due-work entries.
    BackfillDue,
    /// Print the API document (OpenAPI 3.1, JSON): what `GET /openapi.json` serves and
    /// `docs/openapi.json` holds.
    Openapi,
}

/// How often `serve` runs the scheduled jobs that are due.
const JOBS_POLL: std::time::Duration = std::time::Duration::from_secs(60);

/// How often `serve` looks for due emails.
const MAIL_POLL: std::time::Duration = std::time::Duration::from_secs(2);

fn mailer(data: &std::path::Path) -> anyhow::Result<FileMailer> {
    Ok(FileMailer::new(data.join("outbox"))?)
}

/// Links in emails point at `PUBLIC_URL`, else at this server.
fn mail_settings(addr: Option<SocketAddr>) -> MailSettings {
    let mut settings = MailSettings::from_env();
    if let (Some(addr), Err(_)) = (addr, std::env::var("PUBLIC_URL")) {
        settings.public_url = format!("http://{addr}");
    }
    settings
}

fn open(data: &PathBuf) -> anyhow::Result<Deps> {
    std::fs::create_dir_all(data)?;
    let store = EmbeddedStore::open(data.join("tenantry.redb"))?;
    let documents = FileDocuments::new(data.join("documents"))?;
    // Signing secrets, sealed under a key file of the data folder (mode 0600).
    let vault = FileVault::open(data.join("vault.key"))?;
    // Outbound requests (a connector's check) may reach this machine's loopback, so a
    // developer can try them against a local server.
    Ok(Deps::new(Arc::new(store))
        .with_documents(Arc::new(documents))
        .with_vault(Arc::new(vault))
        .with_outbound(Arc::new(
            tenantry::adapters::http::HttpSender::allowing_loopback(),
        )))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A failure is one line on stderr (with its causes), never a backtrace.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tenantry: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Serve { demo: true, .. });
    functions::init_tracing_at(if quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    });
    if let Command::Openapi = cli.command {
        println!(
            "{}",
            serde_json::to_string_pretty(functions::openapi::document())?
        );
        return Ok(());
    }
    let deps = open(&cli.data)?;
    match cli.command {
        Command::Serve {
            addr,
            demo,
            test_clock,
        } => {
            let clock = Arc::new(tenantry::ports::OffsetClock::default());
            // The test clock's advance holds this; the loops below take it each round.
            let pause = Arc::new(tokio::sync::Mutex::new(()));
            let deps = if test_clock {
                deps.with_clock(clock.clone())
            } else {
                deps
            };
            let admin_key = match std::env::var("TENANTRY_ADMIN_KEY") {
                Ok(k) if !k.is_empty() => k,
                _ => {
                    let k = api_key::new_secret();
                    // Printed once, to the terminal only: it is the operator's credential.
                    eprintln!(
                        "No TENANTRY_ADMIN_KEY set; generated an operator key for this run:\n  export TENANTRY_ADMIN_KEY={k}"
                    );
                    k
                }
            };
            auth::register_operator_key(&deps, &admin_key)
                .await
                .map_err(|e| match e {
                    // The setting and what it must look like, in one line.
                    tenantry::Error::Invalid(fields) => anyhow::anyhow!(
                        "{}",
                        fields
                            .iter()
                            .map(|f| format!("{} {}", f.field, f.detail))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    other => anyhow::anyhow!("{other}"),
                })?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            // Logins offline: the embedded identity provider, tokens from a local issuer
            // whose key lives in the data directory.
            let settings = mail_settings(Some(bound));
            let issuer = Arc::new(LocalIssuer::open(
                cli.data.join("identity"),
                format!("{}/identity", settings.public_url.trim_end_matches('/')),
            )?);
            let jwks = serde_json::to_value(issuer.jwks())?;
            let deps = deps.clone().with_identity(
                Arc::new(EmbeddedIdentity::new(deps.store.clone(), issuer.clone())),
                Arc::new(Verifier::new(issuer)),
            );
            let outbox = mailer(&cli.data)?;
            tracing::info!(addr = %bound, data = %cli.data.display(), outbox = %outbox.dir().display(), "serving every route");
            // The outbox's local home: a background task in place of the stream trigger.
            let mail_deps = deps.clone();
            let mail_pause = pause.clone();
            // Webhooks from a laptop: https to public addresses, and http to 127.0.0.1.
            let webhooks = tenantry::adapters::http::HttpSender::allowing_loopback();
            tokio::spawn(async move {
                loop {
                    {
                        let _round = mail_pause.lock().await;
                        // Provisioning requests first: the customers they make send emails,
                        // and their events go to the tenant's webhook endpoints.
                        if let Err(e) = provisioning::work_due(&mail_deps).await {
                            tracing::error!(
                                error = format!("{e:#}"),
                                "provisioning failed; retrying"
                            );
                        }
                        if let Err(e) = events::deliver_due(&mail_deps, &webhooks).await {
                            tracing::error!(
                                error = format!("{e:#}"),
                                "webhook delivery failed; retrying"
                            );
                        }
                        // Final documents first: the emails that carry them wait for them.
                        let now = mail_deps.clock.now();
                        let render = &functions::document::render;
                        if let Err(e) = documents::store_due(&mail_deps, render, now).await {
                            tracing::error!(error = format!("{e:#}"), "storing documents failed");
                        }
                        if let Err(e) = mail::deliver_due(&mail_deps, &outbox, &settings).await {
                            tracing::error!(
                                error = format!("{e:#}"),
                                "email delivery failed; retrying"
                            );
                        }
                    }
                    tokio::time::sleep(MAIL_POLL).await;
                }
            });
            // Scheduled jobs' local home: the invoice run, review windows, purges.
            let jobs_deps = deps.clone();
            let jobs_pause = pause.clone();
            tokio::spawn(async move {
                loop {
                    {
                        let _round = jobs_pause.lock().await;
                        if let Err(e) = jobs::run_due(&jobs_deps, jobs_deps.clock.now()).await {
                            tracing::error!(error = format!("{e:#}"), "scheduled jobs failed");
                        }
                    }
                    tokio::time::sleep(JOBS_POLL).await;
                }
            });
            if demo {
                let seeded = functions::demo::seed(&deps)
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding the demo: {e}"))?;
                let outbox_dir = cli.data.join("outbox");
                println!(
                    "{}",
                    functions::demo::banner(
                        &format!("http://{bound}"),
                        &admin_key,
                        seeded.as_ref(),
                        &outbox_dir.display().to_string()
                    )
                );
            }
            let mut router =
                functions::server::router_with_jwks(Arc::new(App::all(deps.clone())), jwks);
            if test_clock {
                tracing::warn!("the test clock is on: POST /v1/test-clock/advance moves time");
                router = router.merge(functions::test_clock::router(Arc::new(
                    functions::test_clock::TestClock {
                        deps: deps.clone(),
                        clock,
                        mailer: Arc::new(mailer(&cli.data)?),
                        settings: mail_settings(Some(bound)),
                        lock: pause.clone(),
                    },
                )));
            }
            functions::server::serve_router(listener, router).await?;
        }
        Command::Purge => {
            let report = purge::run(&deps, deps.clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::InvoiceRun { period } => {
            let period = Period::parse(&period).map_err(|e| anyhow::anyhow!("--period {e}"))?;
            let report = invoice_run::run_all(&deps, period, jobs::WORKERS)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string(&report)?);
            if !report.failed.is_empty() {
                anyhow::bail!(
                    "the run failed for {} tenant(s); run it again",
                    report.failed.len()
                );
            }
        }
        Command::Jobs => {
            let report = jobs::run_due(&deps, deps.clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let stored =
                documents::store_due(&deps, &functions::document::render, deps.clock.now())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({ "jobs": report, "documents": stored })
            );
        }
        Command::BackfillDue => {
            let emails = mail::backfill_due(&deps)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let purges = purge::backfill_due(&deps)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({ "emails": emails, "purges": purges })
            );
        }
        Command::Openapi => {}
        Command::Mail => {
            let report = mail::deliver_due(&deps, &mailer(&cli.data)?, &mail_settings(None))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}
