//! Rendering an outbox email with the tenant's current name and branding.

use std::sync::LazyLock;

use minijinja::Environment;

use super::{OutboxEmail, Template};
use serde_json::{Value, json};

use crate::model::branding::Branding;
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
        "support_session_ended"
    );
    for (name, source) in sources {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("email template {name} does not compile: {e}"));
    }
    env
});

/// The tenant's look in its emails: its branding (`PUT /v1/tenants/{id}/branding`), or its
/// name and the default colours. The support address is the branding's, else the
/// tenant's contact address.
fn brand(tenant: &Tenant) -> Branding {
    let mut b = tenant
        .branding
        .clone()
        .unwrap_or_else(|| Branding::default_for(&tenant.name));
    if b.support_email.is_none() {
        b.support_email = tenant.contact.as_ref().and_then(|c| c.email.clone());
    }
    b
}

/// The email as it goes out: the templates rendered with the stored values, the
/// tenant's brand and its links.
pub fn render(
    settings: &MailSettings,
    tenant: &Tenant,
    email: &OutboxEmail,
) -> Result<Email, anyhow::Error> {
    let mut ctx = email.context.clone();
    let brand = brand(tenant);
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
    // Replies go to the tenant's support address: the tenant answers its customers.
    let reply_to = brand.support_email.clone();
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
        text: part("txt")?,
        html: part("html")?,
        attachments: Vec::new(),
    })
}
