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
        let tmp = dir.join(format!("{}{}", temp_prefix(&path), uuid::Uuid::new_v4()));
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

    /// Also deletes what a writer of this key that died between creating its temporary file
    /// and renaming it left behind: the orphan sweep deletes a dead request's keys, and the
    /// photo bytes in such a file must go with them.
    pub async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        let path = self.path(key);
        ignore_not_found(tokio::fs::remove_file(&path).await)?;
        let dir = path.parent().expect("keys have a parent");
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let prefix = temp_prefix(&path);
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                ignore_not_found(tokio::fs::remove_file(entry.path()).await)?;
            }
        }
        Ok(())
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

/// Temporary files of a key are named after it, so that deleting the key finds them.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    format!(".tmp-{name}-")
}

fn ignore_not_found(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deleting_a_key_deletes_what_a_dead_writer_left_of_it_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).await.unwrap();
        let thumb = BlobKey::new("cases/c/p/thumb.jpg").unwrap();
        let display = BlobKey::new("cases/c/p/display.jpg").unwrap();
        store.put(&display, Bytes::from_static(b"d")).await.unwrap();
        // What a process killed mid-put leaves: the temporary file, never renamed.
        let left = dir
            .path()
            .join("cases/c/p")
            .join(format!(".tmp-thumb.jpg-{}", uuid::Uuid::new_v4()));
        std::fs::write(&left, b"patient photo bytes").unwrap();
        store.delete(&thumb).await.unwrap();
        assert!(
            !left.exists(),
            "the dead writer's temporary file is deleted"
        );
        assert!(store.exists(&display).await.unwrap(), "other keys stay");
        store.delete(&thumb).await.unwrap();
        store.delete(&display).await.unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cases/c/p"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
