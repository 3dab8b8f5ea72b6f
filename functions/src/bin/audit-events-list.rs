//! Lambda for `GET /v1/audit-events`.

functions::lambda_main!(AUDIT_EVENTS_LIST);
