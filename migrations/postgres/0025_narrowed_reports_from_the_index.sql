-- A report narrowed to an ICB or a specialty sums its cells in the database from the facts'
-- figure flags and durations (db::reports::fact_cells): those columns, and no more, ride in the
-- two indexes it reads, so the read is index-only. Replaces 0023's copy of every fact column in
-- case_facts_by_icb (reports no longer read whole facts).
DROP INDEX case_facts_by_icb;
CREATE INDEX case_facts_by_icb ON case_facts (icb_id, submitted_at_ms)
    INCLUDE (specialty, practice_id, flags, first_reply_ms, to_close_ms, information_requests, awaiting_gp_ms);
DROP INDEX case_facts_by_specialty;
CREATE INDEX case_facts_by_specialty ON case_facts (specialty, submitted_at_ms)
    INCLUDE (icb_id, practice_id, flags, first_reply_ms, to_close_ms, information_requests, awaiting_gp_ms);
