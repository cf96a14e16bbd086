-- Calls as records (issue 14): a call can be put under legal hold like a case, and a party who
-- has not recorded a call's outcome is chased by notification, in the app and by email. A
-- notification and an outbox delivery are now about a case or a call, never both.
ALTER TABLE calls ADD COLUMN legal_hold_at_ms BIGINT;
ALTER TABLE calls ADD COLUMN legal_hold_reason TEXT;

ALTER TABLE notifications ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN call_id TEXT REFERENCES calls (id);
ALTER TABLE notifications ADD CONSTRAINT notifications_about_one
    CHECK ((case_id IS NULL) <> (call_id IS NULL));

ALTER TABLE outbox ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN call_id TEXT REFERENCES calls (id);
ALTER TABLE outbox ADD CONSTRAINT outbox_about_one
    CHECK ((case_id IS NULL) <> (call_id IS NULL));

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
