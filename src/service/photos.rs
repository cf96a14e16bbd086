//! Photos from upload to storage. Each photo is processed as it arrives (the original is only
//! ever in memory) and its three clean renditions are written at once; if the request fails
//! later, [`PhotoBatch::discard`] deletes what it wrote, so no orphan objects remain.

use bytes::Bytes;

use super::{ServiceError, ServiceResult};
use crate::blob::BlobKey;
use crate::db::blob_intents;
use crate::db::cases::StoredObject;
use crate::domain::{CaseId, PhotoSize};
use crate::imaging::{self, Processed};
use crate::service::AppState;

/// Most photos one case or response may carry (three views of a few lesions).
pub const MAX_PHOTOS: usize = 12;

pub use crate::domain::PhotoKind;

#[derive(Debug, Clone)]
pub struct ReadyPhoto {
    pub id: String,
    pub kind: Option<PhotoKind>,
    pub body_site: Option<String>,
    pub warnings: Vec<&'static str>,
    pub captured_at_ms: Option<i64>,
    pub objects: Vec<StoredObject>,
}

pub struct PhotoBatch {
    state: AppState,
    case_id: String,
    written: Vec<BlobKey>,
    pub photos: Vec<ReadyPhoto>,
}

impl PhotoBatch {
    pub fn new(state: &AppState, case_id: &CaseId) -> Self {
        Self {
            state: state.clone(),
            case_id: case_id.to_string(),
            written: Vec::new(),
            photos: Vec::new(),
        }
    }

    /// Processes one upload off the async runtime (bounded by the CPU permits) and stores it.
    pub async fn add(&mut self, original: Vec<u8>) -> ServiceResult<&mut ReadyPhoto> {
        let number = self.photos.len() + 1;
        if number > MAX_PHOTOS {
            return Err(ServiceError::TooManyPhotos(format!(
                "A case can carry at most {MAX_PHOTOS} photos."
            )));
        }
        let processed = process(&self.state, original)
            .await?
            .map_err(|source| ServiceError::Image { number, source })?;
        let photo_id = crate::db::new_id();
        let mut objects = Vec::with_capacity(3);
        let Processed {
            full,
            display,
            thumb,
            warnings,
            captured_at,
            ..
        } = processed;
        for (size, r) in [
            (PhotoSize::Full, full),
            (PhotoSize::Display, display),
            (PhotoSize::Thumb, thumb),
        ] {
            let ext = if r.content_type == "image/png" {
                "png"
            } else {
                "jpg"
            };
            let key = BlobKey::new(format!(
                "cases/{}/{photo_id}/{}.{ext}",
                self.case_id,
                size.as_str()
            ))?;
            let byte_size = r.bytes.len();
            // Record before writing, so a write that fails half-way, or a process that dies,
            // still leaves a trace for the sweep to clean up.
            blob_intents::record(&self.state.db, key.as_str(), self.state.now_ms()).await?;
            self.written.push(key.clone());
            self.state
                .blobs
                .put(&key, Bytes::from(r.bytes), r.content_type)
                .await?;
            objects.push(StoredObject {
                size,
                key: key.as_str().to_string(),
                content_type: r.content_type.to_string(),
                width: r.width,
                height: r.height,
                byte_size,
                sha256: r.sha256,
            });
        }
        self.photos.push(ReadyPhoto {
            id: photo_id,
            kind: None,
            body_site: None,
            warnings: warnings.iter().map(|w| w.code()).collect(),
            captured_at_ms: captured_at.map(|t| {
                let t = t.assume_utc();
                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
            }),
            objects,
        });
        Ok(self.photos.last_mut().expect("just pushed"))
    }

    pub fn last_mut(&mut self) -> Option<&mut ReadyPhoto> {
        self.photos.last_mut()
    }

    /// The objects now belong to a case: call inside the transaction that records them.
    pub async fn settle(&self, tx: &mut crate::db::Tx<'_>) -> ServiceResult<()> {
        for key in &self.written {
            blob_intents::settle(tx, key.as_str()).await?;
        }
        Ok(())
    }

    /// Deletes everything this batch wrote (the request failed or was a duplicate). What cannot
    /// be deleted now (store or database down) is left to the sweep in [`sweep_orphans`].
    pub async fn discard(self) {
        for key in &self.written {
            match self.state.blobs.delete(key).await {
                Ok(()) => {
                    if let Err(e) = blob_intents::forget(&self.state.db, key.as_str()).await {
                        tracing::warn!(key = %key, error = %e, "orphan deleted; its record stays for the sweep");
                    }
                }
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "could not delete an orphan photo object yet; the sweep will")
                }
            }
        }
    }
}

/// Deletes objects whose request never committed them (failed, or the process died).
/// Safe on several instances at once: deleting twice is harmless.
pub async fn sweep_orphans(state: &AppState) -> ServiceResult<usize> {
    let mut swept = 0;
    for key in blob_intents::expired(&state.db, state.now_ms(), 500).await? {
        let blob_key = BlobKey::new(key.clone())?;
        state.blobs.delete(&blob_key).await?;
        blob_intents::forget(&state.db, &key).await?;
        swept += 1;
    }
    Ok(swept)
}

async fn process(
    state: &AppState,
    original: Vec<u8>,
) -> ServiceResult<Result<Processed, imaging::ImageError>> {
    Ok(state.process_photo(original).await?)
}
