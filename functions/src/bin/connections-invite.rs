//! Lambda for `POST /v1/connections/{connection_id}/invite`.

functions::lambda_main!(CONNECTIONS_INVITE);
