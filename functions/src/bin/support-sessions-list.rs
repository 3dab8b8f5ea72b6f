//! Lambda for `GET /v1/customers/{customer_id}/support-sessions`.

functions::lambda_main!(SUPPORT_SESSIONS_LIST);
