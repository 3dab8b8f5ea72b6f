//! Lambda for `GET /v1/inbound-endpoints/{endpoint_id}`.

functions::lambda_main!(INBOUND_ENDPOINTS_GET);
