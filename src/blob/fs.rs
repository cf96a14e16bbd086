use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::{BlobError, BlobKey, BlobResult};
use crate::private_files;

#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Photos are patient data: the folder is 700 and every object 600 (`private_files`).
    pub async fn open(root: impl AsRef<Path>) -> BlobResult<Self> {
        let root = root.as_ref().to_path_buf();
        let dir = root.clone();
        tokio::task::spawn_blocking(move || private_files::own_dir(&dir))
            .await
            .map_err(std::io::Error::other)??;
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
        let create = dir.clone();
        tokio::task::spawn_blocking(move || private_files::create_dir_all(&create))
            .await
            .map_err(std::io::Error::other)??;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let result = async {
            let mut file = private_files::new_file_options().open(&tmp).await?;
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

    pub async fn read_stream(&self, key: &BlobKey) -> BlobResult<super::BlobStream> {
        let file = match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(key.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        let length = file.metadata().await?.len();
        Ok(super::BlobStream {
            length: Some(length),
            chunks: Box::pin(tokio_util::io::ReaderStream::new(file)),
        })
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
        private_files::new_file_options()
            .open(&probe)
            .await?
            .write_all(b"ok")
            .await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }
}
