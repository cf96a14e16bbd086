//! Photos from upload to storage. Each photo is processed as it arrives (the original is only
//! ever in memory) and its three clean renditions are written at once; if the request fails
//! later, [`PhotoBatch::discard`] deletes what it wrote, so no orphan objects remain.

use bytes::Bytes;

use super::{FieldError, ServiceError, ServiceResult};
use crate::blob::BlobKey;
use crate::db::cases::StoredObject;
use crate::db::{audit, blob_intents, staged_photos};
use crate::domain::access::Principal;
use crate::domain::{CaseId, PhotoSize};
use crate::imaging::{self, Processed};
use crate::service::AppState;

/// Most photos one case or response may carry (three views of a few lesions).
pub const MAX_PHOTOS: usize = 12;

pub use crate::domain::PhotoKind;

#[derive(Debug, Clone)]
pub struct ReadyPhoto {
    pub id: String,
    /// Set for a photo uploaded ahead ([`stage`]): its objects come from staging.
    pub staged_id: Option<String>,
    pub kind: Option<PhotoKind>,
    pub body_site: Option<String>,
    pub warnings: Vec<&'static str>,
    pub captured_at_ms: Option<i64>,
    pub objects: Vec<StoredObject>,
}

/// A staged photo a form refers to, with the view and body site the GP gave it.
#[derive(Debug, Clone)]
pub struct StagedChoice {
    pub id: String,
    pub kind: Option<PhotoKind>,
    pub body_site: Option<String>,
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
        self.check_room()?;
        let processed =
            process(&self.state, original)
                .await?
                .map_err(|source| ServiceError::Image {
                    number: Some(number),
                    source,
                })?;
        let photo_id = crate::db::new_id();
        let prefix = format!("cases/{}/{photo_id}", self.case_id);
        let expires = self.state.now_ms() + blob_intents::GRACE_MS;
        let stored = store(&self.state, &prefix, processed, expires, &mut self.written).await?;
        self.photos.push(ReadyPhoto {
            id: photo_id,
            staged_id: None,
            kind: None,
            body_site: None,
            warnings: stored.warnings,
            captured_at_ms: stored.captured_at_ms,
            objects: stored.objects,
        });
        Ok(self.photos.last_mut().expect("just pushed"))
    }

    /// A photo the GP uploaded earlier ([`stage`]): taken from staging when the case or response
    /// is recorded (see [`take_staged`]).
    pub fn add_staged(&mut self, staged_id: &str) -> ServiceResult<&mut ReadyPhoto> {
        self.check_room()?;
        self.photos.push(ReadyPhoto {
            id: crate::db::new_id(),
            staged_id: Some(staged_id.to_string()),
            kind: None,
            body_site: None,
            warnings: Vec::new(),
            captured_at_ms: None,
            objects: Vec::new(),
        });
        Ok(self.photos.last_mut().expect("just pushed"))
    }

    fn check_room(&self) -> ServiceResult<()> {
        if self.photos.len() >= MAX_PHOTOS {
            return Err(ServiceError::TooManyPhotos(format!(
                "A case can carry at most {MAX_PHOTOS} photos."
            )));
        }
        Ok(())
    }

    /// The staged photos this batch refers to, with what the GP said of each: to show the form
    /// again after a refusal without losing them.
    pub fn staged(&self) -> Vec<StagedChoice> {
        self.photos
            .iter()
            .filter_map(|p| {
                p.staged_id.as_ref().map(|id| StagedChoice {
                    id: id.clone(),
                    kind: p.kind,
                    body_site: p.body_site.clone(),
                })
            })
            .collect()
    }

    pub fn last_mut(&mut self) -> Option<&mut ReadyPhoto> {
        self.photos.last_mut()
    }

    /// The photos now belong to a case: call inside the transaction that records them. Takes
    /// the staged ones out of staging (they must be `owner_id`'s and unexpired) and returns every
    /// photo with its objects, in the order given.
    pub async fn settle(
        &self,
        tx: &mut crate::db::Tx<'_>,
        owner_id: &str,
        now_ms: i64,
    ) -> ServiceResult<Vec<ReadyPhoto>> {
        for key in &self.written {
            blob_intents::settle(tx, key.as_str()).await?;
        }
        let mut ready = Vec::with_capacity(self.photos.len());
        for (i, p) in self.photos.iter().enumerate() {
            let mut p = p.clone();
            if let Some(staged_id) = &p.staged_id {
                let Some(staged) = staged_photos::take(tx, staged_id, owner_id, now_ms).await?
                else {
                    return Err(ServiceError::Invalid(vec![FieldError {
                        field: "staged_photo",
                        code: "staged_photo_unavailable",
                        message: format!(
                            "Photo {} is no longer available (it expired, was removed or was sent with another case): add it again.",
                            i + 1
                        ),
                    }]));
                };
                adopt_staged(tx, &mut p, staged).await?;
            }
            ready.push(p);
        }
        Ok(ready)
    }

    /// Deletes everything this batch wrote (the request failed or was a duplicate). What cannot
    /// be deleted now (store or database down) is left to the sweep in [`sweep_orphans`].
    pub async fn discard(self) {
        delete_objects(&self.state, &self.written).await;
    }
}

