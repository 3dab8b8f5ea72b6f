//! An [`Email`] as an RFC 5322 message (multipart/alternative: text and HTML), the one
//! wire format both mailers use: SES v2 sends it raw, the embedded mailer files it.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use crate::ports::{Email, MailError};

/// A header's text on one line: a control character or a line separator (which a
/// record stored before names were checked for them may hold) becomes a space, so no
/// value can end a header early or add one.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The message bytes. An address that does not parse is a rejection (retrying cannot
/// fix it), named in the error.
pub fn to_mime(email: &Email) -> Result<Vec<u8>, MailError> {
    let rejected = |what: &str, value: &str| {
        MailError::Rejected(anyhow::anyhow!("{what} is not a valid mailbox: {value:?}"))
    };
    let from = Mailbox::new(
        Some(one_line(&email.from_name)),
        email
            .from_address
            .parse()
            .map_err(|_| rejected("from", &email.from_address))?,
    );
    let domain = from.email.domain().to_owned();
    let mut builder = Message::builder()
        .from(from)
        .subject(one_line(&email.subject))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_break_in_a_name_or_subject_cannot_add_a_header() {
        let email = Email {
            id: "eml_1".into(),
            from_name: "Conf\nCloud\r\nBcc: victim@example.com".into(),
            from_address: "no-reply@mail.example.com".into(),
            reply_to: None,
            to: vec!["ada@example.com".into()],
            subject: "Welcome\r\nX-Injected: yes".into(),
            text: "hello".into(),
            html: "<p>hello</p>".into(),
        };
        let bytes = to_mime(&email).expect("a message");
        let text = String::from_utf8_lossy(&bytes);
        let headers = text.split("\r\n\r\n").next().unwrap_or_default();
        for line in headers.split("\r\n") {
            assert!(
                !line.starts_with("Bcc:") && !line.starts_with("X-Injected:"),
                "{headers}"
            );
        }
    }
}
