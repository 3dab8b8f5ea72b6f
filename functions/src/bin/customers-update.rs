//! Lambda for `PATCH /v1/customers/{customer_id}`.

functions::lambda_main!(CUSTOMERS_UPDATE);
