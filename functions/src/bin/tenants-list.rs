//! Lambda for `GET /v1/tenants`.

functions::lambda_main!(TENANTS_LIST);
