"""Pure decisions for a refresh: which date window to ask for, and how a run ended."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

# NCBI indexes records a few days after their entry date: re-ask for the last days each time.
INDEXING_OVERLAP_DAYS = 7
ENTREZ_DATE = "%Y/%m/%d"


def query_hash(query: str) -> str:
    """Whitespace-insensitive fingerprint: reformatting a query must not trigger a full re-search."""
    return hashlib.sha256(" ".join(query.split()).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SearchWindow:
    mindate: str | None
    maxdate: str | None

    @property
    def incremental(self) -> bool:
        return self.mindate is not None


def plan_window(
    *,
    query: str,
    source: str,
    run_time: dt.datetime,
    last_query_hash: str | None,
    last_source: str | None,
    last_started_at: dt.datetime | None,
) -> SearchWindow:
    """Only entries since the last completed run of the same query and source; otherwise everything."""
    if (
        last_started_at is None
        or last_query_hash != query_hash(query)
        or last_source != source
    ):
        return SearchWindow(None, None)
    since = last_started_at.date() - dt.timedelta(days=INDEXING_OVERLAP_DAYS)
    until = run_time.date() + dt.timedelta(days=1)
    return SearchWindow(since.strftime(ENTREZ_DATE), until.strftime(ENTREZ_DATE))


def run_status(*, fetch_failed: bool) -> str:
    """A PMID that NCBI simply does not return (deleted, unknown) is noted, not a failure; a batch
    that failed after retries leaves the run incomplete, and the next refresh fetches what it lacked."""
    return "incomplete" if fetch_failed else "completed"
