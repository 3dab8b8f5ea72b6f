//! Lambda for `POST /v1/customers`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("customers-create").await
}
