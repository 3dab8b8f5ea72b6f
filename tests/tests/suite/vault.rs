//! The vault contract (`tenantry_tests::vault::check`) on both vaults: the local key file,
//! and KMS envelope encryption against moto. Plus what only the key file has: made
//! private, kept across restarts, refused when others may read it.

use tenantry::model::ids::TenantId;
use tenantry::ports::{Vault, VaultContext, VaultError};

#[tokio::test]
async fn the_local_vault_keeps_the_contract_and_its_key_private() {
    use tenantry::adapters::embedded::FileVault;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.key");
    let vault = FileVault::open(&path).unwrap();
    tenantry_tests::vault::check(&vault).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is the owner's alone");
    }
    // The same key after a restart: what was sealed opens.
    let tenant = TenantId::generate();
    let ctx = VaultContext::of_tenant(&tenant, "webhook-endpoint", "we_1");
    let sealed = vault.seal(&ctx, b"kept").await.unwrap();
    drop(vault);
    let reopened = FileVault::open(&path).unwrap();
    assert_eq!(reopened.open(&ctx, &sealed).await.unwrap(), b"kept");
    // Processes starting at once on a new data folder all end up with one key.
    let fresh = dir.path().join("fresh.key");
    let opened: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| FileVault::open(&fresh).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let fresh_sealed = opened[0].seal(&ctx, b"one key").await.unwrap();
    for v in &opened {
        assert_eq!(v.open(&ctx, &fresh_sealed).await.unwrap(), b"one key");
    }
    assert_eq!(std::fs::read(&fresh).unwrap().len(), 32);
    // Another key file: refused, not garbage.
    let other = FileVault::open(dir.path().join("other.key")).unwrap();
    assert!(matches!(
        other.open(&ctx, &sealed).await,
        Err(VaultError::Refused)
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = FileVault::open(&path).unwrap_err().to_string();
        assert!(e.contains("0600"), "{e}");
    }
}

/// KMS in moto: a symmetric key of this run's own; GenerateDataKey and Decrypt under the
/// encryption context.
#[tokio::test]
async fn on_aws_the_kms_vault_keeps_the_contract() {
    if tenantry_tests::dynamo::store_from_env("the KMS vault")
        .await
        .is_none()
    {
        return;
    }
    let config = tenantry::adapters::aws::sdk_config().await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key = kms
        .create_key()
        .description("tenantry vault test")
        .send()
        .await
        .expect("a KMS key in moto")
        .key_metadata
        .expect("its metadata")
        .key_id;
    let vault = tenantry::adapters::aws::KmsVault::new(kms, key.clone());
    tenantry_tests::vault::check(&vault).await;
    // A secret sealed under this key does not open under another.
    let tenant = TenantId::generate();
    let ctx = VaultContext::of_tenant(&tenant, "connection", "conn_1");
    let sealed = vault.seal(&ctx, b"credentials").await.unwrap();
    let other_key = aws_sdk_kms::Client::new(&config)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let other = tenantry::adapters::aws::KmsVault::from_config(&config, other_key);
    let r = other.open(&ctx, &sealed).await;
    assert!(
        matches!(r, Err(VaultError::Refused)),
        "another key does not open it: {r:?}"
    );
    let _: &dyn Vault = &vault;
}
