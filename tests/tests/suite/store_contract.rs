//! The `ItemStore` contract suite against each adapter: embedded (always) and DynamoDB.

use std::sync::Arc;

use tenantry::adapters::aws::DynamoStore;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry_tests::contract;

#[tokio::test]
async fn embedded_store_meets_the_contract() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store =
        EmbeddedStore::open(dir.path().join("store.redb")).expect("open the embedded store");
    contract::run_all(Arc::new(store)).await;
}

/// Runs against the DynamoDB emulator (or a real table) named by `AWS_ENDPOINT_URL` and
/// `TENANTRY_TEST_TABLE`. Skipped without them, except in CI, where a skip would hide a
/// broken setup.
#[tokio::test]
async fn dynamodb_store_meets_the_contract() {
    let set = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let endpoint = set("AWS_ENDPOINT_URL");
    let table = set("TENANTRY_TEST_TABLE");
    let (Some(_), Some(table)) = (endpoint.as_ref(), table) else {
        assert!(
            set("CI").is_none(),
            "CI is set but AWS_ENDPOINT_URL and TENANTRY_TEST_TABLE are not both set: \
             the DynamoDB contract test must not be skipped in CI"
        );
        eprintln!(
            "skipped: set AWS_ENDPOINT_URL and TENANTRY_TEST_TABLE to run the store contract \
             against DynamoDB"
        );
        return;
    };
    let store = DynamoStore::from_env(table).await;
    contract::run_all(Arc::new(store)).await;
}
