//! Lambda for `DELETE /v1/inbound-endpoints/{endpoint_id}`.

functions::lambda_main!(INBOUND_ENDPOINTS_DELETE);
