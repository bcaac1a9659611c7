"""Grade events on disk: curated/<project>/grades/<curator>.jsonl, append-only, one event per line.

One file per curator so two people never write the same file and git blame shows who decided what.
Every line is checked by flows.curation.grade_check (schemas/grade.schema.json) on the way in and on
the way out. An append is one write() of whole lines under an exclusive lock, fsync'ed before success
is reported; a crash mid-write can only leave a torn *last* line, which reading reports (file and
line) and appending refuses to build on, until `litgrade grades repair` sets the torn bytes aside.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from flows.curation.events import GradeEvent
from flows.curation.grade_check import LEAD_FIELDS, event_problems
from flows.errors import InputError
from flows.ids import is_curator_id
from flows.project.curators import Curator, load_curators, require_curator, safe_curator_id

GRADES_DIR = "grades"
SUFFIX = ".jsonl"
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


def _ends_torn(fd: int) -> bool:
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    return os.pread(fd, 1, size - 1) != b"\n"


def _append_lines(path: Path, payload: bytes) -> None:
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # The same curator in two places (web app and terminal) must not interleave half lines.
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _ends_torn(fd):
            raise InputError(
                f"{path}: the last line is torn (no newline: a write was cut off); nothing was added. "
                f"Run `litgrade grades repair PROJECT --curator {path.stem}` to set it aside, then retry"
            )
        written = 0
        while written < len(payload):
            written += os.write(fd, payload[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def _project_claim_ids(project_dir: Path) -> tuple[str, ...]:
    from flows.project.claims import load_project

    return tuple(c.id for c in load_project(project_dir).claims)


def append_events(project_dir: Path, events: Sequence[GradeEvent]) -> int:
    """Validate every event first, then append them all to their curators' files (one write each).

    Either every event of a curator is on disk (fsync'ed) when this returns, or none is.
    """
    project_dir = Path(project_dir)
    if not events:
        return 0
    curators = load_curators(project_dir)
    claim_ids = _project_claim_ids(project_dir)
    by_curator: dict[str, list[GradeEvent]] = {}
    for event in events:
        check_event(event, curators, project_dir, claim_ids)
        by_curator.setdefault(event.curator, []).append(event)
    for curator, mine in by_curator.items():
        payload = "".join(event_line(e) for e in mine).encode("utf-8")
        _append_lines(grades_path(project_dir, curator), payload)
    return len(events)


def append_event(project_dir: Path, event: GradeEvent) -> None:
    """Validate `event` and append it as one line of grades/<curator>.jsonl, on disk before returning."""
    append_events(project_dir, [event])


# path → (digest of its bytes, its curator, its events): the web app re-reads every file on each
# request; hashing the bytes is ~100x cheaper than validating them again (and, unlike mtime, exact).
_CACHE: dict[Path, tuple[bytes, Curator, list[GradeEvent]]] = {}


def _read_file(path: Path, curator: Curator) -> list[GradeEvent]:
    raw = path.read_bytes()
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == digest and cached[1] == curator:
        return list(cached[2])
    events = _parse_file(path, raw, curator)
    _CACHE[path] = (digest, curator, events)
    return list(events)


def _parse_file(path: Path, raw: bytes, curator: Curator) -> list[GradeEvent]:
    if not raw:
        return []
    chunks = raw.split(b"\n")
    torn = chunks[-1] != b""
    if not torn:
        chunks = chunks[:-1]
    events: list[GradeEvent] = []
    for number, chunk in enumerate(chunks, start=1):
        is_last = number == len(chunks)
        if torn and is_last:
            raise InputError(
                f"{path}:{number}: torn last line (no newline at the end: a write was cut off); "
                f"nothing after line {number - 1} is used until it is dealt with. Run "
                f"`litgrade grades repair PROJECT --curator {curator.id}` to move it aside into "
                f"{path.name}.torn-<time> (kept, not deleted) and re-enter that grade"
            )
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        if not text.strip():
            continue
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
        events.append(event)
    return events


def curator_files(project_dir: Path) -> list[Path]:
    folder = grades_dir(project_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file())


def read_events(project_dir: Path) -> list[GradeEvent]:
    """Every curator's events, validated; per curator in file (= time) order, curators by id."""
    project_dir = Path(project_dir)
    files = curator_files(project_dir)
    if not files:
        return []
    curators = load_curators(project_dir)
    events: list[GradeEvent] = []
    for path in files:
        name = path.stem
        if not is_curator_id(name) or name not in curators:
            raise InputError(
                f"{path}: grades of '{name}', who is not declared in "
                f"{project_dir / 'curators.yaml'}; declare them or move the file away"
            )
        events.extend(_read_file(path, curators[name]))
    return events


def repair_torn_line(project_dir: Path, curator: str) -> Path | None:
    """Move a torn last line into <curator>.jsonl.torn-<time> (kept for a person to read) and cut the
    grades file back to its last complete line. Returns the side file, or None if nothing was torn."""
    path = grades_path(project_dir, curator)
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = path.read_bytes()
        if not raw or raw.endswith(b"\n"):
            return None
        keep = raw.rfind(b"\n") + 1
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        side = path.with_name(f"{path.name}.torn-{stamp}")
        tmp = side.with_name(side.name + ".tmp")
        tmp.write_bytes(raw[keep:])
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, side)
        os.ftruncate(fd, keep)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)
    return side

