//! Lambda for `PUT /v1/tenants/{tenant_id}/price-overrides/{code}`.

functions::lambda_main!(PRICE_OVERRIDES_PUT);
