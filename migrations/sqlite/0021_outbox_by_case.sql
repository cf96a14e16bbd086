-- Erasing a case deletes its undelivered messages (retention, issue 15): by case, not a scan of
-- every message a national deployment has sent.
CREATE INDEX outbox_by_case ON outbox (case_id);
