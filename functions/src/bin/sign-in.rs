//! Lambda for `POST /t/{slug}/login` (public: no authorizer).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("sign-in").await
}
