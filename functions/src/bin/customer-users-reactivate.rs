//! Lambda for `POST /v1/customers/{customer_id}/users/{user_id}/reactivate`.

functions::lambda_main!(CUSTOMER_USERS_REACTIVATE);
