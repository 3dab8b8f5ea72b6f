//! Lambda for `GET /v1/customer-templates/{code}`.

functions::lambda_main!(CUSTOMER_TEMPLATES_GET);
