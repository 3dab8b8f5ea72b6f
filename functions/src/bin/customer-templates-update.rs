//! Lambda for `PATCH /v1/customer-templates/{code}`.

functions::lambda_main!(CUSTOMER_TEMPLATES_UPDATE);
