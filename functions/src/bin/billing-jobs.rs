//! Lambda for the billing jobs (EventBridge Scheduler, every 15 minutes): the month's
//! invoice run, review windows, dunning steps.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::lambda::serve_billing_jobs().await
}
