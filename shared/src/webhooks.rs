//! Standard Webhooks signatures, both ways: inbound provisioning requests are verified
//! with them and outbound events are signed with them.
//!
//! The scheme: the headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`; an HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed with the
//! secret's bytes (`whsec_` followed by their base64); signatures written `v1,<base64>`,
//! several separated by spaces (a rotation signs with the old and the new secret at
//! once); a timestamp more than five minutes from now, either way, is refused.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The headers of the scheme.
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a timestamp may be from now, either way: the reference libraries' five minutes.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;
/// A secret's text begins with this.
pub const SECRET_PREFIX: &str = "whsec_";
/// A new secret's length in bytes (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;
/// The longest `webhook-id` and `webhook-signature` header read; longer is refused
/// before any HMAC is computed.
const MAX_ID_LEN: usize = 256;
const MAX_SIGNATURE_HEADER_LEN: usize = 2048;

/// Base64 that takes a secret with or without its padding, as the reference libraries do.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signing secret. Its bytes never appear in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::fill(&mut bytes[..]);
        Self(bytes)
    }

    /// A secret from its text: `whsec_` and base64 (the prefix may be left out, as the
    /// reference libraries allow), 24 to 64 bytes once decoded.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let b64 = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = LENIENT
            .decode(b64)
            .map_err(|_| "must be whsec_ followed by base64")?;
        if !(24..=64).contains(&bytes.len()) {
            return Err("must hold 24 to 64 bytes");
        }
        Ok(Self(bytes))
    }

    /// Its text, `whsec_...`: shown once to its owner, then kept sealed.
    pub fn expose_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// Its raw bytes, to seal them.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// From bytes unsealed from the vault.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The signature of one message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }
}

/// The `webhook-signature` header for a message signed with each of `secrets` (during
/// a rotation, the new and the old).
pub fn signature_header(
    secrets: &[SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a request's signature was refused; each names the header to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error(
        "the webhook-timestamp is more than five minutes old; send the request again, signed now"
    )]
    Stale,
    #[error("the webhook-timestamp is more than five minutes ahead; check the sender's clock")]
    Future,
    #[error("no signature in webhook-signature matches the body with the endpoint's secret")]
    NoMatch,
}

impl VerifyError {
    /// The header the error is about.
    pub fn header(&self) -> &'static str {
        match self {
            Self::Missing(h) | Self::Malformed(h) => h,
            Self::Stale | Self::Future => TIMESTAMP_HEADER,
            Self::NoMatch => SIGNATURE_HEADER,
        }
    }
}

