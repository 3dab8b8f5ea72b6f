//! Lambda for `PATCH /v1/plans/{code}`.

functions::lambda_main!(PLANS_UPDATE);
