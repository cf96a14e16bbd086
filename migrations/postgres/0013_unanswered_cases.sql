-- Reports count the cases past their target with no reply yet ("overdue, not answered") when
-- they are read, as that changes with time, not with events. Few cases are unanswered, so a
-- partial index finds them without reading a period's facts.
CREATE INDEX case_facts_unanswered ON case_facts (submitted_at_ms) WHERE first_reply_ms IS NULL;
