"""Articles: one row per PMID, upserted in bulk (Arrow via pandas), the full record kept as JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from flows.pubmed.codec import article_from_json, article_to_json
from flows.pubmed.dates import iso_day
from flows.pubmed.records import Article
from flows.store.db import transaction

ARTICLE_COLUMNS = (
    "pmid", "version", "title", "abstract_text", "journal", "pub_year", "pub_date", "pub_date_raw",
    "doi", "pmc", "publication_types", "mesh_terms", "languages", "status", "date_revised",
    "is_retracted", "is_retraction_notice", "has_expression_of_concern", "record", "content_hash",
)  # fmt: skip
DATE_COLUMNS = ("pub_date", "date_revised")


def content_hash(article: Article) -> str:
    """Identifies one version of a record's content: a re-fetch that changed nothing has the same hash."""
    return _digest(article_to_json(article))


def _digest(record: str) -> str:
    return hashlib.sha256(record.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    new: int
    changed: int
    unchanged: int
    changed_pmids: tuple[str, ...] = ()
    hashes: dict[str, str] = field(default_factory=dict)  # pmid -> content hash of every input record


def _row(article: Article) -> dict[str, object]:
    record = article_to_json(article)
    return {
        "pmid": article.pmid,
        "version": article.version,
        "title": article.title,
        "abstract_text": article.abstract_text,
        "journal": article.journal.iso_abbreviation or article.journal.title,
        "pub_year": article.pub_date.year,
        "pub_date": iso_day(article.pub_date.sort_date),
        "pub_date_raw": article.pub_date.raw,
        "doi": article.doi,
        "pmc": article.pmc,
        "publication_types": list(article.publication_type_names),
        "mesh_terms": list(article.mesh_descriptors),
        "languages": list(article.languages),
        "status": article.status,
        "date_revised": iso_day(article.date_revised),
        "is_retracted": article.is_retracted,
        "is_retraction_notice": article.is_retraction_notice,
        "has_expression_of_concern": article.has_expression_of_concern,
        "record": record,
        "content_hash": _digest(record),
    }


def upsert_articles(
    con: duckdb.DuckDBPyConnection, articles: Sequence[Article], now: dt.datetime
) -> UpsertCounts:
    """Insert new PMIDs, replace changed ones, leave identical ones untouched (idempotent)."""
    latest: dict[str, Article] = {}
    for article in articles:  # the last version in input order wins, as in PubMed update files
        latest[article.pmid] = article
    if not latest:
        return UpsertCounts(0, 0, 0)
    frame = pd.DataFrame([_row(a) for a in latest.values()], columns=list(ARTICLE_COLUMNS))
    existing = {
        pmid: (digest, first_seen)
        for pmid, digest, first_seen in con.execute(
            "SELECT pmid, content_hash, first_seen_at FROM articles WHERE pmid IN (SELECT unnest(?))",
            [list(latest)],
        ).fetchall()
    }
    is_new = ~frame["pmid"].isin(list(existing))
    stored_hash = frame["pmid"].map(lambda pmid: existing.get(pmid, (None, None))[0])
    is_changed = ~is_new & (stored_hash != frame["content_hash"])
    to_write = frame[is_new | is_changed].copy()
    changed = tuple(sorted(to_write.loc[~to_write["pmid"].isin(frame.loc[is_new, "pmid"]), "pmid"]))
    if not to_write.empty:
        to_write["first_seen_at"] = [existing.get(p, (None, now))[1] for p in to_write["pmid"]]
        to_write["updated_at"] = now
        for column in DATE_COLUMNS:
            to_write[column] = pd.to_datetime(to_write[column]).astype("datetime64[s]")
        names = [*ARTICLE_COLUMNS, "first_seen_at", "updated_at"]
        columns = ", ".join(names)
        select = ", ".join(f"{c}::DATE" if c in DATE_COLUMNS else c for c in names)
        with transaction(con, incoming_articles=to_write):
            con.execute("DELETE FROM articles WHERE pmid IN (SELECT unnest(?))", [list(changed)])
            con.execute(f"INSERT INTO articles ({columns}) SELECT {select} FROM incoming_articles")
    new = int(is_new.sum())
    return UpsertCounts(
        new=new,
        changed=len(changed),
        unchanged=len(latest) - new - len(changed),
        changed_pmids=changed,
        hashes=dict(zip(frame["pmid"], frame["content_hash"], strict=True)),
    )


def get_articles(con: duckdb.DuckDBPyConnection, pmids: Iterable[str]) -> dict[str, Article]:
    wanted = list(dict.fromkeys(pmids))
    if not wanted:
        return {}
    rows = con.execute(
        "SELECT pmid, record FROM articles WHERE pmid IN (SELECT unnest(?))", [wanted]
    ).fetchall()
    found = {pmid: article_from_json(record) for pmid, record in rows}
    return {p: found[p] for p in wanted if p in found}


# -- records the parser could not read (schemas/sql/040_fetch_problems.sql) ------------------------


@dataclass(frozen=True, slots=True)
class FetchProblem:
    pmid: str | None
    reason: str
    source: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    times_seen: int


def record_fetch_problems(
    con: duckdb.DuckDBPyConnection,
    problems: Sequence[tuple[str | None, str]],
    source: str,
    now: dt.datetime,
) -> None:
    """Remember (pmid, reason) pairs the parser could not read: one row per PMID, counting how often
    it was seen; a problem without a PMID is kept once per reason."""
    if not problems:
        return
    same = "WHERE pmid IS NOT DISTINCT FROM ? AND (? IS NOT NULL OR reason = ?)"
    with transaction(con):
        for pmid, reason in dict.fromkeys(problems):
            key = [pmid, pmid, reason]
            found = con.execute(
                f"SELECT first_seen_at, times_seen FROM fetch_problems {same}", key
            ).fetchone()
            first, times = (found[0], found[1] + 1) if found else (now, 1)
            con.execute(f"DELETE FROM fetch_problems {same}", key)
            con.execute(
                "INSERT INTO fetch_problems VALUES (?, ?, ?, ?, ?, ?)",
                [pmid, reason, source, first, now, times],
            )


def clear_fetch_problems(con: duckdb.DuckDBPyConnection, pmids: Iterable[str]) -> None:
    """Forget the problems of PMIDs now stored (a later answer of the record parsed)."""
    wanted = list(pmids)
    if wanted:
        con.execute("DELETE FROM fetch_problems WHERE pmid IN (SELECT unnest(?))", [wanted])


def fetch_problems(con: duckdb.DuckDBPyConnection) -> list[FetchProblem]:
    """Every open fetch problem, most recently seen first."""
    rows = con.execute(
        "SELECT pmid, reason, source, first_seen_at, last_seen_at, times_seen FROM fetch_problems "
        "ORDER BY last_seen_at DESC, pmid"
    ).fetchall()
    return [FetchProblem(*row) for row in rows]
