//! Value types of contact and company records; each `parse` says what to fix.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub type Parsed<T> = Result<T, String>;

/// One line of text (a name, a title): trimmed; empty, over-long, multi-line text and
/// control characters are refused.
pub fn text(raw: &str, max: usize) -> Parsed<String> {
    let t = paragraphs(raw, max)?;
    // A name or a title may become an email header or a sender's display name: one line.
    if t.chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err("must be one line, without control characters".into());
    }
    Ok(t)
}

/// Free text that may run over several lines (a description): line feeds and tabs are
/// kept, other control characters refused.
pub fn paragraphs(raw: &str, max: usize) -> Parsed<String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_owned())
}

/// An ISO 4217 currency code, upper-cased.
pub fn currency(raw: &str) -> Parsed<String> {
    let c = raw.trim().to_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err("must be an ISO 4217 currency code such as USD or EUR".into())
    }
}

/// A machine name (a plan's, a metric's, a feature's code): 1 to 40 lower-case letters,
/// digits and underscores, starting with a letter.
pub fn code(raw: &str) -> Parsed<String> {
    let b = raw.as_bytes();
    if (1..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
    {
        Ok(raw.to_owned())
    } else {
        Err("must be 1 to 40 lower-case letters, digits and underscores, starting with a letter (e.g. ai_operations)".into())
    }
}

/// An email address, trimmed and lower-cased.
/// A tax rate in basis points, 0 to 10,000 (1900 = 19%).
pub fn tax_rate(bps: i64) -> Parsed<u32> {
    u32::try_from(bps)
        .ok()
        .filter(|v| *v <= 10_000)
        .ok_or_else(|| "must be basis points from 0 to 10000 (1900 = 19%)".into())
}

pub fn email(raw: &str) -> Parsed<String> {
    let e = raw.trim().to_lowercase();
    if e.len() > 254 || !email_address::EmailAddress::is_valid(&e) || !e.contains('@') {
        return Err("must be an email address such as ana@example.com".into());
    }
    if email_key(&e).len() > 400 || e.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must be an email address such as ana@example.com".into());
    }
    let domain = e.rsplit('@').next().unwrap_or_default();
    if !domain.contains('.') || domain.starts_with('[') {
        return Err("must be an email address with a domain such as example.com".into());
    }
    Ok(e)
}

/// The folded form of an email, for uniqueness: case- and accent-insensitive.
pub fn email_key(email: &str) -> String {
    deunicode::deunicode(email).to_lowercase()
}

/// A phone number in E.164: `+`, country code, subscriber number; spaces, dots,
/// dashes and parentheses are accepted and removed.
pub fn phone(raw: &str) -> Parsed<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if !compact.starts_with('+') {
        return Err("must start with + and the country code, e.g. +14155550100".into());
    }
    // `+`, a first digit 1-9, then 6 to 14 more digits.
    let digits = &compact.as_bytes()[1..];
    let e164 = (7..=15).contains(&digits.len())
        && digits[0] != b'0'
        && digits.iter().all(u8::is_ascii_digit);
    if !e164 {
        return Err(
            "must be an E.164 number: + country code and 7 to 15 digits, e.g. +14155550100".into(),
        );
    }
    Ok(compact)
}

/// An ISO 3166-1 alpha-2 country code, upper-cased.
pub fn country(raw: &str) -> Parsed<String> {
    let c = raw.trim().to_uppercase();
    if c.len() == 2 && isocountry::CountryCode::for_alpha2(&c).is_ok() {
        Ok(c)
    } else {
        Err("must be an ISO 3166-1 alpha-2 country code such as US, DE or NL".into())
    }
}

/// A website: http(s) URL with a host; a bare host gets `https://`.
pub fn website(raw: &str) -> Parsed<String> {
    let t = text(raw, 2048)?;
    let candidate = if t.contains("://") {
        t
    } else {
        format!("https://{t}")
    };
    match url::Url::parse(&candidate) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| h.contains('.')) =>
        {
            Ok(u.to_string())
        }
        _ => Err("must be a web address such as https://example.com".into()),
    }
}

