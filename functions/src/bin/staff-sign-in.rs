//! Lambda for `POST /t/{slug}/staff/login` (public: no authorizer).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda::serve("staff-sign-in").await
}
