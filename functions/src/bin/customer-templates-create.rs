//! Lambda for `POST /v1/customer-templates`.

functions::lambda_main!(CUSTOMER_TEMPLATES_CREATE);
