-- Records kept as the law says (issue 15). A case under legal hold is never erased; an erased
-- case keeps its row (ids, practice, specialty, times, outcome: what the figures count) and
-- loses every patient identifier, message and photo. (Cases are found by patient through
-- cases_by_patient, migration 0003.)
ALTER TABLE cases ADD COLUMN legal_hold_at_ms BIGINT;
ALTER TABLE cases ADD COLUMN legal_hold_reason TEXT;
ALTER TABLE cases ADD COLUMN erased_at_ms BIGINT;

-- Jobs that run once a day across all instances: whoever takes the lease runs it.
CREATE TABLE job_runs (
    name            TEXT PRIMARY KEY,
    leased_until_ms BIGINT NOT NULL,
    last_run_at_ms  BIGINT NOT NULL
);
