//! Token verification (`service::tokens`) against the local issuer: what it accepts and
//! everything it must refuse.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use tenantry::adapters::embedded::LocalIssuer;
use tenantry::service::tokens::{
    Claims, Issuer, JwksSource, Realm, TokenError, Verifier, claimed_issuer,
};

const POOL_A: &str = "http://127.0.0.1:3000/identity/ten_a";
const POOL_B: &str = "http://127.0.0.1:3000/identity/ten_b";
/// Publishes pool A's keys under another issuer name.
const POOL_C: &str = "http://127.0.0.1:3000/identity/ten_c";

/// Several issuers' key sets, counting fetches.
struct Sources {
    issuers: HashMap<String, Arc<LocalIssuer>>,
    fetches: AtomicUsize,
}
#[async_trait]
impl JwksSource for Sources {
    async fn jwks(&self, iss: &str) -> Result<JwkSet, anyhow::Error> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        match self.issuers.get(iss) {
            Some(i) => Ok(i.jwks().clone()),
            None => anyhow::bail!("unknown issuer {iss}"),
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    a: Arc<LocalIssuer>,
    b: Arc<LocalIssuer>,
    sources: Arc<Sources>,
    verifier: Verifier,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("a temp dir");
    let a = Arc::new(LocalIssuer::open(dir.path().join("a"), POOL_A).expect("issuer a"));
    let b = Arc::new(LocalIssuer::open(dir.path().join("b"), POOL_B).expect("issuer b"));
    let sources = Arc::new(Sources {
        issuers: HashMap::from([
            (POOL_A.to_owned(), a.clone()),
            (POOL_B.to_owned(), b.clone()),
            (POOL_C.to_owned(), a.clone()),
        ]),
        fetches: AtomicUsize::new(0),
    });
    Setup {
        _dir: dir,
        a,
        b,
        verifier: Verifier::new(sources.clone()),
        sources,
    }
}

fn issuer(iss: &str, tenant: &str) -> Issuer {
    Issuer {
        iss: iss.to_owned(),
        audience: format!("client-{tenant}"),
        realm: Realm::Customers {
            tenant_id: tenantry::model::ids::TenantId::from_record(tenant),
        },
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn id_claims(iss: &str, tenant: &str) -> Claims {
    Claims {
        iss: iss.to_owned(),
        sub: "usr_0001".into(),
        exp: now() + 3600,
        iat: now(),
        token_use: "id".into(),
        aud: Some(format!("client-{tenant}")),
        client_id: None,
        email: Some("ada@acme.example.com".into()),
    }
}

#[tokio::test]
async fn id_and_access_tokens_of_the_right_pool_verify() {
    let s = setup();
    let token = s.a.sign(&id_claims(POOL_A, "ten_a")).expect("signed");
    assert_eq!(claimed_issuer(&token).as_deref(), Some(POOL_A));
    let v = s
        .verifier
        .verify(&token, &issuer(POOL_A, "ten_a"))
        .await
        .expect("verifies");
    assert_eq!(v.subject, "usr_0001");
    assert_eq!(
        v.realm,
        Realm::Customers {
            tenant_id: tenantry::model::ids::TenantId::from_record("ten_a")
        }
    );
    assert_eq!(v.email.as_deref(), Some("ada@acme.example.com"));

    let access = Claims {
        token_use: "access".into(),
        aud: None,
        client_id: Some("client-ten_a".into()),
        ..id_claims(POOL_A, "ten_a")
    };
    let token = s.a.sign(&access).expect("signed");
    s.verifier
        .verify(&token, &issuer(POOL_A, "ten_a"))
        .await
        .expect("an access token verifies");
}

#[tokio::test]
async fn expired_wrong_client_and_wrong_use_are_refused() {
    let s = setup();
    let pool = issuer(POOL_A, "ten_a");
    let expired = Claims {
        exp: now() - 120,
        ..id_claims(POOL_A, "ten_a")
    };
    let r = s
        .verifier
        .verify(&s.a.sign(&expired).expect("signed"), &pool)
        .await;
    assert!(matches!(r, Err(TokenError::Expired)), "{r:?}");

    let other_client = Claims {
        aud: Some("client-someone-else".into()),
        ..id_claims(POOL_A, "ten_a")
    };
    let r = s
        .verifier
        .verify(&s.a.sign(&other_client).expect("signed"), &pool)
        .await;
    assert!(matches!(r, Err(TokenError::Audience)), "{r:?}");

    // An access token whose client_id is missing (only aud set) is not accepted either.
    let access_without_client = Claims {
        token_use: "access".into(),
        ..id_claims(POOL_A, "ten_a")
    };
    let r = s
        .verifier
        .verify(&s.a.sign(&access_without_client).expect("signed"), &pool)
        .await;
    assert!(matches!(r, Err(TokenError::Audience)), "{r:?}");

    let refresh = Claims {
        token_use: "refresh".into(),
        ..id_claims(POOL_A, "ten_a")
    };
    let r = s
        .verifier
        .verify(&s.a.sign(&refresh).expect("signed"), &pool)
        .await;
    assert!(matches!(r, Err(TokenError::TokenUse)), "{r:?}");
}

#[tokio::test]
async fn another_pools_token_is_refused() {
    let s = setup();
    // Tenant B's token, presented where tenant A's pool is expected...
    let token_b = s.b.sign(&id_claims(POOL_B, "ten_a")).expect("signed");
    let r = s.verifier.verify(&token_b, &issuer(POOL_A, "ten_a")).await;
    assert!(r.is_err(), "{r:?}");
    // ...and B's token claiming A as its issuer: A does not publish B's key.
    let mut forged = id_claims(POOL_B, "ten_a");
    forged.iss = POOL_B.into();
    let token = s.b.sign(&forged).expect("signed");
    let (h, _, sig) = split(&token);
    let payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&Claims {
            iss: POOL_A.into(),
            ..forged
        })
        .expect("json"),
    );
    let r = s
        .verifier
        .verify(&format!("{h}.{payload}.{sig}"), &issuer(POOL_A, "ten_a"))
        .await;
    assert!(
        matches!(r, Err(TokenError::UnknownKey | TokenError::Signature)),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_token_whose_issuer_is_not_the_expected_one_is_refused_even_with_valid_keys() {
    let s = setup();
    // Pool C publishes pool A's keys: the signature verifies, the issuer does not match.
    let token = s.a.sign(&id_claims(POOL_A, "ten_c")).expect("signed");
    let r = s.verifier.verify(&token, &issuer(POOL_C, "ten_c")).await;
    assert!(matches!(r, Err(TokenError::Issuer)), "{r:?}");
}

#[tokio::test]
async fn a_down_issuer_is_asked_again_only_after_a_minute() {
    let s = setup();
    let unknown = issuer("http://127.0.0.1:3000/identity/ten_gone", "ten_gone");
    let token = s.a.sign(&id_claims(POOL_A, "ten_a")).expect("signed");
    for _ in 0..20 {
        let r = s.verifier.verify(&token, &unknown).await;
        assert!(matches!(r, Err(TokenError::Keys(_))), "{r:?}");
    }
    assert_eq!(s.sources.fetches.load(Ordering::SeqCst), 1);
}

fn split(token: &str) -> (String, String, String) {
    let mut parts = token.split('.').map(str::to_owned);
    (
        parts.next().expect("header"),
        parts.next().expect("payload"),
        parts.next().expect("signature"),
    )
}

#[tokio::test]
async fn tampered_none_and_hmac_tokens_are_refused() {
    let s = setup();
    let pool = issuer(POOL_A, "ten_a");
    let token = s.a.sign(&id_claims(POOL_A, "ten_a")).expect("signed");
    let (header, _, sig) = split(&token);

    // The payload changed after signing (another subject).
    let tampered_payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&Claims {
            sub: "usr_admin".into(),
            ..id_claims(POOL_A, "ten_a")
        })
        .expect("json"),
    );
    let r = s
        .verifier
        .verify(&format!("{header}.{tampered_payload}.{sig}"), &pool)
        .await;
    assert!(matches!(r, Err(TokenError::Signature)), "{r:?}");

    // alg "none", no signature.
    let kid = s.a.jwks().keys[0].common.key_id.clone().expect("kid");
    let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
    let r = s
        .verifier
        .verify(&format!("{none}.{tampered_payload}."), &pool)
        .await;
    assert!(
        matches!(r, Err(TokenError::Malformed | TokenError::Algorithm)),
        "{r:?}"
    );

    // HS256 keyed with the issuer's public modulus (the classic algorithm confusion).
    let n = match &s.a.jwks().keys[0].algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => rsa.n.clone(),
        other => panic!("not an RSA key: {other:?}"),
    };
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid);
    let hmac = jsonwebtoken::encode(
        &h,
        &id_claims(POOL_A, "ten_a"),
        &jsonwebtoken::EncodingKey::from_secret(n.as_bytes()),
    )
    .expect("an HS256 token");
    let r = s.verifier.verify(&hmac, &pool).await;
    assert!(matches!(r, Err(TokenError::Algorithm)), "{r:?}");

    for junk in [
        "",
        "a.b",
        "not-a-jwt",
        "a.b.c.d",
        "....",
        &"x".repeat(100_000),
    ] {
        let r = s.verifier.verify(junk, &pool).await;
        assert!(r.is_err(), "{junk:.20}: {r:?}");
    }
}

