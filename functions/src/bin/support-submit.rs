//! Lambda for `POST /t/{slug}/support/{token}`.

functions::lambda_main!(SUPPORT_SUBMIT);
