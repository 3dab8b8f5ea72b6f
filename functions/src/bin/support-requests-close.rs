//! Lambda for `POST /v1/support-requests/{request_id}/close`.

functions::lambda_main!(SUPPORT_REQUESTS_CLOSE);
