"""What the web app reads and writes, through the same library the CLI uses (no second implementation).

Grades go to the curators' JSONL files (flows.grades_file); the DuckDB store is only read, on ONE
short read-only connection per request (StoreReader), so a refresh in another process can take the
file between requests (flows.store.db.connect waits out its lock).

Re-reading and re-validating every grades file and curators.yaml on each request would dominate the
grading action's latency, so both are cached keyed on the files' (size, mtime): any change by
another process (the terminal session, git pull) is seen on the next request. Store reads (a claim's
PMIDs, articles, suggestions) are cached the same way, keyed on the DuckDB file and its WAL: every
committed write changes one of them, so a steady-state grading action opens no connection at all,
and after a refresh writes, the next request reads afresh. STORE_CACHE_SECONDS bounds staleness
should a write ever leave both files' size and mtime unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from flows.claims import Project
from flows.grade_model import GradeEvent
from flows.records import Article
from flows.store.db import connect

FileKey = tuple[tuple[str, int, int], ...]
STORE_CACHE_SECONDS = 30.0
MAX_CACHED_ARTICLES = 5000


def _file_key(paths: Sequence[Path]) -> FileKey:
    out = []
    for path in sorted(paths):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        out.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    events_key: FileKey | None = None
    events: list[GradeEvent] = field(default_factory=list)
    curators_key: FileKey | None = None
    curators: dict[str, Any] = field(default_factory=dict)
    store_key: tuple[FileKey, int] | None = None
    pmids: dict[str, list[str]] = field(default_factory=dict)
    articles: dict[str, Article] = field(default_factory=dict)
    suggestions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    project: Project
    db_path: Path
    data_dir: Path
    cache: _Cache = field(default_factory=_Cache, compare=False, repr=False)


def now_iso() -> str:
    from flows.grades_file import now_timestamp

    return now_timestamp()


def curators(config: WebConfig) -> dict[str, Any]:
    from flows.curators import CURATORS_FILE, load_curators

    key = _file_key([config.project.dir / CURATORS_FILE])
    cache = config.cache
    with cache.lock:
        if cache.curators_key != key or not cache.curators:
            cache.curators = dict(load_curators(config.project.dir))
            cache.curators_key = key
        return dict(cache.curators)


def _grade_files(config: WebConfig) -> list[Path]:
    from flows.grades_file import curator_files

    return list(curator_files(config.project.dir))


def _events_key(config: WebConfig) -> FileKey:
    from flows.curators import CURATORS_FILE

    # read_events checks each file's curator against curators.yaml, so that file is part of the key.
    return _file_key([*_grade_files(config), config.project.dir / CURATORS_FILE])


def events(config: WebConfig) -> list[GradeEvent]:
    from flows.grades_file import read_events

    cache = config.cache
    with cache.lock:
        key = _events_key(config)
        if cache.events_key != key:
            cache.events = list(read_events(config.project.dir))
            cache.events_key = key
        return list(cache.events)


def append(config: WebConfig, event: GradeEvent) -> None:
    """Append through flows.grades_file (validated, fsync'ed); keep the cache in step when only we wrote."""
    from flows.grades_file import append_event, event_line, grades_path

    cache = config.cache
    path = grades_path(config.project.dir, event.curator)
    with cache.lock:
        before = _events_key(config)
        size_before = path.stat().st_size if path.exists() else 0
        append_event(config.project.dir, event)
        after = _events_key(config)
        grew = path.stat().st_size - size_before == len(event_line(event).encode("utf-8"))
        if cache.events_key == before and grew:
            # Same order read_events gives: this event right after the curator's previous ones.
            last = max((i for i, e in enumerate(cache.events) if e.curator == event.curator), default=None)
            if last is not None:
                cache.events.insert(last + 1, event)
                cache.events_key = after
                return
        cache.events_key = None  # someone else wrote too, or a new file: read everything next time


class StoreReader:
    """One read-only connection for one request, opened only if the cache cannot answer."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self._stack = ExitStack()
        self._con: Any = None
        db = config.db_path
        key = (
            _file_key([db, db.with_name(db.name + ".wal")]),
            int(time.monotonic() // STORE_CACHE_SECONDS),
        )
        cache = config.cache
        with cache.lock:
            if cache.store_key != key:
                cache.store_key = key
                cache.pmids.clear()
                cache.articles.clear()
                cache.suggestions.clear()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    def _connection(self) -> Any:
        if self._con is None:
            self._con = self._stack.enter_context(connect(self.config.db_path, read_only=True))
        return self._con

    @property
    def exists(self) -> bool:
        return self.config.db_path.exists()

    def claim_pmids(self, claim_id: str) -> list[str]:
        cache = self.config.cache
        with cache.lock:
            if claim_id in cache.pmids:
                return list(cache.pmids[claim_id])
        if not self.exists:
            return []
        from flows.store.searches import claim_pmids

        found = list(claim_pmids(self._connection(), self.config.project.name, claim_id))
        with cache.lock:
            cache.pmids[claim_id] = found
        return list(found)

    def _cached(self, table: dict[str, Any], pmids: Sequence[str], load: Any) -> dict[str, Any]:
        cache = self.config.cache
        with cache.lock:
            missing = [p for p in pmids if p not in table]
        if missing and self.exists:
            loaded = load(self._connection(), missing)
            with cache.lock:
                if len(table) + len(missing) > MAX_CACHED_ARTICLES:
                    table.clear()
                for pmid in missing:
                    table[pmid] = loaded.get(pmid)  # None remembers "not stored"
        with cache.lock:
            return {p: table[p] for p in pmids if table.get(p) is not None}

    def articles(self, pmids: Sequence[str]) -> dict[str, Article]:
        if not pmids:
            return {}
        from flows.store.articles import get_articles

        return self._cached(self.config.cache.articles, list(pmids), get_articles)

    def suggestions(self, pmids: Sequence[str]) -> dict[str, Any]:
        """Suggested levels when that module exists (it is optional to the app)."""
        if not pmids:
            return {}
        try:
            from flows.store.suggestions import get_suggestions
        except ImportError:
            return {}
        return self._cached(self.config.cache.suggestions, list(pmids), get_suggestions)

    def study(self, pmid: str, upcoming: Sequence[str]) -> tuple[Article | None, Any]:
        """One study's article and suggestion; on a cache miss the `upcoming` ones are read too, so
        the next grading actions are answered without opening the store."""
        cache = self.config.cache
        with cache.lock:
            cached = pmid in cache.articles and pmid in cache.suggestions
        wanted = [pmid] if cached else list(dict.fromkeys([pmid, *upcoming]))
        return self.articles(wanted).get(pmid), self.suggestions(wanted).get(pmid)

    def newest_runs(self, claim_ids: Sequence[str]) -> dict[str, Any]:
        """The newest search run per claim (or nothing yet)."""
        if not self.exists:
            return {}
        from flows.store.searches import search_runs

        out: dict[str, Any] = {}
        for run in search_runs(self._connection(), self.config.project.name):
            if run.claim_id in claim_ids:
                out[run.claim_id] = run  # ordered by run_id: the last one wins
        return out

    def search(self, claim_id: str, text: str, limit: int = 50) -> list[tuple[str, str]]:
        """(pmid, title) of the claim's studies whose title or abstract contains `text`."""
        if not text.strip() or not self.exists:
            return []
        from flows.web.queries import search_claim_studies

        return search_claim_studies(
            self._connection(), self.config.project.name, claim_id, text.strip(), limit
        )
