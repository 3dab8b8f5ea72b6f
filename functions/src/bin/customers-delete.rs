//! Lambda for `DELETE /v1/customers/{customer_id}`.

functions::lambda_main!(CUSTOMERS_DELETE);
