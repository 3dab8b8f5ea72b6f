//! Lambda for `GET /v1/webhook-endpoints/{webhook_endpoint_id}`.

functions::lambda_main!(WEBHOOK_ENDPOINTS_GET);
