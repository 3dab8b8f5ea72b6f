//! Lambda for `POST /v1/tenants/{tenant_id}/api-keys`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenant-api-keys-create").await
}
