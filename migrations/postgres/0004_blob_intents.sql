-- Objects a request is about to write. A row is made before each object is written and removed in
-- the transaction that makes the object part of a case; rows left behind (the request failed, the
-- store was down during cleanup, or the process died) are swept after expires_at_ms: the object is
-- deleted, then the row. So no object outlives a failed request for long, whatever happened.
CREATE TABLE blob_intents (
    object_key    TEXT PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX blob_intents_by_expiry ON blob_intents (expires_at_ms);
