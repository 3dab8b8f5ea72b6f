//! The `Vault` contract: what every vault (the local key file, KMS) must do with a
//! secret. `check` panics naming the first property that does not hold.

use tenantry::model::ids::TenantId;
use tenantry::ports::{Sealed, Vault, VaultContext, VaultError};

/// The text with one byte changed: its base64's first byte if it is base64, else its
/// first character.
fn flip_text(s: &str) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD;
    match e.decode(s) {
        Ok(mut b) if !b.is_empty() => {
            b[0] ^= 1;
            e.encode(b)
        }
        _ => {
            let mut c: Vec<char> = s.chars().collect();
            c[0] = if c[0] == '0' { '1' } else { '0' };
            c.into_iter().collect()
        }
    }
}

fn refused(r: Result<Vec<u8>, VaultError>, what: &str) {
    assert!(matches!(r, Err(VaultError::Refused)), "{what}: {r:?}");
}

/// Seals and opens under `vault`: round trips (empty and 64 KB secrets too), a fresh
/// nonce every time, and refusal of another tenant, purpose or id, of changed bytes and
/// of another scheme.
pub async fn check(vault: &dyn Vault) {
    let tenant = TenantId::generate();
    let other_tenant = TenantId::generate();
    let ctx = VaultContext::of_tenant(&tenant, "inbound-endpoint", "ep_1");
    let secret = b"whsec_the-secret-bytes".to_vec();
    let sealed = vault.seal(&ctx, &secret).await.expect("seal");
    {
        use base64::Engine;
        let e = base64::engine::general_purpose::STANDARD;
        for field in [&sealed.ciphertext, &sealed.key, &sealed.nonce] {
            let bytes = e
                .decode(field)
                .unwrap_or_else(|_| field.as_bytes().to_vec());
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_slice())
                    && !field.contains("the-secret"),
                "the secret is not stored as it is: {sealed:?}"
            );
        }
    }
    assert_eq!(vault.open(&ctx, &sealed).await.expect("open"), secret);
    let again = vault.seal(&ctx, &secret).await.expect("seal again");
    assert_ne!(again.nonce, sealed.nonce, "a fresh nonce each time");
    assert_ne!(again.ciphertext, sealed.ciphertext);

    for (name, other) in [
        (
            "another tenant",
            VaultContext {
                tenant_id: Some(&other_tenant),
                ..ctx
            },
        ),
        (
            "another purpose",
            VaultContext {
                purpose: "connection",
                ..ctx
            },
        ),
        ("another id", VaultContext { id: "ep_2", ..ctx }),
        (
            "no tenant",
            VaultContext {
                tenant_id: None,
                ..ctx
            },
        ),
    ] {
        refused(vault.open(&other, &sealed).await, name);
    }
    // A customer's secret (a connection's credentials) opens under its customer only,
    // and not as the tenant's.
    let customer = tenantry::model::ids::CustomerId::generate();
    let other_customer = tenantry::model::ids::CustomerId::generate();
    let of_customer = VaultContext::of_customer(&tenant, &customer, "connection", "con_1");
    let credentials = vault
        .seal(&of_customer, b"{\"api_key\":\"sk_1\"}")
        .await
        .expect("seal");
    assert_eq!(
        vault.open(&of_customer, &credentials).await.expect("open"),
        b"{\"api_key\":\"sk_1\"}"
    );
    for (name, other) in [
        (
            "another customer",
            VaultContext::of_customer(&tenant, &other_customer, "connection", "con_1"),
        ),
        (
            "another tenant's customer",
            VaultContext::of_customer(&other_tenant, &customer, "connection", "con_1"),
        ),
        (
            "no customer",
            VaultContext::of_tenant(&tenant, "connection", "con_1"),
        ),
    ] {
        refused(vault.open(&other, &credentials).await, name);
    }
    // A platform secret (a connector's client secret) opens under its own context
    // only, never under a tenant's with the same purpose and id.
    let platform = VaultContext::of_platform("connector", "hubspot");
    let client_secret = vault.seal(&platform, b"client-secret").await.expect("seal");
    assert_eq!(
        vault.open(&platform, &client_secret).await.expect("open"),
        b"client-secret"
    );
    refused(
        vault
            .open(
                &VaultContext::of_tenant(&tenant, "connector", "hubspot"),
                &client_secret,
            )
            .await,
        "a tenant's context for a platform secret",
    );
    refused(
        vault
            .open(
                &VaultContext::of_platform("connector", "other"),
                &client_secret,
            )
            .await,
        "another platform id",
    );
    let flip = |s: &str| {
        use base64::Engine;
        let e = base64::engine::general_purpose::STANDARD;
        let mut b = e.decode(s).expect("base64");
        b[0] ^= 1;
        e.encode(b)
    };
    refused(
        vault
            .open(
                &ctx,
                &Sealed {
                    ciphertext: flip(&sealed.ciphertext),
                    ..sealed.clone()
                },
            )
            .await,
        "a changed ciphertext",
    );
    refused(
        vault
            .open(
                &ctx,
                &Sealed {
                    nonce: flip(&sealed.nonce),
                    ..sealed.clone()
                },
            )
            .await,
        "a changed nonce",
    );
    refused(
        vault
            .open(
                &ctx,
                &Sealed {
                    scheme: "plain".into(),
                    ..sealed.clone()
                },
            )
            .await,
        "another scheme",
    );
    for (what, key) in [
        ("a changed key", flip_text(&sealed.key)),
        ("an empty key", String::new()),
    ] {
        refused(
            vault
                .open(
                    &ctx,
                    &Sealed {
                        key,
                        ..sealed.clone()
                    },
                )
                .await,
            what,
        );
    }
    for size in [0usize, 64 * 1024] {
        let big = vec![7u8; size];
        let s = vault.seal(&ctx, &big).await.expect("seal");
        assert_eq!(
            vault.open(&ctx, &s).await.expect("open"),
            big,
            "{size} bytes"
        );
    }
}
