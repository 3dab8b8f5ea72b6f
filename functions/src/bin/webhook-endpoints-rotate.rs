//! Lambda for `POST /v1/webhook-endpoints/{webhook_endpoint_id}/rotate-secret`.

functions::lambda_main!(WEBHOOK_ENDPOINTS_ROTATE);