/// A message's headers as received (`None`: absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct Signed<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks a message against the endpoint's secrets (the current one, and during a
/// rotation the previous one): the headers are there and well formed, the timestamp is
/// within the tolerance of `now` (Unix seconds), and one `v1` signature matches under one
/// secret. Comparisons take the same time whatever the bytes. Answers the message id.
pub fn verify<'a>(
    secrets: &[SigningSecret],
    signed: Signed<'a>,
    body: &[u8],
    now: i64,
) -> Result<&'a str, VerifyError> {
    let id = signed.id.ok_or(VerifyError::Missing(ID_HEADER))?;
    if id.is_empty() || id.len() > MAX_ID_LEN || id.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(VerifyError::Malformed(ID_HEADER));
    }
    let ts_text = signed
        .timestamp
        .ok_or(VerifyError::Missing(TIMESTAMP_HEADER))?;
    let timestamp: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed(TIMESTAMP_HEADER))?;
    if timestamp < now - TOLERANCE_SECONDS {
        return Err(VerifyError::Stale);
    }
    if timestamp > now + TOLERANCE_SECONDS {
        return Err(VerifyError::Future);
    }
    let header = signed
        .signature
        .ok_or(VerifyError::Missing(SIGNATURE_HEADER))?;
    if header.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(VerifyError::Malformed(SIGNATURE_HEADER));
    }
    let given: Vec<Vec<u8>> = header
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, b64)| STANDARD.decode(b64).ok())
        .collect();
    if given.is_empty() {
        return Err(VerifyError::Malformed(SIGNATURE_HEADER));
    }
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let expected = secret.mac(id, timestamp, body);
        for g in &given {
            matched |= expected.as_slice().ct_eq(g.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(id)
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn signed<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> Signed<'a> {
        Signed {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn the_specifications_test_vector_signs_and_verifies() {
        let secret = SigningSecret::parse(VECTOR_SECRET).unwrap();
        assert_eq!(
            secret.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY),
            VECTOR_SIGNATURE
        );
        let ts = VECTOR_TS.to_string();
        assert_eq!(
            verify(
                &[secret],
                signed(VECTOR_ID, &ts, VECTOR_SIGNATURE),
                VECTOR_BODY,
                VECTOR_TS
            ),
            Ok(VECTOR_ID)
        );
    }

    #[test]
    fn a_changed_body_id_or_timestamp_does_not_verify() {
        let secret = SigningSecret::parse(VECTOR_SECRET).unwrap();
        let s = std::slice::from_ref(&secret);
        let ts = VECTOR_TS.to_string();
        let at = VECTOR_TS;
        let no = Err(VerifyError::NoMatch);
        assert_eq!(
            verify(
                s,
                signed(VECTOR_ID, &ts, VECTOR_SIGNATURE),
                br#"{"test": 2432232315}"#,
                at
            ),
            no
        );
        assert_eq!(
            verify(
                s,
                signed("msg_other", &ts, VECTOR_SIGNATURE),
                VECTOR_BODY,
                at
            ),
            no
        );
        let later = (VECTOR_TS + 1).to_string();
        assert_eq!(
            verify(
                s,
                signed(VECTOR_ID, &later, VECTOR_SIGNATURE),
                VECTOR_BODY,
                at
            ),
            no
        );
        let other = SigningSecret::generate();
        assert_eq!(
            verify(
                &[other],
                signed(VECTOR_ID, &ts, VECTOR_SIGNATURE),
                VECTOR_BODY,
                at
            ),
            no
        );
    }

    #[test]
    fn the_timestamp_must_be_within_five_minutes_either_way() {
        let secret = SigningSecret::generate();
        let s = std::slice::from_ref(&secret);
        let now = 1_800_000_000;
        for (ts, want) in [
            (now - 300, Ok("msg_1")),
            (now + 300, Ok("msg_1")),
            (now - 301, Err(VerifyError::Stale)),
            (now + 301, Err(VerifyError::Future)),
        ] {
            let sig = secret.sign("msg_1", ts, b"{}");
            assert_eq!(
                verify(s, signed("msg_1", &ts.to_string(), &sig), b"{}", now),
                want,
                "{ts}"
            );
        }
    }

    #[test]
    fn a_rotation_verifies_under_either_secret_and_signs_with_both() {
        let (old, new) = (SigningSecret::generate(), SigningSecret::generate());
        let header = signature_header(&[new.clone(), old.clone()], "msg_r", 100, b"x");
        assert_eq!(header.split(' ').count(), 2);
        // A receiver that knows only one of them accepts the message.
        for one in [&old, &new] {
            assert_eq!(
                verify(
                    std::slice::from_ref(one),
                    signed("msg_r", "100", &header),
                    b"x",
                    100
                ),
                Ok("msg_r")
            );
        }
        // A sender still on the old secret passes an endpoint that keeps both.
        let by_old = old.sign("msg_r", 100, b"x");
        assert_eq!(
            verify(&[new, old], signed("msg_r", "100", &by_old), b"x", 100),
            Ok("msg_r")
        );
    }

    #[test]
    fn missing_or_malformed_headers_say_which() {
        let secret = SigningSecret::generate();
        let s = std::slice::from_ref(&secret);
        let ok = secret.sign("msg_1", 100, b"");
        let none = Signed::default();
        assert_eq!(
            verify(s, none, b"", 100),
            Err(VerifyError::Missing(ID_HEADER))
        );
        let no_ts = Signed {
            id: Some("msg_1"),
            ..none
        };
        assert_eq!(
            verify(s, no_ts, b"", 100),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
        let no_sig = Signed {
            id: Some("msg_1"),
            timestamp: Some("100"),
            signature: None,
        };
        assert_eq!(
            verify(s, no_sig, b"", 100),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(s, signed("msg_1", "soon", &ok), b"", 100),
            Err(VerifyError::Malformed(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify(s, signed("bad id", "100", &ok), b"", 100),
            Err(VerifyError::Malformed(ID_HEADER))
        );
        // Only v1 entries count; other versions and broken base64 are skipped.
        for header in ["v2,abc", "v1,@@@", "v1", ""] {
            assert_eq!(
                verify(s, signed("msg_1", "100", header), b"", 100),
                Err(VerifyError::Malformed(SIGNATURE_HEADER)),
                "{header:?}"
            );
        }
        let mixed = format!("v1a,xyz {ok}");
        assert_eq!(
            verify(s, signed("msg_1", "100", &mixed), b"", 100),
            Ok("msg_1")
        );
        let long = "v1,".to_owned() + &"A".repeat(MAX_SIGNATURE_HEADER_LEN);
        assert_eq!(
            verify(s, signed("msg_1", "100", &long), b"", 100),
            Err(VerifyError::Malformed(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn a_secret_reads_back_from_its_text_with_or_without_prefix_and_padding() {
        let s = SigningSecret::generate();
        let text = s.expose_text();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text).unwrap(), s);
        assert_eq!(SigningSecret::parse(&text["whsec_".len()..]).unwrap(), s);
        assert_eq!(SigningSecret::parse(text.trim_end_matches('=')).unwrap(), s);
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err(), "too short");
        assert!(SigningSecret::parse("whsec_not base64!").is_err());
        assert_eq!(format!("{s:?}"), "SigningSecret(..)");
    }
}
