//! Lambda for `GET /v1/tenants`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("tenants-list").await
}
