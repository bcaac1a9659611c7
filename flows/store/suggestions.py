"""Suggested study designs: one row per PMID, made from one version of the record by one suggester.

A suggestion is never a grade. Rows name the suggester version and the record's content hash, so a
changed record or changed rules show up as stale (`pmids_needing_suggestions`) and get recomputed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import duckdb
import pandas as pd

from flows.curation.suggest import SUGGESTER_VERSION, Suggestion
from flows.pubmed.records import Article
from flows.store.articles import content_hash
from flows.store.db import transaction

COLUMNS = ("pmid", "level", "confidence", "reasons", "suggester", "content_hash", "created_at")


def save_suggestions(
    con: duckdb.DuckDBPyConnection,
    items: Sequence[tuple[Article, Suggestion]],
    now: dt.datetime,
    suggester: str = SUGGESTER_VERSION,
    hashes: Mapping[str, str] | None = None,
) -> int:
    """Store (article, suggestion) pairs in one transaction; returns how many rows were written.

    `hashes` (pmid → content hash, as `upsert_articles` returns them) saves encoding each record again.

    Idempotent: a pair identical to what is stored (same record version, suggester and answer) is left
    alone, keeping its original created_at.
    """
    latest: dict[str, tuple[str, Suggestion]] = {}
    for article, suggestion in items:  # the last pair per PMID wins, as in upsert_articles
        digest = hashes.get(article.pmid) if hashes else None
        latest[article.pmid] = (digest or content_hash(article), suggestion)
    if not latest:
        return 0
    stored = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT pmid, level, confidence, reasons, suggester, content_hash FROM suggestions "
            "WHERE pmid IN (SELECT unnest(?))",
            [list(latest)],
        ).fetchall()
    }
    rows = []
    for pmid, (digest, s) in latest.items():
        fresh = (s.level, float(s.confidence), list(s.reasons), suggester, digest)
        if stored.get(pmid) != fresh:
            rows.append({
                "pmid": pmid, "level": s.level, "confidence": float(s.confidence),
                "reasons": list(s.reasons), "suggester": suggester, "content_hash": digest,
                "created_at": now,
            })  # fmt: skip
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    columns = ", ".join(COLUMNS)
    with transaction(con, incoming_suggestions=frame):
        con.execute("DELETE FROM suggestions WHERE pmid IN (SELECT pmid FROM incoming_suggestions)")
        con.execute(
            f"INSERT INTO suggestions ({columns}) SELECT pmid, level, confidence, "
            "CAST(reasons AS VARCHAR[]), suggester, content_hash, created_at FROM incoming_suggestions"
        )
    return len(rows)


def get_suggestions(con: duckdb.DuckDBPyConnection, pmids: Iterable[str]) -> dict[str, Suggestion]:
    """Stored suggestions for these PMIDs (those without one are absent), in the order asked."""
    wanted = list(dict.fromkeys(pmids))
    if not wanted:
        return {}
    rows = con.execute(
        "SELECT pmid, level, confidence, reasons FROM suggestions WHERE pmid IN (SELECT unnest(?))",
        [wanted],
    ).fetchall()
    found = {p: Suggestion(level, float(conf), tuple(reasons or ())) for p, level, conf, reasons in rows}
    return {p: found[p] for p in wanted if p in found}


def get_suggestion(con: duckdb.DuckDBPyConnection, pmid: str) -> Suggestion | None:
    return get_suggestions(con, [pmid]).get(pmid)


def pmids_needing_suggestions(
    con: duckdb.DuckDBPyConnection, suggester: str = SUGGESTER_VERSION
) -> list[str]:
    """Stored articles with no suggestion, or one made from another record version or other rules."""
    rows = con.execute(
        "SELECT a.pmid FROM articles a LEFT JOIN suggestions s ON s.pmid = a.pmid "
        "WHERE s.pmid IS NULL OR s.content_hash <> a.content_hash OR s.suggester <> ? ORDER BY a.pmid",
        [suggester],
    ).fetchall()
    return [r[0] for r in rows]
