//! The laptop's token issuer: RS256 JWTs shaped like Cognito's, signed with a key kept in
//! the data directory (created on first use, readable by its owner only), and the JWKS
//! that verifies them. One key serves every local pool: each pool's issuer is the base
//! issuer or a path under it (`<base>/<pool>`). `service::tokens::Verifier` verifies these exactly as it verifies
//! Cognito's.

use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use sha2::{Digest, Sha256};

use crate::service::tokens::{Claims, JwksSource};

const KEY_FILE: &str = "jwt-signing-key.pem";
const KEY_BITS: usize = 2048;

pub struct LocalIssuer {
    iss: String,
    kid: String,
    key: EncodingKey,
    jwks: JwkSet,
}

impl LocalIssuer {
    /// The issuer `iss`, with its signing key in `dir` (generated there when missing).
    pub fn open(dir: impl AsRef<Path>, iss: impl Into<String>) -> anyhow::Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(KEY_FILE);
        let private = match std::fs::read_to_string(&path) {
            Ok(pem) => RsaPrivateKey::from_pkcs1_pem(&pem)
                .with_context(|| format!("{} is not an RSA private key", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(&path)?,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let der = private.to_pkcs1_der().context("encoding the signing key")?;
        let key = EncodingKey::from_rsa_der(der.as_bytes());
        let public = private
            .to_public_key()
            .to_pkcs1_der()
            .context("encoding the public key")?;
        // The key id names the key: the start of its public key's SHA-256.
        let kid = hex::encode(&Sha256::digest(public.as_bytes())[..8]);
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256)
            .context("the signing key's public JWK")?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Ok(Self {
            iss: iss.into(),
            kid,
            key,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// The public keys, as `/.well-known/jwks.json` serves them.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Whether `iss` is this issuer or one of its pools.
    pub fn covers(&self, iss: &str) -> bool {
        iss == self.iss
            || iss
                .strip_prefix(self.iss.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Signs `claims` (their `iss` must be this issuer's or one of its pools').
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        anyhow::ensure!(self.covers(&claims.iss), "claims of another issuer");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).context("signing a token")
    }
}

fn generate(path: &PathBuf) -> anyhow::Result<RsaPrivateKey> {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
        .context("generating the signing key")?;
    let pem = private
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .context("encoding the signing key")?;
    let tmp = path.with_extension("pem.tmp");
    write_private(&tmp, pem.as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("moving {} in place", path.display()))?;
    Ok(private)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[async_trait]
impl JwksSource for LocalIssuer {
    async fn jwks(&self, iss: &str) -> Result<JwkSet, anyhow::Error> {
        anyhow::ensure!(self.covers(iss), "not this issuer: {iss}");
        Ok(self.jwks.clone())
    }
}
