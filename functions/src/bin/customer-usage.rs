//! Lambda for `GET /v1/customers/{customer_id}/usage`.

functions::lambda_main!(CUSTOMER_USAGE);
