//! Lambda for `POST /v1/tenants`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenants-create").await
}
