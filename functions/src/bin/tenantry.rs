//! The local CLI: `serve` runs every route on the embedded store; `purge` runs the purge job.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use functions::api::App;
use tenantry::Deps;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::model::api_key;
use tenantry::service::{auth, purge};

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
    },
    /// Purge customers deleted more than 30 days ago, once.
    Purge,
}

fn open(data: &PathBuf) -> anyhow::Result<Deps> {
    std::fs::create_dir_all(data)?;
    let store = EmbeddedStore::open(data.join("tenantry.redb"))?;
    Ok(Deps::new(Arc::new(store)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    functions::init_tracing();
    let cli = Cli::parse();
    let deps = open(&cli.data)?;
    match cli.command {
        Command::Serve { addr } => {
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
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, data = %cli.data.display(), "serving every route");
            functions::server::serve(listener, Arc::new(App::new(deps, None))).await?;
        }
        Command::Purge => {
            let report = purge::run(&deps, deps.clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}
