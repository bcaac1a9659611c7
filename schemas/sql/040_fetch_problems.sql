-- Records a source returned but the parser could not read (issue 16, finding 4): one row per PMID (or
-- per unreadable record without a readable PMID), kept until a later fetch stores that PMID.
CREATE TABLE IF NOT EXISTS fetch_problems (
    pmid          VARCHAR,                -- NULL when the record had no readable PMID
    reason        VARCHAR NOT NULL,       -- what the parser said, one line
    source        VARCHAR NOT NULL,       -- eutils | mirror
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at  TIMESTAMP NOT NULL,
    times_seen    INTEGER NOT NULL
);
