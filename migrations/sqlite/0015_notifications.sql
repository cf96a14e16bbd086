-- Telling people (issue 13): in-app notifications, each person's email choices, webhooks of GP
-- systems, and the outbox that email and webhook deliveries go through. Every row here is
-- written in the transaction of the change it announces, so a notice exists exactly when its
-- change does; a worker on any instance delivers the outbox afterwards.

-- What a person sees under "Notifications", and the unread count in the header.
CREATE TABLE notifications (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    kind          TEXT NOT NULL,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    created_at_ms BIGINT NOT NULL,
    read_at_ms    BIGINT
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at_ms);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at_ms IS NULL;

-- A person's email choice for one kind of event; no row means the default for their role.
CREATE TABLE notification_settings (
    user_id TEXT NOT NULL REFERENCES users (id),
    kind    TEXT NOT NULL,
    email   TEXT NOT NULL CHECK (email IN ('off', 'now', 'digest')),
    PRIMARY KEY (user_id, kind)
);

-- A GP system's endpoint for its practice's events; the secret signs each delivery.
CREATE TABLE webhooks (
    id             TEXT PRIMARY KEY,
    practice_id    TEXT NOT NULL REFERENCES practices (id),
    url            TEXT NOT NULL,
    secret         TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    disabled_at_ms BIGINT
);
CREATE INDEX webhooks_by_practice ON webhooks (practice_id);

-- One delivery to make: an email to a person or a call to a webhook. Its id is the
-- idempotency key receivers see (Message-ID, X-Aghub-Delivery). A worker leases due rows
-- (several instances never take the same row), and on failure sets the next attempt with
-- backoff; after the last attempt the row is dead until an admin retries it.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
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
CREATE INDEX outbox_due ON outbox (due_at_ms) WHERE status = 'pending';
CREATE INDEX outbox_by_status ON outbox (status, created_at_ms);

-- Events that follow from time passing (escalated to the national pool, past its target,
-- referral overdue) are noticed by whichever instance looks first: the key makes every
-- later look, on any instance, a no-op.
CREATE TABLE case_notices (
    case_id TEXT NOT NULL REFERENCES cases (id),
    kind    TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (case_id, kind, at_ms)
);
-- The cases that can escalate or pass their target are the open ones, a few among many.
CREATE INDEX cases_open ON cases (queued_at_ms) WHERE status IN ('submitted', 'claimed');
