//! Lambda for `GET /t/{slug}/register`, the tenant's branded registration page (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("register-page").await
}
