//! Object storage for photos: a local folder (one machine) or S3-compatible (a region).
//! The interface is deliberately narrow; keys are made by the service, never from client input.

mod fs;
mod s3;

use bytes::Bytes;

pub use fs::FsStore;
pub use s3::S3Store;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no object at {0}")]
    NotFound(String),
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    #[error("storage configuration: {0}")]
    Config(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type BlobResult<T> = Result<T, BlobError>;

/// A validated object key: lowercase ASCII letters, digits and `/_.-`, no empty or dot segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn new(key: impl Into<String>) -> BlobResult<Self> {
        let key = key.into();
        let chars_ok = key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/_.-".contains(&b));
        let segments_ok = key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.starts_with('.'));
        if key.is_empty() || key.len() > 512 || !chars_ok || !segments_ok {
            return Err(BlobError::InvalidKey(key));
        }
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub enum BlobStore {
    Fs(FsStore),
    S3(S3Store),
}

impl BlobStore {
    /// `file:///abs/path` or `s3://bucket[/prefix]` (contract.md).
    pub async fn from_url(url: &str, force_path_style: bool) -> BlobResult<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(BlobError::Config(format!(
                    "a file storage URL needs an absolute path (file:///…), got {url}"
                )));
            }
            Ok(Self::Fs(FsStore::open(path).await?))
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = split_bucket(rest, url)?;
            Ok(Self::S3(
                S3Store::from_env(bucket, prefix, force_path_style).await,
            ))
        } else {
            Err(BlobError::Config(format!(
                "AGHUB_STORAGE_URL must start with file:// or s3://, got {url}"
            )))
        }
    }

    /// The store the settings name; `AGHUB_S3_ENDPOINT` overrides the SDK's endpoint.
    pub async fn from_settings(settings: &crate::config::Settings) -> BlobResult<Self> {
        let url = settings.storage_url();
        match (&settings.s3_endpoint, url.strip_prefix("s3://")) {
            (Some(endpoint), Some(rest)) => {
                let (bucket, prefix) = split_bucket(rest, &url)?;
                Ok(Self::S3(
                    S3Store::with_endpoint(endpoint, bucket, prefix, settings.s3_force_path_style)
                        .await,
                ))
            }
            _ => Self::from_url(&url, settings.s3_force_path_style).await,
        }
    }

    pub async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> BlobResult<()> {
        match self {
            Self::Fs(s) => s.put(key, bytes).await,
            Self::S3(s) => s.put(key, bytes, content_type).await,
        }
    }

    pub async fn get(&self, key: &BlobKey) -> BlobResult<Bytes> {
        match self {
            Self::Fs(s) => s.get(key).await,
            Self::S3(s) => s.get(key).await,
        }
    }

    /// The object as a stream of chunks, for serving: a photo is never held whole in memory.
    pub async fn read_stream(&self, key: &BlobKey) -> BlobResult<BlobStream> {
        match self {
            Self::Fs(s) => s.read_stream(key).await,
            Self::S3(s) => s.read_stream(key).await,
        }
    }

    /// Deleting what is not there is not an error (cleanup may run twice).
    pub async fn delete(&self, key: &BlobKey) -> BlobResult<()> {
        match self {
            Self::Fs(s) => s.delete(key).await,
            Self::S3(s) => s.delete(key).await,
        }
    }

    pub async fn exists(&self, key: &BlobKey) -> BlobResult<bool> {
        match self {
            Self::Fs(s) => s.exists(key).await,
            Self::S3(s) => s.exists(key).await,
        }
    }

    /// Can we reach the store and write to it right now? (readiness)
    pub async fn health_check(&self) -> BlobResult<()> {
        match self {
            Self::Fs(s) => s.health_check().await,
            Self::S3(s) => s.health_check().await,
        }
    }
}

/// An object being read: its length when the store knows it, and its bytes as they arrive.
pub struct BlobStream {
    pub length: Option<u64>,
    pub chunks:
        std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static>>,
}

fn split_bucket<'a>(rest: &'a str, url: &str) -> BlobResult<(&'a str, &'a str)> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(BlobError::Config(format!("no bucket in {url}")));
    }
    Ok((bucket, prefix))
}

#[cfg(test)]
mod tests {
    use super::BlobKey;

    #[test]
    fn keys_refuse_path_tricks() {
        assert!(BlobKey::new("cases/0190/photo/full.jpg").is_ok());
        for bad in [
            "",
            "../etc/passwd",
            "a/../b",
            "/abs",
            "a//b",
            "A/b",
            "a/.hidden",
            "a\\b",
            "a/b/",
            "caf\u{e9}",
        ] {
            assert!(BlobKey::new(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
