//! Lambda for `PUT /v1/allowed-origins`.

functions::lambda_main!(ALLOWED_ORIGINS_PUT);
