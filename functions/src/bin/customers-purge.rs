//! Lambda for the daily purge of customers deleted more than 30 days ago (EventBridge Scheduler).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::lambda::serve_purge().await
}
