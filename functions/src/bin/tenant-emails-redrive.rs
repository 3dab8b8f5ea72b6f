//! Lambda for `POST /v1/tenants/{tenant_id}/emails/{email_id}/redrive` (operator): a
//! dead-lettered email tried again.

functions::lambda_main!(TENANT_EMAILS_REDRIVE);
