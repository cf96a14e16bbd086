-- Security hardening (issue 10): hashed session ids tied to their user, expiring API tokens,
-- race-free sign-in throttling, and an audit trail nobody can delete from.

-- Session ids are now stored as their SHA-256, like API tokens; sessions from before cannot be
-- matched any more, so they end (people sign in again once).
DELETE FROM sessions;
ALTER TABLE sessions ADD COLUMN user_id TEXT;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Tokens expire; tokens made before this version get 90 days from their creation.
ALTER TABLE api_tokens ADD COLUMN expires_at_ms BIGINT;
UPDATE api_tokens SET expires_at_ms = created_at_ms + 7776000000 WHERE expires_at_ms IS NULL;
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- One row per sign-in attempt, reserved before the password is checked, so attempts in flight
-- count. sign_in_locks has one row per account: updating it serialises reservations for that
-- account (a row lock on PostgreSQL, the write lock on SQLite).
CREATE TABLE sign_in_attempts (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('pending', 'failed'))
);
CREATE INDEX sign_in_attempts_by_account ON sign_in_attempts (account, started_at_ms);
CREATE TABLE sign_in_locks (
    account       TEXT PRIMARY KEY,
    touched_at_ms BIGINT NOT NULL
);

-- The audit trail is append-only: no row may be deleted either.
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
