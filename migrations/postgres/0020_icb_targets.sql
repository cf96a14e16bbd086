-- Each ICB sets its own response targets and escalation windows per specialty (the 2025/26
-- A&G framework); without a row, the specialty's own values apply.
CREATE TABLE icb_targets (
    icb_id            TEXT NOT NULL REFERENCES organisations (id),
    specialty         TEXT NOT NULL REFERENCES specialties (slug),
    routine_target_ms BIGINT NOT NULL CHECK (routine_target_ms > 0),
    urgent_target_ms  BIGINT NOT NULL CHECK (urgent_target_ms > 0),
    escalation_ms     BIGINT NOT NULL CHECK (escalation_ms >= 0),
    PRIMARY KEY (icb_id, specialty)
);
