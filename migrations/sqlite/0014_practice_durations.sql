-- Medians for practices as for specialties: the practice day cells keep every case's durations
-- too. Filled for existing cases by the rebuild at start (the recorded figure set changes).
ALTER TABLE report_practice_days ADD COLUMN first_reply_list TEXT NOT NULL DEFAULT '';
ALTER TABLE report_practice_days ADD COLUMN to_close_list TEXT NOT NULL DEFAULT '';
ALTER TABLE report_practice_days ADD COLUMN awaiting_gp_list TEXT NOT NULL DEFAULT '';
