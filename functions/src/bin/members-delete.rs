//! Lambda for `DELETE /v1/members/{member_id}`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("members-delete").await
}
