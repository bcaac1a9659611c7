"""What a refresh needs from a place that answers PubMed queries: live E-utilities, a stand-in, or a mirror.

The refresh flow composes a SearchSource with the store; sources know nothing of DuckDB-the-store
(a mirror keeps its own file) and the store knows nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from flows.pubmed.records import Article, ParseProblem

# NCBI's note on every search that found nothing: the normal answer of an incremental search.
ROUTINE_NOTES = frozenset({"OutputMessage: No items found."})


def search_notes(errors: Mapping[str, Sequence[str]], warnings: Mapping[str, Sequence[str]]) -> list[str]:
    """A search's ErrorList and WarningList entries worth a reader's attention, one line each."""
    notes = [f"{k}: {', '.join(v)}" for k, v in sorted({**errors, **warnings}.items()) if v]
    return [n for n in notes if n not in ROUTINE_NOTES]


@dataclass(frozen=True, slots=True)
class SearchResult:
    count: int  # what the source says matches
    pmids: tuple[str, ...]  # every PMID retrieved (all of them, past any paging cap)
    query_translation: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)  # ErrorList: PhraseNotFound, FieldNotFound...
    warnings: dict[str, list[str]] = field(default_factory=dict)  # WarningList, plus our own notes
    approximation: str | None = None  # a mirror's note on what it evaluated differently from PubMed
    source_detail: str | None = None  # base URL or mirror snapshot date
    requests: int = 0


@dataclass(frozen=True, slots=True)
class FetchBatch:
    requested: tuple[str, ...]
    articles: tuple[Article, ...]
    missing: tuple[str, ...] = ()  # asked for, not returned (unknown PMID, or a batch that failed)
    problems: tuple[ParseProblem, ...] = ()
    failed: bool = False  # the whole batch failed after retries: `missing` is everything requested
    error: str | None = None


class SearchSource(Protocol):
    name: str  # "eutils" or "mirror"

    def search(
        self, query: str, *, mindate: str | None = None, maxdate: str | None = None
    ) -> SearchResult:
        """Every PMID matching `query`, optionally limited to an entry-date window (YYYY/MM/DD)."""
        ...

    def fetch(self, pmids: Sequence[str]) -> Iterator[FetchBatch]:
        """Full records for `pmids`, batch by batch, never a partial record."""
        ...