/// A web origin (`https://app.example.com`, `https://app.example.com:8443`), as its
/// ASCII serialization: https, or http for `localhost` and `127.0.0.1` (a developer's
/// machine); no credentials, path, query or fragment.
pub fn origin(raw: &str) -> Parsed<String> {
    const HOW: &str = "must be an origin such as https://app.example.com (https, a host, an optional port, no path)";
    let t = text(raw, 300)?;
    let Ok(u) = url::Url::parse(&t) else {
        return Err(HOW.into());
    };
    let local = matches!(u.host_str(), Some("localhost" | "127.0.0.1"));
    let plain = u.username().is_empty()
        && u.password().is_none()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.host_str().is_some();
    let scheme_ok = u.scheme() == "https" || (u.scheme() == "http" && local);
    // A host name of letters, digits and hyphens (no `*`: no wildcard), or an address.
    let host_ok = match u.host() {
        Some(url::Host::Domain(d)) => d.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => true,
        None => false,
    };
    if plain && scheme_ok && host_ok {
        Ok(u.origin().ascii_serialization())
    } else {
        Err(HOW.into())
    }
}

/// A postal code, checked for the countries whose format we know; free text elsewhere.
pub fn postal_code(raw: &str, country: Option<&str>) -> Parsed<String> {
    static FORMATS: LazyLock<Vec<(&str, Regex, &str)>> = LazyLock::new(|| {
        [
            ("US", r"^[0-9]{5}(-[0-9]{4})?$", "12345 or 12345-6789"),
            (
                "CA",
                r"^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] [0-9][ABCEGHJ-NPRSTV-Z][0-9]$",
                "K1A 0B1",
            ),
            (
                "GB",
                r"^([A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}|GIR 0AA)$",
                "SW1A 1AA",
            ),
            ("DE", r"^[0-9]{5}$", "10115"),
            ("NL", r"^[1-9][0-9]{3} [A-Z]{2}$", "1012 AB"),
            ("FR", r"^[0-9]{5}$", "75001"),
            ("AU", r"^[0-9]{4}$", "2000"),
            ("BE", r"^[1-9][0-9]{3}$", "1000"),
        ]
        .into_iter()
        .map(|(c, p, e)| (c, Regex::new(p).expect("postal pattern"), e))
        .collect()
    });
    let t = text(raw, 20)?.to_uppercase();
    let Some(country) = country else { return Ok(t) };
    let Some((_, re, example)) = FORMATS.iter().find(|(c, _, _)| *c == country) else {
        return Ok(t);
    };
    // Accept the common spellings without the space (CA, GB, NL) and normalize them.
    let normalized = match country {
        "CA" | "GB" | "NL" if !t.contains(' ') && t.len() > 3 && t.is_ascii() => {
            // The inward part is the last three characters (CA, GB) or two letters (NL).
            let tail = if country == "NL" { 2 } else { 3 };
            let (a, b) = t.split_at(t.len() - tail);
            format!("{a} {b}")
        }
        _ => t,
    };
    let normalized = normalized.split_whitespace().collect::<Vec<_>>().join(" ");
    if re.is_match(&normalized) {
        Ok(normalized)
    } else {
        Err(format!(
            "is not a valid postal code for {country} (e.g. {example})"
        ))
    }
}

/// The shortest password of a customer login (the customer pools' policy).
pub const PASSWORD_MIN: usize = 8;

