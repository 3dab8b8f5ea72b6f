//! AES-256-GCM with a fresh random 96-bit nonce per message: the cipher both vaults use
//! (under the local key, or under a KMS data key).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ports::VaultError;

/// (nonce, ciphertext with its tag), both in base64.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<(String, String), VaultError> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::fill(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Unavailable(anyhow::anyhow!("AES-GCM refused to encrypt")))?;
    Ok((STANDARD.encode(nonce), STANDARD.encode(ct)))
}

/// The plaintext, or `Refused` when the key, the associated data or the bytes differ.
pub fn open(
    key: &[u8; 32],
    aad: &[u8],
    nonce: &str,
    ciphertext: &str,
) -> Result<Vec<u8>, VaultError> {
    let nonce = STANDARD.decode(nonce).map_err(|_| VaultError::Refused)?;
    let ct = STANDARD
        .decode(ciphertext)
        .map_err(|_| VaultError::Refused)?;
    if nonce.len() != 12 {
        return Err(VaultError::Refused);
    }
    Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad })
        .map_err(|_| VaultError::Refused)
}
