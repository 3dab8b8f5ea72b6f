//! Lambda delivering the email outbox through SES: on the table's stream and on a schedule.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::lambda::serve_mail_sender().await
}
