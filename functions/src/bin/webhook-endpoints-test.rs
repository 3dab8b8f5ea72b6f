//! Lambda for `POST /v1/webhook-endpoints/{webhook_endpoint_id}/test`.

functions::lambda_main!(WEBHOOK_ENDPOINTS_TEST);
