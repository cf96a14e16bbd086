-- Reports at national scale (issue 15): what a report reads of case_topics, of the cases with no
-- reply, and of one ICB's facts comes from the index alone (an index-only scan), not from a heap
-- page per row. At 10M cases one ICB's year is 60,000 facts spread over 44,000 heap pages and
-- the year's topic tags 1.1M rows; read through the heap they took most of a report's time.
-- Topic tags are only ever inserted, and facts stop changing once their case is closed, so the
-- pages stay all-visible after autovacuum and the heap is rarely touched.
DROP INDEX case_topics_by_time;
CREATE INDEX case_topics_by_time ON case_topics (tagged_at_ms) INCLUDE (specialty, topic, practice_id);
DROP INDEX case_topics_by_specialty;
CREATE INDEX case_topics_by_specialty ON case_topics (specialty, tagged_at_ms) INCLUDE (topic, practice_id);
DROP INDEX case_topics_by_practice;
CREATE INDEX case_topics_by_practice ON case_topics (practice_id, tagged_at_ms) INCLUDE (specialty, topic);

DROP INDEX case_facts_unanswered;
CREATE INDEX case_facts_unanswered ON case_facts (submitted_at_ms)
    INCLUDE (target_ms, specialty, practice_id, icb_id, week_start_ms) WHERE first_reply_ms IS NULL;

-- Every column db::reports::facts reads.
DROP INDEX case_facts_by_icb;
CREATE INDEX case_facts_by_icb ON case_facts (icb_id, submitted_at_ms)
    INCLUDE (case_id, practice_id, specialty, urgency, target_ms, first_reply_ms,
             information_requests, awaiting_since_ms, awaiting_gp_ms, closed_at_ms, to_close_ms,
             outcome, national, redirected, converted, referral_due_at_ms, referral_made_at_ms,
             represented_at_ms);
