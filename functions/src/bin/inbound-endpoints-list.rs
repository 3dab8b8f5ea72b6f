//! Lambda for `GET /v1/inbound-endpoints`.

functions::lambda_main!(INBOUND_ENDPOINTS_LIST);
