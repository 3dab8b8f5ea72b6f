//! Lambda rendering and storing final documents (EventBridge Scheduler, every minute):
//! each final invoice's PDF and each credit note's, into the documents bucket.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::lambda::serve_documents_render().await
}
