//! Lambda for `PUT /v1/me/support-access`.

functions::lambda_main!(ME_SUPPORT_ACCESS_PUT);
