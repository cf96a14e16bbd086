-- Reports for commissioners: one row of facts per case, kept up to date from the audit trail, and
-- the topics consultants tag in their replies. The sqlite copy says the same in SQLite's dialect.
--
-- case_facts is derived data: a trigger on audit_events apply each case event (case.created,
-- case.replied, case.responded) to the case's row in the same transaction as the event, so the
-- facts can never disagree with the events that were recorded. Per-day rollups of the facts
-- (below) let a year's report read a few thousand rows. Reports never read cases or audit_events.

CREATE TABLE case_facts (
    case_id              TEXT PRIMARY KEY REFERENCES cases (id),
    practice_id          TEXT NOT NULL,
    specialty            TEXT NOT NULL,
    urgency              TEXT NOT NULL,
    -- The specialty's response target for this urgency when the case was submitted.
    target_ms            BIGINT NOT NULL,
    submitted_at_ms      BIGINT NOT NULL,
    -- Monday 00:00 UTC of the submission's week (1970-01-05 was a Monday: 345600000 ms).
    week_start_ms        BIGINT NOT NULL,
    -- First consultant reply (advice or request for information) minus submission.
    first_reply_ms       BIGINT,
    information_requests BIGINT NOT NULL DEFAULT 0,
    -- Set while the case waits for the GP's response; the wait is added to awaiting_gp_ms after.
    awaiting_since_ms    BIGINT,
    awaiting_gp_ms       BIGINT NOT NULL DEFAULT 0,
    closed_at_ms         BIGINT,
    -- Close minus submission minus time awaiting the GP: the service's own time.
    to_close_ms          BIGINT,
    -- The closing outcome (never request_information).
    outcome              TEXT,
    -- 1 when any reply came from a consultant on the national pool rota at the time.
    national             BIGINT NOT NULL DEFAULT 0,
    -- For a case closed as manage_in_primary_care: when a case for the same patient and specialty
    -- was next submitted, if that was within 90 days of the close.
    represented_at_ms    BIGINT
);
-- Finds a patient's earlier cases in the same specialty (re-presentation), without a scan.
CREATE INDEX cases_by_patient ON cases (nhs_number, specialty);

-- Topics a consultant tagged in a reply (lower case, trimmed); once per case and topic.
CREATE TABLE case_topics (
    case_id      TEXT NOT NULL REFERENCES cases (id),
    topic        TEXT NOT NULL,
    practice_id  TEXT NOT NULL,
    specialty    TEXT NOT NULL,
    tagged_at_ms BIGINT NOT NULL,
    PRIMARY KEY (case_id, topic)
);
CREATE INDEX case_topics_by_time ON case_topics (tagged_at_ms);
CREATE INDEX case_topics_by_specialty ON case_topics (specialty, tagged_at_ms);
CREATE INDEX case_topics_by_practice ON case_topics (practice_id, tagged_at_ms);

