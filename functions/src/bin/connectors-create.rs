//! Lambda for `POST /v1/connectors`.

functions::lambda_main!(CONNECTORS_CREATE);
