"""What the web app reads and writes, through the same library the CLI uses (no second implementation).

Grades go to the curators' JSONL files (flows.grades_file); the DuckDB store is only read, each read
on its own short read-only connection, so a refresh in another process can take the file in between
requests (flows.store.db.connect waits out its lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.claims import Project, load_project
from flows.grade_model import GradeEvent
from flows.records import Article
from flows.store.db import connect


@dataclass(frozen=True, slots=True)
class WebConfig:
    project: Project
    db_path: Path
    data_dir: Path


def now_iso() -> str:
    from flows.grades_file import now_timestamp

    return now_timestamp()


def reload_project(config: WebConfig) -> Project:
    """claims.yaml may be edited while the app runs; a bad edit raises InputError (shown, not crashed)."""
    return load_project(config.project.dir)


def curators(config: WebConfig) -> dict[str, Any]:
    from flows.curators import load_curators

    return dict(load_curators(config.project.dir))


def events(config: WebConfig) -> list[GradeEvent]:
    from flows.grades_file import read_events

    return list(read_events(config.project.dir))


def append(config: WebConfig, event: GradeEvent) -> None:
    from flows.grades_file import append_event

    append_event(config.project.dir, event)


def _store_exists(config: WebConfig) -> bool:
    return config.db_path.exists()


def claim_pmids(config: WebConfig, claim_id: str) -> list[str]:
    if not _store_exists(config):
        return []
    from flows.store.searches import claim_pmids as stored_claim_pmids

    with connect(config.db_path, read_only=True) as con:
        return list(stored_claim_pmids(con, config.project.name, claim_id))


def all_claim_pmids(config: WebConfig, claim_ids: Sequence[str]) -> dict[str, list[str]]:
    if not _store_exists(config):
        return {c: [] for c in claim_ids}
    from flows.store.searches import claim_pmids as stored_claim_pmids

    with connect(config.db_path, read_only=True) as con:
        return {c: list(stored_claim_pmids(con, config.project.name, c)) for c in claim_ids}


def articles(config: WebConfig, pmids: Sequence[str]) -> dict[str, Article]:
    if not pmids or not _store_exists(config):
        return {}
    from flows.store.articles import get_articles

    with connect(config.db_path, read_only=True) as con:
        return dict(get_articles(con, list(pmids)))


def suggestions(config: WebConfig, pmids: Sequence[str]) -> dict[str, Any]:
    """Suggested levels when that module exists (it is optional to the app)."""
    if not pmids or not _store_exists(config):
        return {}
    try:
        from flows.store.suggestions import get_suggestions
    except ImportError:
        return {}
    with connect(config.db_path, read_only=True) as con:
        return dict(get_suggestions(con, list(pmids)))


def newest_runs(config: WebConfig, claim_ids: Sequence[str]) -> dict[str, Any]:
    """The newest search run per claim (or nothing yet)."""
    if not _store_exists(config):
        return {}
    from flows.store.searches import search_runs

    out: dict[str, Any] = {}
    with connect(config.db_path, read_only=True) as con:
        for run in search_runs(con, config.project.name):
            if run.claim_id in claim_ids:
                out[run.claim_id] = run  # ordered by run_id: the last one wins
    return out


def search_claim(config: WebConfig, claim_id: str, text: str, limit: int = 50) -> list[tuple[str, str]]:
    """(pmid, title) of the claim's studies whose title or abstract contains `text` (case-insensitive)."""
    if not text.strip() or not _store_exists(config):
        return []
    from flows.web.queries import search_claim_studies

    with connect(config.db_path, read_only=True) as con:
        return search_claim_studies(con, config.project.name, claim_id, text.strip(), limit)
