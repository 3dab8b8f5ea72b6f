//! Lambda for `PUT /v1/me/usage-limits`.

functions::lambda_main!(ME_USAGE_LIMITS_PUT);
