//! An [`Email`] as an RFC 5322 message (multipart/alternative: text and HTML), the one
//! wire format both mailers use: SES v2 sends it raw, the embedded mailer files it.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use crate::ports::{Email, MailError};

/// The message bytes. An address that does not parse is a rejection (retrying cannot
/// fix it), named in the error.
pub fn to_mime(email: &Email) -> Result<Vec<u8>, MailError> {
    let rejected = |what: &str, value: &str| {
        MailError::Rejected(anyhow::anyhow!("{what} is not a valid mailbox: {value:?}"))
    };
    let from = Mailbox::new(
        Some(email.from_name.clone()),
        email
            .from_address
            .parse()
            .map_err(|_| rejected("from", &email.from_address))?,
    );
    let domain = from.email.domain().to_owned();
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}@{}>", email.id, domain)));
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(
            reply_to
                .parse()
                .map_err(|_| rejected("reply_to", reply_to))?,
        );
    }
    if email.to.is_empty() {
        return Err(MailError::Rejected(anyhow::anyhow!(
            "the email has no recipient"
        )));
    }
    for to in &email.to {
        builder = builder.to(to.parse().map_err(|_| rejected("to", to))?);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| MailError::Rejected(anyhow::anyhow!("building the message: {e}")))?;
    Ok(message.formatted())
}
