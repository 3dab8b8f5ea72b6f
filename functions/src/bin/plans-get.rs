//! Lambda for `GET /v1/plans/{code}`.

functions::lambda_main!(PLANS_GET);
