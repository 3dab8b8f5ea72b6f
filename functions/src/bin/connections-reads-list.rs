//! Lambda for `GET /v1/connections/{connection_id}/credential-reads`.

functions::lambda_main!(CONNECTIONS_READS_LIST);
