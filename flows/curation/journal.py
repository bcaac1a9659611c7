"""Grade events on disk: curated/<project>/grades/<curator>.jsonl, append-only, one event per line.

One file per curator so two people never write the same file and git blame shows who decided what.
Every line is checked by flows.curation.grade_check (schemas/grade.schema.json) on the way in and on
the way out. An append is one write() of whole lines under an exclusive lock, fsync'ed before success
is reported; if the disk refuses it (ENOSPC, EFBIG) the file is cut back to its previous length and
the caller gets one JournalWriteError line. A file with any bad line (torn end, conflict marker, NUL
bytes, bad JSON or field) is quarantined: read_journals leaves it out whole and says why and how to
fix it, every other curator's file still counts, and appending to it is refused until
`litgrade grades repair` has moved every bad line, byte for byte, into a side file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import itertools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar, cast

from flows.curation.events import GradeEvent
from flows.curation.grade_check import LEAD_FIELDS, event_problems
from flows.errors import InputError, LitgradeError
from flows.ids import is_curator_id
from flows.project.curators import CURATORS_FILE, Curator, load_curators, require_curator, safe_curator_id

GRADES_DIR = "grades"
SUFFIX = ".jsonl"
T = TypeVar("T")
_FIELD_ORDER = tuple(f.name for f in fields(GradeEvent))
_KEY_ORDER = (*LEAD_FIELDS, *(name for name in _FIELD_ORDER if name not in LEAD_FIELDS))


def grades_dir(project_dir: Path) -> Path:
    return Path(project_dir) / GRADES_DIR


def grades_path(project_dir: Path, curator: str) -> Path:
    return grades_dir(project_dir) / f"{safe_curator_id(curator)}{SUFFIX}"


def now_timestamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_to_dict(event: GradeEvent) -> dict[str, Any]:
    """The JSON object of one line: fixed key order, unset optional fields left out."""
    out: dict[str, Any] = {}
    for name in _KEY_ORDER:
        value = getattr(event, name)
        if value is not None:
            out[name] = value
    return out


def event_line(event: GradeEvent) -> str:
    return json.dumps(event_to_dict(event), ensure_ascii=False, separators=(",", ":")) + "\n"


def event_from_dict(data: dict[str, Any]) -> GradeEvent:
    return GradeEvent(**{k: data[k] for k in _FIELD_ORDER if k in data})


def check_event(
    event: GradeEvent,
    curators: dict[str, Curator],
    project_dir: Path,
    claim_ids: Sequence[str] | None = None,
) -> None:
    """Raise InputError unless `event` is schema-valid, by a declared curator, for a known claim."""
    curator = require_curator(curators, event.curator, project_dir)
    problems = event_problems(event_to_dict(event))
    if problems:
        raise InputError(f"grade for claim '{event.claim}' PMID {event.pmid}: " + "; ".join(problems))
    if event.kind == "adjudication" and not curator.is_adjudicator:
        raise InputError(
            f"curator '{event.curator}' is a {curator.role}, not an adjudicator; only adjudicators "
            f"(role: adjudicator in {Path(project_dir) / 'curators.yaml'}) may record an adjudication"
        )
    if claim_ids is not None and event.claim not in claim_ids:
        raise InputError(
            f"no claim '{event.claim}' in {Path(project_dir) / 'claims.yaml'} "
            f"(claims: {', '.join(claim_ids)})"
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalWriteError(LitgradeError):
    """The disk refused a save (full, or a file-size limit): nothing was added."""


def _fix_hint(path: Path) -> str:
    project = path.parent.parent.name
    return (
        f"{path.stem}'s grades are left out (everyone else's still count) until it is fixed: run "
        f"`litgrade grades repair {project} --curator {path.stem}` (it moves every bad line into "
        f"{path.name}.bad-<time>, kept, not deleted), then re-enter any grade that was lost"
    )


def _locked_journal(path: Path) -> int:
    """An fd of `path` under an exclusive lock, on the file the path names NOW (repair replaces it)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st, now = os.fstat(fd), os.stat(path)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _append_lines(path: Path, payload: bytes, curator: Curator) -> None:
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The same curator in two places (web app and terminal) must not interleave half lines.
    fd = _locked_journal(path)
    try:
        size = os.fstat(fd).st_size
        if size + len(payload) > MAX_JOURNAL_BYTES:
            raise InputError(
                f"{path}: a grades file may hold at most {MAX_JOURNAL_BYTES:,} bytes; nothing was added. "
                "Start a new project for more grades, or ask whoever set this file up"
            )
        problem = _file_problem(path, fd, curator)
        if problem is not None:
            raise InputError(f"nothing was saved: {problem}")
        try:
            written = 0
            while written < len(payload):
                written += os.write(fd, payload[written:])
            os.fsync(fd)
        except OSError as exc:
            # One whole line or nothing: cut back whatever part of the payload reached the file.
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
            except OSError:
                pass
            reason = exc.strerror or type(exc).__name__
            raise JournalWriteError(
                f"{path}: could not save ({reason}); nothing was added. Free disk space (or raise the "
                "file-size limit) and save the grade again"
            ) from None
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


