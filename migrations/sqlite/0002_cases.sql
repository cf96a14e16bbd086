-- Cases, the messages between GP and consultant, and photos with their stored renditions.

CREATE TABLE cases (
    id                    TEXT PRIMARY KEY,
    practice_id           TEXT NOT NULL REFERENCES practices (id),
    created_by            TEXT NOT NULL REFERENCES users (id),
    specialty             TEXT NOT NULL REFERENCES specialties (slug),
    nhs_number            TEXT NOT NULL,
    date_of_birth         TEXT NOT NULL,
    urgency               TEXT NOT NULL CHECK (urgency IN ('routine', 'urgent')),
    history               TEXT NOT NULL,
    question              TEXT NOT NULL,
    conversion_authorised BIGINT NOT NULL CHECK (conversion_authorised IN (0, 1)),
    status                TEXT NOT NULL CHECK (status IN ('submitted', 'claimed', 'awaiting_gp', 'closed')),
    -- Turnaround counts from submitted_at_ms; escalation to the national pool from queued_at_ms,
    -- which moves when a GP's response puts the case back in the queue.
    submitted_at_ms       BIGINT NOT NULL,
    queued_at_ms          BIGINT NOT NULL,
    claimed_by            TEXT REFERENCES users (id),
    claimed_at_ms         BIGINT,
    claim_expires_at_ms   BIGINT,
    outcome               TEXT CHECK (outcome IS NULL OR outcome IN ('manage_in_primary_care', 'refer_routine',
                              'refer_urgent', 'refer_two_week_wait', 'redirect_specialty', 'request_information')),
    advice                TEXT,
    answered_by           TEXT REFERENCES users (id),
    first_reply_at_ms     BIGINT,
    answered_at_ms        BIGINT,
    closed_at_ms          BIGINT,
    idempotency_key       TEXT,
    UNIQUE (created_by, idempotency_key)
);
CREATE INDEX cases_queue ON cases (specialty, status, submitted_at_ms);
CREATE INDEX cases_by_practice ON cases (practice_id, submitted_at_ms);
CREATE INDEX cases_by_claimer ON cases (claimed_by, status);
CREATE INDEX cases_by_answerer ON cases (answered_by);

CREATE TABLE case_messages (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    author_id     TEXT NOT NULL REFERENCES users (id),
    kind          TEXT NOT NULL CHECK (kind IN ('reply', 'gp_response')),
    body          TEXT NOT NULL,
    outcome       TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX case_messages_by_case ON case_messages (case_id, created_at_ms);

CREATE TABLE photos (
    id             TEXT PRIMARY KEY,
    case_id        TEXT NOT NULL REFERENCES cases (id),
    message_id     TEXT REFERENCES case_messages (id),
    position       BIGINT NOT NULL,
    kind           TEXT CHECK (kind IS NULL OR kind IN ('site', 'close_up', 'dermoscopic')),
    body_site      TEXT,
    warnings       TEXT NOT NULL,
    captured_at_ms BIGINT,
    created_at_ms  BIGINT NOT NULL
);
CREATE INDEX photos_by_case ON photos (case_id, position);

CREATE TABLE photo_objects (
    photo_id     TEXT NOT NULL REFERENCES photos (id),
    size         TEXT NOT NULL CHECK (size IN ('full', 'display', 'thumb')),
    object_key   TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    byte_size    BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    PRIMARY KEY (photo_id, size)
);
