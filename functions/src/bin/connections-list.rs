//! Lambda for `GET /v1/connections`.

functions::lambda_main!(CONNECTIONS_LIST);
