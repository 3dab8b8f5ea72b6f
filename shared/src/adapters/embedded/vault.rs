//! The local vault: AES-256-GCM under one key kept in a file of the data folder
//! (`vault.key`, 32 random bytes, mode 0600, made on first use). Losing the file loses
//! every sealed secret; a key file anyone else may read is refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::adapters::aead;
use crate::ports::{Sealed, Vault, VaultContext, VaultError};

const SCHEME: &str = "local-aes256gcm-v1";

pub struct FileVault {
    key: [u8; 32],
    /// The key's fingerprint, stored with each secret: a secret sealed under another key
    /// file is refused as such rather than failing to decrypt.
    fingerprint: String,
}

impl std::fmt::Debug for FileVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileVault")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl FileVault {
    /// The vault of the key file at `path`, made (mode 0600) if it does not exist.
    pub fn open(path: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let key = match std::fs::read(&path) {
            Ok(bytes) => {
                check_private(&path)?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    anyhow::anyhow!("{} is not a vault key (32 bytes)", path.display())
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path)?,
            Err(e) => return Err(e.into()),
        };
        let fingerprint = hex::encode(&Sha256::digest(key)[..8]);
        Ok(Self { key, fingerprint })
    }
}

/// Makes the key file whole or not at all: the key is written to a private file of its
/// own, then linked into place, so no process ever reads a half-written key. Another
/// process that linked its key first wins, and that key is used.
fn create(path: &Path) -> anyhow::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(&key)?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            check_private(path)?;
            let bytes = std::fs::read(path)?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| anyhow::anyhow!("{} is not a vault key (32 bytes)", path.display()))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "{} may be read by others (mode {:o}); make it 0600",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[async_trait]
impl Vault for FileVault {
    async fn seal(&self, context: &VaultContext<'_>, secret: &[u8]) -> Result<Sealed, VaultError> {
        aead::seal(SCHEME, self.fingerprint.clone(), &self.key, context, secret)
    }

    async fn open(
        &self,
        context: &VaultContext<'_>,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, VaultError> {
        if sealed.scheme != SCHEME || sealed.key != self.fingerprint {
            return Err(VaultError::Refused);
        }
        aead::open(&self.key, context, sealed)
    }
}
