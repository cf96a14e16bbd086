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

-- The audit trail is append-only for every role: no UPDATE (0001), DELETE or TRUNCATE.
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The role the service runs as in production (docs/security.md): it reads and writes everything
-- it needs but may only add to the audit trail, and owns nothing, so it cannot drop or disable
-- the triggers above. `aghub migrate` runs as the owner; log-in roles join aghub_service.
-- Creating the role needs CREATEROLE: a migrating role without it skips this (and says so).
DO $$
BEGIN
    BEGIN
        CREATE ROLE aghub_service NOLOGIN;
    EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN
            RAISE NOTICE 'aghub_service role not created (no CREATEROLE); see docs/security.md';
    END;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'aghub_service') THEN
        GRANT USAGE ON SCHEMA public TO aghub_service;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO aghub_service;
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM aghub_service;
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _sqlx_migrations FROM aghub_service;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO aghub_service;
        -- Tables later migrations add are the service's too; a migration that adds another
        -- append-only table revokes as above.
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO aghub_service;
    END IF;
END
$$;
