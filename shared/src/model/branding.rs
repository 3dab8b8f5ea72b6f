//! A tenant's branding: what its login pages and emails look like. Set by the operator.

use serde::{Deserialize, Serialize};

use super::fields;
use super::input::Checks;
use crate::error::Error;

pub const DEFAULT_PRIMARY: &str = "#1f2937";
pub const DEFAULT_ACCENT: &str = "#2563eb";

/// The stored branding of a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// The colours a page or an email actually paints with, derived from the branding so
/// that text stays readable whatever colours the tenant chose (WCAG AA: 4.5:1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Palette {
    /// Text on the primary colour (the pages' header, the emails' buttons).
    pub on_primary: &'static str,
    /// Text on the accent colour (the pages' buttons).
    pub on_accent: &'static str,
    /// Links and accents on white: the accent, darkened until it reads at 4.5:1.
    pub link: String,
    /// Text in the primary colour on white (a code in an email): likewise.
    pub primary_text: String,
}

/// Minimum contrast of text against its background (WCAG 2 AA, normal text).
pub const MIN_CONTRAST: f64 = 4.5;

/// A `#rrggbb` colour as its three channels (a stored colour is always well-formed; a
/// malformed one reads as black).
fn rgb(hex: &str) -> [u8; 3] {
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|c| u8::from_str_radix(c, 16).ok())
            .unwrap_or(0)
    };
    [channel(1), channel(3), channel(5)]
}

/// WCAG relative luminance.
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/// WCAG contrast ratio of two colours (1 to 21).
pub fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(rgb(a)), luminance(rgb(b)));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// White or black, whichever reads better on `background` (one of them always reaches
/// 4.5:1).
fn text_on(background: &str) -> &'static str {
    if contrast("#ffffff", background) >= contrast("#000000", background) {
        "#ffffff"
    } else {
        "#000000"
    }
}

/// `colour` mixed with black, a step at a time, until it reads at 4.5:1 on white.
fn readable_on_white(colour: &str) -> String {
    let [r, g, b] = rgb(colour);
    (0..=20u16)
        .map(|step| {
            let keep = |c: u8| (u16::from(c) * (20 - step) / 20) as u8;
            format!("#{:02x}{:02x}{:02x}", keep(r), keep(g), keep(b))
        })
        .find(|c| contrast(c, "#ffffff") >= MIN_CONTRAST)
        .unwrap_or_else(|| "#000000".into())
}

impl Branding {
    pub fn palette(&self) -> Palette {
        Palette {
            on_primary: text_on(&self.primary_color),
            on_accent: text_on(&self.accent_color),
            link: readable_on_white(&self.accent_color),
            primary_text: readable_on_white(&self.primary_color),
        }
    }
}

/// `PUT /v1/tenants/{id}/branding`: the whole branding, replaced.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingDraft {
    #[schema(min_length = 1, max_length = 100)]
    pub product_name: Option<String>,
    #[schema(pattern = "^https://", max_length = 2048)]
    pub logo_url: Option<String>,
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub primary_color: Option<String>,
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub accent_color: Option<String>,
    #[schema(format = Email, max_length = 254)]
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

/// An https:// URL (a help page), at most 2048 characters.
pub fn https_url(raw: &str) -> fields::Parsed<String> {
    logo(raw).map_err(|_| "must be an https:// URL, at most 2048 characters".to_owned())
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

    #[test]
    fn every_palette_reads_at_wcag_aa_whatever_the_brand_colours() {
        let mut colours: Vec<String> = [
            "#f59e0b", "#ffff00", "#000000", "#ffffff", "#777777", "#2563eb",
        ]
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
        // And a sweep of the colour cube.
        for r in (0..=255).step_by(51) {
            for g in (0..=255).step_by(51) {
                for b in (0..=255).step_by(51) {
                    colours.push(format!("#{r:02x}{g:02x}{b:02x}"));
                }
            }
        }
        for c in &colours {
            let b = Branding {
                primary_color: c.clone(),
                accent_color: c.clone(),
                ..Branding::default_for("T")
            };
            let p = b.palette();
            assert!(contrast(p.on_primary, c) >= MIN_CONTRAST, "{c}: {p:?}");
            assert!(contrast(p.on_accent, c) >= MIN_CONTRAST, "{c}: {p:?}");
            assert!(contrast(&p.link, "#ffffff") >= MIN_CONTRAST, "{c}: {p:?}");
            assert!(
                contrast(&p.primary_text, "#ffffff") >= MIN_CONTRAST,
                "{c}: {p:?}"
            );
        }
        // The amber that read at 2.1:1 under white text gets black text.
        let amber = Branding {
            accent_color: "#f59e0b".into(),
            ..Branding::default_for("T")
        };
        assert!(contrast("#ffffff", "#f59e0b") < 2.2);
        assert_eq!(amber.palette().on_accent, "#000000");
    }

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
