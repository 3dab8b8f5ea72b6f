//! Lambda for `POST /v1/customers/{customer_id}/restore`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customers-restore").await
}
