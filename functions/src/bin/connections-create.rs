//! Lambda for `POST /v1/customers/{customer_id}/connections`.

functions::lambda_main!(CONNECTIONS_CREATE);
