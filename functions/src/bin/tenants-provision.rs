//! Lambda for `POST /v1/tenants/{tenant_id}/provision`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenants-provision").await
}
