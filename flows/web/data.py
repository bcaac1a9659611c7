"""What the web app reads and writes, through the same library the CLI uses (no second implementation).

Grades go to the curators' JSONL files (flows.curation.journal); the DuckDB store is only read, on ONE
short read-only connection per request (StoreReader), so a refresh in another process can take the
file between requests (flows.store.db.connect waits out its lock).

Re-reading and re-validating every grades file and curators.yaml on each request would dominate the
grading action's latency: curators.yaml is cached keyed on its (size, mtime), and the grades files
are read incrementally (flows.curation.journal parses only the bytes appended since the last read),
and indexed per claim and study with only those new events, the studies they touch alone replayed
again (flows.curation.claim_index), so any change by another process (another curator, the terminal
session, git pull) is seen on the next request at the cost of the new lines alone. A curator's file
with a bad line is left out (see journal.read_journals) and their saves refused with the fix;
everyone else keeps grading.

Store reads are cached keyed on the DuckDB file and its WAL: every committed write changes one of
them, so a steady-state grading action opens no connection at all. After a refresh wrote, the next
request re-reads what a refresh changes (a claim's PMIDs, its runs) on one connection, tried once
without waiting: while the refresh holds the file, the cached answer is served (marked stale)
instead of making the curator wait. Articles and suggestions, rewritten only when PubMed's record
changed, are kept across a refresh's batches and dropped every ARTICLE_CACHE_SECONDS.
STORE_CACHE_SECONDS bounds staleness should a write ever leave both files' size and mtime unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar, cast

import duckdb

from flows.curation.claim_index import EventIndex
from flows.curation.events import GradeEvent
from flows.curation.journal import (
    append_event,
    curator_files,
    read_journal_files,
    warn_quarantined,
)
from flows.curation.review import Replayed
from flows.curation.suggest import Suggestion
from flows.errors import StoreBusyError
from flows.project.claims import Project
from flows.project.curators import CURATORS_FILE, Curator, load_curators
from flows.pubmed.records import Article
from flows.store.articles import get_articles
from flows.store.db import DEFAULT_WAIT_SECONDS, connect
from flows.store.searches import SearchRun, claim_pmids, search_claim_studies, search_runs
from flows.store.suggestions import get_suggestions

FileKey = tuple[tuple[str, int, int], ...]
STORE_CACHE_SECONDS = 30.0
BUSY_WAIT_SECONDS = 0.0
ARTICLE_CACHE_SECONDS = 300.0
# A warm-up waits for the store's turn (a refresh between two batches) by trying once every
# PREFETCH_RETRY_SECONDS: each try takes the process lock a request needs only for an instant.
PREFETCH_WAIT_SECONDS = 5.0
PREFETCH_RETRY_SECONDS = 0.02
PREFETCH_AHEAD = 10
log = logging.getLogger(__name__)
MAX_CACHED_ARTICLES = 5000
T = TypeVar("T")


# What one request has already looked at on disk: (size, mtime) keys and the grades folder's listing.
# A grading action asked ~11 times (curators.yaml for each rule, the grade files twice, the store)
# and each stat, listing or open gives up the GIL: with 5 curators' requests running at once, every
# hand-back waited for another thread's switch interval, most of the action's latency. Once per
# request is enough: "seen on the next request" is the promise. None outside a request.
_seen_this_request: ContextVar[dict[object, object] | None] = ContextVar("litgrade_seen", default=None)


@contextmanager
def one_look_per_request() -> Iterator[None]:
    token = _seen_this_request.set({})
    try:
        yield
    finally:
        _seen_this_request.reset(token)


def _looked(key: object, look: Callable[[], T]) -> T:
    seen = _seen_this_request.get()
    if seen is None:
        return look()
    if key not in seen:
        seen[key] = look()
    return cast(T, seen[key])


def _forget_looks() -> None:
    """After this request wrote a file: what it looks at next is looked at again."""
    seen = _seen_this_request.get()
    if seen is not None:
        seen.clear()


def _file_key(paths: Sequence[Path]) -> FileKey:
    ordered = sorted(paths)
    return _looked(("stat", *ordered), lambda: _stat_key(ordered))


def _stat_key(ordered: Sequence[Path]) -> FileKey:
    out = []
    for path in ordered:
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
    index: EventIndex = field(default_factory=EventIndex)  # the grades files' events, per claim and study
    curators_key: FileKey | None = None
    curators: dict[str, Curator] = field(default_factory=dict)
    store_key: tuple[FileKey, int] | None = None
    pmids: dict[str, list[str]] = field(default_factory=dict)
    # None remembers "not stored" (see StoreReader._cached)
    articles: dict[str, Article | None] = field(default_factory=dict)
    suggestions: dict[str, Suggestion | None] = field(default_factory=dict)
    runs: dict[str, SearchRun | None] = field(default_factory=dict)
    articles_epoch: int = -1
    prefetching: bool = False
    prefetcher: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="litgrade-prefetch")
    )


@dataclass(frozen=True)
class WebConfig:
    project: Project
    db_path: Path
    data_dir: Path
    cache: _Cache = field(default_factory=_Cache, compare=False, repr=False)


def curators(config: WebConfig) -> dict[str, Curator]:
    key = _file_key([config.project.dir / CURATORS_FILE])
    cache = config.cache
    with cache.lock:
        if cache.curators_key != key or not cache.curators:
            cache.curators = dict(load_curators(config.project.dir))
            cache.curators_key = key
        return dict(cache.curators)


def _grade_files(config: WebConfig) -> list[Path]:
    project_dir = config.project.dir
    return list(_looked(("grade files", project_dir), lambda: tuple(curator_files(project_dir))))


def _events_key(config: WebConfig) -> FileKey:
    # read_events checks each file's curator against curators.yaml, so that file is part of the key.
    return _file_key([*_grade_files(config), config.project.dir / CURATORS_FILE])


def _index(config: WebConfig) -> EventIndex:
    """The events index, brought up to date when a grades file (or curators.yaml) changed. Caller
    holds the cache lock."""
    cache = config.cache
    key = _events_key(config)
    if cache.events_key != key:
        journals = read_journal_files(config.project.dir)
        warn_quarantined(journals.quarantined)
        cache.index.update(journals)  # only what was appended since is indexed and replayed
        cache.events_key = key
    return cache.index


def events(config: WebConfig, claim_id: str | None = None) -> list[GradeEvent]:
    """Every curator's events (journal.read_events order), or only those of `claim_id`: every rule
    of one claim's screen reads only that claim's events, and with 25,000 events in a project
    running those rules over all of them was most of a grading action's time."""
    with config.cache.lock:
        index = _index(config)
        return index.events() if claim_id is None else list(index.claim_events(claim_id))


