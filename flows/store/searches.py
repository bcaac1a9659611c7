"""Search runs and hits: which claim's search found which PMID, in which run, with what NCBI said."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import duckdb

from flows.sources.protocol import SearchResult
from flows.sources.runs import SearchRun
from flows.store.db import transaction

_COLUMNS = (
    "run_id, project, claim_id, query, query_hash, source, source_detail, query_translation, "
    "approximation, result_count, pmids_found, new_pmids, fetched, mindate, maxdate, incremental, "
    "errors, warnings, missing_pmids, requests, started_at, finished_at, status, error"
)


def _to_run(row: tuple[object, ...]) -> SearchRun:
    values = list(row)
    values[16] = json.loads(str(values[16])) if values[16] else {}
    values[17] = json.loads(str(values[17])) if values[17] else {}
    values[18] = tuple(values[18] or ())  # type: ignore[arg-type]
    return SearchRun(*values)  # type: ignore[arg-type]


def start_search_run(
    con: duckdb.DuckDBPyConnection,
    *,
    project: str,
    claim_id: str,
    query: str,
    query_hash: str,
    source: str,
    mindate: str | None,
    maxdate: str | None,
    incremental: bool,
    started_at: dt.datetime,
) -> int:
    # A run still "running" for this claim was cut off (killed, crashed): the project lock ensures
    # no other refresh is writing now, so say so instead of leaving it looking alive.
    con.execute(
        "UPDATE search_runs SET status = 'interrupted', error = 'run ended without finishing' "
        "WHERE project = ? AND claim_id = ? AND status = 'running'",
        [project, claim_id],
    )
    row = con.execute(
        "INSERT INTO search_runs (project, claim_id, query, query_hash, source, mindate, maxdate, "
        "incremental, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_id",
        [project, claim_id, query, query_hash, source, mindate, maxdate, incremental, started_at],
    ).fetchone()
    assert row is not None
    return int(row[0])


def interrupt_open_runs(con: duckdb.DuckDBPyConnection, project: str, reason: str) -> int:
    """Mark the project's runs still "running" as interrupted (the project lock says they are this
    process's own); return how many."""
    rows = con.execute(
        "UPDATE search_runs SET status = 'interrupted', error = ?, finished_at = ? "
        "WHERE project = ? AND status = 'running' RETURNING run_id",
        [reason, dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0), project],
    ).fetchall()
    return len(rows)


def record_search_result(
    con: duckdb.DuckDBPyConnection, run_id: int, result: SearchResult, new_pmids: int
) -> None:
    con.execute(
        "UPDATE search_runs SET source_detail = ?, query_translation = ?, approximation = ?, "
        "result_count = ?, pmids_found = ?, new_pmids = ?, errors = ?, warnings = ? WHERE run_id = ?",
        [
            result.source_detail,
            result.query_translation,
            result.approximation,
            result.count,
            len(result.pmids),
            new_pmids,
            json.dumps(result.errors, sort_keys=True) if result.errors else None,
            json.dumps(result.warnings, sort_keys=True) if result.warnings else None,
            run_id,
        ],
    )


def finish_search_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    status: str,
    finished_at: dt.datetime,
    fetched: int = 0,
    missing_pmids: Sequence[str] = (),
    requests: int | None = None,
    error: str | None = None,
) -> None:
    con.execute(
        "UPDATE search_runs SET status = ?, finished_at = ?, fetched = ?, missing_pmids = ?, "
        "requests = ?, error = ? WHERE run_id = ?",
        [status, finished_at, fetched, sorted(set(missing_pmids)), requests, error, run_id],
    )


def record_hits(
    con: duckdb.DuckDBPyConnection, *, project: str, claim_id: str, run_id: int, pmids: Sequence[str]
) -> list[str]:
    """Remember that this run found these PMIDs; return those new to the claim."""
    unique = list(dict.fromkeys(pmids))
    if not unique:
        return []
    known = {
        r[0]
        for r in con.execute(
            "SELECT pmid FROM claim_hits WHERE project = ? AND claim_id = ? "
            "AND pmid IN (SELECT unnest(?))",
            [project, claim_id, unique],
        ).fetchall()
    }
    with transaction(con):
        con.execute(
            "INSERT INTO run_hits SELECT ?, unnest(?) ON CONFLICT DO NOTHING", [run_id, unique]
        )
        con.execute(
            "UPDATE claim_hits SET last_run_id = ? WHERE project = ? AND claim_id = ? "
            "AND pmid IN (SELECT unnest(?))",
            [run_id, project, claim_id, [p for p in unique if p in known]],
        )
        new = [p for p in unique if p not in known]
        if new:
            con.execute(
                "INSERT INTO claim_hits SELECT ?, ?, unnest(?), ?, ?",
                [project, claim_id, new, run_id, run_id],
            )
    return new


def claim_pmids(con: duckdb.DuckDBPyConnection, project: str, claim_id: str) -> list[str]:
    rows = con.execute(
        "SELECT pmid FROM claim_hits WHERE project = ? AND claim_id = ? ORDER BY first_run_id, pmid",
        [project, claim_id],
    ).fetchall()
    return [r[0] for r in rows]


def search_runs(
    con: duckdb.DuckDBPyConnection, project: str, claim_id: str | None = None
) -> list[SearchRun]:
    sql = f"SELECT {_COLUMNS} FROM search_runs WHERE project = ?"
    params: list[object] = [project]
    if claim_id is not None:
        sql += " AND claim_id = ?"
        params.append(claim_id)
    return [_to_run(r) for r in con.execute(sql + " ORDER BY run_id", params).fetchall()]


def last_completed_run(
    con: duckdb.DuckDBPyConnection, project: str, claim_id: str
) -> SearchRun | None:
    completed = [r for r in search_runs(con, project, claim_id) if r.status == "completed"]
    return completed[-1] if completed else None


def outstanding_pmids(con: duckdb.DuckDBPyConnection, project: str, claim_id: str) -> list[str]:
    """PMIDs this claim's searches found that are not in the store yet (failed or interrupted fetches)."""
    rows = con.execute(
        "SELECT h.pmid FROM claim_hits h LEFT JOIN articles a USING (pmid) "
        "WHERE h.project = ? AND h.claim_id = ? AND a.pmid IS NULL ORDER BY h.pmid",
        [project, claim_id],
    ).fetchall()
    return [r[0] for r in rows]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_claim_studies(
    con: duckdb.DuckDBPyConnection, project: str, claim_id: str, text: str, limit: int = 50
) -> list[tuple[str, str]]:
    """(pmid, title) of a claim's studies whose title or abstract contains `text` (case-insensitive).

    User text only ever reaches SQL as a bound, LIKE-escaped parameter.
    """
    pattern = _like_pattern(text)
    rows = con.execute(
        "SELECT a.pmid, a.title FROM claim_hits h JOIN articles a USING (pmid) "
        "WHERE h.project = ? AND h.claim_id = ? "
        "AND (a.title ILIKE ? ESCAPE '\\' OR a.abstract_text ILIKE ? ESCAPE '\\') "
        "ORDER BY a.pub_year DESC NULLS LAST, a.pmid LIMIT ?",
        [project, claim_id, pattern, pattern, limit],
    ).fetchall()
    return [(str(pmid), str(title)) for pmid, title in rows]
