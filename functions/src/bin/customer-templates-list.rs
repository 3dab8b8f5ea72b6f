//! Lambda for `GET /v1/customer-templates`.

functions::lambda_main!(CUSTOMER_TEMPLATES_LIST);
