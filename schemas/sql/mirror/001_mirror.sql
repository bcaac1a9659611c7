-- The PubMed mirror file (LITGRADE_MIRROR): one row per PMID with search columns prepared at ingest
-- (see flows/store/mirror.py for their format), the files ingested, and a few key/value facts.
-- Applied once, in file-name order, by flows/store/db.py; schema_version records what has been applied.
-- Mirrors made before this folder existed hold exactly these tables and count as at migration 1.

CREATE TABLE IF NOT EXISTS mirror_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);

CREATE TABLE IF NOT EXISTS mirror_files (
    sha256 VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    records INTEGER NOT NULL,
    deletions INTEGER NOT NULL,
    problems INTEGER NOT NULL,
    ingested_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS mirror_records (
    pmid VARCHAR PRIMARY KEY,
    version INTEGER NOT NULL,
    title VARCHAR NOT NULL,
    ti_n VARCHAR NOT NULL,
    ab_n VARCHAR NOT NULL,
    kw_n VARCHAR NOT NULL,
    mesh_n VARCHAR NOT NULL,
    majr_n VARCHAR NOT NULL,
    pt_n VARCHAR NOT NULL,
    la_n VARCHAR NOT NULL,
    au_n VARCHAR NOT NULL,
    pub_year INTEGER,
    pub_date DATE,
    epub_date DATE,
    entry_date DATE,
    date_revised DATE,
    record VARCHAR NOT NULL
);
