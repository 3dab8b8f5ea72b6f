//! Lambda for `POST /v1/customers/{customer_id}/users/{user_id}/reset-password`.

functions::lambda_main!(CUSTOMER_USERS_RESET_PASSWORD);
