//! Request bodies: strict JSON parsing, merge patches, and a collector of field errors.

use crate::error::ProblemKind;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::fields::{self, Address, Contact, Parsed};
use crate::error::{Error, FieldError};

/// Parses a JSON body strictly: malformed JSON and unknown fields are 400; a value of
/// the wrong type is 422 naming its field. Messages never echo the offending value.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request(
            ProblemKind::MissingBody,
            "the request needs a JSON body",
        ));
    }
    // Every body is one object: not an array, a string or a number in its place.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::bad_request(
            ProblemKind::MalformedJson,
            "the body must be a JSON object ({...})",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut *de).map_err(json_error)?;
    // Nothing but whitespace may follow the object.
    de.end().map_err(|_| {
        Error::bad_request(
            ProblemKind::MalformedJson,
            "the body has data after its JSON object; send exactly one object",
        )
    })?;
    Ok(parsed)
}

/// Parses a JSON value (a merged patch) with the same rules as a body.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(json_error)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = e.inner();
    let message = strip_values(&inner.to_string());
    if !matches!(inner.classify(), serde_json::error::Category::Data) {
        return Error::bad_request(
            ProblemKind::MalformedJson,
            format!("the body is not valid JSON: {message}"),
        );
    }
    let field = if path == "." { None } else { Some(path) };
    if message.starts_with("unknown field") || message.starts_with("duplicate field") {
        let name = message.split('`').nth(1).unwrap_or_default().to_owned();
        let full = match (&field, name.is_empty()) {
            (Some(p), false) if p == &name || p.ends_with(&format!(".{name}")) => p.clone(),
            (Some(p), false) => format!("{p}.{name}"),
            (None, false) => name,
            (Some(p), true) => p.clone(),
            (None, true) => String::new(),
        };
        let kind = if message.starts_with("unknown") {
            ProblemKind::UnknownField
        } else {
            ProblemKind::DuplicateField
        };
        return Error::BadRequest {
            kind,
            detail: format!(
                "{}; remove it",
                message.split(", expected").next().unwrap_or(&message)
            ),
            field: Some(full),
        };
    }
    Error::Invalid(vec![FieldError::new(
        field.unwrap_or_else(|| "body".into()),
        message,
    )])
}

/// serde's messages quote the offending value between backticks or double quotes; drop those values so
/// no input (a password, say) is echoed back or logged.
fn strip_values(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    if msg.starts_with("unknown field") || msg.starts_with("duplicate field") {
        return msg.to_owned();
    }
    let mut out = String::with_capacity(msg.len());
    let mut inside: Option<char> = None;
    for c in msg.chars() {
        match (inside, c) {
            (None, '`' | '"') => inside = Some(c),
            (Some(open), _) if c == open => inside = None,
            (None, _) => out.push(c),
            _ => {}
        }
    }
    out.replace("  ", " ")
}

/// RFC 7396 JSON merge patch: `null` removes, objects merge, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            let t = target.as_object_mut().expect("just made an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Collects every field error of a body before answering, so one 422 lists them all.
#[derive(Default)]
pub struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &str, detail: impl Into<String>) {
        self.errors.push(FieldError::new(field, detail));
    }

    /// A required value: absent is an error, present is parsed.
    pub fn required<T>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<T> {
        match raw {
            None => {
                self.fail(field, "is required");
                None
            }
            Some(r) => self.check(field, parse(r)),
        }
    }

    /// An optional value: absent stays absent, present is parsed.
    pub fn optional<T>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<T> {
        raw.and_then(|r| self.check(field, parse(r)))
    }

    pub fn check<T>(&mut self, field: &str, parsed: Parsed<T>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(detail) => {
                self.fail(field, detail);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.errors))
        }
    }
}

pub fn name(raw: &str) -> Parsed<String> {
    fields::text(raw, 100)
}

/// A postal address as sent.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressDraft {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
}

