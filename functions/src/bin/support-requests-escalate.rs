//! Lambda for `POST /v1/support-requests/{request_id}/escalate`.

functions::lambda_main!(SUPPORT_REQUESTS_ESCALATE);
