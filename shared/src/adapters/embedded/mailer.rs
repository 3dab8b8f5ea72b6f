//! The laptop's mailer: every email becomes `<outbox id>.eml` in a folder, the same
//! bytes SES would send. Delivering the same email again rewrites the same file.

use std::path::PathBuf;

use anyhow::Context;
use async_trait::async_trait;

use crate::adapters::mime::to_mime;
use crate::ports::{Email, MailError, Mailer};

pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    /// Mail lands in `dir`, created when missing.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let bytes = to_mime(email)?;
        // Outbox ids are generated (`eml_` + hex), never user input; refuse anything
        // else rather than write outside the folder.
        if email.id.is_empty()
            || !email
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(MailError::Rejected(anyhow::anyhow!(
                "not an outbox id: {:?}",
                email.id
            )));
        }
        let path = self.dir.join(format!("{}.eml", email.id));
        let tmp = self.dir.join(format!(".{}.eml.tmp", email.id));
        let write = async {
            tokio::fs::write(&tmp, &bytes)
                .await
                .context("writing the .eml file")?;
            tokio::fs::rename(&tmp, &path)
                .await
                .context("moving the .eml file in place")
        };
        write.await.map_err(MailError::Unavailable)
    }
}
