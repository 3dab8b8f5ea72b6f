//! Lambda for `GET /v1/tenants/{tenant_id}/emails`.

functions::lambda_main!(TENANT_EMAILS_LIST);
