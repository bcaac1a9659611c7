"""Re-review flags raised by the scheduled re-check of graded studies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True, slots=True)
class ReviewFlag:
    project: str
    claim_id: str
    pmid: str
    kinds: tuple[str, ...]
    reason: str
    included: bool
    detected_at: dt.datetime


def add_flags(con: duckdb.DuckDBPyConnection, flags: Sequence[ReviewFlag]) -> None:
    for f in flags:
        con.execute(
            "INSERT INTO review_flags VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [f.project, f.claim_id, f.pmid, list(f.kinds), f.reason, f.included, f.detected_at],
        )


def flags(con: duckdb.DuckDBPyConnection, project: str) -> list[ReviewFlag]:
    rows = con.execute(
        "SELECT project, claim_id, pmid, kinds, reason, included, detected_at FROM review_flags "
        "WHERE project = ? ORDER BY detected_at, claim_id, pmid",
        [project],
    ).fetchall()
    return [ReviewFlag(r[0], r[1], r[2], tuple(r[3]), r[4], r[5], r[6]) for r in rows]
