-- Reply topics counted by day (issue 15, national scale): a report over every practice reads a
-- few thousand rows, not a year of tags (1.1M at 10M cases). A tag is counted on its day, in
-- the transaction that records it (db::reports::insert_topics); tags are never deleted.
CREATE TABLE report_topic_days (
    day_ms    BIGINT NOT NULL,
    specialty TEXT NOT NULL,
    topic     TEXT NOT NULL,
    cases     BIGINT NOT NULL,
    PRIMARY KEY (day_ms, specialty, topic)
);
INSERT INTO report_topic_days (day_ms, specialty, topic, cases)
SELECT tagged_at_ms - tagged_at_ms % 86400000, specialty, topic, COUNT(*)
FROM case_topics
GROUP BY tagged_at_ms - tagged_at_ms % 86400000, specialty, topic;
