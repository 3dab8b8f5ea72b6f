//! Lambda for `GET /v1/me/support-requests`.

functions::lambda_main!(ME_SUPPORT_REQUESTS);
