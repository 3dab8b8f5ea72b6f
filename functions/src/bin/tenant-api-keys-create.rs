//! Lambda for `POST /v1/tenants/{tenant_id}/api-keys`.

functions::lambda_main!(TENANT_API_KEYS_CREATE);
