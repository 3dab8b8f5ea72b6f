//! Lambda for `POST /v1/plans`.

functions::lambda_main!(PLANS_CREATE);
