-- The patient's sex (NHS administrative-gender codes: male, female, other, unknown), shown beside
-- the age. Cases from before have none recorded.
ALTER TABLE cases ADD COLUMN sex TEXT CHECK (sex IS NULL OR sex IN ('male', 'female', 'other', 'unknown'));
