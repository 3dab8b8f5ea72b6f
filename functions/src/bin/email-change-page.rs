//! Lambda for `GET /t/{slug}/email-change`, the tenant's branded page to confirm a new email (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("email-change-page").await
}
