//! Lambda for `POST /v1/usage`.

functions::lambda_main!(USAGE_REPORT);
