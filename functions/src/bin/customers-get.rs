//! Lambda for `GET /v1/customers/{customer_id}`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customers-get").await
}
