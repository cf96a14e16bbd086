-- The PostgreSQL copy makes a report's reads of topic tags and of the cases with no reply
-- index-only (issue 15, national scale). SQLite has no INCLUDE; trailing columns make the same
-- indexes covering. (One ICB's facts are a national deployment's concern, so PostgreSQL's.)
DROP INDEX case_topics_by_time;
CREATE INDEX case_topics_by_time ON case_topics (tagged_at_ms, specialty, topic, practice_id);
DROP INDEX case_topics_by_specialty;
CREATE INDEX case_topics_by_specialty ON case_topics (specialty, tagged_at_ms, topic, practice_id);
DROP INDEX case_topics_by_practice;
CREATE INDEX case_topics_by_practice ON case_topics (practice_id, tagged_at_ms, specialty, topic);

DROP INDEX case_facts_unanswered;
CREATE INDEX case_facts_unanswered ON case_facts
    (submitted_at_ms, target_ms, specialty, practice_id, icb_id, week_start_ms) WHERE first_reply_ms IS NULL;
