//! Lambda for `GET /v1/tenants/{tenant_id}`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenants-get").await
}
