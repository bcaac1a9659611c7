"""A search run as the store recorded it: what was asked, what the source answered, how it ended.

Pure data (no DuckDB), so the report model and other pure layers can take runs without importing the
store; flows.store.searches reads and writes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SearchRun:
    run_id: int
    project: str
    claim_id: str
    query: str
    query_hash: str
    source: str
    source_detail: str | None
    query_translation: str | None
    approximation: str | None
    result_count: int | None
    pmids_found: int | None
    new_pmids: int | None
    fetched: int | None
    mindate: str | None
    maxdate: str | None
    incremental: bool
    errors: dict[str, list[str]]
    warnings: dict[str, list[str]]
    missing_pmids: tuple[str, ...]
    requests: int | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    error: str | None