CREATE FUNCTION case_facts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    status TEXT;
BEGIN
    IF NEW.action = 'case.created' THEN
        INSERT INTO case_facts (case_id, practice_id, specialty, urgency, target_ms, submitted_at_ms, week_start_ms)
        SELECT c.id, c.practice_id, c.specialty, c.urgency,
               CASE c.urgency WHEN 'urgent' THEN s.urgent_target_ms ELSE s.routine_target_ms END,
               NEW.at_ms, NEW.at_ms - ((NEW.at_ms - 345600000) % 604800000)
        FROM cases c JOIN specialties s ON s.slug = c.specialty
        WHERE c.id = NEW.case_id
        ON CONFLICT (case_id) DO NOTHING;
        UPDATE case_facts SET represented_at_ms = NEW.at_ms
        WHERE represented_at_ms IS NULL AND outcome = 'manage_in_primary_care'
          AND closed_at_ms <= NEW.at_ms AND closed_at_ms >= NEW.at_ms - 7776000000
          AND case_id IN (SELECT o.id FROM cases o JOIN cases n
                          ON n.nhs_number = o.nhs_number AND n.specialty = o.specialty
                          WHERE n.id = NEW.case_id AND o.id <> n.id);
    ELSIF NEW.action = 'case.replied' THEN
        status := NEW.detail::jsonb ->> 'status';
        UPDATE case_facts SET
            first_reply_ms = COALESCE(first_reply_ms, NEW.at_ms - submitted_at_ms),
            information_requests = information_requests + CASE WHEN status = 'awaiting_gp' THEN 1 ELSE 0 END,
            awaiting_since_ms = CASE WHEN status = 'awaiting_gp' THEN NEW.at_ms END,
            closed_at_ms = CASE WHEN status = 'closed' THEN NEW.at_ms END,
            to_close_ms = CASE WHEN status = 'closed' THEN NEW.at_ms - submitted_at_ms - awaiting_gp_ms END,
            outcome = CASE WHEN status = 'closed' THEN NEW.detail::jsonb ->> 'outcome' END,
            national = CASE WHEN NEW.detail::jsonb ->> 'pool' = 'national' THEN 1 ELSE national END
        WHERE case_id = NEW.case_id;
    ELSIF NEW.action = 'case.responded' THEN
        UPDATE case_facts SET awaiting_gp_ms = awaiting_gp_ms + (NEW.at_ms - awaiting_since_ms),
            awaiting_since_ms = NULL
        WHERE case_id = NEW.case_id AND awaiting_since_ms IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER case_facts_from_audit AFTER INSERT ON audit_events FOR EACH ROW
    WHEN (NEW.action IN ('case.created', 'case.replied', 'case.responded'))
    EXECUTE FUNCTION case_facts_apply();

-- Backfill: the same rules, applied set-wise to the events already recorded. Replies recorded
-- before the reply detail carried the rota pool take it from the rota shift at the reply time.
ANALYZE audit_events;
ANALYZE cases;
CREATE TEMPORARY TABLE report_replies AS
SELECT r.case_id, r.at_ms, r.actor_id, c.specialty, r.detail::jsonb ->> 'status' AS status, r.detail::jsonb ->> 'outcome' AS outcome, r.detail::jsonb ->> 'pool' AS pool
FROM audit_events r JOIN cases c ON c.id = r.case_id WHERE r.action = 'case.replied';
CREATE INDEX report_replies_by_case ON report_replies (case_id, at_ms);
ANALYZE report_replies;

UPDATE report_replies SET pool = CASE
    WHEN EXISTS (SELECT 1 FROM rota_shifts z WHERE z.user_id = report_replies.actor_id
                   AND z.specialty = report_replies.specialty AND z.pool = 'local'
                   AND z.starts_at_ms <= report_replies.at_ms AND z.ends_at_ms > report_replies.at_ms)
        THEN 'local'
    WHEN EXISTS (SELECT 1 FROM rota_shifts z WHERE z.user_id = report_replies.actor_id
                   AND z.specialty = report_replies.specialty AND z.pool = 'national'
                   AND z.starts_at_ms <= report_replies.at_ms AND z.ends_at_ms > report_replies.at_ms)
        THEN 'national'
    END
WHERE pool IS NULL;

INSERT INTO case_facts (case_id, practice_id, specialty, urgency, target_ms, submitted_at_ms, week_start_ms,
    first_reply_ms, information_requests, awaiting_since_ms, awaiting_gp_ms, closed_at_ms, to_close_ms,
    outcome, national)
SELECT c.id, c.practice_id, c.specialty, c.urgency,
       CASE c.urgency WHEN 'urgent' THEN s.urgent_target_ms ELSE s.routine_target_ms END,
       e.at_ms, e.at_ms - ((e.at_ms - 345600000) % 604800000),
       r.first_at - e.at_ms,
       COALESCE(r.requests, 0),
       CASE WHEN r.closed_at IS NULL AND r.asked_at > COALESCE(w.responded_at, -1) THEN r.asked_at END,
       COALESCE(w.waited, 0),
       r.closed_at,
       r.closed_at - e.at_ms - COALESCE(w.waited, 0),
       r.outcome,
       COALESCE(r.national, 0)
