//! Lambda for `PATCH /v1/connectors/{code}`.

functions::lambda_main!(CONNECTORS_UPDATE);
