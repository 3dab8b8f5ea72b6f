//! Lambda for `PUT /v1/support-settings`.

functions::lambda_main!(SUPPORT_SETTINGS_PUT);
