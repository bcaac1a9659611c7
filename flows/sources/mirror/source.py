"""`MirrorSource`: the `SearchSource` a refresh uses with `--source mirror`.

It parses the query, says where the mirror's answer differs from PubMed's (syntax and approximations:
`flows.pubmed.query`) and fetches in batches; the records and the query evaluation are the index's
(`flows.store.mirror.MirrorIndex` over the mirror file), which a flow builds and passes in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Protocol

from flows.pubmed.query import (
    ENTRY_DATE_NOTE,
    Node,
    describe_approximations,
    parse_entrez_date,
    parse_query,
    render_query,
)
from flows.pubmed.records import Article
from flows.sources.protocol import FetchBatch, SearchResult

FETCH_BATCH = 500


class IndexInfo(Protocol):
    """What the source reports about the index it searched."""

    @property
    def records(self) -> int: ...

    @property
    def snapshot_date(self) -> dt.date | None: ...


class RecordIndex(Protocol):
    """Records that answer a parsed query (the mirror file, or anything that evaluates the same AST)."""

    def search(
        self, node: Node, entry_from: dt.date | None = None, entry_to: dt.date | None = None
    ) -> tuple[list[str], IndexInfo]:
        """PMIDs matching the query, newest first (`entry_from`/`entry_to` bound the entry date), and
        what the index held when it answered: one read, so the two cannot disagree."""
        ...

    def fetch(self, pmids: Sequence[str]) -> dict[str, Article]:
        """The records held for these PMIDs (absent ones left out)."""
        ...

    def info(self) -> IndexInfo: ...


class MirrorSource:
    """`flows.sources.protocol.SearchSource` answered from a record index (the local mirror)."""

    name = "mirror"

    def __init__(self, index: RecordIndex, *, fetch_batch: int = FETCH_BATCH) -> None:
        self.index = index
        self.fetch_batch = fetch_batch

    def search(self, query: str, *, mindate: str | None = None, maxdate: str | None = None) -> SearchResult:
        ast = parse_query(query)
        entry_from = parse_entrez_date(mindate, end=False) if mindate else None
        entry_to = parse_entrez_date(maxdate, end=True) if maxdate else None
        pmids, info = self.index.search(ast, entry_from, entry_to)
        approximation = describe_approximations(ast)
        if (mindate or maxdate) and ENTRY_DATE_NOTE not in (approximation or ""):
            window = f"the search window was applied to {ENTRY_DATE_NOTE}"
            approximation = (
                f"{approximation[:-1]}; {window}." if approximation else f"Mirror approximation: {window}."
            )
        snapshot = info.snapshot_date.isoformat() if info.snapshot_date else "unknown date"
        return SearchResult(
            count=len(pmids),
            pmids=tuple(pmids),
            query_translation=render_query(ast),
            approximation=approximation,
            source_detail=f"mirror snapshot {snapshot}, {info.records} records",
        )

    def fetch(self, pmids: Sequence[str]) -> Iterator[FetchBatch]:
        wanted = list(dict.fromkeys(str(p) for p in pmids))
        for start in range(0, len(wanted), self.fetch_batch):
            batch = wanted[start : start + self.fetch_batch]
            found = self.index.fetch(batch)
            yield FetchBatch(
                requested=tuple(batch),
                articles=tuple(found[p] for p in batch if p in found),
                missing=tuple(p for p in batch if p not in found),
            )
