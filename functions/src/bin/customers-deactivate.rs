//! Lambda for `POST /v1/customers/{customer_id}/deactivate`.

functions::lambda_main!(CUSTOMERS_DEACTIVATE);
