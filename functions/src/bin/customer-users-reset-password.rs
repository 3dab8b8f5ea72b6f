//! Lambda for `POST /v1/customers/{customer_id}/users/{user_id}/reset-password`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customer-users-reset-password").await
}
