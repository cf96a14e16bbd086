-- Report figures are defined once, in Rust (src/domain/reports.rs), and kept by the service in
-- the transaction of each case event (docs/architecture.md, "One definition of each figure").
-- The triggers of migration 0003 (the same rules in PL/pgSQL, keyed on audit actions and on
-- fields inside audit JSON) go. The sqlite copy says the same in SQLite's dialect.
--
-- Nothing is recomputed here: case_facts and the day tables stay as they are. Each case's
-- figures as bits (`flags`, bit i = figure i of Counts::NAMES) are filled in by the service when
-- it starts (service::case_facts::bring_up_to_date), from the facts, with the running code; it
-- does the same whenever `report_definition` names another figure set than the code's.

DROP TRIGGER case_facts_from_audit ON audit_events;
DROP FUNCTION case_facts_apply();
DROP TRIGGER report_days_from_facts ON case_facts;
DROP FUNCTION report_days_apply();

ALTER TABLE case_facts ADD COLUMN flags BIGINT;

-- The figure set (Counts::NAMES, comma-separated) that the flags and day tables hold.
CREATE TABLE report_definition (
    figures TEXT NOT NULL
);
