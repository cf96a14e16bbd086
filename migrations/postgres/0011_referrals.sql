-- Contract 1.1 referral outcomes. A referral advised with the GP's authorisation to convert is
-- taken on by the hospital (`converted`, terminal); otherwise the GP must make it (`gp_to_refer`)
-- by a deadline in working days, and confirms with the date and optional e-RS reference, which
-- closes the case. The sqlite copy says the same by rebuilding the table (SQLite cannot alter a
-- CHECK constraint).

ALTER TABLE cases DROP CONSTRAINT cases_status_check;
ALTER TABLE cases ADD CONSTRAINT cases_status_check
    CHECK (status IN ('submitted', 'claimed', 'awaiting_gp', 'gp_to_refer', 'converted', 'closed'));
-- When a gp_to_refer case becomes overdue (end of its last working day, London time).
ALTER TABLE cases ADD COLUMN referral_due_at_ms BIGINT;
-- The GP's confirmation: the date they referred (YYYY-MM-DD), the e-RS UBRN if given, who and when.
ALTER TABLE cases ADD COLUMN referred_on TEXT;
ALTER TABLE cases ADD COLUMN referral_reference TEXT;
ALTER TABLE cases ADD COLUMN referral_confirmed_by TEXT REFERENCES users (id);
ALTER TABLE cases ADD COLUMN referral_confirmed_at_ms BIGINT;
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
