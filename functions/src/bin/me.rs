//! Lambda for `GET /v1/me`.

functions::lambda_main!(ME);
