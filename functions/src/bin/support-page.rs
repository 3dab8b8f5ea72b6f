//! Lambda for `GET /t/{slug}/support/{token}`.

functions::lambda_main!(SUPPORT_PAGE);
