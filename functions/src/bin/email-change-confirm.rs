//! Lambda for `POST /t/{slug}/email-change`, an email change confirmed from its link (public).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("email-change-confirm").await
}