/// A staged photo's objects now belong to `p` (call in the transaction that records it): its
/// objects' intents are settled and its warnings and capture time carried over.
pub(super) async fn adopt_staged(
    tx: &mut crate::db::Tx<'_>,
    p: &mut ReadyPhoto,
    staged: staged_photos::StagedRow,
) -> ServiceResult<()> {
    for o in &staged.objects {
        blob_intents::settle(tx, &o.key).await?;
    }
    p.warnings = staged
        .warnings
        .iter()
        .filter_map(|w| known_warning(w))
        .collect();
    p.captured_at_ms = staged.captured_at_ms;
    p.objects = staged.objects;
    Ok(())
}

/// How long a photo uploaded ahead waits for the case or response that will carry it.
pub const STAGED_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Most staged photos one GP may hold at once (a few cases' worth).
pub const MAX_STAGED_PER_USER: i64 = 48;

/// A photo uploaded ahead: what the form shows beside it.
#[derive(Debug, Clone)]
pub struct StagedPhoto {
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub warnings: Vec<&'static str>,
    pub expires_at_ms: i64,
}

fn known_warning(code: &str) -> Option<&'static str> {
    crate::imaging::QualityWarning::from_code(code).map(|w| w.code())
}

fn may_stage(user: &Principal) -> ServiceResult<()> {
    if user.may_submit_cases() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "Only GPs of a practice upload photos for a case.".into(),
        ))
    }
}

/// Processes and stores a photo the GP picked, before the case or response is sent: cleaned
/// and checked exactly as a case photo, owned by this GP, and deleted unless a case or response
/// takes it within [`STAGED_TTL_MS`].
pub async fn stage(
    state: &AppState,
    user: &Principal,
    original: Vec<u8>,
) -> ServiceResult<StagedPhoto> {
    may_stage(user)?;
    let owner = user.user_id.as_str();
    let now = state.now_ms();
    if staged_photos::count_live(&state.db, owner, now).await? >= MAX_STAGED_PER_USER {
        return Err(ServiceError::TooManyPhotos(format!(
            "You have {MAX_STAGED_PER_USER} photos waiting to be sent: send or remove some first."
        )));
    }
    stage_as(state, owner, original, now + STAGED_TTL_MS, None).await
}

/// Who a staged photo is for: the GP's own (`None`), or a patient's through a photo request,
/// with the view they took.
pub(super) type ForRequest<'a> = Option<(&'a str, Option<PhotoKind>)>;

