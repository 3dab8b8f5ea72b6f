//! Lambda for `GET /v1/tenants/{tenant_id}/branding`.

functions::lambda_main!(TENANT_BRANDING_GET);
