"""Store queries reports need: a project's search runs, records identified per run, each claim's hits.

Bulk per project (a handful of queries however many claims), so a scorecard of many claims costs the
same few round trips as one claim.
"""

from __future__ import annotations

import duckdb

from flows.sources.runs import SearchRun
from flows.store.searches import search_runs


def runs_by_claim(con: duckdb.DuckDBPyConnection, project: str) -> dict[str, list[SearchRun]]:
    """claim id → its search runs, oldest first."""
    out: dict[str, list[SearchRun]] = {}
    for run in search_runs(con, project):
        out.setdefault(run.claim_id, []).append(run)
    return out


def identified_per_run(con: duckdb.DuckDBPyConnection, project: str) -> dict[int, int]:
    """run id → how many records that run found (its run_hits), for PRISMA's "identified" box."""
    rows = con.execute(
        "SELECT r.run_id, count(h.pmid) FROM search_runs r JOIN run_hits h USING (run_id) "
        "WHERE r.project = ? GROUP BY r.run_id",
        [project],
    ).fetchall()
    return {int(run_id): int(n) for run_id, n in rows}


def hits_by_claim(con: duckdb.DuckDBPyConnection, project: str) -> dict[str, list[str]]:
    """claim id → every PMID its searches ever found, once, in the order they were first found."""
    rows = con.execute(
        "SELECT claim_id, pmid FROM claim_hits WHERE project = ? ORDER BY claim_id, first_run_id, pmid",
        [project],
    ).fetchall()
    out: dict[str, list[str]] = {}
    for claim_id, pmid in rows:
        out.setdefault(claim_id, []).append(pmid)
    return out
