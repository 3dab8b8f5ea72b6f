//! Lambda for `PUT /v1/features`.

functions::lambda_main!(FEATURES_PUT);
