//! Lambda for `POST /v1/customers/{customer_id}/users/{user_id}/deactivate`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customer-users-deactivate").await
}
