//! Lambda for `GET /v1/webhook-endpoints/{webhook_endpoint_id}/attempts`.

functions::lambda_main!(WEBHOOK_ATTEMPTS_LIST);
