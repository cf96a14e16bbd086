-- Contract 1.1: redirect_specialty moves a case to another specialty's queue instead of closing
-- it. The case's facts remember that it was redirected (the "redirected to another specialty"
-- figure); the case stays in the report cohort of the specialty it was submitted to.
ALTER TABLE case_facts ADD COLUMN redirected BIGINT NOT NULL DEFAULT 0;
