//! Cost of verifying an identity token with a warm key cache (issue 4 asks for it):
//!
//!     cargo run --release -p tenantry-tests --bin token-bench -- [verifications]
//!
//! Signs one RS256 id token with the local issuer, verifies it once (fetching the keys),
//! then verifies it `verifications` times (default 20,000) on one thread in batches of
//! 1,000 and prints the median and worst batch mean in microseconds per verification.

use std::sync::Arc;
use std::time::Instant;

use tenantry::adapters::embedded::LocalIssuer;
use tenantry::service::tokens::{Claims, Issuer, Realm, Verifier};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000)
        .max(1_000);
    let dir = tempfile::tempdir()?;
    let iss = "http://127.0.0.1:3000/identity/ten_bench";
    let issuer = Arc::new(LocalIssuer::open(dir.path(), iss)?);
    let now = chrono::Utc::now().timestamp();
    let token = issuer.sign(&Claims {
        iss: iss.into(),
        sub: "usr_bench".into(),
        exp: now + 3600,
        iat: now,
        token_use: "id".into(),
        aud: Some("client-bench".into()),
        client_id: None,
        email: Some("bench@example.com".into()),
    })?;
    let pool = Issuer {
        iss: iss.into(),
        audience: "client-bench".into(),
        realm: Realm::Customers {
            tenant_id: "ten_bench".into(),
        },
    };
    let verifier = Verifier::new(issuer.clone());
    verifier.verify(&token, &pool).await?; // warms the key cache

    let mut batches = Vec::new();
    for _ in 0..n / 1_000 {
        let started = Instant::now();
        for _ in 0..1_000 {
            verifier.verify(&token, &pool).await?;
        }
        batches.push(started.elapsed().as_secs_f64() * 1e6 / 1_000.0);
    }
    batches.sort_by(f64::total_cmp);
    println!(
        "token verification (RS256, 2048-bit, warm key cache): median {:.1} µs, worst batch {:.1} µs per verification ({} verifications, {} batches of 1,000)",
        batches[batches.len() / 2],
        batches[batches.len() - 1],
        batches.len() * 1_000,
        batches.len()
    );
    Ok(())
}
