//! Lambda for `POST /v1/inbound-endpoints`.

functions::lambda_main!(INBOUND_ENDPOINTS_CREATE);
