-- Appraisal fields of a grade (issue 14: GRADE certainty), in the grade tables `litgrade grades load`
-- replaces: the domain that drove risk of bias, the exposure studied, indirectness and its reason,
-- the claim outcome the study maps to and the kind of outcome it measured. NULL for older events.
ALTER TABLE grade_events ADD COLUMN IF NOT EXISTS bias_domain VARCHAR;
ALTER TABLE grade_events ADD COLUMN IF NOT EXISTS exposure VARCHAR;
ALTER TABLE grade_events ADD COLUMN IF NOT EXISTS indirectness VARCHAR;
ALTER TABLE grade_events ADD COLUMN IF NOT EXISTS indirect_reason VARCHAR;
ALTER TABLE grade_events ADD COLUMN IF NOT EXISTS outcome VARCHAR;
ALTER TABLE grade_events ADD COLUMN IF NOT EXISTS outcome_kind VARCHAR;
ALTER TABLE final_grades ADD COLUMN IF NOT EXISTS bias_domain VARCHAR;
ALTER TABLE final_grades ADD COLUMN IF NOT EXISTS exposure VARCHAR;
ALTER TABLE final_grades ADD COLUMN IF NOT EXISTS indirectness VARCHAR;
ALTER TABLE final_grades ADD COLUMN IF NOT EXISTS indirect_reason VARCHAR;
ALTER TABLE final_grades ADD COLUMN IF NOT EXISTS outcome VARCHAR;
ALTER TABLE final_grades ADD COLUMN IF NOT EXISTS outcome_kind VARCHAR;
