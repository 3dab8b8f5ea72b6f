//! Lambda for `GET /v1/api-keys`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("api-keys-list").await
}
