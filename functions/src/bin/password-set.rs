//! Lambda for `POST /t/{slug}/password`, a password set from an invitation or reset link (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("password-set").await
}
