//! Lambda for `POST /v1/support-requests/{request_id}/notes`.

functions::lambda_main!(SUPPORT_REQUESTS_NOTE);
