-- Curators' grades, loaded from curated/<project>/grades/*.jsonl (the files are the truth; these
-- tables are replaced per project on each load) so reports and queries can join grades with articles.

CREATE TABLE IF NOT EXISTS grade_events (
    project         VARCHAR NOT NULL,
    seq             INTEGER NOT NULL,          -- position in the loaded event list (per-curator file order)
    claim_id        VARCHAR NOT NULL,
    pmid            VARCHAR NOT NULL,
    curator         VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,          -- grade | adjudication | retract
    relevance       VARCHAR,
    exclude_reason  VARCHAR,
    level           VARCHAR,
    direction       VARCHAR,
    population      BIGINT,
    risk_of_bias    VARCHAR,
    quote           VARCHAR,
    note            VARCHAR,
    graded_at       TIMESTAMP NOT NULL,        -- UTC
    PRIMARY KEY (project, seq)
);

CREATE TABLE IF NOT EXISTS final_grades (
    project         VARCHAR NOT NULL,
    claim_id        VARCHAR NOT NULL,
    pmid            VARCHAR NOT NULL,
    relevance       VARCHAR NOT NULL,
    exclude_reason  VARCHAR,
    level           VARCHAR,
    direction       VARCHAR,
    population      BIGINT,
    risk_of_bias    VARCHAR,
    quote           VARCHAR,
    note            VARCHAR,
    curators        VARCHAR[] NOT NULL,
    decided_by      VARCHAR NOT NULL,          -- single | agreement | adjudication
    decided_at      TIMESTAMP,                 -- UTC
    PRIMARY KEY (project, claim_id, pmid)
);
