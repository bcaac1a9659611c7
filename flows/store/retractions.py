"""Retraction Watch notices in the store, and which of them the re-check has already raised."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from flows.evidence.retraction_watch import Notice
from flows.store.db import transaction

_COLUMNS = (
    "record_id", "nature", "original_doi", "original_pmid", "notice_date", "notice_doi", "notice_pmid",
    "reason", "title",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IngestCounts:
    new: int
    changed: int
    unchanged: int


def _row(n: Notice) -> tuple[object, ...]:
    return (
        n.record_id,
        n.nature,
        n.original_doi,
        n.original_pmid,
        dt.date.fromisoformat(n.notice_date) if n.notice_date else None,
        n.notice_doi,
        n.notice_pmid,
        n.reason,
        n.title,
    )


def _notice(row: Sequence[object]) -> Notice:
    date = row[4]
    return Notice(
        record_id=str(row[0]),
        nature=str(row[1]),
        original_doi=row[2] if isinstance(row[2], str) else None,
        original_pmid=row[3] if isinstance(row[3], str) else None,
        notice_date=date.isoformat() if isinstance(date, dt.date) else None,
        notice_doi=row[5] if isinstance(row[5], str) else None,
        notice_pmid=row[6] if isinstance(row[6], str) else None,
        reason=str(row[7]),
        title=str(row[8]),
    )


def ingest(
    con: duckdb.DuckDBPyConnection, notices: Sequence[Notice], source_file: str, at: dt.datetime
) -> IngestCounts:
    """Store every notice in one transaction: new ones inserted, changed ones replaced, the rest
    untouched (so a re-ingest of the same file changes nothing, not even a timestamp)."""
    ids = [n.record_id for n in notices]
    with transaction(con):
        stored = {str(row[0]): tuple(row) for row in _rows_where(con, "record_id", ids)}
        new = [_row(n) for n in notices if n.record_id not in stored]
        changed = [_row(n) for n in notices if n.record_id in stored and stored[n.record_id] != _row(n)]
        rows = [[*r, source_file, at] for r in (*new, *changed)]
        if rows:  # bulk through Arrow: executemany would take minutes for the whole database
            frame = pd.DataFrame(rows, columns=[*_COLUMNS, "source_file", "ingested_at"])
            con.register("rw_rows", frame)
            try:
                # changed notices are replaced: their old rows go first (new ones have none)
                con.execute(
                    "DELETE FROM retraction_notices WHERE record_id IN (SELECT record_id FROM rw_rows)"
                )
                con.execute(
                    f"INSERT INTO retraction_notices ({', '.join(_COLUMNS)}, source_file, ingested_at) "
                    f"SELECT {', '.join(_COLUMNS)}, source_file, ingested_at FROM rw_rows"
                )
            finally:
                con.unregister("rw_rows")
    return IngestCounts(new=len(new), changed=len(changed), unchanged=len(notices) - len(new) - len(changed))


def _rows_where(
    con: duckdb.DuckDBPyConnection, column: str, values: Sequence[str]
) -> Iterable[tuple[Any, ...]]:
    """Stored notice rows whose `column` is one of `values`, asked in chunks (bounded parameter lists)."""
    for start in range(0, len(values), 5000):
        chunk = values[start : start + 5000]
        marks = ",".join("?" * len(chunk))
        yield from con.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM retraction_notices WHERE {column} IN ({marks})", chunk
        ).fetchall()


def notices_for(con: duckdb.DuckDBPyConnection, pmids: Iterable[str], dois: Iterable[str]) -> list[Notice]:
    """The stored notices whose original paper has one of these PMIDs or (normalised) DOIs."""
    pmid_list, doi_list = sorted(set(pmids)), sorted(set(dois))
    if not pmid_list and not doi_list:
        return []
    found: dict[str, Notice] = {}
    for column, values in (("original_pmid", pmid_list), ("original_doi", doi_list)):
        for row in _rows_where(con, column, values):
            found[str(row[0])] = _notice(row)
    return sorted(found.values(), key=lambda n: (n.notice_date or "", int(n.record_id)))


def count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM retraction_notices").fetchone()
    return int(row[0]) if row else 0


def raised(con: duckdb.DuckDBPyConnection, project: str) -> set[tuple[str, str, str]]:
    """(claim, pmid, record id) of every notice already raised as a re-review flag in `project`."""
    rows = con.execute(
        "SELECT claim_id, pmid, record_id FROM notice_flags WHERE project = ?", [project]
    ).fetchall()
    return {(str(c), str(p), str(r)) for c, p, r in rows}


def mark_raised(
    con: duckdb.DuckDBPyConnection, project: str, items: Iterable[tuple[str, str, str]], at: dt.datetime
) -> None:
    rows = [[project, c, p, r, at] for c, p, r in items]
    if rows:
        con.executemany("INSERT INTO notice_flags VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
