//! Lambda for `PATCH /v1/customers/{customer_id}/users/{user_id}`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customer-users-update").await
}