FROM cases c
JOIN specialties s ON s.slug = c.specialty
JOIN (SELECT case_id, MIN(at_ms) AS at_ms FROM audit_events WHERE action = 'case.created' GROUP BY case_id) e
  ON e.case_id = c.id
LEFT JOIN (SELECT case_id, MIN(at_ms) AS first_at,
                  CAST(SUM(CASE WHEN status = 'awaiting_gp' THEN 1 ELSE 0 END) AS BIGINT) AS requests,
                  MAX(CASE WHEN status = 'awaiting_gp' THEN at_ms END) AS asked_at,
                  MAX(CASE WHEN pool = 'national' THEN 1 ELSE 0 END) AS national,
                  MAX(CASE WHEN status = 'closed' THEN at_ms END) AS closed_at,
                  MAX(CASE WHEN status = 'closed' THEN outcome END) AS outcome
           FROM report_replies GROUP BY case_id) r
  ON r.case_id = c.id
LEFT JOIN (SELECT g.case_id, MAX(g.at_ms) AS responded_at,
                  CAST(SUM(g.at_ms - (SELECT MAX(q.at_ms) FROM report_replies q
                                      WHERE q.case_id = g.case_id AND q.at_ms <= g.at_ms)) AS BIGINT) AS waited
           FROM audit_events g WHERE g.action = 'case.responded' GROUP BY g.case_id) w
  ON w.case_id = c.id;
DROP TABLE report_replies;

UPDATE case_facts SET represented_at_ms = x.next_at
FROM (SELECT f.case_id, MIN(n.submitted_at_ms) AS next_at
      FROM case_facts f JOIN cases o ON o.id = f.case_id
      JOIN cases n ON n.nhs_number = o.nhs_number AND n.specialty = o.specialty AND n.id <> o.id
      WHERE f.outcome = 'manage_in_primary_care'
        AND n.submitted_at_ms >= f.closed_at_ms AND n.submitted_at_ms <= f.closed_at_ms + 7776000000
      GROUP BY f.case_id) x
WHERE x.case_id = case_facts.case_id;

-- Indexes last: building them once is quicker than keeping them up to date during the backfill.
CREATE INDEX case_facts_by_submitted ON case_facts (submitted_at_ms);
CREATE INDEX case_facts_by_specialty ON case_facts (specialty, submitted_at_ms);
CREATE INDEX case_facts_by_practice ON case_facts (practice_id, submitted_at_ms);

-- Rollups for speed
-- Per-day rollups of case_facts, so a year's report reads a few thousand rows, not every case.
-- A case counts in the cell of its submission day (UTC), like the report's cohort. Counters hold
-- the sum over the day's cases of each flag below; the *_list columns hold every case's duration
-- in ms (",v1,v2…", appended once when it becomes known: durations never change after), so medians
-- and 90th percentiles stay exact. Kept by triggers on case_facts, in the same transaction.
CREATE TABLE report_specialty_days (
    specialty              TEXT NOT NULL,
    day_ms                 BIGINT NOT NULL,
    submitted              BIGINT NOT NULL DEFAULT 0,
    answered               BIGINT NOT NULL DEFAULT 0,
    answered_in_target     BIGINT NOT NULL DEFAULT 0,
    closed                 BIGINT NOT NULL DEFAULT 0,
    closed_in_target       BIGINT NOT NULL DEFAULT 0,
    manage_in_primary_care BIGINT NOT NULL DEFAULT 0,
    refer_routine          BIGINT NOT NULL DEFAULT 0,
    refer_urgent           BIGINT NOT NULL DEFAULT 0,
    refer_two_week_wait    BIGINT NOT NULL DEFAULT 0,
    redirect_specialty     BIGINT NOT NULL DEFAULT 0,
    information_requested  BIGINT NOT NULL DEFAULT 0,
    awaiting_gp            BIGINT NOT NULL DEFAULT 0,
    national_pool          BIGINT NOT NULL DEFAULT 0,
    represented            BIGINT NOT NULL DEFAULT 0,
    first_reply_list       TEXT NOT NULL DEFAULT '',
    to_close_list          TEXT NOT NULL DEFAULT '',
    awaiting_gp_list       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (specialty, day_ms)
);
CREATE INDEX report_specialty_days_by_day ON report_specialty_days (day_ms);

