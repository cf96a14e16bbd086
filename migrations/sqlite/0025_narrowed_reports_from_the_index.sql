-- As the PostgreSQL copy: the columns a narrowed report sums (db::reports::fact_cells) ride in
-- the indexes it reads; SQLite has no INCLUDE, so they trail the key.
DROP INDEX case_facts_by_icb;
CREATE INDEX case_facts_by_icb ON case_facts (icb_id, submitted_at_ms,
    specialty, practice_id, flags, first_reply_ms, to_close_ms, information_requests, awaiting_gp_ms);
DROP INDEX case_facts_by_specialty;
CREATE INDEX case_facts_by_specialty ON case_facts (specialty, submitted_at_ms,
    icb_id, practice_id, flags, first_reply_ms, to_close_ms, information_requests, awaiting_gp_ms);
