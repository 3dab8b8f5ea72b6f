//! Lambda for `POST /v1/plans/{code}/archive`.

functions::lambda_main!(PLANS_ARCHIVE);