CREATE TABLE report_practice_days (
    practice_id            TEXT NOT NULL,
    day_ms                 BIGINT NOT NULL,
    submitted              BIGINT NOT NULL DEFAULT 0,
    answered               BIGINT NOT NULL DEFAULT 0,
    answered_in_target     BIGINT NOT NULL DEFAULT 0,
    closed                 BIGINT NOT NULL DEFAULT 0,
    closed_in_target       BIGINT NOT NULL DEFAULT 0,
    manage_in_primary_care BIGINT NOT NULL DEFAULT 0,
    refer_routine          BIGINT NOT NULL DEFAULT 0,
    refer_urgent           BIGINT NOT NULL DEFAULT 0,
    refer_two_week_wait    BIGINT NOT NULL DEFAULT 0,
    redirect_specialty     BIGINT NOT NULL DEFAULT 0,
    information_requested  BIGINT NOT NULL DEFAULT 0,
    awaiting_gp            BIGINT NOT NULL DEFAULT 0,
    national_pool          BIGINT NOT NULL DEFAULT 0,
    represented            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (practice_id, day_ms)
);
CREATE INDEX report_practice_days_by_day ON report_practice_days (day_ms);

-- Backfill of the rollups from case_facts: the triggers' sums, set-wise.
INSERT INTO report_specialty_days (specialty, day_ms, submitted, answered, answered_in_target, closed, closed_in_target, manage_in_primary_care, refer_routine, refer_urgent, refer_two_week_wait, redirect_specialty, information_requested, awaiting_gp, national_pool, represented,
    first_reply_list, to_close_list, awaiting_gp_list)