/// A password policy check: 8 to 128 characters with upper, lower, digit and special.
pub fn password(raw: &str) -> Parsed<()> {
    // The classes Cognito's password policy counts: ASCII letters and digits, and its
    // own list of special characters. A password that passes here passes there.
    const SPECIAL: &str = "^$*.[]{}()?-\"!@#%&/\\,><':;|_~`+=";
    let n = raw.chars().count();
    if raw.trim() != raw {
        // Cognito refuses these outright (its pattern is `^[\S]+.*[\S]+$`).
        return Err("must not begin or end with a space".into());
    }
    let ok = (PASSWORD_MIN..=128).contains(&n)
        && raw.chars().any(|c| c.is_ascii_uppercase())
        && raw.chars().any(|c| c.is_ascii_lowercase())
        && raw.chars().any(|c| c.is_ascii_digit())
        && raw.chars().any(|c| SPECIAL.contains(c));
    if ok {
        Ok(())
    } else {
        Err("must be 8 to 128 characters with an upper-case letter (A-Z), a lower-case letter (a-z), a digit and a special character such as ! @ # $ % ^ & * ? - _".into())
    }
}

/// The shortest staff password: staff manage every customer of their tenant.
pub const STAFF_PASSWORD_MIN: usize = 12;

/// A staff login's password: [`password`]'s classes, and at least
/// [`STAFF_PASSWORD_MIN`] characters (the staff pool's policy).
pub fn staff_password(raw: &str) -> Parsed<()> {
    match password(raw) {
        Ok(()) if raw.chars().count() >= STAFF_PASSWORD_MIN => Ok(()),
        Err(e) if raw.trim() != raw => Err(e),
        _ => Err("must be 12 to 128 characters with an upper-case letter (A-Z), a lower-case letter (a-z), a digit and a special character such as ! @ # $ % ^ & * ? - _".into()),
    }
}

/// A postal address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

/// A person to reach about an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_need_a_country_code() {
        assert_eq!(phone("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert!(phone("415 555 0100").is_err());
        assert!(phone("+0123456789").is_err());
    }

    #[test]
    fn postal_codes_are_checked_for_known_countries_only() {
        assert_eq!(postal_code("1012ab", Some("NL")).unwrap(), "1012 AB");
        assert!(postal_code("ABCDE", Some("US")).is_err());
        assert!(postal_code("123", Some("DE")).is_err());
        assert_eq!(postal_code("sw1a1aa", Some("GB")).unwrap(), "SW1A 1AA");
        assert_eq!(postal_code("k1a0b1", Some("CA")).unwrap(), "K1A 0B1");
        assert_eq!(postal_code("ABC-99", Some("BR")).unwrap(), "ABC-99");
    }

    #[test]
    fn passwords_follow_the_policy() {
        assert!(password("Sup3r$ecret").is_ok());
        assert!(password("short1!").is_err());
        assert!(password(" Sup3r$ecret").is_err());
        assert!(password("Sup3r$ecret ").is_err());
        assert!(password("alllowercase1!").is_err());
        assert!(password("NoDigits!!").is_err());
        assert!(password("NoSpecial12").is_err());
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(email(" Ana@Example.COM ").unwrap(), "ana@example.com");
        assert!(email("ana@localhost").is_err());
        assert!(email("not an email").is_err());
        assert_eq!(email_key("Zoë@example.com"), "zoe@example.com");
    }
}

#[cfg(test)]
mod origin_tests {
    use super::origin;

    #[test]
    fn an_origin_is_a_scheme_a_plain_host_and_a_port_only() {
        assert_eq!(
            origin("https://App.Example.com/").as_deref(),
            Ok("https://app.example.com")
        );
        assert_eq!(
            origin("https://app.example.com:8443").as_deref(),
            Ok("https://app.example.com:8443")
        );
        assert_eq!(
            origin("http://localhost:5173").as_deref(),
            Ok("http://localhost:5173")
        );
        for bad in [
            "https://*",
            "https://*.example.com",
            "http://app.example.com",
            "https://app.example.com/path",
            "https://u:p@app.example.com",
            "https://app.example.com?x=1",
            "https://app_x.example.com",
            "javascript:alert(1)",
        ] {
            assert!(origin(bad).is_err(), "{bad} taken as an origin");
        }
    }
}
