-- Live calls (issue 14). A GP's call rings the specialty's consultants on duty: the ring list is
-- fixed when the call starts (local rota in order, then the national pool), and the phase at any
-- moment is computed from it (domain::calls), so no job moves the ringing on. `give_up_at_ms` is
-- when an unanswered call becomes a written case (`case_id`); it only ever comes sooner (declines).
CREATE TABLE calls (
    id                       TEXT PRIMARY KEY,
    practice_id              TEXT NOT NULL REFERENCES practices (id),
    icb_id                   TEXT,
    created_by               TEXT NOT NULL REFERENCES users (id),
    specialty                TEXT NOT NULL REFERENCES specialties (slug),
    nhs_number               TEXT NOT NULL,
    date_of_birth            TEXT NOT NULL,
    reason                   TEXT NOT NULL,
    status                   TEXT NOT NULL CHECK (status IN ('ringing', 'answered', 'ended', 'missed')),
    created_at_ms            BIGINT NOT NULL,
    ring_ms                  BIGINT NOT NULL,
    give_up_after_ms         BIGINT NOT NULL,
    give_up_at_ms            BIGINT NOT NULL,
    answered_by              TEXT REFERENCES users (id),
    answered_pool            TEXT CHECK (answered_pool IS NULL OR answered_pool IN ('local', 'national')),
    answered_at_ms           BIGINT,
    ended_at_ms              BIGINT,
    case_id                  TEXT REFERENCES cases (id),
    gp_outcome               TEXT,
    gp_note                  TEXT,
    gp_outcome_at_ms         BIGINT,
    consultant_outcome       TEXT,
    consultant_note          TEXT,
    consultant_outcome_at_ms BIGINT,
    -- Retention (issue 15) erased the patient: identifiers, reason, notes and recording are gone.
    erased_at_ms             BIGINT
);
CREATE INDEX calls_ringing ON calls (status, give_up_at_ms);
CREATE INDEX calls_by_practice ON calls (practice_id, created_at_ms);
CREATE INDEX calls_by_patient ON calls (nhs_number);
CREATE INDEX calls_by_time ON calls (created_at_ms);
-- Every page a party opens looks for their calls still without an outcome.
CREATE INDEX calls_gp_outcome_missing ON calls (created_by) WHERE status = 'ended' AND gp_outcome IS NULL;
CREATE INDEX calls_consultant_outcome_missing ON calls (answered_by) WHERE status = 'ended' AND consultant_outcome IS NULL;

CREATE TABLE call_ring (
    call_id        TEXT NOT NULL REFERENCES calls (id),
    position       BIGINT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id),
    pool           TEXT NOT NULL CHECK (pool IN ('local', 'national')),
    declined_at_ms BIGINT,
    PRIMARY KEY (call_id, position)
);
CREATE INDEX call_ring_by_user ON call_ring (user_id, call_id);

-- WebRTC signalling between the two browsers of an answered call (offers, answers, ICE
-- candidates), kept in the database so that the GP and the consultant may be connected to
-- different instances; a NOTIFY (PostgreSQL) or the instance's own channel (SQLite) wakes the
-- reader. Deleted when the call ends: they carry network addresses, nothing clinical.
CREATE TABLE call_signals (
    id            TEXT PRIMARY KEY,
    call_id       TEXT NOT NULL REFERENCES calls (id),
    from_party    TEXT NOT NULL CHECK (from_party IN ('gp', 'consultant')),
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX call_signals_by_call ON call_signals (call_id, id);

-- The consultant's browser records both sides and uploads a chunk every few seconds, so a tab
-- closed mid-call loses at most the last chunk. `media_ms` is the recording's length at the
-- end of the chunk, as the recorder reports it.
CREATE TABLE call_recording_chunks (
    call_id       TEXT NOT NULL REFERENCES calls (id),
    seq           BIGINT NOT NULL,
    blob_key      TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    media_ms      BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
