//! A tenant's branding: what its login pages and emails look like. Set by the operator.

use serde::{Deserialize, Serialize};

use super::fields;
use super::input::Checks;
use crate::error::Error;

pub const DEFAULT_PRIMARY: &str = "#1f2937";
pub const DEFAULT_ACCENT: &str = "#2563eb";

/// The stored branding of a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Branding {
    pub product_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    pub primary_color: String,
    pub accent_color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_email: Option<String>,
    /// Recorded only: serving a tenant on its own domain is a deployment matter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_domain: Option<String>,
    pub registration_enabled: bool,
}

impl Branding {
    /// What a tenant without branding shows: its name, the default colours.
    pub fn default_for(tenant_name: &str) -> Self {
        Self {
            product_name: tenant_name.to_owned(),
            logo_url: None,
            primary_color: DEFAULT_PRIMARY.into(),
            accent_color: DEFAULT_ACCENT.into(),
            support_email: None,
            custom_domain: None,
            registration_enabled: false,
        }
    }
}

/// `PUT /v1/tenants/{id}/branding`: the whole branding, replaced.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingDraft {
    pub product_name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    pub accent_color: Option<String>,
    pub support_email: Option<String>,
    pub custom_domain: Option<String>,
    pub registration_enabled: Option<bool>,
}

fn color(raw: &str) -> fields::Parsed<String> {
    let t = raw.trim();
    let hex =
        t.len() == 7 && t.starts_with('#') && t.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
    if hex {
        Ok(raw.trim().to_ascii_lowercase())
    } else {
        Err("must be a colour as #rrggbb, e.g. #2563eb".into())
    }
}

fn logo(raw: &str) -> fields::Parsed<String> {
    let bad = || "must be an https:// URL of an image, at most 2048 characters".to_owned();
    let t = raw.trim();
    if t.len() > 2048 {
        return Err(bad());
    }
    match url::Url::parse(t) {
        Ok(u)
            if u.scheme() == "https"
                && u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none() =>
        {
            Ok(u.to_string())
        }
        _ => Err(bad()),
    }
}

fn domain(raw: &str) -> fields::Parsed<String> {
    // Labels of letters, digits and inner hyphens (1 to 63 characters), then a
    // top-level domain of 2 to 63 letters.
    let d = raw.trim().to_ascii_lowercase();
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let host = match d.rsplit_once('.') {
        Some((labels, tld)) => {
            (2..=63).contains(&tld.len())
                && tld.bytes().all(|b| b.is_ascii_lowercase())
                && labels.split('.').all(label)
        }
        None => false,
    };
    if d.len() <= 253 && host {
        Ok(d)
    } else {
        Err("must be a domain name such as login.example.com".into())
    }
}

impl BrandingDraft {
    pub fn parse(&self) -> Result<Branding, Error> {
        let mut c = Checks::new();
        let product_name = c.required("product_name", self.product_name.as_deref(), |s| {
            fields::text(s, 100)
        });
        let logo_url = c.optional("logo_url", self.logo_url.as_deref(), logo);
        let primary = c.optional("primary_color", self.primary_color.as_deref(), color);
        let accent = c.optional("accent_color", self.accent_color.as_deref(), color);
        let support_email = c.optional(
            "support_email",
            self.support_email.as_deref(),
            fields::email,
        );
        let custom_domain = c.optional("custom_domain", self.custom_domain.as_deref(), domain);
        c.finish()?;
        Ok(Branding {
            product_name: product_name.unwrap_or_default(),
            logo_url,
            primary_color: primary.unwrap_or_else(|| DEFAULT_PRIMARY.into()),
            accent_color: accent.unwrap_or_else(|| DEFAULT_ACCENT.into()),
            support_email,
            custom_domain,
            registration_enabled: self.registration_enabled.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_listed_and_good_values_are_normalised() {
        let draft = BrandingDraft {
            product_name: Some(" ".into()),
            logo_url: Some("javascript:alert(1)".into()),
            primary_color: Some("red".into()),
            accent_color: Some("#12345".into()),
            support_email: Some("nope".into()),
            custom_domain: Some("not a domain".into()),
            registration_enabled: None,
        };
        let Err(Error::Invalid(errors)) = draft.parse() else {
            panic!("expected 422");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "product_name",
                "logo_url",
                "primary_color",
                "accent_color",
                "support_email",
                "custom_domain"
            ]
        );
        let ok = BrandingDraft {
            product_name: Some("Acme Cloud".into()),
            logo_url: Some("https://cdn.example.com/logo.png".into()),
            primary_color: Some("#AABBCC".into()),
            custom_domain: Some("Login.Example.com".into()),
            ..Default::default()
        }
        .parse()
        .expect("valid");
        assert_eq!(ok.primary_color, "#aabbcc");
        assert_eq!(ok.accent_color, DEFAULT_ACCENT);
        assert_eq!(ok.custom_domain.as_deref(), Some("login.example.com"));
        for bad in [
            "http://cdn.example.com/l.png",
            "https://user:pw@cdn.example.com/l.png",
            "data:image/png;base64,AAAA",
        ] {
            assert!(logo(bad).is_err(), "{bad}");
        }
    }
}