def replayed(config: WebConfig, claim_id: str, adjudicators: frozenset[str]) -> Replayed:
    """review.Replayed of the claim's events (as events(config, claim_id)), replaying only the
    studies whose events changed since the last request (flows.curation.claim_index)."""
    with config.cache.lock:
        return _index(config).replayed(claim_id, adjudicators)


def append(config: WebConfig, event: GradeEvent) -> None:
    """Append through flows.curation.journal (validated, fsync'ed). The next read picks the new line
    up incrementally (journal parses only appended bytes), so nothing is patched in here.

    Not under the cache's lock: the fsync takes milliseconds (far more on a busy disk), and every
    other curator's request waited for it. The journal's own flock keeps lines whole; the file's new
    size changes the events key, so the next read sees the line anyway.
    """
    cache = config.cache
    try:
        append_event(config.project.dir, event)
    finally:
        _forget_looks()
        with cache.lock:
            cache.events_key = None


class StoreReader:
    """One read-only connection for one request, opened only when the cache cannot answer.

    When the store changed since the cache was filled, the reader tries the lock once
    (BUSY_WAIT_SECONDS, no wait): if a refresh holds it, what the cache already has is served as is
    (marked `stale`) instead of making the curator wait for the refresh; only what was never read
    waits the full time (flows.store.db.connect's retry window).
    """

    def __init__(self, config: WebConfig, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
        self.config = config
        self.wait_seconds = wait_seconds
        self._stack = ExitStack()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._busy = False
        self.stale = False
        db = config.db_path
        self._key = (
            _file_key([db, db.with_name(db.name + ".wal")]),
            int(time.monotonic() // STORE_CACHE_SECONDS),
        )
        self._article_epoch = int(time.monotonic() // ARTICLE_CACHE_SECONDS)
        with config.cache.lock:
            self._fresh = config.cache.store_key == self._key

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    def _open(self, wait_seconds: float) -> duckdb.DuckDBPyConnection:
        self._con = self._stack.enter_context(
            connect(self.config.db_path, read_only=True, wait_seconds=wait_seconds)
        )
        if not self._fresh:
            cache = self.config.cache
            with cache.lock:
                cache.store_key = self._key
                # What a refresh changes on every batch: which studies a claim has, its runs.
                cache.pmids.clear()
                cache.runs.clear()
                # A stored article or suggestion is rewritten only when PubMed's record changed:
                # kept across a refresh's batches (re-reading them after each one was the cost of
                # grading while a refresh writes), dropped every ARTICLE_CACHE_SECONDS.
                if cache.articles_epoch != self._article_epoch:
                    cache.articles.clear()
                    cache.suggestions.clear()
                    cache.articles_epoch = self._article_epoch
            self._fresh = True
        return self._con

    def _connection(self, have_stale: bool) -> duckdb.DuckDBPyConnection | None:
        """An open connection; None when the store is busy and the caller may answer from the cache."""
        if self._con is not None:
            return self._con
        if have_stale and not self._busy:
            try:  # one try, no wait: a refresh holding the file must not make the curator wait
                return self._open(BUSY_WAIT_SECONDS)
            except StoreBusyError:
                self._busy = True
        if have_stale:
            self.stale = True
            return None
        return self._open(self.wait_seconds)

    def _required(self) -> duckdb.DuckDBPyConnection:
        con = self._connection(have_stale=False)
        assert con is not None  # without a cached answer, _connection waits or raises
        return con

    @property
    def exists(self) -> bool:
        return self.config.db_path.exists()

    def claim_pmids(self, claim_id: str) -> list[str]:
        cache = self.config.cache
        with cache.lock:
            cached = cache.pmids.get(claim_id)
        if cached is not None and self._fresh:
            return list(cached)
        if not self.exists:
            return []
        con = self._connection(have_stale=cached is not None)
        if con is None:
            return list(cached or [])
        found = list(claim_pmids(con, self.config.project.name, claim_id))
        with cache.lock:
            cache.pmids[claim_id] = found
        return list(found)

    def _cached(
        self,
        table: dict[str, T | None],
        pmids: Sequence[str],
        load: Callable[[duckdb.DuckDBPyConnection, list[str]], dict[str, T]],
    ) -> dict[str, T]:
        cache = self.config.cache
        with cache.lock:
            missing = [p for p in pmids if p not in table]
        if (missing or not self._fresh) and self.exists:
            con = self._connection(have_stale=not missing)
            if con is not None:
                with cache.lock:
                    missing = [p for p in pmids if p not in table]  # _open may have cleared it
                loaded = load(con, missing) if missing else {}
                with cache.lock:
                    if len(table) + len(missing) > MAX_CACHED_ARTICLES:
                        table.clear()
                    for pmid in missing:
                        table[pmid] = loaded.get(pmid)  # None remembers "not stored"
        with cache.lock:
            return {p: found for p in pmids if (found := table.get(p)) is not None}

    def articles(self, pmids: Sequence[str]) -> dict[str, Article]:
        if not pmids:
            return {}
        return self._cached(self.config.cache.articles, list(pmids), get_articles)

    def suggestions(self, pmids: Sequence[str]) -> dict[str, Suggestion]:
        """Suggested levels (flows.curation.suggest) of the studies that have one."""
        if not pmids:
            return {}
        return self._cached(self.config.cache.suggestions, list(pmids), get_suggestions)

    def study(self, pmid: str, upcoming: Sequence[str]) -> tuple[Article | None, Suggestion | None]:
        """One study's article and suggestion. When this one or any of the next PREFETCH_AHEAD
        `upcoming` studies is not cached, the upcoming studies are read in the background: the
        curator reaches them with the store never opened for them, even if a refresh holds it by
        then, and this action does not pay for parsing them."""
        cache = self.config.cache
        ahead = [p for p in upcoming[:PREFETCH_AHEAD] if p != pmid]
        with cache.lock:
            cached = pmid in cache.articles and pmid in cache.suggestions
            near = all(p in cache.articles and p in cache.suggestions for p in ahead)
        found = self.articles([pmid]).get(pmid), self.suggestions([pmid]).get(pmid)
        if not (cached and near) and upcoming:
            with cache.lock:
                start, cache.prefetching = not cache.prefetching, True
            if start:  # one warm-up at a time: cold actions during a refresh must not pile them up
                cache.prefetcher.submit(_prefetch, self.config, [p for p in upcoming if p != pmid])
        return found

    def newest_runs(self, claim_ids: Sequence[str]) -> dict[str, SearchRun]:
        """The newest search run per claim (claims never searched are absent)."""
        if not self.exists:
            return {}
        cache = self.config.cache
        with cache.lock:
            have = bool(cache.runs)
            if have and self._fresh:
                return {c: run for c in claim_ids if (run := cache.runs.get(c)) is not None}
        con = self._connection(have_stale=have)
        if con is not None:
            newest: dict[str, SearchRun | None] = {}
            for run in search_runs(con, self.config.project.name):
                newest[run.claim_id] = run  # ordered by run_id: the last one wins
            with cache.lock:
                cache.runs.clear()
                cache.runs.update(newest)
                cache.runs[""] = None  # marks "read", even for a project never searched
        with cache.lock:
            return {c: run for c in claim_ids if (run := cache.runs.get(c)) is not None}

    def search(self, claim_id: str, text: str, limit: int = 50) -> list[tuple[str, str]]:
        """(pmid, title) of the claim's studies whose title or abstract contains `text`."""
        if not text.strip() or not self.exists:
            return []
        return search_claim_studies(self._required(), self.config.project.name, claim_id, text.strip(), limit)


def _prefetch(config: WebConfig, pmids: Sequence[str]) -> None:
    """Warm the cache with the studies a curator will see next, in the first gap a refresh leaves
    (or give up after PREFETCH_WAIT_SECONDS: the request path reads what it needs itself)."""
    deadline = time.monotonic() + PREFETCH_WAIT_SECONDS
    try:
        while True:
            try:
                with StoreReader(config, wait_seconds=0.0) as store:
                    store.articles(pmids)
                    store.suggestions(pmids)
                return
            except StoreBusyError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(PREFETCH_RETRY_SECONDS)
    except Exception as exc:  # only a warm-up
        log.debug("prefetch of %d studies skipped: %s", len(pmids), exc)
    finally:
        with config.cache.lock:
            config.cache.prefetching = False