# file → ((size, mtime_ns, inode), what was read from it): an append re-reads claims.yaml and
# curators.yaml only when they changed (parsing them was most of a save's time).
_PEOPLE: dict[Path, tuple[tuple[int, int, int], Any]] = {}


def _by_stat(path: Path, load: Callable[[], T]) -> T:
    try:
        st = path.stat()
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
    except FileNotFoundError:
        return load()  # the loader says what is missing
    known = _PEOPLE.get(path)
    if known is not None and known[0] == key:
        return cast(T, known[1])
    value = load()
    _PEOPLE[path] = (key, value)
    return value


def _project_claim_ids(project_dir: Path) -> tuple[str, ...]:
    from flows.project.claims import CLAIMS_FILE, load_project

    return _by_stat(project_dir / CLAIMS_FILE, lambda: tuple(c.id for c in load_project(project_dir).claims))


def _curators(project_dir: Path) -> dict[str, Curator]:
    return dict(_by_stat(project_dir / CURATORS_FILE, lambda: load_curators(project_dir)))


def append_events(project_dir: Path, events: Sequence[GradeEvent]) -> int:
    """Validate every event first, then append them all to their curators' files (one write each).

    Either every event of a curator is on disk (fsync'ed) when this returns, or none is.
    """
    project_dir = Path(project_dir)
    if not events:
        return 0
    curators = _curators(project_dir)
    claim_ids = _project_claim_ids(project_dir)
    by_curator: dict[str, list[GradeEvent]] = {}
    for event in events:
        check_event(event, curators, project_dir, claim_ids)
        by_curator.setdefault(event.curator, []).append(event)
    for curator, mine in by_curator.items():
        payload = "".join(event_line(e) for e in mine).encode("utf-8")
        _append_lines(grades_path(project_dir, curator), payload, curators[curator])
    return len(events)


def append_event(project_dir: Path, event: GradeEvent) -> None:
    """Validate `event` and append it as one line of grades/<curator>.jsonl, on disk before returning."""
    append_events(project_dir, [event])


# Grade files a person could have written by hand stay far below this (25,000 events ≈ 6 MB).
MAX_JOURNAL_BYTES = 64_000_000
# The bytes just before the parsed offset, compared on each read: a file rewritten in place (same
# inode, not shorter) is then re-read whole instead of trusting what was parsed before.
_TAIL = 64


@dataclass
class _Parsed:
    """What is known of one grades file: read up to `offset` (a line end), `lines` lines, `events`.

    `generation` is new each time the file is read from its start again (replaced, shrunk, rewritten,
    its curator's role changed) and kept while it is only extended: within one generation every
    earlier `events` list is a prefix of the later ones, which lets a reader index only what was
    appended (flows.curation.claim_index). `events` lists are never changed once made.
    """

    generation: int
    dev: int
    ino: int
    offset: int
    tail: bytes
    lines: int
    curator: Curator
    events: list[GradeEvent]


# path → its _Parsed: the web app reads every file on each request; only bytes appended since the
# last read are parsed and validated (a file that shrank or changed inode is read whole again).
_CACHE: dict[Path, _Parsed] = {}
_GENERATIONS = itertools.count(1)


