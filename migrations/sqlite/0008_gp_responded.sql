-- Contract 1.1: the GP's response returns a case to the consultant who asked for information,
-- marked "GP replied" (`gp_responded` in the API) until a consultant replies again. Set by the
-- response, cleared by the next reply.
ALTER TABLE cases ADD COLUMN gp_responded_at_ms BIGINT;
