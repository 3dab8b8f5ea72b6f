//! Lambda for `PATCH /v1/tenants/{tenant_id}`.

functions::lambda_main!(TENANTS_UPDATE);