def _line_event(chunk: bytes, number: int, path: Path, curator: Curator) -> GradeEvent | None:
    """The event of one complete line (None for a blank one); InputError naming file:line otherwise."""
    if b"\0" in chunk:
        raise InputError(f"{path}:{number}: NUL bytes in the line (a damaged file)")
    if chunk.startswith((b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")):
        raise InputError(f"{path}:{number}: a git conflict marker (an unfinished merge)")
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    problems = event_problems(data)
    if problems:
        raise InputError(f"{path}:{number}: " + "; ".join(problems))
    event = event_from_dict(data)
    if event.curator != curator.id:
        raise InputError(
            f"{path}:{number}: field 'curator': '{event.curator}' in {curator.id}'s file; "
            "each curator writes only their own file"
        )
    if event.kind == "adjudication" and not curator.is_adjudicator:
        raise InputError(
            f"{path}:{number}: field 'kind': an adjudication by '{curator.id}', who is declared as "
            f"a {curator.role}; make them an adjudicator in curators.yaml or retract it"
        )
    return event


def _parse_chunk(
    path: Path, raw: bytes, first_line: int, curator: Curator
) -> tuple[list[GradeEvent], int, int]:
    """(events, lines, bytes used) of `raw`, whole lines only; a torn end is an InputError."""
    end = raw.rfind(b"\n") + 1
    events: list[GradeEvent] = []
    chunks = raw[:end].split(b"\n")[:-1] if end else []
    for number, chunk in enumerate(chunks, start=first_line):
        event = _line_event(chunk, number, path, curator)
        if event is not None:
            events.append(event)
    if end < len(raw):
        number = first_line + len(chunks)
        raise InputError(f"{path}:{number}: torn last line (no newline at the end: a write was cut off)")
    return events, len(chunks), end


def _read_fd(path: Path, fd: int, curator: Curator) -> _Parsed:
    st = os.fstat(fd)
    if st.st_size > MAX_JOURNAL_BYTES:
        raise InputError(
            f"{path}: {st.st_size:,} bytes, more than the {MAX_JOURNAL_BYTES:,} a grades file may hold"
        )
    known = _CACHE.get(path)
    if (
        known is None
        or (known.dev, known.ino) != (st.st_dev, st.st_ino)
        or known.curator != curator
        or st.st_size < known.offset
        or os.pread(fd, len(known.tail), known.offset - len(known.tail)) != known.tail
    ):
        known = _Parsed(next(_GENERATIONS), st.st_dev, st.st_ino, 0, b"", 0, curator, [])
    if st.st_size == known.offset:
        _CACHE[path] = known
        return known
    raw = os.pread(fd, st.st_size - known.offset, known.offset)
    new, lines, used = _parse_chunk(path, raw, known.lines + 1, curator)
    offset = known.offset + used
    tail = os.pread(fd, min(_TAIL, offset), offset - min(_TAIL, offset))
    parsed = _Parsed(
        known.generation, st.st_dev, st.st_ino, offset, tail, known.lines + lines, curator, known.events + new
    )
    _CACHE[path] = parsed
    return parsed


def _read_file(path: Path, curator: Curator) -> _Parsed:
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read_fd(path, fd, curator)
    finally:
        os.close(fd)


def _file_problem(path: Path, fd: int, curator: Curator) -> str | None:
    """Why `path` (open as `fd`) is quarantined, with the fix; None when every line is a valid event."""
    try:
        _read_fd(path, fd, curator)
    except InputError as exc:
        return f"{exc}. {_fix_hint(path)}"
    return None


def curator_files(project_dir: Path) -> list[Path]:
    folder = grades_dir(project_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file())


@dataclass(frozen=True)
class Quarantined:
    """A grades file left out because of a bad line: whose, and the one-line message with the fix."""

    path: Path
    curator: str
    message: str


@dataclass(frozen=True)
class Journals:
    events: list[GradeEvent]
    quarantined: tuple[Quarantined, ...] = ()


@dataclass(frozen=True)
class JournalFile:
    """One healthy grades file's events as read now. While `generation` stays the same between two
    reads, the earlier read's events are a prefix of the later one's (only appended to)."""

    path: Path
    generation: int
    events: Sequence[GradeEvent]  # never to be changed: the reader's cache shares it


@dataclass(frozen=True)
class JournalFiles:
    files: tuple[JournalFile, ...]  # healthy files, by path (= curator id) order
    quarantined: tuple[Quarantined, ...] = ()


def read_journal_files(project_dir: Path) -> JournalFiles:
    """read_journals per file: each healthy curator file's events and generation, curators by id; a
    file with any bad line is quarantined (left out whole, with why and the fix), so one curator's
    damaged file never stops anyone else."""
    project_dir = Path(project_dir)
    files = curator_files(project_dir)
    if not files:
        return JournalFiles(())
    curators = _curators(project_dir)
    healthy: list[JournalFile] = []
    quarantined: list[Quarantined] = []
    for path in files:
        name = path.stem
        if not is_curator_id(name) or name not in curators:
            quarantined.append(Quarantined(path, name, (
                f"{path}: grades of '{name}', who is not declared in "
                f"{project_dir / 'curators.yaml'}; they are left out: declare them or move the file away"
            )))  # fmt: skip
            continue
        try:
            parsed = _read_file(path, curators[name])
        except InputError as exc:
            quarantined.append(Quarantined(path, name, f"{exc}. {_fix_hint(path)}"))
            continue
        healthy.append(JournalFile(path, parsed.generation, parsed.events))
    return JournalFiles(tuple(healthy), tuple(quarantined))


def read_journals(project_dir: Path) -> Journals:
    """Every healthy curator file's events, validated, per curator in file (= time) order, curators
    by id; a file with any bad line is quarantined (see read_journal_files)."""
    journals = read_journal_files(project_dir)
    events: list[GradeEvent] = []
    for journal in journals.files:
        events.extend(journal.events)
    return Journals(events, journals.quarantined)


_WARNED: set[str] = set()


def read_events(project_dir: Path, *, strict: bool = False) -> list[GradeEvent]:
    """The events of read_journals. A quarantined file is named once per process on stderr (one
    line on stderr); `strict` raises its InputError instead."""
    journals = read_journals(project_dir)
    warn_quarantined(journals.quarantined, strict=strict)
    return journals.events


def warn_quarantined(quarantined: Sequence[Quarantined], *, strict: bool = False) -> None:
    """Name each quarantined file once per process on stderr; `strict` raises its InputError instead."""
    for bad in quarantined:
        if strict:
            raise InputError(bad.message)
        if bad.message not in _WARNED:
            _WARNED.add(bad.message)
            sys.stderr.write(f"warning: {bad.message}\n")


@dataclass(frozen=True)
class Repair:
    """What `repair_journal` set aside: the side file and the line numbers it holds."""

    side: Path
    lines: tuple[int, ...]


def repair_journal(project_dir: Path, curator: str) -> Repair | None:
    """Move every line of grades/<curator>.jsonl that is not a valid event (a torn end, a conflict
    marker, NUL bytes, bad JSON, a schema error — anywhere in the file) into
    <curator>.jsonl.bad-<time>, byte for byte, and keep the valid lines in order. None when every
    line is valid. The side file is on disk before the grades file is replaced."""
    project_dir = Path(project_dir)
    path = grades_path(project_dir, curator)
    if not path.is_file():
        return None
    who = require_curator(load_curators(project_dir), curator, project_dir)
    fd = _locked_journal(path)
    try:
        size = os.fstat(fd).st_size
        raw = os.pread(fd, size, 0)
        keep: list[bytes] = []
        bad: list[bytes] = []
        numbers: list[int] = []
        pieces = raw.split(b"\n")
        for number, piece in enumerate(pieces, start=1):
            is_end = number == len(pieces)
            if is_end and not piece:
                break  # the file ends with a newline
            whole = piece if is_end else piece + b"\n"
            try:
                if is_end:
                    raise InputError("torn")
                _line_event(piece, number, path, who)
            except InputError:
                bad.append(whole)
                numbers.append(number)
                continue
            keep.append(whole)
        if not bad:
            return None
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        side = path.with_name(f"{path.name}.bad-{stamp}")
        _write_bytes_atomic(side, b"".join(bad))
        _write_bytes_atomic(path, b"".join(keep))
    finally:
        os.close(fd)
    _CACHE.pop(path, None)
    return Repair(side, tuple(numbers))


def _write_bytes_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def repair_torn_line(project_dir: Path, curator: str) -> Path | None:
    """The side file of repair_journal (kept for callers that only knew torn last lines)."""
    done = repair_journal(project_dir, curator)
    return done.side if done else None
