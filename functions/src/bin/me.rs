//! Lambda for `GET /v1/me`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("me").await
}
