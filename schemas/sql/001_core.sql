-- Core tables: articles (one row per PMID), search runs, which run found which article for which claim.
-- Applied once, in file-name order, by flows/store/db.py; schema_version records what has been applied.

CREATE TABLE IF NOT EXISTS articles (
    pmid            VARCHAR PRIMARY KEY,
    version         INTEGER NOT NULL DEFAULT 1,
    title           VARCHAR NOT NULL,
    abstract_text   VARCHAR NOT NULL DEFAULT '',
    journal         VARCHAR,
    pub_year        INTEGER,
    pub_date        DATE,
    pub_date_raw    VARCHAR,
    doi             VARCHAR,
    pmc             VARCHAR,
    publication_types VARCHAR[] NOT NULL DEFAULT [],
    mesh_terms      VARCHAR[] NOT NULL DEFAULT [],
    languages       VARCHAR[] NOT NULL DEFAULT [],
    status          VARCHAR,
    date_revised    DATE,
    is_retracted    BOOLEAN NOT NULL DEFAULT FALSE,
    is_retraction_notice BOOLEAN NOT NULL DEFAULT FALSE,
    has_expression_of_concern BOOLEAN NOT NULL DEFAULT FALSE,
    record          JSON NOT NULL,          -- the full flows.records.Article as JSON
    content_hash    VARCHAR NOT NULL,       -- sha256 of `record`: tells a changed record from a re-fetch
    first_seen_at   TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS search_run_ids START 1;

CREATE TABLE IF NOT EXISTS search_runs (
    run_id          BIGINT PRIMARY KEY DEFAULT nextval('search_run_ids'),
    project         VARCHAR NOT NULL,
    claim_id        VARCHAR NOT NULL,
    query           VARCHAR NOT NULL,
    query_hash      VARCHAR NOT NULL,
    source          VARCHAR NOT NULL DEFAULT 'eutils',  -- eutils | mirror
    source_detail   VARCHAR,                           -- base URL, or mirror snapshot date
    query_translation VARCHAR,
    approximation   VARCHAR,                           -- how a mirror evaluated what it could not do exactly
    result_count    BIGINT,
    pmids_found     BIGINT,
    new_pmids       BIGINT,
    fetched         BIGINT,
    mindate         VARCHAR,                           -- date window asked for (entry date), NULL = all time
    maxdate         VARCHAR,
    incremental     BOOLEAN NOT NULL DEFAULT FALSE,
    errors          JSON,                              -- NCBI ErrorList (PhraseNotFound, FieldNotFound)
    warnings        JSON,                              -- NCBI WarningList and our own notes
    missing_pmids   VARCHAR[] NOT NULL DEFAULT [],     -- asked for, not returned: the next refresh retries
    requests        INTEGER,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    status          VARCHAR NOT NULL DEFAULT 'running', -- running | completed | incomplete | failed
    error           VARCHAR
);

CREATE TABLE IF NOT EXISTS claim_hits (
    project         VARCHAR NOT NULL,
    claim_id        VARCHAR NOT NULL,
    pmid            VARCHAR NOT NULL,
    first_run_id    BIGINT NOT NULL,
    last_run_id     BIGINT NOT NULL,
    PRIMARY KEY (project, claim_id, pmid)
);

-- Every (run, pmid) pair: lets PRISMA count records identified per run and duplicates across runs.
CREATE TABLE IF NOT EXISTS run_hits (
    run_id          BIGINT NOT NULL,
    pmid            VARCHAR NOT NULL,
    PRIMARY KEY (run_id, pmid)
);

CREATE TABLE IF NOT EXISTS suggestions (
    pmid            VARCHAR PRIMARY KEY,
    level           VARCHAR NOT NULL,
    confidence      DOUBLE NOT NULL,
    reasons         VARCHAR[] NOT NULL DEFAULT [],
    suggester       VARCHAR NOT NULL,        -- name+version of the rules that made it
    content_hash    VARCHAR NOT NULL,        -- the article version it was made from
    created_at      TIMESTAMP NOT NULL
);
