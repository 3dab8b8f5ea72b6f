//! Lambda for `POST /v1/customers/{customer_id}/deactivate`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customers-deactivate").await
}