SELECT f.specialty, f.submitted_at_ms - (f.submitted_at_ms % 86400000),
       CAST(SUM(1) AS BIGINT),
       CAST(SUM(CASE WHEN f.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.first_reply_ms <= f.target_ms THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.to_close_ms <= f.target_ms THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'refer_routine' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'refer_urgent' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'redirect_specialty' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.information_requests > 0 THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(f.national) AS BIGINT),
       CAST(SUM(CASE WHEN f.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       COALESCE(string_agg(',' || f.first_reply_ms, ''), ''),
       COALESCE(string_agg(',' || f.to_close_ms, ''), ''),
       COALESCE(string_agg(CASE WHEN f.to_close_ms IS NOT NULL AND f.information_requests > 0 THEN ',' || f.awaiting_gp_ms END, ''), '')
FROM case_facts f GROUP BY f.specialty, f.submitted_at_ms - (f.submitted_at_ms % 86400000);

INSERT INTO report_practice_days (practice_id, day_ms, submitted, answered, answered_in_target, closed, closed_in_target, manage_in_primary_care, refer_routine, refer_urgent, refer_two_week_wait, redirect_specialty, information_requested, awaiting_gp, national_pool, represented)
SELECT f.practice_id, f.submitted_at_ms - (f.submitted_at_ms % 86400000),
       CAST(SUM(1) AS BIGINT),
       CAST(SUM(CASE WHEN f.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.first_reply_ms <= f.target_ms THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.to_close_ms <= f.target_ms THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'refer_routine' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'refer_urgent' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.outcome = 'redirect_specialty' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.information_requests > 0 THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN f.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(f.national) AS BIGINT),
       CAST(SUM(CASE WHEN f.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT)
FROM case_facts f GROUP BY f.practice_id, f.submitted_at_ms - (f.submitted_at_ms % 86400000);

-- Rollup triggers: a change to a case's facts moves its day cells by the difference.
CREATE FUNCTION report_days_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
    INSERT INTO report_specialty_days (specialty, day_ms, submitted, answered, answered_in_target, closed, closed_in_target, manage_in_primary_care, refer_routine, refer_urgent, refer_two_week_wait, redirect_specialty, information_requested, awaiting_gp, national_pool, represented,
        first_reply_list, to_close_list, awaiting_gp_list)
    VALUES (NEW.specialty, NEW.submitted_at_ms - (NEW.submitted_at_ms % 86400000),
            1,
            CASE WHEN NEW.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN NEW.first_reply_ms <= NEW.target_ms THEN 1 ELSE 0 END,
            CASE WHEN NEW.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN NEW.to_close_ms <= NEW.target_ms THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'refer_routine' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'refer_urgent' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'redirect_specialty' THEN 1 ELSE 0 END,
            CASE WHEN NEW.information_requests > 0 THEN 1 ELSE 0 END,
            CASE WHEN NEW.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END,
            NEW.national,
            CASE WHEN NEW.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN NEW.first_reply_ms IS NOT NULL THEN ',' || NEW.first_reply_ms ELSE '' END,
            CASE WHEN NEW.to_close_ms IS NOT NULL THEN ',' || NEW.to_close_ms ELSE '' END,
            CASE WHEN NEW.to_close_ms IS NOT NULL AND NEW.information_requests > 0 THEN ',' || NEW.awaiting_gp_ms ELSE '' END)
    ON CONFLICT (specialty, day_ms) DO UPDATE SET
        submitted = report_specialty_days.submitted + excluded.submitted,
        answered = report_specialty_days.answered + excluded.answered,
        answered_in_target = report_specialty_days.answered_in_target + excluded.answered_in_target,
        closed = report_specialty_days.closed + excluded.closed,
        closed_in_target = report_specialty_days.closed_in_target + excluded.closed_in_target,
        manage_in_primary_care = report_specialty_days.manage_in_primary_care + excluded.manage_in_primary_care,
        refer_routine = report_specialty_days.refer_routine + excluded.refer_routine,
        refer_urgent = report_specialty_days.refer_urgent + excluded.refer_urgent,
        refer_two_week_wait = report_specialty_days.refer_two_week_wait + excluded.refer_two_week_wait,
        redirect_specialty = report_specialty_days.redirect_specialty + excluded.redirect_specialty,
        information_requested = report_specialty_days.information_requested + excluded.information_requested,
        awaiting_gp = report_specialty_days.awaiting_gp + excluded.awaiting_gp,
        national_pool = report_specialty_days.national_pool + excluded.national_pool,
        represented = report_specialty_days.represented + excluded.represented,
        first_reply_list = report_specialty_days.first_reply_list || excluded.first_reply_list,
        to_close_list = report_specialty_days.to_close_list || excluded.to_close_list,
        awaiting_gp_list = report_specialty_days.awaiting_gp_list || excluded.awaiting_gp_list;
    INSERT INTO report_practice_days (practice_id, day_ms, submitted, answered, answered_in_target, closed, closed_in_target, manage_in_primary_care, refer_routine, refer_urgent, refer_two_week_wait, redirect_specialty, information_requested, awaiting_gp, national_pool, represented)
    VALUES (NEW.practice_id, NEW.submitted_at_ms - (NEW.submitted_at_ms % 86400000),
            1,
            CASE WHEN NEW.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN NEW.first_reply_ms <= NEW.target_ms THEN 1 ELSE 0 END,
            CASE WHEN NEW.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END,
            CASE WHEN NEW.to_close_ms <= NEW.target_ms THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'refer_routine' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'refer_urgent' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END,
            CASE WHEN NEW.outcome = 'redirect_specialty' THEN 1 ELSE 0 END,
            CASE WHEN NEW.information_requests > 0 THEN 1 ELSE 0 END,
            CASE WHEN NEW.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END,
            NEW.national,
            CASE WHEN NEW.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END)
    ON CONFLICT (practice_id, day_ms) DO UPDATE SET
        submitted = report_practice_days.submitted + excluded.submitted,
        answered = report_practice_days.answered + excluded.answered,
        answered_in_target = report_practice_days.answered_in_target + excluded.answered_in_target,
        closed = report_practice_days.closed + excluded.closed,
        closed_in_target = report_practice_days.closed_in_target + excluded.closed_in_target,
        manage_in_primary_care = report_practice_days.manage_in_primary_care + excluded.manage_in_primary_care,
        refer_routine = report_practice_days.refer_routine + excluded.refer_routine,
        refer_urgent = report_practice_days.refer_urgent + excluded.refer_urgent,
        refer_two_week_wait = report_practice_days.refer_two_week_wait + excluded.refer_two_week_wait,
        redirect_specialty = report_practice_days.redirect_specialty + excluded.redirect_specialty,
        information_requested = report_practice_days.information_requested + excluded.information_requested,
        awaiting_gp = report_practice_days.awaiting_gp + excluded.awaiting_gp,
        national_pool = report_practice_days.national_pool + excluded.national_pool,
        represented = report_practice_days.represented + excluded.represented;
    ELSE
    INSERT INTO report_specialty_days (specialty, day_ms, submitted, answered, answered_in_target, closed, closed_in_target, manage_in_primary_care, refer_routine, refer_urgent, refer_two_week_wait, redirect_specialty, information_requested, awaiting_gp, national_pool, represented,
        first_reply_list, to_close_list, awaiting_gp_list)
    VALUES (NEW.specialty, NEW.submitted_at_ms - (NEW.submitted_at_ms % 86400000),
            (1) - (1),
            (CASE WHEN NEW.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END),
            (CASE WHEN NEW.first_reply_ms <= NEW.target_ms THEN 1 ELSE 0 END) - (CASE WHEN OLD.first_reply_ms <= OLD.target_ms THEN 1 ELSE 0 END),
            (CASE WHEN NEW.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END),
            (CASE WHEN NEW.to_close_ms <= NEW.target_ms THEN 1 ELSE 0 END) - (CASE WHEN OLD.to_close_ms <= OLD.target_ms THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'refer_routine' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'refer_routine' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'refer_urgent' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'refer_urgent' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'redirect_specialty' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'redirect_specialty' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.information_requests > 0 THEN 1 ELSE 0 END) - (CASE WHEN OLD.information_requests > 0 THEN 1 ELSE 0 END),
            (CASE WHEN NEW.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END),
            (NEW.national) - (OLD.national),
            (CASE WHEN NEW.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END),
            CASE WHEN OLD.first_reply_ms IS NULL AND NEW.first_reply_ms IS NOT NULL THEN ',' || NEW.first_reply_ms ELSE '' END,
            CASE WHEN OLD.to_close_ms IS NULL AND NEW.to_close_ms IS NOT NULL THEN ',' || NEW.to_close_ms ELSE '' END,
            CASE WHEN OLD.to_close_ms IS NULL AND NEW.to_close_ms IS NOT NULL AND NEW.information_requests > 0 THEN ',' || NEW.awaiting_gp_ms ELSE '' END)
    ON CONFLICT (specialty, day_ms) DO UPDATE SET
        submitted = report_specialty_days.submitted + excluded.submitted,
        answered = report_specialty_days.answered + excluded.answered,
        answered_in_target = report_specialty_days.answered_in_target + excluded.answered_in_target,
        closed = report_specialty_days.closed + excluded.closed,
        closed_in_target = report_specialty_days.closed_in_target + excluded.closed_in_target,
        manage_in_primary_care = report_specialty_days.manage_in_primary_care + excluded.manage_in_primary_care,
        refer_routine = report_specialty_days.refer_routine + excluded.refer_routine,
        refer_urgent = report_specialty_days.refer_urgent + excluded.refer_urgent,
        refer_two_week_wait = report_specialty_days.refer_two_week_wait + excluded.refer_two_week_wait,
        redirect_specialty = report_specialty_days.redirect_specialty + excluded.redirect_specialty,
        information_requested = report_specialty_days.information_requested + excluded.information_requested,
        awaiting_gp = report_specialty_days.awaiting_gp + excluded.awaiting_gp,
        national_pool = report_specialty_days.national_pool + excluded.national_pool,
        represented = report_specialty_days.represented + excluded.represented,
        first_reply_list = report_specialty_days.first_reply_list || excluded.first_reply_list,
        to_close_list = report_specialty_days.to_close_list || excluded.to_close_list,
        awaiting_gp_list = report_specialty_days.awaiting_gp_list || excluded.awaiting_gp_list;
    INSERT INTO report_practice_days (practice_id, day_ms, submitted, answered, answered_in_target, closed, closed_in_target, manage_in_primary_care, refer_routine, refer_urgent, refer_two_week_wait, redirect_specialty, information_requested, awaiting_gp, national_pool, represented)
    VALUES (NEW.practice_id, NEW.submitted_at_ms - (NEW.submitted_at_ms % 86400000),
            (1) - (1),
            (CASE WHEN NEW.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END),
            (CASE WHEN NEW.first_reply_ms <= NEW.target_ms THEN 1 ELSE 0 END) - (CASE WHEN OLD.first_reply_ms <= OLD.target_ms THEN 1 ELSE 0 END),
            (CASE WHEN NEW.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END),
            (CASE WHEN NEW.to_close_ms <= NEW.target_ms THEN 1 ELSE 0 END) - (CASE WHEN OLD.to_close_ms <= OLD.target_ms THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'refer_routine' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'refer_routine' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'refer_urgent' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'refer_urgent' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.outcome = 'redirect_specialty' THEN 1 ELSE 0 END) - (CASE WHEN OLD.outcome = 'redirect_specialty' THEN 1 ELSE 0 END),
            (CASE WHEN NEW.information_requests > 0 THEN 1 ELSE 0 END) - (CASE WHEN OLD.information_requests > 0 THEN 1 ELSE 0 END),
            (CASE WHEN NEW.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END),
            (NEW.national) - (OLD.national),
            (CASE WHEN NEW.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END) - (CASE WHEN OLD.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END))
    ON CONFLICT (practice_id, day_ms) DO UPDATE SET
        submitted = report_practice_days.submitted + excluded.submitted,
        answered = report_practice_days.answered + excluded.answered,
        answered_in_target = report_practice_days.answered_in_target + excluded.answered_in_target,
        closed = report_practice_days.closed + excluded.closed,
        closed_in_target = report_practice_days.closed_in_target + excluded.closed_in_target,
        manage_in_primary_care = report_practice_days.manage_in_primary_care + excluded.manage_in_primary_care,
        refer_routine = report_practice_days.refer_routine + excluded.refer_routine,
        refer_urgent = report_practice_days.refer_urgent + excluded.refer_urgent,
        refer_two_week_wait = report_practice_days.refer_two_week_wait + excluded.refer_two_week_wait,
        redirect_specialty = report_practice_days.redirect_specialty + excluded.redirect_specialty,
        information_requested = report_practice_days.information_requested + excluded.information_requested,
        awaiting_gp = report_practice_days.awaiting_gp + excluded.awaiting_gp,
        national_pool = report_practice_days.national_pool + excluded.national_pool,
        represented = report_practice_days.represented + excluded.represented;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER report_days_from_facts AFTER INSERT OR UPDATE ON case_facts FOR EACH ROW
    EXECUTE FUNCTION report_days_apply();
