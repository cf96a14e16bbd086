-- Contract 1.1 referral outcomes. A referral advised with the GP's authorisation to convert is
-- taken on by the hospital (`converted`, terminal); otherwise the GP must make it (`gp_to_refer`)
-- by a deadline in working days, and confirms with the date and optional e-RS reference, which
-- closes the case.
--
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"). Db::migrate runs SQLite migrations with foreign
-- keys off and checks them after (PRAGMA foreign_keys cannot change inside this transaction).

CREATE TABLE cases_new (
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
    status                TEXT NOT NULL CHECK (status IN ('submitted', 'claimed', 'awaiting_gp', 'gp_to_refer', 'converted', 'closed')),
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
    gp_responded_at_ms    BIGINT,
    sex                   TEXT CHECK (sex IS NULL OR sex IN ('male', 'female', 'other', 'unknown')),
    -- When a gp_to_refer case becomes overdue (end of its last working day, London time).
    referral_due_at_ms    BIGINT,
    -- The GP's confirmation: the date they referred (YYYY-MM-DD), the e-RS UBRN if given, who and when.
    referred_on           TEXT,
    referral_reference    TEXT,
    referral_confirmed_by TEXT REFERENCES users (id),
    referral_confirmed_at_ms BIGINT,
    UNIQUE (created_by, idempotency_key)
);
INSERT INTO cases_new (id, practice_id, created_by, specialty, nhs_number, date_of_birth, urgency,
    history, question, conversion_authorised, status, submitted_at_ms, queued_at_ms, claimed_by,
    claimed_at_ms, claim_expires_at_ms, outcome, advice, answered_by, first_reply_at_ms,
    answered_at_ms, closed_at_ms, idempotency_key, gp_responded_at_ms, sex)
SELECT id, practice_id, created_by, specialty, nhs_number, date_of_birth, urgency,
    history, question, conversion_authorised, status, submitted_at_ms, queued_at_ms, claimed_by,
    claimed_at_ms, claim_expires_at_ms, outcome, advice, answered_by, first_reply_at_ms,
    answered_at_ms, closed_at_ms, idempotency_key, gp_responded_at_ms, sex
FROM cases;
DROP TABLE cases;
ALTER TABLE cases_new RENAME TO cases;
CREATE INDEX cases_queue ON cases (specialty, status, submitted_at_ms);
CREATE INDEX cases_by_practice ON cases (practice_id, submitted_at_ms);
CREATE INDEX cases_by_claimer ON cases (claimed_by, status);
CREATE INDEX cases_by_answerer ON cases (answered_by);
CREATE INDEX cases_by_patient ON cases (nhs_number, specialty);
CREATE INDEX cases_referrals_due ON cases (status, referral_due_at_ms);

-- The facts and figures for commissioners: converted referrals, and GP referrals confirmed after
-- their deadline (those still unconfirmed past it are counted live from `cases`).
ALTER TABLE case_facts ADD COLUMN converted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE case_facts ADD COLUMN referral_due_at_ms BIGINT;
ALTER TABLE case_facts ADD COLUMN referral_made_at_ms BIGINT;
ALTER TABLE report_specialty_days ADD COLUMN converted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_specialty_days ADD COLUMN referral_made_late BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_practice_days ADD COLUMN converted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_practice_days ADD COLUMN referral_made_late BIGINT NOT NULL DEFAULT 0;
