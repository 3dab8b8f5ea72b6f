//! Lambda for `POST /v1/tenants`.

functions::lambda_main!(TENANTS_CREATE);
