//! Lambda for `POST /v1/inbound-endpoints/{endpoint_id}/rotate-secret`.

functions::lambda_main!(INBOUND_ENDPOINTS_ROTATE);
