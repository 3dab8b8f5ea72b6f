//! Rendering an outbox email with the tenant's current name and branding.

use std::sync::LazyLock;

use minijinja::Environment;

use super::{OutboxEmail, Template};
use serde_json::{Value, json};

use crate::model::tenant::Tenant;
use crate::ports::Email;

/// Where emails come from and where their links point.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// Senders are `no-reply@<sender_domain>` (the stack's verified SES domain).
    pub sender_domain: String,
    /// Base URL of the login pages, e.g. `https://api.example.com`.
    pub public_url: String,
}

impl MailSettings {
    /// `MAIL_SENDER_DOMAIN` and `PUBLIC_URL`, with local defaults.
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            sender_domain: var("MAIL_SENDER_DOMAIN", "tenantry.localhost"),
            public_url: var("PUBLIC_URL", "http://127.0.0.1:3000")
                .trim_end_matches('/')
                .to_owned(),
        }
    }
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Plain-text bodies keep their last newline.
    env.set_keep_trailing_newline(true);
    macro_rules! email {
        ($($name:literal),*) => {
            [("layout.html", include_str!("../../../templates/email/layout.html")),
             $(
                (concat!($name, ".subject.txt"), include_str!(concat!("../../../templates/email/", $name, ".subject.txt"))),
                (concat!($name, ".txt"), include_str!(concat!("../../../templates/email/", $name, ".txt"))),
                (concat!($name, ".html"), include_str!(concat!("../../../templates/email/", $name, ".html"))),
             )*]
        };
    }
    let sources = email!(
        "staff_invitation",
        "customer_welcome",
        "registration_code",
        "user_invitation",
        "password_reset",
        "email_change",
        "invoice_issued",
        "invoice_reminder",
        "webhook_endpoint_disabled",
        "credit_note_issued",
        "connection_invite",
        "connection_authorized",
        "connection_failed",
        "support_session_approval",
        "support_session_started",
        "support_session_ended",
        "support_request",
        "support_escalation"
    );
    for (name, source) in sources {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("email template {name} does not compile: {e}"));
    }
    env
});

/// A plain-text email with the tenant's support address, phone, page and hours after it.
fn with_contact(
    mut text: String,
    address: Option<&str>,
    support: &crate::model::helpdesk::SupportSettings,
) -> String {
    let lines: Vec<String> = [
        address.map(|a| format!("Support: {a}")),
        support.phone.as_ref().map(|p| format!("Phone: {p}")),
        support.url.as_ref().map(|u| format!("Help: {u}")),
        support.hours.as_ref().map(|h| format!("Hours: {h}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !lines.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&lines.join("\n"));
        text.push('\n');
    }
    text
}

/// The email as it goes out: the templates rendered with the stored values, the
/// tenant's brand and its links.
pub fn render(
    settings: &MailSettings,
    tenant: &Tenant,
    email: &OutboxEmail,
) -> Result<Email, anyhow::Error> {
    let mut ctx = email.context.clone();
    // Its branding, and how its customers reach its support (the support settings'
    // address, else the branding's, else the tenant's contact).
    let (brand, support) = crate::model::helpdesk::look(tenant);
    ctx.insert("support".into(), json!(support));
    ctx.insert("brand".into(), json!(brand));
    ctx.insert("palette".into(), json!(brand.palette()));
    ctx.insert("tenant_name".into(), json!(tenant.name));
    ctx.insert(
        "login_url".into(),
        json!(format!("{}/t/{}/login", settings.public_url, tenant.slug)),
    );
    if let Some(token) = email.context.get("link_token").and_then(Value::as_str) {
        let url = match email.template {
            // The connect page takes its token in the path.
            Template::ConnectionInvite => {
                format!("{}/t/{}/connect/{token}", settings.public_url, tenant.slug)
            }
            // The approval page, too.
            Template::SupportSessionApproval => {
                format!("{}/t/{}/support/{token}", settings.public_url, tenant.slug)
            }
            Template::EmailChange => format!(
                "{}/t/{}/email-change?token={token}",
                settings.public_url, tenant.slug
            ),
            _ => format!(
                "{}/t/{}/password?token={token}",
                settings.public_url, tenant.slug
            ),
        };
        ctx.insert("link_url".into(), json!(url));
    }
    let ctx = Value::Object(ctx);
    let name = email.template.name();
    let part = |suffix: &str| -> Result<String, anyhow::Error> {
        Ok(TEMPLATES
            .get_template(&format!("{name}.{suffix}"))?
            .render(&ctx)?)
    };
    // Replies go to the tenant's support address: the tenant answers its customers. A
    // customer's support request is answered to the customer user who asked.
    let reply_to = email
        .context
        .get("reply_to")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| brand.support_email.clone());
    // An invoice's email is in its issuer's name (the platform, for a partner's).
    let from_name = email
        .context
        .get("issuer_name")
        .and_then(Value::as_str)
        .map_or_else(|| brand.product_name.clone(), str::to_owned);
    Ok(Email {
        id: email.id.to_string(),
        from_name,
        from_address: format!("no-reply@{}", settings.sender_domain),
        reply_to,
        to: vec![email.to.clone()],
        subject: part("subject.txt")?.trim().to_owned(),
        text: with_contact(part("txt")?, brand.support_email.as_deref(), &support),
        html: part("html")?,
        attachments: Vec::new(),
    })
}