impl AddressDraft {
    pub fn parse(&self, at: &str, country: Option<&str>, c: &mut Checks) -> Option<Address> {
        let line1 = c.required(&format!("{at}.line1"), self.line1.as_deref(), |s| {
            fields::text(s, 200)
        });
        let line2 = c.optional(&format!("{at}.line2"), self.line2.as_deref(), |s| {
            fields::text(s, 200)
        });
        let city = c.optional(&format!("{at}.city"), self.city.as_deref(), |s| {
            fields::text(s, 100)
        });
        let state = c.optional(&format!("{at}.state"), self.state.as_deref(), |s| {
            fields::text(s, 100)
        });
        let postal_code = c.optional(
            &format!("{at}.postal_code"),
            self.postal_code.as_deref(),
            |s| fields::postal_code(s, country),
        );
        Some(Address {
            line1: line1?,
            line2,
            city,
            state,
            postal_code,
        })
    }

    pub fn from_address(a: &Address) -> Self {
        Self {
            line1: Some(a.line1.clone()),
            line2: a.line2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
        }
    }
}

/// A contact as sent.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactDraft {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<AddressDraft>,
}

impl ContactDraft {
    pub fn parse(&self, at: &str, c: &mut Checks) -> Contact {
        Contact {
            name: c.optional(&format!("{at}.name"), self.name.as_deref(), name),
            phone: c.optional(&format!("{at}.phone"), self.phone.as_deref(), fields::phone),
            email: c.optional(&format!("{at}.email"), self.email.as_deref(), fields::email),
            address: self
                .address
                .as_ref()
                .and_then(|a| a.parse(&format!("{at}.address"), None, c)),
        }
    }

    pub fn from_contact(x: &Contact) -> Self {
        Self {
            name: x.name.clone(),
            phone: x.phone.clone(),
            email: x.email.clone(),
            address: x.address.as_ref().map(AddressDraft::from_address),
        }
    }
}

/// Serializes a stored value back into its draft form, for merge patches.
pub fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Serializes a secret as `null`: a draft that holds one (a password) is written back
/// (a merge patch's base) without it, and its field still shows in the API document.
pub fn never_shown<S: serde::Serializer>(
    _: &Option<secrecy::SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_none()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        name: Option<String>,
    }

    #[test]
    fn a_body_is_exactly_one_object() {
        assert!(super::parse_json::<Named>(br#" {"name": "k1"} "#).is_ok());
        for bad in [
            &br#"{"name":"k1"} {"name":"k2"}"#[..],
            br#"{"name":"k1"} junk"#,
            br#"["k2", "owner"]"#,
            br#""k2""#,
            b"42",
        ] {
            assert!(
                matches!(
                    super::parse_json::<Named>(bad),
                    Err(crate::Error::BadRequest {
                        kind: ProblemKind::MalformedJson,
                        ..
                    })
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
    }

    #[test]
    fn wrong_types_name_the_field_without_echoing_the_value() {
        let Err(Error::Invalid(errs)) = parse_json::<Body>(br#"{"name": 12345678}"#) else {
            panic!()
        };
        assert_eq!(errs[0].field, "name");
        assert!(!errs[0].detail.contains("12345678"), "{}", errs[0].detail);
    }

    #[test]
    fn a_string_in_the_wrong_place_is_not_echoed_either() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            admin: Option<Body>,
        }
        let Err(Error::Invalid(errs)) = parse_json::<Outer>(br#"{"admin": "Sup3r$ecret"}"#) else {
            panic!()
        };
        assert_eq!(errs[0].field, "admin");
        assert!(!errs[0].detail.contains("Sup3r"), "{}", errs[0].detail);
    }

    #[test]
    fn unknown_fields_and_bad_json_are_bad_requests() {
        assert!(matches!(
            parse_json::<Body>(br#"{"nam": "x"}"#),
            Err(Error::BadRequest {
                kind: ProblemKind::UnknownField,
                ..
            })
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"name": "#),
            Err(Error::BadRequest {
                kind: ProblemKind::MalformedJson,
                ..
            })
        ));
        assert!(matches!(
            parse_json::<Body>(b""),
            Err(Error::BadRequest {
                kind: ProblemKind::MissingBody,
                ..
            })
        ));
    }

    #[test]
    fn merge_patch_removes_nulls_and_merges_objects() {
        let mut t = serde_json::json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_patch(
            &mut t,
            &serde_json::json!({"a": {"b": null, "e": 5}, "d": 4}),
        );
        assert_eq!(t, serde_json::json!({"a": {"c": 2, "e": 5}, "d": 4}));
    }
}
