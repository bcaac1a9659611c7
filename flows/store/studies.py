"""What grading a claim needs from the store: its hits, their articles and suggested levels.

Read on one short read-only connection; the terminal grader and the CSV sheet export both start here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flows.curation.suggest import Suggestion
from flows.errors import InputError
from flows.pubmed.records import Article
from flows.store.articles import get_articles
from flows.store.db import connect
from flows.store.searches import claim_pmids
from flows.store.suggestions import get_suggestions


@dataclass(frozen=True, slots=True)
class ClaimStudies:
    """What the store knows about some claims' studies."""

    hits: dict[str, list[str]]
    articles: dict[str, Article] = field(default_factory=dict)
    suggestions: dict[str, Suggestion] = field(default_factory=dict)


def load_studies(
    db_path: Path, project: str, claim_ids: Sequence[str], *, details: bool = True
) -> ClaimStudies:
    """Hits per claim, and (with `details`) their articles and suggested levels, from the store."""
    if not Path(db_path).exists():
        raise InputError(
            f"no store at {db_path}: make one with `litgrade demo` (the K2 showcase, offline) or "
            f"`litgrade refresh {project}` (live NCBI), or point LITGRADE_DATA / LITGRADE_DB at yours"
        )
    with connect(db_path, read_only=True) as con:
        hits = {c: list(claim_pmids(con, project, c)) for c in claim_ids}
        if not details:
            return ClaimStudies(hits=hits)
        pmids = list(dict.fromkeys(p for found in hits.values() for p in found))
        # The suggestions table is in the first migration: every store has it.
        return ClaimStudies(
            hits=hits, articles=dict(get_articles(con, pmids)), suggestions=dict(get_suggestions(con, pmids))
        )
