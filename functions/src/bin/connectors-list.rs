//! Lambda for `GET /v1/connectors`.

functions::lambda_main!(CONNECTORS_LIST);
