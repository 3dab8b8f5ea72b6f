//! Lambda for `GET /v1/me/audit-events`.

functions::lambda_main!(ME_AUDIT_EVENTS);
