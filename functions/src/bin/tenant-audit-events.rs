//! Lambda for `GET /v1/tenants/{tenant_id}/audit-events`.

functions::lambda_main!(TENANT_AUDIT_EVENTS);
