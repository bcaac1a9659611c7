"""Building the local PubMed mirror: PubMed XML files parsed (`flows.pubmed.parser`) into the mirror
file (`flows.store.mirror`).

`ingest_files` loads baseline/update files or saved EFetch output (plain or gzip) in the order given:
records are upserted (a later file's copy replaces an earlier one unless its version is lower),
DeleteCitation blocks remove PMIDs at the point they occur, and each file is one transaction, so a
file that fails to parse leaves the mirror as it was before that file. A file whose checksum was
already ingested is skipped (re-running an ingest is a no-op; replaying an old file after newer ones
would otherwise resurrect stale records).

Searching it is `flows.sources.mirror.source.MirrorSource` over a `flows.store.mirror.MirrorIndex`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from flows.errors import InputError, LitgradeError, StoreBusyError
from flows.pubmed.dates import iso_day
from flows.pubmed.records import Article, DeletedCitations, ParseProblem
from flows.store import mirror as mirror_db
from flows.store.db import transaction

CHUNK_RECORDS = 5000


@dataclass(frozen=True, slots=True)
class FileIngest:
    path: str
    sha256: str
    records: int = 0  # records read from the file
    new: int = 0
    replaced: int = 0
    older_ignored: int = 0
    deletions_requested: int = 0
    deletions_applied: int = 0  # PMIDs that were present and are now gone
    problems: tuple[ParseProblem, ...] = ()
    skipped: bool = False  # already ingested (same checksum)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class IngestSummary:
    files: tuple[FileIngest, ...]
    seconds: float
    mirror_records: int  # records in the mirror afterwards
    snapshot_date: dt.date | None

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def deletions_applied(self) -> int:
        return sum(f.deletions_applied for f in self.files)

    @property
    def problems(self) -> tuple[ParseProblem, ...]:
        return tuple(p for f in self.files for p in f.problems)

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class IngestProgress:
    path: str
    records: int  # read so far from this file
    seconds: float  # since this file started


ProgressCallback = Callable[[IngestProgress], None]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_paths(paths: Sequence[Path]) -> list[Path]:
    if not paths:
        raise InputError("no files to ingest: give one or more PubMed XML files (.xml or .xml.gz)")
    checked = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise InputError(f"{path}: no such file; nothing was ingested")
        checked.append(path)
    return checked


@dataclass(frozen=True, slots=True)
class _Rows:
    """A chunk of a file's records, ready for one bulk upsert (built where the file is parsed)."""

    table: pa.Table
    records: int  # records read, duplicates included
    newest: dt.date | None


_Step = _Rows | DeletedCitations | ParseProblem


def _newest(current: dt.date | None, article: Article) -> dt.date | None:
    for value in (article.date_revised, article.article_date):
        day = iso_day(value)
        if day is not None and (current is None or day > current):
            current = day
    return current


def _file_steps(path: Path) -> Iterator[_Step]:
    """Parse a file into what the mirror must apply, in file order (the CPU-heavy half of ingest)."""
    from flows.pubmed.parser import parse

    pending: list[dict[str, object]] = []
    newest: dt.date | None = None

    def chunk() -> _Rows:
        rows = _Rows(mirror_db.rows_table(pending), len(pending), newest)
        pending.clear()
        return rows

    for event in parse(path):  # plain or gzip: the parser sniffs the magic bytes
        if isinstance(event, Article):
            pending.append(mirror_db.article_row(event))
            newest = _newest(newest, event)
            if len(pending) >= CHUNK_RECORDS:
                yield chunk()
        else:
            if pending and isinstance(event, DeletedCitations):
                yield chunk()  # deletions apply after everything before them, before anything after
            yield event
    if pending:
        yield chunk()


def _prepare_file(path: Path) -> list[_Step]:
    """A whole file's steps, for a worker process (memory: the file's rows, a few hundred MB at most)."""
    return list(_file_steps(path))


@dataclass
class _FileState:
    path: Path
    sha256: str
    started: float
    records: int = 0
    new: int = 0
    replaced: int = 0
    older_ignored: int = 0
    deletions_requested: int = 0
    deletions_applied: int = 0
    problems: list[ParseProblem] = field(default_factory=list)
    newest: dt.date | None = None

    def apply(self, con: mirror_db.Connection, step: _Step) -> None:
        if isinstance(step, _Rows):
            counts = mirror_db.upsert_table(con, step.table)
            self.records += step.records
            self.new += counts.new
            self.replaced += counts.replaced
            self.older_ignored += counts.older_ignored
            if step.newest and (self.newest is None or step.newest > self.newest):
                self.newest = step.newest
        elif isinstance(step, DeletedCitations):
            self.deletions_requested += len(step.pmids)
            self.deletions_applied += mirror_db.delete_pmids(con, step.pmids)
        else:
            self.problems.append(step)

    def result(self) -> FileIngest:
        return FileIngest(
            path=str(self.path),
            sha256=self.sha256,
            records=self.records,
            new=self.new,
            replaced=self.replaced,
            older_ignored=self.older_ignored,
            deletions_requested=self.deletions_requested,
            deletions_applied=self.deletions_applied,
            problems=tuple(self.problems),
            seconds=time.monotonic() - self.started,
        )


