//! Lambda of the invoice run's worker (the SQS queue's consumer): each message bills one
//! tenant's month from its stored cursor, handing the rest on when time runs short.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::lambda::serve_invoices_worker().await
}
