//! Lambda for `POST /v1/customers`.

functions::lambda_main!(CUSTOMERS_CREATE);
