//! Lambda for `DELETE /v1/api-keys/{key_id}`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("api-keys-delete").await
}
