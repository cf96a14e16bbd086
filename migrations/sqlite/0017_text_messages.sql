-- Patients' photo links can go by text message (issue 16): a third outbox channel. SQLite
-- cannot change a CHECK constraint, so the table is rebuilt with the same columns and indexes.
CREATE TABLE outbox_new (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook', 'text')),
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    case_id         TEXT NOT NULL REFERENCES cases (id),
    payload         TEXT NOT NULL,
    digest          BIGINT NOT NULL DEFAULT 0 CHECK (digest IN (0, 1)),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at_ms   BIGINT NOT NULL,
    due_at_ms       BIGINT NOT NULL,
    leased_until_ms BIGINT,
    last_error      TEXT,
    delivered_at_ms BIGINT
);
INSERT INTO outbox_new SELECT id, channel, recipient, kind, case_id, payload, digest, status,
    attempts, created_at_ms, due_at_ms, leased_until_ms, last_error, delivered_at_ms FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (due_at_ms) WHERE status = 'pending';
CREATE INDEX outbox_by_status ON outbox (status, created_at_ms);
