//! Lambda for `GET /v1/me/usage`.

functions::lambda_main!(ME_USAGE);
