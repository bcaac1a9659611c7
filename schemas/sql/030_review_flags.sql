-- Studies a scheduled re-check flagged for re-review (retraction, expression of concern, erratum,
-- publication-type change). A flag is open until a grade event for that (claim, pmid) is newer.
CREATE TABLE IF NOT EXISTS review_flags (
    project     VARCHAR NOT NULL,
    claim_id    VARCHAR NOT NULL,
    pmid        VARCHAR NOT NULL,
    kinds       VARCHAR[] NOT NULL,
    reason      VARCHAR NOT NULL,
    included    BOOLEAN NOT NULL,       -- counted towards the rating before the change
    detected_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project, claim_id, pmid, detected_at)
);
