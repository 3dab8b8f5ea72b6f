//! Lambda for `POST /v1/connections/{connection_id}/credentials`.

functions::lambda_main!(CONNECTIONS_CREDENTIALS);
