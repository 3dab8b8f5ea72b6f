//! Lambda for `GET /v1/customers`.

functions::lambda_main!(CUSTOMERS_LIST);
