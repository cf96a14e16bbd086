-- Photos a GP uploads as they pick them, before the case or response they belong to is sent
-- (issue 12: each photo its own request, with progress and retry). Owned by the GP who uploaded
-- it; taken into a case or response in the transaction that records it; otherwise removed when
-- it expires. Its objects are covered by blob_intents rows that expire later still, so the
-- orphan sweep deletes them whatever happens to the row.
CREATE TABLE staged_photos (
    id             TEXT PRIMARY KEY,
    owner_id       TEXT NOT NULL REFERENCES users (id),
    warnings       TEXT NOT NULL,
    captured_at_ms BIGINT,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL
);
CREATE INDEX staged_photos_by_owner ON staged_photos (owner_id, expires_at_ms);
CREATE INDEX staged_photos_by_expiry ON staged_photos (expires_at_ms);

CREATE TABLE staged_photo_objects (
    staged_id    TEXT NOT NULL REFERENCES staged_photos (id) ON DELETE CASCADE,
    size         TEXT NOT NULL CHECK (size IN ('full', 'display', 'thumb')),
    object_key   TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    byte_size    BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    PRIMARY KEY (staged_id, size)
);
