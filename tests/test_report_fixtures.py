"""Report test set-up (no tests here): a real project folder with grade files and a real DuckDB store
built through the store API, holding hostile, retracted and expression-of-concern records."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest

from flows.curation.events import GradeEvent
from flows.curation.journal import append_events
from flows.project.claims import Project, load_project
from flows.pubmed.records import (
    Article,
    Author,
    CommentCorrection,
    Journal,
    PubDate,
    PublicationType,
)
from flows.sources.protocol import SearchResult
from flows.store import articles as article_store
from flows.store import searches
from flows.store.db import connect
from tests.grading_fixtures import CURATORS_YAML
from tests.grading_fixtures import ev as grading_ev

PROJECT = "report-demo"
CLAIMS_YAML = """\
article:
  title: "Vitamin K2 <b>and</b> your muscles & vessels"
  url: "https://example.org/k2?a=1&b=<2>"
  date_read: "2026-11-20"
reviewers: 2
claims:
  - id: k2-vessels
    text: "Vitamin K2 keeps calcium out of the arteries <script>alert('claim')</script>."
    query: 'menaquinone*[tiab] AND calcification[tiab]'
  - id: k2-cramps
    text: Vitamin K2 relieves night-time leg cramps.
    query: 'menaquinone*[tiab] AND cramp*[tiab]'
    reviewers: 1
"""
HOSTILE_TITLE = "Evil <script>alert(1)</script> study"
HOSTILE_TITLE_HTML = (
    '<i>Evil</i> <script>alert(1)</script><img src=x onerror=alert(2)> <i class="x">study</i>'
)
MIRROR_DETAIL = "mirror snapshot 2026-11-20, 44 records"


def article(pmid: str, year: int, title: str | None = None, **extra: Any) -> Article:
    fields: dict[str, Any] = {
        "authors": (
            Author(last_name="Smith", initials="J"),
            Author(last_name="Doe", initials="A"),
            Author(last_name="Roe", initials="B"),
            Author(last_name="Poe", initials="C"),
        ),
        "journal": Journal(title="Journal of Vitamins", iso_abbreviation="J Vitam"),
        "pub_date": PubDate(raw=str(year), sort_date=f"{year}-01-01", precision="year"),
        "doi": f"10.1000/jv.{pmid}",
        **extra,
    }
    return Article(pmid=pmid, title=title or f"Menaquinone trial {pmid}", **fields)


def articles() -> list[Article]:
    return [
        article("1001", 2019),
        article(
            "1002",
            2021,
            title=HOSTILE_TITLE,
            title_html=HOSTILE_TITLE_HTML,
            authors=(Author(collective_name='<b onmouseover="x()">Evil Group</b>'),),
            journal=Journal(title="J <svg onload=alert(3)>"),
        ),
        article(
            "1003",
            2020,
            publication_types=(PublicationType("Retracted Publication"),),
            comments_corrections=(CommentCorrection("RetractionIn", "9999"),),
        ),
        article("1004", 2018, comments_corrections=(CommentCorrection("ExpressionOfConcernIn", "9998"),)),
        article("1005", 2022),
        article("1006", 2023),
        article("1007", 2024),
        # 1008 is found but never fetched
        article("2001", 2017),
    ]


def _run(
    con: Any,
    claim: str,
    query: str,
    when: dt.datetime,
    pmids: list[str],
    *,
    source: str = "eutils",
    detail: str | None = "http://127.0.0.1:8765/entrez/eutils/",
    status: str = "completed",
    incremental: bool = False,
    approximation: str | None = None,
) -> int:
    run_id = searches.start_search_run(
        con,
        project=PROJECT,
        claim_id=claim,
        query=query,
        query_hash="h",
        source=source,
        mindate=None,
        maxdate=None,
        incremental=incremental,
        started_at=when - dt.timedelta(minutes=1),
    )
    if status != "failed":
        result = SearchResult(
            count=len(pmids),
            pmids=tuple(pmids),
            query_translation=f"translated({query})",
            source_detail=detail,
            approximation=approximation,
        )
        searches.record_search_result(con, run_id, result, new_pmids=len(pmids))
        searches.record_hits(con, project=PROJECT, claim_id=claim, run_id=run_id, pmids=pmids)
    searches.finish_search_run(
        con,
        run_id,
        status=status,
        finished_at=when,
        error="NCBI answered 503" if status == "failed" else None,
    )
    return run_id


def build_store(db: Path) -> None:
    vessels = "menaquinone*[tiab] AND calcification[tiab]"
    with connect(db) as con:
        article_store.upsert_articles(con, articles(), dt.datetime(2026, 11, 1, 6, 0))
        _run(
            con,
            "k2-vessels",
            vessels,
            dt.datetime(2026, 10, 1, 6, 0),
            ["1001", "1002", "1003", "1004", "1005", "1006"],
        )
        _run(
            con,
            "k2-vessels",
            vessels,
            dt.datetime(2026, 11, 1, 6, 0),
            ["1005", "1006", "1007", "1008"],
            incremental=True,
        )
        _run(con, "k2-vessels", vessels, dt.datetime(2026, 11, 15, 6, 0), [], status="failed")
        _run(
            con,
            "k2-cramps",
            "menaquinone*[tiab] AND cramp*[tiab]",
            dt.datetime(2026, 11, 20, 0, 0),
            ["1001", "2001"],
            source="mirror",
            detail=MIRROR_DETAIL,
            approximation="[tiab] evaluated on title and abstract; no MeSH explosion",
        )


# The grading tests' event builder, aimed at this project's first claim.
ev = functools.partial(grading_ev, claim="k2-vessels")


def grade_events() -> list[GradeEvent]:
    hostile: dict[str, Any] = {
        "note": "<script>alert('note')</script> ok",
        "quote": "](javascript:alert(1)) *bold* | pipe",
    }
    return [
        ev("alice", "1001", population=120, risk_of_bias="low"),
        ev("bob", "1001", population=120, risk_of_bias="low"),
        ev("alice", "1002", **hostile),
        ev("bob", "1002", **hostile),
        ev("alice", "1003"),
        ev("bob", "1003"),
        ev("alice", "1004", "exclude", exclude_reason="off_topic"),
        ev("bob", "1004", "exclude", exclude_reason="off_topic"),
        ev("alice", "1005"),
        ev("bob", "1005", direction="no_effect"),  # conflict, not adjudicated
        ev("alice", "1006"),  # partial: waits for bob
        ev("alice", "1007", level="animal"),
        ev("bob", "1007", "exclude", exclude_reason="wrong_population"),
        ev("carol", "1007", level="animal", kind="adjudication", minute=5),
        ev("alice", "2001", level="human_observational", claim="k2-cramps", population=40),
    ]


def write_project(root: Path) -> Project:
    folder = root / PROJECT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "claims.yaml").write_text(CLAIMS_YAML, encoding="utf-8")
    (folder / "curators.yaml").write_text(CURATORS_YAML, encoding="utf-8")
    append_events(folder, grade_events())
    return load_project(folder)


@pytest.fixture()
def report_setup(tmp_path: Path) -> tuple[Project, Path, Path]:
    """(project, store path, reports folder) with the store and grade files filled."""
    project = write_project(tmp_path / "curated")
    db = tmp_path / "store.duckdb"
    build_store(db)
    return project, db, tmp_path / "reports" / PROJECT
