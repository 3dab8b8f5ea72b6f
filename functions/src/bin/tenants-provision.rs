//! Lambda for `POST /v1/tenants/{tenant_id}/provision`.

functions::lambda_main!(TENANTS_PROVISION);
