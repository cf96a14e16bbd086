use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::{BlobError, BlobKey, BlobResult};

#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    pub async fn open(root: impl AsRef<Path>) -> BlobResult<Self> {
        let root = root.as_ref().to_path_buf();
        tokio::fs::create_dir_all(&root).await?;
        Ok(Self { root })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    /// Write to a temporary file beside the target, fsync, then rename: a reader sees
    /// the whole object or none of it, even if the process dies mid-write.
    pub async fn put(&self, key: &BlobKey, bytes: Bytes) -> BlobResult<()> {
        let path = self.path(key);
        let dir = path.parent().expect("keys have a parent").to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            file.write_all(&bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, &path).await?;
            // The rename itself is durable only once the directory is synced.
            tokio::fs::File::open(&dir).await?.sync_all().await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(result?)
    }

    pub async fn get(&self, key: &BlobKey) -> BlobResult<Bytes> {
        match tokio::fs::read(self.path(key)).await {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BlobError::NotFound(key.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exists(&self, key: &BlobKey) -> BlobResult<bool> {
        Ok(tokio::fs::try_exists(self.path(key)).await?)
    }

    pub async fn health_check(&self) -> BlobResult<()> {
        let probe = self.root.join(format!(".health-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }
}
