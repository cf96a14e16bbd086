//! The same contract for both object stores: the filesystem store and S3 (local S3 server).

use aghub::blob::{BlobError, BlobKey, BlobStore};
use bytes::Bytes;

use crate::helpers::{Backends, Stack};

on_both_stacks!(
    put_get_exists_delete_round_trip,
    missing_objects_are_not_found_and_deletes_are_idempotent,
    overwrite_replaces_the_whole_object,
    health_check_passes,
    objects_stream_in_chunks_with_their_length,
);

async fn store(stack: Stack) -> (Backends, BlobStore) {
    let b = Backends::new(stack).await;
    let store = BlobStore::from_url(&b.storage_url, true).await.unwrap();
    (b, store)
}

async fn put_get_exists_delete_round_trip(stack: Stack) {
    let (_b, store) = store(stack).await;
    let key = BlobKey::new("cases/c1/p1/full.jpg").unwrap();
    let data = Bytes::from((0..=255u8).cycle().take(300_000).collect::<Vec<u8>>());
    assert!(!store.exists(&key).await.unwrap());
    store.put(&key, data.clone(), "image/jpeg").await.unwrap();
    assert!(store.exists(&key).await.unwrap());
    assert_eq!(store.get(&key).await.unwrap(), data);
    store.delete(&key).await.unwrap();
    assert!(!store.exists(&key).await.unwrap());
}

async fn missing_objects_are_not_found_and_deletes_are_idempotent(stack: Stack) {
    let (_b, store) = store(stack).await;
    let key = BlobKey::new("cases/none/here.jpg").unwrap();
    assert!(matches!(store.get(&key).await, Err(BlobError::NotFound(_))));
    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap();
}

async fn overwrite_replaces_the_whole_object(stack: Stack) {
    let (_b, store) = store(stack).await;
    let key = BlobKey::new("x/y.bin").unwrap();
    store
        .put(
            &key,
            Bytes::from_static(b"a much longer first version"),
            "application/octet-stream",
        )
        .await
        .unwrap();
    store
        .put(
            &key,
            Bytes::from_static(b"short"),
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Bytes::from_static(b"short"));
}

async fn health_check_passes(stack: Stack) {
    let (_b, store) = store(stack).await;
    store.health_check().await.unwrap();
}

#[tokio::test]
async fn filesystem_store_leaves_no_temp_files_and_stays_inside_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::from_url(&format!("file://{}", dir.path().display()), false)
        .await
        .unwrap();
    let key = BlobKey::new("a/b/c.jpg").unwrap();
    store
        .put(&key, Bytes::from_static(b"img"), "image/jpeg")
        .await
        .unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path().join("a/b"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["c.jpg".to_string()]);
    assert!(BlobStore::from_url("file://relative/path", false)
        .await
        .is_err());
    assert!(BlobStore::from_url("ftp://x", false).await.is_err());
}

#[tokio::test]
async fn s3_store_reports_an_unreachable_server_as_unavailable() {
    // Nothing listens on port 9 of the loopback; the store must fail fast and say so.
    let store =
        aghub::blob::S3Store::with_endpoint("http://127.0.0.1:9", "nobucket", "", true).await;
    let err = store.health_check().await.unwrap_err();
    assert!(matches!(err, BlobError::Unavailable(_)), "{err:?}");
}

/// Photos are served as a stream: the same bytes as `get`, in more than one chunk for a
/// photo-sized object, with the length known up front.
async fn objects_stream_in_chunks_with_their_length(stack: Stack) {
    use futures::StreamExt;
    let (_b, store) = store(stack).await;
    let key = BlobKey::new("cases/c1/p1/display.jpg").unwrap();
    let data = Bytes::from((0..=250u8).cycle().take(3_000_000).collect::<Vec<u8>>());
    store.put(&key, data.clone(), "image/jpeg").await.unwrap();
    let mut object = store.read_stream(&key).await.unwrap();
    assert_eq!(object.length, Some(data.len() as u64));
    let mut read = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = object.chunks.next().await {
        read.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert_eq!(Bytes::from(read), data);
    assert!(chunks > 1, "streamed, not read whole: {chunks} chunk(s)");
    let missing = BlobKey::new("cases/none/here.jpg").unwrap();
    assert!(matches!(
        store.read_stream(&missing).await,
        Err(BlobError::NotFound(_))
    ));
}
