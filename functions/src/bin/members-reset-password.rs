//! Lambda for `POST /v1/members/{member_id}/reset-password`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("members-reset-password").await
}
