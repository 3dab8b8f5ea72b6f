//! Lambda for `GET /v1/customers/{customer_id}`.

functions::lambda_main!(CUSTOMERS_GET);
