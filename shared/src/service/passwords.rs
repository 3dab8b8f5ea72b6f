//! Password hashing: argon2id with a random salt, off the async threads (slow on purpose).

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHasher};

use crate::error::Error;

/// The PHC string of `password`.
pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let mut salt_bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt_bytes);
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await
    .context("the password hashing task failed")?
    .map_err(Error::Unexpected)
}

/// A hash of no password anyone has: verifying against it costs what a real check
/// costs, so an unknown user takes as long to refuse as a wrong password.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$X3l0lcjOK0bX3oUjiv0yLi5QRCh8tBqCkFQsKBnX4xs";

/// Whether `password` matches `phc` (argon2's comparison is constant-time). With no
/// hash, checks against a decoy and answers false.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let real = phc.is_some();
        let phc = phc.unwrap_or_else(|| DECOY.to_owned());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        real && Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_decoy_is_a_well_formed_argon2id_hash() {
        let parsed = argon2::password_hash::PasswordHash::new(super::DECOY).expect("parses");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
    }

    #[tokio::test]
    async fn verification_matches_only_the_hashed_password() {
        let phc = super::hash("Sup3r$ecret!".into()).await.expect("hash");
        assert!(super::verify("Sup3r$ecret!".into(), Some(phc.clone())).await);
        assert!(!super::verify("sup3r$ecret!".into(), Some(phc)).await);
        assert!(!super::verify("Sup3r$ecret!".into(), None).await);
        assert!(!super::verify("x".into(), Some("not a hash".into())).await);
    }
}
