-- Figures by ICB at national scale (issue 15). A case counts for the ICB its practice belonged
-- to when it was submitted (as its target is fixed then): kept on its facts, so an ICB's
-- figures are read by one index range, and a practice that later moves leaves its history
-- where it was commissioned. Existing cases take their practice's ICB now.
ALTER TABLE case_facts ADD COLUMN icb_id TEXT;
UPDATE case_facts SET icb_id = (SELECT p.icb_id FROM practices p WHERE p.id = case_facts.practice_id);
CREATE INDEX case_facts_by_icb ON case_facts (icb_id, submitted_at_ms);

-- Each ICB's cases by day, as report_practice_days holds each practice's: the national view
-- compares 42 ICBs from about 15,000 cells a year rather than millions of facts. Filled by the
-- rebuild at start (the recorded figure set changes).
CREATE TABLE report_icb_days (
    icb_id                 TEXT NOT NULL,
    day_ms                 BIGINT NOT NULL,
    submitted              BIGINT NOT NULL DEFAULT 0,
    answered               BIGINT NOT NULL DEFAULT 0,
    answered_in_target     BIGINT NOT NULL DEFAULT 0,
    closed                 BIGINT NOT NULL DEFAULT 0,
    closed_in_target       BIGINT NOT NULL DEFAULT 0,
    manage_in_primary_care BIGINT NOT NULL DEFAULT 0,
    refer_routine          BIGINT NOT NULL DEFAULT 0,
    refer_urgent           BIGINT NOT NULL DEFAULT 0,
    refer_two_week_wait    BIGINT NOT NULL DEFAULT 0,
    redirect_specialty     BIGINT NOT NULL DEFAULT 0,
    information_requested  BIGINT NOT NULL DEFAULT 0,
    awaiting_gp            BIGINT NOT NULL DEFAULT 0,
    national_pool          BIGINT NOT NULL DEFAULT 0,
    represented            BIGINT NOT NULL DEFAULT 0,
    converted              BIGINT NOT NULL DEFAULT 0,
    referral_made_late     BIGINT NOT NULL DEFAULT 0,
    first_reply_list       TEXT NOT NULL DEFAULT '',
    to_close_list          TEXT NOT NULL DEFAULT '',
    awaiting_gp_list       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (icb_id, day_ms)
);
CREATE INDEX report_icb_days_by_day ON report_icb_days (day_ms);
