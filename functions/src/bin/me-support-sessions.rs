//! Lambda for `GET /v1/me/support-sessions`.

functions::lambda_main!(ME_SUPPORT_SESSIONS);
