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
