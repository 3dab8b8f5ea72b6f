//! Lambda for `POST /v1/tenants/{tenant_id}/emails/{email_id}/redrive` (operator): a
//! dead-lettered email tried again.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenant-emails-redrive").await
}
