//! The AWS side of the tests in moto's server (under `scripts/test`): the store named by
//! `AWS_ENDPOINT_URL` and `TENANTRY_TEST_TABLE`, a scan for checks, and the raw emails
//! moto's SES recorded.

use aws_sdk_dynamodb::types::AttributeValue;
use tenantry::adapters::aws::DynamoStore;

fn set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The test table's store, or None (with a note) when the emulator is not configured.
/// In CI a missing emulator fails instead: a skip there would hide a broken setup.
pub async fn store_from_env(test: &str) -> Option<DynamoStore> {
    match (set("AWS_ENDPOINT_URL"), set("TENANTRY_TEST_TABLE")) {
        (Some(_), Some(table)) => Some(DynamoStore::from_env(table).await),
        _ => {
            assert!(
                set("CI").is_none(),
                "{test}: CI is set but AWS_ENDPOINT_URL / TENANTRY_TEST_TABLE are not: run it through scripts/test"
            );
            eprintln!("{test}: skipped; run scripts/test to run it against DynamoDB (moto)");
            None
        }
    }
}

/// A store on a new, empty table of its own, made like the test table (its keys and
/// indexes), for a test that reads the whole directory (the invoice run). `None` as in
/// `store_from_env`.
pub async fn fresh_store(test: &str, name: &str) -> Option<DynamoStore> {
    use aws_sdk_dynamodb::types::{BillingMode, GlobalSecondaryIndex, Projection};
    store_from_env(test).await?;
    let model = set("TENANTRY_TEST_TABLE")?;
    let client = aws_sdk_dynamodb::Client::new(&tenantry::adapters::aws::sdk_config().await);
    let like = client
        .describe_table()
        .table_name(&model)
        .send()
        .await
        .expect("describe the test table")
        .table
        .expect("the test table");
    let indexes = like
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(g.index_name().unwrap_or_default())
                .set_key_schema(Some(g.key_schema().to_vec()))
                .projection(
                    g.projection()
                        .cloned()
                        .unwrap_or(Projection::builder().build()),
                )
                .build()
                .expect("an index")
        })
        .collect::<Vec<_>>();
    client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(like.key_schema().to_vec()))
        .set_attribute_definitions(Some(like.attribute_definitions().to_vec()))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("a table of the test's own");
    Some(DynamoStore::from_env(name.to_owned()).await)
}

/// (pk, sk, gsi1pk) of every item in the table. A test-only Scan: the domain never scans.
pub async fn scan_keys(table: &str) -> Vec<(String, String, Option<String>)> {
    let client = aws_sdk_dynamodb::Client::new(&tenantry::adapters::aws::sdk_config().await);
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .projection_expression("pk, sk, gsi1pk")
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the test table");
        for item in page.items() {
            let s = |k: &str| {
                item.get(k).and_then(|v| match v {
                    AttributeValue::S(s) => Some(s.clone()),
                    _ => None,
                })
            };
            out.push((
                s("pk").unwrap_or_default(),
                s("sk").unwrap_or_default(),
                s("gsi1pk"),
            ));
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    out
}

/// The raw messages (RFC 5322 text) moto's SES recorded for `recipient`.
pub async fn ses_sent_to(endpoint: &str, recipient: &str) -> Vec<String> {
    let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .expect("moto data")
        .json()
        .await
        .expect("JSON");
    data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d.as_str() == Some(recipient))
        })
        .filter_map(|m| m["raw_data"].as_str().map(str::to_owned))
        .collect()
}
