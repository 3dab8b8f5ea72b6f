//! Lambda for `GET /v1/tenants`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenants-list").await
}
