//! Lambda for `GET /v1/plans`.

functions::lambda_main!(PLANS_LIST);
