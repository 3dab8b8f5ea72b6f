//! Lambda for `POST /v1/webhook-endpoints`.

functions::lambda_main!(WEBHOOK_ENDPOINTS_CREATE);
