//! SQS work queue: the invoice run's messages (one per tenant, and a tenant's
//! continuations), sent in batches of ten.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::ports::{QueueError, WorkQueue};

/// SendMessageBatch takes at most ten entries.
const BATCH: usize = 10;
/// Entries SQS refused for a passing reason are sent again, this many times.
const ATTEMPTS: usize = 3;

pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// With this AWS configuration and the queue at `url` (`INVOICE_RUN_QUEUE_URL`).
    pub fn from_config(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(config), url)
    }
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(anyhow::anyhow!("{e}"))
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), QueueError> {
        for chunk in bodies.chunks(BATCH) {
            // Entry ids are positions in the chunk; a failed entry is retried by id.
            let mut pending: Vec<(String, &String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| (i.to_string(), b))
                .collect();
            for attempt in 1..=ATTEMPTS {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(*body)
                            .build()
                            .map_err(unavailable)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
                let failed = out.failed();
                if failed.is_empty() {
                    pending.clear();
                    break;
                }
                // A sender's fault (a malformed message) does not pass with time.
                if let Some(f) = failed.iter().find(|f| f.sender_fault()) {
                    return Err(unavailable(format!(
                        "SQS refused a message: {} {}",
                        f.code(),
                        f.message().unwrap_or_default()
                    )));
                }
                pending.retain(|(id, _)| failed.iter().any(|f| f.id() == id));
                if attempt == ATTEMPTS {
                    return Err(unavailable(format!(
                        "SQS refused {} messages {ATTEMPTS} times",
                        pending.len()
                    )));
                }
            }
        }
        Ok(())
    }
}
