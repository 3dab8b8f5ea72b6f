//! SES v2 mailer: each email goes out raw (the same RFC 5322 bytes the embedded mailer
//! files), through the stack's configuration set when one is named.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, RawMessage};

use crate::adapters::mime::to_mime;
use crate::ports::{Email, MailError, Mailer};

pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        Self {
            client,
            configuration_set,
        }
    }

    /// With the ambient AWS configuration ([`super::sdk_config`]) and the configuration
    /// set of `SES_CONFIGURATION_SET`, if set.
    pub async fn from_env() -> Self {
        Self::from_config(&super::sdk_config().await)
    }

    /// With this AWS configuration and the configuration set of `SES_CONFIGURATION_SET`.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let set = std::env::var("SES_CONFIGURATION_SET")
            .ok()
            .filter(|s| !s.is_empty());
        Self::new(Client::new(config), set)
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(to_mime(email)?))
            .build()
            .map_err(|e| MailError::Rejected(e.into()))?;
        // No Destination: SES takes the recipients from the message's To header, and
        // naming them twice makes some SES implementations list them twice.
        self.client
            .send_email()
            .from_email_address(&email.from_address)
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// Rejections of the message itself, which retrying cannot fix, vs. everything else:
/// throttling, paused sending, network, 5xx, and setup that an operator can still fix
/// (a sender domain whose DKIM is not verified yet, a missing configuration set), which
/// the outbox retries with backoff.
fn classify(err: SdkError<SendEmailError>) -> MailError {
    let permanent = matches!(
        err.as_service_error(),
        Some(SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_))
    );
    let err = anyhow::anyhow!("{}", aws_sdk_sesv2::error::DisplayErrorContext(&err));
    if permanent {
        MailError::Rejected(err)
    } else {
        MailError::Unavailable(err)
    }
}
