"""Searches started before their flow run, so Prefect's run set-up overlaps NCBI's answer (issue 17).

Between calling the refresh flow and its first task, Prefect creates the flow run, its state and the
planning task's run: ~250 ms on a local server, during which an unchanged refresh would otherwise do
nothing but wait. So a command that holds the project's lock starts each claim's ESearch here first;
the flow's search task takes the started search whose source, query and date window match its own
plan, and asks PubMed itself when there is none (a changed window, a claim added meanwhile). A search
nobody takes costs one paced request and nothing else: its result is dropped.

One registry per process; `forget` empties it once the run is over.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from flows.pipeline.plan import SearchWindow
from flows.sources.protocol import SearchResult, SearchSource
from flows.sources.spec import SourceSpec

SearchKey = tuple[SourceSpec, str, str | None, str | None]

_started: dict[SearchKey, Future[SearchResult]] = {}
_lock = threading.Lock()


def search_key(spec: SourceSpec, query: str, window: SearchWindow) -> SearchKey:
    return (spec, query, window.mindate, window.maxdate)


def start(
    spec: SourceSpec, source: SearchSource, searches: Iterable[tuple[str, SearchWindow]], workers: int
) -> None:
    """Start each (query, window) search on `source` in the background (at most `workers` at once)."""
    todo = list(searches)
    if not todo:
        return
    pool = ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="litgrade-early-search")
    with _lock:
        for query, window in todo:
            key = search_key(spec, query, window)
            if key not in _started:
                _started[key] = pool.submit(
                    source.search, query, mindate=window.mindate, maxdate=window.maxdate
                )
    pool.shutdown(wait=False)  # the threads end with their searches


def take(spec: SourceSpec, query: str, window: SearchWindow) -> Future[SearchResult] | None:
    """The started search for exactly this source, query and window (once), or None."""
    with _lock:
        return _started.pop(search_key(spec, query, window), None)


def any_started() -> bool:
    with _lock:
        return bool(_started)


def forget() -> None:
    """Drop the searches no task took (a queued one is cancelled; a running one just ends)."""
    with _lock:
        for future in _started.values():
            future.cancel()
        _started.clear()
