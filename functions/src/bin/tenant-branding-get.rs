//! Lambda for `GET /v1/tenants/{tenant_id}/branding`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenant-branding-get").await
}
