//! Lambda for `GET /v1/allowed-origins`.

functions::lambda_main!(ALLOWED_ORIGINS_GET);
