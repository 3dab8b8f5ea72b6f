//! Lambda for `GET /v1/customers/{customer_id}/users`.

functions::lambda_main!(CUSTOMER_USERS_LIST);
