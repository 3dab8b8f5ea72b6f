//! Cost of authenticating with an identity token, warm caches:
//!
//!     cargo run --release -p tenantry-tests --bin token-bench -- [verifications]
//!
//! 1. The verifier alone: signs one RS256 id token with the local issuer, verifies it
//!    once (fetching the keys), then `verifications` times (default 20,000) on one
//!    thread in batches of 1,000.
//! 2. The whole `authenticate()` of a customer admin's access token, as a request pays
//!    it: a tenant provisioned and a customer created through the services (embedded
//!    store and identity provider), the admin signed in, then the token authenticated
//!    the same number of times, counting the store reads per call.
//!
//! 3. The same for a staff owner's access token (the staff pool): the owner's invitation
//!    link sets its password, it signs in at the staff login, then the token is
//!    authenticated the same number of times.
//!
//! Each prints the median and worst batch mean in microseconds per call.

use std::sync::Arc;
use std::time::Instant;

use tenantry::Deps;
use tenantry::adapters::embedded::{EmbeddedIdentity, EmbeddedStore, LocalIssuer};
use tenantry::ports::{Identity, Pool};
use tenantry::service::tokens::{Claims, Issuer, Realm, Verifier};
use tenantry::service::{auth, customers, sign_in, staff, tenants, users};
use tenantry::store::counting::CountingStore;

/// Runs `call` `n` times in batches of 1,000; (median, worst) batch mean in µs per call.
async fn batches(
    n: usize,
    mut call: impl AsyncFnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(f64, f64)> {
    let mut out = Vec::new();
    for _ in 0..n / 1_000 {
        let started = Instant::now();
        for _ in 0..1_000 {
            call().await?;
        }
        out.push(started.elapsed().as_secs_f64() * 1e6 / 1_000.0);
    }
    out.sort_by(f64::total_cmp);
    Ok((out[out.len() / 2], out[out.len() - 1]))
}

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
            tenant_id: tenantry::model::ids::TenantId::from_record("ten_bench"),
        },
    };
    let verifier = Verifier::new(issuer.clone());
    verifier.verify(&token, &pool).await?; // warms the key cache

    let (median, worst) = batches(n, async || {
        verifier.verify(&token, &pool).await?;
        Ok(())
    })
    .await?;
    println!(
        "token verification (RS256, 2048-bit, warm key cache): median {median:.1} µs, worst batch {worst:.1} µs per verification ({n} verifications)",
        n = n / 1_000 * 1_000
    );

    // 2. authenticate() of a real customer admin's token.
    let store = Arc::new(CountingStore::new(Arc::new(EmbeddedStore::open(
        dir.path().join("bench.redb"),
    )?)));
    let counts = store.counts.clone();
    let local = Arc::new(LocalIssuer::open(
        dir.path().join("identity"),
        "http://127.0.0.1:3000/identity",
    )?);
    let idp = Arc::new(EmbeddedIdentity::new(store.clone(), local.clone()));
    let deps = Deps::new(store).with_identity(idp.clone(), Arc::new(Verifier::new(local)));
    let tenant = tenants::create(
        &deps,
        &serde_json::from_value(
            serde_json::json!({"name": "Bench", "slug": "bench", "kind": "partner",
            "owner": {"email": "o@bench.example.com", "first_name": "O", "last_name": "B"}}),
        )?,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let tenant_id = tenant.tenant.tenant.id.to_string();
    let pool: Pool = tenant
        .tenant
        .tenant
        .customer_pool
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the tenant has no pool"))?;
    customers::create(
        &deps,
        &tenantry_tests::owner_scope(&tenant_id),
        &serde_json::from_value(serde_json::json!({"company": {"name": "Bench Co"},
            "admin": {"first_name": "A", "last_name": "B", "email": "a@bench.example.com", "password": "Sup3r$ecret!"}}))?,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let access = idp
        .authenticate(&pool, "a@bench.example.com", "Sup3r$ecret!")
        .await?
        .access_token;
    let calls = n / 1_000 * 1_000;
    let measure = async |what: &str, token: &str| -> anyhow::Result<()> {
        auth::authenticate(&deps, Some(token))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?; // warms the issuer and key caches
        counts.take();
        let (median, worst) = batches(n, async || {
            auth::authenticate(&deps, Some(token))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(())
        })
        .await?;
        let (reads, writes, _) = counts.take();
        println!(
            "authenticate() of {what} (embedded store, warm caches): median {median:.1} µs, worst batch {worst:.1} µs per call; store reads per call {:.2}, writes {:.2}",
            reads as f64 / calls as f64,
            writes as f64 / calls as f64
        );
        Ok(())
    };
    measure("a customer admin's access token", &access).await?;

    // 3. authenticate() of a staff owner's token.
    let owner = "o@bench.example.com";
    let password = "Staff$ecret-42";
    let link =
        tenantry_tests::app::pending_link_token(&deps, &tenant_id, owner, "staff_invitation")
            .await
            .ok_or_else(|| anyhow::anyhow!("no staff invitation link"))?;
    let set = users::SetPassword {
        token: Some(link.into()),
        password: Some(password.into()),
        email: None,
    };
    users::set_password_body(&deps, "bench", &set)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = sign_in::SignIn {
        email: Some(owner.into()),
        password: Some(password.into()),
    };
    let staff_access = staff::sign_in(&deps, "bench", &body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .access_token;
    measure("a staff owner's access token", &staff_access).await?;
    Ok(())
}
