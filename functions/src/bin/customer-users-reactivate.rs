//! Lambda for `POST /v1/customers/{customer_id}/users/{user_id}/reactivate`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customer-users-reactivate").await
}
