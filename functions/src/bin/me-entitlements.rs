//! Lambda for `GET /v1/me/entitlements`.

functions::lambda_main!(ME_ENTITLEMENTS);
