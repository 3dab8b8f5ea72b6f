//! An [`Email`] as an RFC 5322 message (multipart/alternative: text and HTML, inside
//! multipart/mixed with its attachments when it has any), the one wire format both
//! mailers use: SES v2 sends it raw, the embedded mailer files it.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};

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
    let body = MultiPart::alternative_plain_html(email.text.clone(), email.html.clone());
    let body = if email.attachments.is_empty() {
        body
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in &email.attachments {
            let kind = ContentType::parse(&a.content_type).map_err(|_| {
                MailError::Rejected(anyhow::anyhow!("not a content type: {:?}", a.content_type))
            })?;
            mixed = mixed
                .singlepart(Attachment::new(one_line(&a.filename)).body(a.bytes.clone(), kind));
        }
        mixed
    };
    let message = builder
        .multipart(body)
        .map_err(|e| MailError::Rejected(anyhow::anyhow!("building the message: {e}")))?;
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_travels_base64_in_a_mixed_message() {
        let email = Email {
            id: "eml_2".into(),
            from_name: "Tenantry".into(),
            from_address: "no-reply@mail.example.com".into(),
            reply_to: None,
            to: vec!["billing@example.com".into()],
            subject: "Invoice INV-2026-000001".into(),
            text: "attached".into(),
            html: "<p>attached</p>".into(),
            attachments: vec![crate::ports::Attachment {
                filename: "INV-2026-000001.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec(),
            }],
        };
        let text = String::from_utf8(to_mime(&email).expect("a message")).unwrap();
        assert!(text.contains("multipart/mixed"), "{text}");
        assert!(text.contains("Content-Type: application/pdf"), "{text}");
        assert!(text.contains("filename=\"INV-2026-000001.pdf\""), "{text}");
        use base64::Engine;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
        assert!(text.contains(&encoded), "{text}");
    }

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
            attachments: Vec::new(),
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
