//! Lambda for `GET /v1/tenants/{tenant_id}`.

functions::lambda_main!(TENANTS_GET);