/// Processes and stores a photo into staging, owned by `owner` until `expires_at_ms`. A
/// patient's photo that fails its check waits for their decision (not kept yet).
pub(super) async fn stage_as(
    state: &AppState,
    owner: &str,
    original: Vec<u8>,
    expires_at_ms: i64,
    request: ForRequest<'_>,
) -> ServiceResult<StagedPhoto> {
    let now = state.now_ms();
    let processed = process(state, original)
        .await?
        .map_err(|source| ServiceError::Image {
            number: None,
            source,
        })?;
    let id = crate::db::new_id();
    let mut written = Vec::new();
    let result = async {
        let stored = store(
            state,
            &format!("staged/{id}"),
            processed,
            expires_at_ms + blob_intents::GRACE_MS,
            &mut written,
        )
        .await?;
        let warnings_json = serde_json::to_string(&stored.warnings)
            .map_err(|e| ServiceError::Internal(e.into()))?;
        staged_photos::insert(
            &state.db,
            &staged_photos::NewStaged {
                id: &id,
                owner_id: owner,
                warnings_json: &warnings_json,
                captured_at_ms: stored.captured_at_ms,
                objects: &stored.objects,
                now_ms: now,
                expires_at_ms,
                photo_request: request.map(|(r, kind)| (r, kind, stored.warnings.is_empty())),
            },
        )
        .await?;
        let full = stored
            .objects
            .iter()
            .find(|o| o.size == PhotoSize::Full)
            .expect("three sizes stored");
        audit::record(
            state.db.pool(),
            audit::Event {
                // A patient has no account: the request names who took it.
                actor_id: request.is_none().then_some(owner),
                action: "photo.staged",
                detail: Some(serde_json::json!({
                    "staged_id": id,
                    "warnings": stored.warnings,
                    "photo_request": request.map(|(r, _)| r),
                })),
                ..Default::default()
            },
            now,
        )
        .await?;
        Ok::<_, ServiceError>(StagedPhoto {
            id: id.clone(),
            width: full.width,
            height: full.height,
            warnings: stored.warnings,
            expires_at_ms,
        })
    }
    .await;
    if result.is_err() {
        delete_objects(state, &written).await;
    }
    result
}

/// One stored size of the GP's own staged photo: (object key, content type). Anyone else's, or
/// an expired one, is not found.
pub async fn staged_object(
    state: &AppState,
    user: &Principal,
    id: &str,
    size: PhotoSize,
) -> ServiceResult<(String, String)> {
    may_stage(user)?;
    let now = state.now_ms();
    let found = staged_photos::object(&state.db, id, user.user_id.as_str(), size, now).await?;
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: if found.is_some() {
                "photo.staged_viewed"
            } else {
                "photo.staged_refused"
            },
            detail: Some(serde_json::json!({ "staged_id": id, "size": size.as_str() })),
            ..Default::default()
        },
        now,
    )
    .await?;
    found.ok_or_else(|| {
        ServiceError::NotFound("There is no photo with this id waiting to be sent by you.".into())
    })
}

/// The GP's staged photos a form refers to that are still there, in the form's order.
pub async fn staged_of(
    state: &AppState,
    user: &Principal,
    choices: &[StagedChoice],
) -> ServiceResult<Vec<(StagedChoice, StagedPhoto)>> {
    let ids: Vec<&str> = choices.iter().map(|c| c.id.as_str()).collect();
    let rows = staged_photos::live_of_owner(&state.db, user.user_id.as_str(), &ids, state.now_ms())
        .await?;
    Ok(choices
        .iter()
        .filter_map(|c| {
            let row = rows.iter().find(|r| r.id == c.id)?;
            let full = row.objects.iter().find(|o| o.size == PhotoSize::Full)?;
            Some((
                c.clone(),
                StagedPhoto {
                    id: row.id.clone(),
                    width: full.width,
                    height: full.height,
                    warnings: row
                        .warnings
                        .iter()
                        .filter_map(|w| known_warning(w))
                        .collect(),
                    expires_at_ms: row.expires_at_ms,
                },
            ))
        })
        .collect())
}

