//! Lambda for `GET /v1/connections/{connection_id}`.

functions::lambda_main!(CONNECTIONS_GET);
