-- Retraction Watch notices (Crossref's CSV, `litgrade retractions ingest`): retractions, expressions of
-- concern, corrections and reinstatements, matched to stored records by PMID or DOI. One row per
-- Retraction Watch Record ID; a re-ingest of the same file leaves every row as it was.
CREATE TABLE IF NOT EXISTS retraction_notices (
    record_id     VARCHAR PRIMARY KEY,   -- Retraction Watch "Record ID"
    nature        VARCHAR NOT NULL,      -- retraction | expression_of_concern | correction | reinstatement | unspecified
    original_doi  VARCHAR,               -- lowercased, no resolver prefix
    original_pmid VARCHAR,
    notice_date   DATE,                  -- "RetractionDate"
    notice_doi    VARCHAR,
    notice_pmid   VARCHAR,
    reason        VARCHAR NOT NULL,
    title         VARCHAR NOT NULL,
    source_file   VARCHAR NOT NULL,      -- the file (name) it was last changed from
    ingested_at   TIMESTAMP NOT NULL     -- when it was first stored or last changed
);

-- Which notices the living run's re-check has already raised for a graded (claim, study): each is
-- raised once, as a re-review flag.
CREATE TABLE IF NOT EXISTS notice_flags (
    project    VARCHAR NOT NULL,
    claim_id   VARCHAR NOT NULL,
    pmid       VARCHAR NOT NULL,
    record_id  VARCHAR NOT NULL,
    raised_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (project, claim_id, pmid, record_id)
);
