-- Patients send their own photos (issue 16). A GP's request makes a one-time link for one case:
-- its random token is stored only as a SHA-256 hash; the link expires, can be revoked, takes a
-- bounded number of photos and is used up once the patient sends them. The patient's date of
-- birth is asked as a second factor, with a pause after repeated wrong answers.
CREATE TABLE photo_requests (
    id              TEXT PRIMARY KEY,
    case_id         TEXT NOT NULL REFERENCES cases (id),
    created_by      TEXT NOT NULL REFERENCES users (id),
    token_hash      TEXT NOT NULL UNIQUE,
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL,
    max_photos      BIGINT NOT NULL,
    uploads         BIGINT NOT NULL DEFAULT 0,
    revoked_at_ms   BIGINT,
    sent_at_ms      BIGINT,
    consent_at_ms   BIGINT,
    dob_failures    BIGINT NOT NULL DEFAULT 0,
    paused_until_ms BIGINT
);
CREATE INDEX photo_requests_by_case ON photo_requests (case_id);

-- The patient's photos wait in staging (owned by the requesting GP, tied to the request) until
-- the patient sends them with their consent. A photo that fails its check waits for the
-- patient's decision (kept = 0) until they retake it or keep it anyway.
ALTER TABLE staged_photos ADD COLUMN photo_request_id TEXT REFERENCES photo_requests (id);
ALTER TABLE staged_photos ADD COLUMN kind TEXT CHECK (kind IS NULL OR kind IN ('site', 'close_up', 'dermoscopic'));
ALTER TABLE staged_photos ADD COLUMN kept BIGINT NOT NULL DEFAULT 1 CHECK (kept IN (0, 1));
CREATE INDEX staged_photos_by_request ON staged_photos (photo_request_id);

-- Who took each photo: the GP (or their practice's camera) or the patient through a link.
ALTER TABLE photos ADD COLUMN taken_by TEXT NOT NULL DEFAULT 'gp' CHECK (taken_by IN ('gp', 'patient'));