def ingest_files(
    paths: Sequence[Path | str],
    mirror_path: Path,
    *,
    progress: ProgressCallback | None = None,
    force: bool = False,
    workers: int = 1,
) -> IngestSummary:
    """Load PubMed XML files into the mirror in the given order (see module docs).

    `force` re-applies files whose checksum was already ingested. `workers` > 1 parses that many
    files at once in worker processes (files are still applied strictly in order); worth it for
    many baseline/update files, pointless for one.
    """
    files = _check_paths([Path(p) for p in paths])
    mirror_path = Path(mirror_path)
    started = time.monotonic()
    shas = [_sha256(path) for path in files]  # before taking the file: hashing gigabytes takes a while
    with mirror_db.open_mirror(mirror_path) as con:
        seen: set[str] = set()
        todo: list[tuple[Path, str]] = []
        skipped: dict[int, FileIngest] = {}
        for n, (path, sha) in enumerate(zip(files, shas, strict=True)):
            if not force and (sha in seen or mirror_db.file_ingested(con, sha)):
                skipped[n] = FileIngest(path=str(path), sha256=sha, skipped=True)
            else:
                todo.append((path, sha))
            seen.add(sha)
    done: list[FileIngest] = []
    for path, sha, steps in _prepared(todo, workers):
        state = _FileState(path=path, sha256=sha, started=time.monotonic())
        # One connection per file: a search waiting on the lock gets its turn between files.
        with mirror_db.open_mirror(mirror_path) as con:
            _apply_file(con, state, steps, progress, kept=len(done))
        done.append(state.result())
    results = iter(done)
    ordered = [skipped[n] if n in skipped else next(results) for n in range(len(files))]
    info = mirror_status(mirror_path)
    return IngestSummary(
        files=tuple(ordered),
        seconds=time.monotonic() - started,
        mirror_records=info.records,
        snapshot_date=info.snapshot_date,
    )


_Prepared = Iterator[tuple[Path, str, Iterator[_Step]]]


def _prepared(todo: list[tuple[Path, str]], workers: int) -> _Prepared:
    """Each file's steps in file order: parsed lazily here, or ahead of time by worker processes."""
    if workers <= 1 or len(todo) <= 1:
        for path, sha in todo:
            yield path, sha, _file_steps(path)
        return
    # spawn, not fork: the parent holds DuckDB and its threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        ahead: deque[tuple[Path, str, Future[list[_Step]]]] = deque()
        queue = iter(todo)
        try:
            for path, sha in itertools.islice(queue, workers + 1):
                ahead.append((path, sha, pool.submit(_prepare_file, path)))
            while ahead:
                path, sha, future = ahead.popleft()
                yield path, sha, _future_steps(future)
                for nxt_path, nxt_sha in itertools.islice(queue, 1):
                    ahead.append((nxt_path, nxt_sha, pool.submit(_prepare_file, nxt_path)))
        finally:
            for _, _, future in ahead:
                future.cancel()


def _future_steps(future: Future[list[_Step]]) -> Iterator[_Step]:
    yield from future.result()  # a worker's exception surfaces here, inside the file's transaction


def _apply_file(
    con: mirror_db.Connection,
    state: _FileState,
    steps: Iterator[_Step],
    progress: ProgressCallback | None,
    *,
    kept: int,
) -> None:
    """One file in one transaction: all of it or none of it."""
    try:
        with transaction(con):
            for step in steps:
                state.apply(con, step)
                if progress and isinstance(step, _Rows):
                    progress(IngestProgress(str(state.path), state.records, time.monotonic() - state.started))
            mirror_db.record_file(
                con,
                sha256=state.sha256,
                name=state.path.name,
                size_bytes=state.path.stat().st_size,
                records=state.records,
                deletions=state.deletions_applied,
                problems=len(state.problems),
            )
            mirror_db.raise_snapshot_date(con, state.newest)
    except (LitgradeError, OSError, ValueError) as exc:
        if isinstance(exc, StoreBusyError):
            raise
        where = "" if str(state.path) in str(exc) else f"{state.path}: "
        before = f"; the {kept} file(s) before it were kept" if kept else ""
        raise InputError(f"{where}{exc} (nothing from this file was loaded{before})") from exc


def mirror_status(mirror_path: Path) -> mirror_db.MirrorInfo:
    """The mirror's record count, snapshot date and ingested files."""
    return mirror_db.MirrorIndex(Path(mirror_path)).info()
