//! Lambda for `GET /v1/connectors/{code}`.

functions::lambda_main!(CONNECTORS_GET);
