-- Calls as records (issue 14): a call can be put under legal hold like a case, and a party who
-- has not recorded a call's outcome is chased by notification, in the app and by email. A
-- notification and an outbox delivery are now about a case or a call, never both. SQLite cannot
-- relax NOT NULL, so both tables are rebuilt with the same columns and indexes.
ALTER TABLE calls ADD COLUMN legal_hold_at_ms BIGINT;
ALTER TABLE calls ADD COLUMN legal_hold_reason TEXT;

CREATE TABLE notifications_new (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    kind          TEXT NOT NULL,
    case_id       TEXT REFERENCES cases (id),
    call_id       TEXT REFERENCES calls (id),
    created_at_ms BIGINT NOT NULL,
    read_at_ms    BIGINT,
    CHECK ((case_id IS NULL) <> (call_id IS NULL))
);
INSERT INTO notifications_new (id, user_id, kind, case_id, created_at_ms, read_at_ms)
    SELECT id, user_id, kind, case_id, created_at_ms, read_at_ms FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_by_user ON notifications (user_id, created_at_ms);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at_ms IS NULL;

CREATE TABLE outbox_new (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook', 'text')),
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    case_id         TEXT REFERENCES cases (id),
    call_id         TEXT REFERENCES calls (id),
    payload         TEXT NOT NULL,
    digest          BIGINT NOT NULL DEFAULT 0 CHECK (digest IN (0, 1)),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at_ms   BIGINT NOT NULL,
    due_at_ms       BIGINT NOT NULL,
    leased_until_ms BIGINT,
    last_error      TEXT,
    delivered_at_ms BIGINT,
    CHECK ((case_id IS NULL) <> (call_id IS NULL))
);
INSERT INTO outbox_new (id, channel, recipient, kind, case_id, payload, digest, status, attempts,
        created_at_ms, due_at_ms, leased_until_ms, last_error, delivered_at_ms)
    SELECT id, channel, recipient, kind, case_id, payload, digest, status, attempts,
        created_at_ms, due_at_ms, leased_until_ms, last_error, delivered_at_ms FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (due_at_ms) WHERE status = 'pending';
CREATE INDEX outbox_by_status ON outbox (status, created_at_ms);
CREATE INDEX outbox_by_case ON outbox (case_id);

-- Erasing a patient's calls deletes their undelivered messages, by call.
CREATE INDEX outbox_by_call ON outbox (call_id);

-- Each reminder of a missing outcome, once per party and due moment whatever the number of
-- instances looking (as case_notices for cases).
CREATE TABLE call_notices (
    call_id TEXT NOT NULL REFERENCES calls (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (call_id, user_id, at_ms)
);
