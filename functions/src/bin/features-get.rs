//! Lambda for `GET /v1/features`.

functions::lambda_main!(FEATURES_GET);
