//! Lambda for `POST /t/{slug}/register`, a self-registration's first step: the emailed code (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("register").await
}
