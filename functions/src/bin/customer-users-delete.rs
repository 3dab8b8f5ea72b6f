//! Lambda for `DELETE /v1/customers/{customer_id}/users/{user_id}`.

functions::lambda_main!(CUSTOMER_USERS_DELETE);
