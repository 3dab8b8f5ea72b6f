//! Lambda for `POST /v1/webhook-endpoints/{webhook_endpoint_id}/redeliver`.

functions::lambda_main!(WEBHOOK_ENDPOINTS_REDELIVER);
