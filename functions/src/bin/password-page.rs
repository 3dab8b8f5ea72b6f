//! Lambda for `GET /t/{slug}/password`, the tenant's branded page to set a password from a link (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("password-page").await
}
