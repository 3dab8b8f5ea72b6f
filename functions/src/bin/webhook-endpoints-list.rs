//! Lambda for `GET /v1/webhook-endpoints`.

functions::lambda_main!(WEBHOOK_ENDPOINTS_LIST);
