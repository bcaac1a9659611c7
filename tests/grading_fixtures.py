"""Grading test set-up: a real project folder (claims.yaml + curators.yaml) and a real DuckDB store
holding real PubMed records (../shared/k2-corpus) as the claim's search hits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from flows.curation.events import GradeEvent
from flows.pubmed.records import AbstractSection, Article, Journal, PubDate, PublicationType

CLAIMS_YAML = """\
article:
  title: "Vitamin K2 and your muscles"
reviewers: {reviewers}
claims:
  - id: k2-calcification
    text: Vitamin K2 keeps calcium out of the arteries.
    query: 'menaquinone*[tiab] AND calcification[tiab]'
  - id: k2-bone
    text: Vitamin K2 strengthens bones.
    query: 'menaquinone*[tiab] AND bone[tiab]'
    reviewers: 1
"""

CURATORS_YAML = """\
curators:
  - {id: alice, name: Alice Ames, role: curator}
  - {id: bob, name: Bob Berg, role: curator}
  - {id: carol, name: Carol Chen, role: adjudicator}
"""

K2_RECORDS = Path(__file__).resolve().parent.parent.parent / "shared" / "k2-corpus" / "records.jsonl"


def write_project(root: Path, name: str = "k2-demo", reviewers: int = 2) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "claims.yaml").write_text(CLAIMS_YAML.format(reviewers=reviewers), encoding="utf-8")
    (folder / "curators.yaml").write_text(CURATORS_YAML, encoding="utf-8")
    return folder


def ev(
    curator: str,
    pmid: str,
    relevance: str | None = "include",
    level: str | None = "rct",
    direction: str | None = "supports",
    *,
    claim: str = "k2-calcification",
    kind: str = "grade",
    minute: int = 0,
    **extra: object,
) -> GradeEvent:
    """A grade event with sensible defaults (an exclusion drops level and direction)."""
    if relevance == "exclude":
        level = direction = None
        extra.setdefault("exclude_reason", "off_topic")
    if kind == "retract":
        relevance = level = direction = None
    stamp = dt.datetime(2026, 11, 24, 9, minute, tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    return GradeEvent(
        claim=claim, pmid=pmid, curator=curator, timestamp=stamp, relevance=relevance,  # type: ignore[arg-type]
        level=level, direction=direction, kind=kind, **extra,  # type: ignore[arg-type]
    )


def k2_articles(limit: int | None = None) -> list[Article]:
    """Real PubMed records (title, journal, year, types); the project-written summary as abstract."""
    out = []
    for line in K2_RECORDS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out.append(
            Article(
                pmid=row["pmid"],
                title=row["title"],
                abstract=(AbstractSection(text=row["summary"], label="SUMMARY"),),
                journal=Journal(title=row["journal"], iso_abbreviation=row["journal"]),
                pub_date=PubDate(raw=str(row["year"]), sort_date=f"{row['year']}-01-01", precision="year"),
                publication_types=tuple(PublicationType(name=p) for p in row["publication_types"]),
            )
        )
    return out[:limit] if limit else out


def build_store(db_path: Path, project: str, hits: dict[str, Sequence[Article]]) -> None:
    """A real store: the articles, and one completed search run per claim that found them."""
    from flows.store.articles import upsert_articles
    from flows.store.db import connect
    from flows.store.searches import finish_search_run, record_hits, start_search_run

    now = dt.datetime(2026, 11, 24, 8, 0)
    with connect(db_path) as con:
        upsert_articles(con, [a for articles in hits.values() for a in articles], now)
        for claim_id, articles in hits.items():
            run_id = start_search_run(
                con, project=project, claim_id=claim_id, query="q", query_hash="h", source="eutils",
                mindate=None, maxdate=None, incremental=False, started_at=now,
            )
            record_hits(con, project=project, claim_id=claim_id, run_id=run_id, pmids=[a.pmid for a in articles])
            finish_search_run(con, run_id, status="completed", finished_at=now, fetched=len(articles))
