//! Lambda for `GET /v1/support-requests`.

functions::lambda_main!(SUPPORT_REQUESTS_LIST);
