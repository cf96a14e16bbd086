-- Platform: practices, people, access, rotas, sessions and the audit trail.
-- Written once for SQLite and PostgreSQL: TEXT ids (UUIDv7), BIGINT *_at_ms timestamps from the app's clock,
-- TEXT + CHECK instead of enums. The postgres copy differs only where the dialects must.

CREATE TABLE practices (
    id            TEXT PRIMARY KEY,
    ods_code      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE specialties (
    slug              TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    routine_target_ms BIGINT NOT NULL CHECK (routine_target_ms > 0),
    urgent_target_ms  BIGINT NOT NULL CHECK (urgent_target_ms > 0),
    escalation_ms     BIGINT NOT NULL CHECK (escalation_ms >= 0),
    photos_required   BIGINT NOT NULL DEFAULT 0 CHECK (photos_required IN (0, 1))
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('gp', 'consultant', 'commissioner', 'admin')),
    practice_id    TEXT REFERENCES practices (id),
    password_hash  TEXT,
    created_at_ms  BIGINT NOT NULL,
    disabled_at_ms BIGINT,
    CHECK (role <> 'gp' OR practice_id IS NOT NULL)
);

CREATE TABLE user_specialties (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    specialty TEXT NOT NULL REFERENCES specialties (slug),
    PRIMARY KEY (user_id, specialty)
);

CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    created_at_ms   BIGINT NOT NULL,
    last_used_at_ms BIGINT,
    revoked_at_ms   BIGINT
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    data          TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

CREATE TABLE rota_shifts (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    specialty     TEXT NOT NULL REFERENCES specialties (slug),
    pool          TEXT NOT NULL CHECK (pool IN ('local', 'national')),
    starts_at_ms  BIGINT NOT NULL,
    ends_at_ms    BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    CHECK (ends_at_ms > starts_at_ms)
);
CREATE INDEX rota_by_specialty ON rota_shifts (specialty, ends_at_ms);
CREATE INDEX rota_by_user ON rota_shifts (user_id, ends_at_ms);

-- Who did and who viewed what. Rows are never updated (trigger below); ids are UUIDv7, so they sort by time.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    actor_id   TEXT,
    action     TEXT NOT NULL,
    case_id    TEXT,
    subject_id TEXT,
    detail     TEXT
);
CREATE INDEX audit_by_case ON audit_events (case_id, at_ms);
CREATE INDEX audit_by_action ON audit_events (action, at_ms);
CREATE INDEX audit_by_actor ON audit_events (actor_id, at_ms);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- The contract's 16 specialties. Targets: routine 2 days, urgent 1 day; a case nobody local claims
-- within 4 hours is offered to the national pool. Admins change these per specialty.
INSERT INTO specialties (slug, name, routine_target_ms, urgent_target_ms, escalation_ms, photos_required) VALUES
    ('adult-mental-health', 'Adult mental health', 172800000, 86400000, 14400000, 0),
    ('cardiology', 'Cardiology', 172800000, 86400000, 14400000, 0),
    ('dermatology', 'Dermatology', 172800000, 86400000, 14400000, 1),
    ('diabetes-endocrinology', 'Diabetes and endocrinology', 172800000, 86400000, 14400000, 0),
    ('ent', 'Ear, nose and throat', 172800000, 86400000, 14400000, 0),
    ('gastroenterology', 'Gastroenterology', 172800000, 86400000, 14400000, 0),
    ('general-surgery', 'General surgery', 172800000, 86400000, 14400000, 0),
    ('gynaecology', 'Gynaecology', 172800000, 86400000, 14400000, 0),
    ('haematology', 'Haematology', 172800000, 86400000, 14400000, 0),
    ('neurology', 'Neurology', 172800000, 86400000, 14400000, 0),
    ('ophthalmology', 'Ophthalmology', 172800000, 86400000, 14400000, 0),
    ('paediatrics', 'Paediatrics', 172800000, 86400000, 14400000, 0),
    ('renal', 'Renal medicine', 172800000, 86400000, 14400000, 0),
    ('respiratory', 'Respiratory medicine', 172800000, 86400000, 14400000, 0),
    ('rheumatology', 'Rheumatology', 172800000, 86400000, 14400000, 0),
    ('urology', 'Urology', 172800000, 86400000, 14400000, 0);