/// The GP removes a photo they uploaded ahead: its objects go now.
pub async fn unstage(state: &AppState, user: &Principal, id: &str) -> ServiceResult<()> {
    may_stage(user)?;
    let keys = staged_photos::remove(&state.db, id, user.user_id.as_str()).await?;
    if keys.is_empty() {
        return Err(ServiceError::NotFound(
            "There is no photo with this id waiting to be sent by you.".into(),
        ));
    }
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "photo.unstaged",
            detail: Some(serde_json::json!({ "staged_id": id })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    delete_stored(state, keys).await;
    Ok(())
}

/// Deletes a removed staged photo's objects by their keys (what fails is left to the sweep).
pub(super) async fn delete_stored(state: &AppState, keys: Vec<String>) {
    let keys: Vec<BlobKey> = keys
        .into_iter()
        .filter_map(|k| BlobKey::new(k).ok())
        .collect();
    delete_objects(state, &keys).await;
}

/// Deletes objects whose request never committed them (failed, or the process died), and
/// forgets staged photos nobody sent in time (their objects are among those orphans once their
/// intents expire). Safe on several instances at once: deleting twice is harmless.
pub async fn sweep_orphans(state: &AppState) -> ServiceResult<usize> {
    staged_photos::delete_expired(&state.db, state.now_ms()).await?;
    let mut swept = 0;
    for key in blob_intents::expired(&state.db, state.now_ms(), 500).await? {
        let blob_key = BlobKey::new(key.clone())?;
        state.blobs.delete(&blob_key).await?;
        blob_intents::forget(&state.db, &key).await?;
        swept += 1;
    }
    Ok(swept)
}

/// What storing a processed photo gave: its objects and the facts kept with it.
struct Stored {
    objects: Vec<StoredObject>,
    warnings: Vec<&'static str>,
    captured_at_ms: Option<i64>,
}

/// Writes the three renditions under `prefix`, each recorded as an intent (expiring at
/// `intent_expires_ms`) before it is written, so that a write that fails half-way or a process
/// that dies still leaves a trace for the sweep; `written` collects the keys.
async fn store(
    state: &AppState,
    prefix: &str,
    processed: Processed,
    intent_expires_ms: i64,
    written: &mut Vec<BlobKey>,
) -> ServiceResult<Stored> {
    let Processed {
        full,
        display,
        thumb,
        warnings,
        captured_at,
        ..
    } = processed;
    let mut objects = Vec::with_capacity(3);
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
        let key = BlobKey::new(format!("{prefix}/{}.{ext}", size.as_str()))?;
        let byte_size = r.bytes.len();
        blob_intents::record_until(&state.db, key.as_str(), state.now_ms(), intent_expires_ms)
            .await?;
        written.push(key.clone());
        state
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
    Ok(Stored {
        objects,
        warnings: warnings.iter().map(|w| w.code()).collect(),
        captured_at_ms: captured_at.map(|t| {
            let t = t.assume_utc();
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
        }),
    })
}

async fn delete_objects(state: &AppState, keys: &[BlobKey]) {
    delete_from_store(&state.db, &state.blobs, keys).await;
}

/// Deletes objects whose rows are gone (their intents recorded first), then forgets each
/// intent; what fails is left to the sweep. Also retention's, which has no `AppState` when run
/// from the command line.
pub(super) async fn delete_from_store(
    db: &crate::db::Db,
    blobs: &crate::blob::BlobStore,
    keys: &[BlobKey],
) {
    for key in keys {
        match blobs.delete(key).await {
            Ok(()) => {
                if let Err(e) = blob_intents::forget(db, key.as_str()).await {
                    tracing::warn!(key = %key, error = %e, "orphan deleted; its record stays for the sweep");
                }
            }
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "could not delete an orphan photo object yet; the sweep will")
            }
        }
    }
}

async fn process(
    state: &AppState,
    original: Vec<u8>,
) -> ServiceResult<Result<Processed, imaging::ImageError>> {
    Ok(state.process_photo(original).await?)
}
