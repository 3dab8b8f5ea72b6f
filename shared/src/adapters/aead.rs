//! AES-256-GCM with a fresh random 96-bit nonce per message: the cipher both vaults use
//! (under the local key, or under a KMS data key), with the vault context as associated
//! data.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ports::{Sealed, VaultContext, VaultError};

/// `secret` sealed under `key` for `context`, recorded as `scheme` with `key_ref` (what
/// finds the key again: the local key's fingerprint, or the wrapped data key).
pub fn seal(
    scheme: &str,
    key_ref: String,
    key: &[u8; 32],
    context: &VaultContext<'_>,
    secret: &[u8],
) -> Result<Sealed, VaultError> {
    let mut nonce = [0u8; 12];
    rand::fill(&mut nonce);
    let aad = context.associated_data();
    let ct = Aes256Gcm::new(key.into())
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Unavailable(anyhow::anyhow!("AES-GCM refused to encrypt")))?;
    Ok(Sealed {
        scheme: scheme.into(),
        key: key_ref,
        nonce: STANDARD.encode(nonce),
        ciphertext: STANDARD.encode(ct),
    })
}

/// The secret, or `Refused` when the key, the context or the bytes differ.
pub fn open(
    key: &[u8; 32],
    context: &VaultContext<'_>,
    sealed: &Sealed,
) -> Result<Vec<u8>, VaultError> {
    let nonce = STANDARD
        .decode(&sealed.nonce)
        .map_err(|_| VaultError::Refused)?;
    let ct = STANDARD
        .decode(&sealed.ciphertext)
        .map_err(|_| VaultError::Refused)?;
    if nonce.len() != 12 {
        return Err(VaultError::Refused);
    }
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: &context.associated_data(),
            },
        )
        .map_err(|_| VaultError::Refused)
}
