//! Lambda for `POST /v1/customers/{customer_id}/reactivate`.

functions::lambda_main!(CUSTOMERS_REACTIVATE);
