//! Lambda for `GET /v1/default-plan`.

functions::lambda_main!(DEFAULT_PLAN_GET);
