//! Lambda working the outbox: provisioning requests and webhook deliveries, on the
//! table's stream and on a schedule.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::lambda::serve_outbox_worker().await
}
