//! The laptop's document store: each document is a file under the data folder's
//! `documents/`, at its key's path, written to a temporary file and moved in place.

use std::path::PathBuf;

use anyhow::Context;
use async_trait::async_trait;

use crate::ports::{DocumentError, Documents, check_document_key};

pub struct FileDocuments {
    root: PathBuf,
}

impl FileDocuments {
    /// Documents land under `root`, created when missing.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, DocumentError> {
        check_document_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl Documents for FileDocuments {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), DocumentError> {
        let path = self.path(key)?;
        let write = async {
            let dir = path.parent().context("a document's folder")?;
            tokio::fs::create_dir_all(dir)
                .await
                .context("making the document's folder")?;
            let name = path
                .file_name()
                .context("a document's file name")?
                .to_string_lossy();
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            tokio::fs::write(&tmp, &bytes)
                .await
                .context("writing the document")?;
            tokio::fs::rename(&tmp, &path)
                .await
                .context("moving the document in place")
        };
        write.await.map_err(DocumentError::Unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, DocumentError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DocumentError::Unavailable(e.into())),
        }
    }
}
