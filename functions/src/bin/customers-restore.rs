//! Lambda for `POST /v1/customers/{customer_id}/restore`.

functions::lambda_main!(CUSTOMERS_RESTORE);
