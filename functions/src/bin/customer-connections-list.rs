//! Lambda for `GET /v1/customers/{customer_id}/connections`.

functions::lambda_main!(CUSTOMER_CONNECTIONS_LIST);
