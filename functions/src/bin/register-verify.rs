//! Lambda for `POST /t/{slug}/register/verify`, a self-registration's second step: the code, then the customer (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("register-verify").await
}
