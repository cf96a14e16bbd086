-- Across an ICS (issue 15): integrated care boards and provider trusts, by ODS code. Each
-- practice belongs to an ICB; a consultant to a trust, whose local rotas serve that trust's
-- ICB; a commissioner to the ICB whose figures they see (no organisation: the national view).
CREATE TABLE organisations (
    id            TEXT PRIMARY KEY,
    ods_code      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('icb', 'trust')),
    -- A trust: the ICB whose practices its local rotas serve.
    icb_id        TEXT REFERENCES organisations (id),
    created_at_ms BIGINT NOT NULL,
    CHECK (kind = 'trust' OR icb_id IS NULL)
);

ALTER TABLE practices ADD COLUMN icb_id TEXT REFERENCES organisations (id);
-- Registered patients (NHS England's monthly list sizes), for figures per 1,000 patients.
ALTER TABLE practices ADD COLUMN list_size BIGINT;
ALTER TABLE practices ADD COLUMN postcode TEXT;
ALTER TABLE practices ADD COLUMN updated_at_ms BIGINT;
CREATE INDEX practices_by_icb ON practices (icb_id);

ALTER TABLE users ADD COLUMN organisation_id TEXT REFERENCES organisations (id);
