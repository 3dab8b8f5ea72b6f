//! Lambda for `POST /v1/members`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("members-create").await
}