#[tokio::test]
async fn keys_are_fetched_once_and_unknown_key_ids_cannot_force_refetches() {
    let s = setup();
    let pool = issuer(POOL_A, "ten_a");
    for _ in 0..50 {
        let token = s.a.sign(&id_claims(POOL_A, "ten_a")).expect("signed");
        s.verifier.verify(&token, &pool).await.expect("verifies");
    }
    assert_eq!(s.sources.fetches.load(Ordering::SeqCst), 1, "fetched once");
    let token = s.a.sign(&id_claims(POOL_A, "ten_a")).expect("signed");
    let (_, payload, sig) = split(&token);
    for i in 0..50 {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"forged-{i}"}}"#));
        let r = s
            .verifier
            .verify(&format!("{header}.{payload}.{sig}"), &pool)
            .await;
        assert!(matches!(r, Err(TokenError::UnknownKey)), "{r:?}");
    }
    assert_eq!(
        s.sources.fetches.load(Ordering::SeqCst),
        1,
        "unknown key ids within a minute of the last fetch do not refetch"
    );
}

#[test]
fn the_signing_key_is_kept_private_and_reused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let first = LocalIssuer::open(dir.path(), POOL_A).expect("issuer");
    let again = LocalIssuer::open(dir.path(), POOL_A).expect("issuer again");
    assert_eq!(
        first.jwks().keys[0].common.key_id,
        again.jwks().keys[0].common.key_id
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("jwt-signing-key.pem"))
            .expect("the key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only its owner may read the key: {mode:o}");
    }
    let jwks = serde_json::to_value(first.jwks()).expect("JSON");
    let fields: std::collections::BTreeSet<&str> = jwks["keys"][0]
        .as_object()
        .expect("a key")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["alg", "e", "kid", "kty", "n", "use"].into_iter().collect(),
        "a public RS256 signing key, nothing more: {jwks}"
    );
}

