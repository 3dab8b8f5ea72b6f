//! Lambda for `POST /v1/customers/{customer_id}/restore`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customers-restore").await
}
