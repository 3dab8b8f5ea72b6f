//! Lambda for `GET /t/{slug}/login`, the tenant's branded login page (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("login-page").await
}