/// `tenantry serve` publishes the local issuer's keys at `<pool issuer>/.well-known/
/// jwks.json`, and the HTTP key source the authorizer uses in AWS verifies a local token
/// from there, over a real socket.
#[tokio::test]
async fn the_local_server_publishes_its_issuers_keys_for_http_verifiers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("a temp dir");
    let base = format!("http://{addr}/identity");
    let local = Arc::new(LocalIssuer::open(dir.path(), base.clone()).expect("an issuer"));
    let store = Arc::new(
        tenantry::adapters::embedded::EmbeddedStore::open(dir.path().join("j.redb"))
            .expect("a store"),
    );
    let app = Arc::new(functions::api::App::all(tenantry::Deps::new(store)));
    let jwks = serde_json::to_value(local.jwks()).expect("jwks");
    let router = functions::server::router_with_jwks(app, jwks);
    tokio::spawn(async move { functions::server::serve_router(listener, router).await });

    let pool = format!("{base}/ten_a");
    let published: JwkSet = reqwest::get(format!("{pool}/.well-known/jwks.json"))
        .await
        .expect("fetched")
        .json()
        .await
        .expect("a JWK set");
    assert_eq!(published.keys.len(), 1);
    assert!(published.keys[0].common.key_id.is_some());

    let token = local.sign(&id_claims(&pool, "ten_a")).expect("signed");
    // No emulator endpoint: the key source goes to the issuer's own URL.
    let http = Verifier::new(Arc::new(tenantry::adapters::aws::HttpJwks::new(None)));
    let v = http
        .verify(&token, &issuer(&pool, "ten_a"))
        .await
        .expect("verifies with the published keys");
    assert_eq!(v.subject, "usr_0001");
}
