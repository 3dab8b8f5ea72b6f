//! Lambda for `POST /v1/customers/{customer_id}/users/{user_id}/deactivate`.

functions::lambda_main!(CUSTOMER_USERS_DEACTIVATE);
