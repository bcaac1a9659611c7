"""Opening the DuckDB file: migrations in order, and short connections that wait out another process.

DuckDB lets one process hold the file at a time (even read-only). Every user of the store opens a
connection for one unit of work and closes it, and `connect` waits its turn for a while when another
process holds the file, so a web app and a scheduled refresh can take turns on the same file.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from flows.errors import ConfigError, StoreBusyError
from flows.resources import schema_path

# Numbered migrations, one folder per kind of DuckDB file: the store, and the PubMed mirror.
STORE_SQL = schema_path("sql")
MIRROR_SQL = schema_path("sql/mirror")
DEFAULT_WAIT_SECONDS = 30.0

# Threads of one process share DuckDB's database instance; concurrent write transactions on it
# conflict ("Conflict on update"), so one unit of work at a time per file within a process.
_process_locks: dict[Path, threading.RLock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _process_locks_guard:
        return _process_locks.setdefault(path.resolve(), threading.RLock())


def migrations(folder: Path = STORE_SQL) -> list[tuple[int, Path]]:
    """A folder's NNN_name.sql files in order (schemas/sql/ for the store, schemas/sql/mirror/)."""
    return [(int(path.name[:3]), path) for path in sorted(folder.glob("[0-9][0-9][0-9]_*.sql"))]


def apply_migrations(
    con: duckdb.DuckDBPyConnection,
    folder: Path = STORE_SQL,
    *,
    adopted: Callable[[duckdb.DuckDBPyConnection], int] | None = None,
) -> None:
    """Apply the folder's migrations not yet recorded in the file's schema_version table, in order,
    each in its own transaction.

    `adopted` is for files made before they had a schema_version table: it returns the migration the
    file's tables already match (0 for none), and those migrations are recorded as done, not re-run.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name VARCHAR, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    done = _recorded_versions(con)
    already = adopted(con) if adopted and not done else 0
    for version, path in migrations(folder):
        if version in done:
            continue
        with transaction(con):
            if version > already:
                con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [version, path.name])


def _recorded_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()}


def require_current(con: duckdb.DuckDBPyConnection, path: Path, project: str) -> None:
    """Refuse, in one line, a store older than this code: a read-only reader cannot migrate it, and
    a missing table would otherwise surface as a bare SQL error."""
    latest = max((version for version, _ in migrations()), default=0)
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    have = max(_recorded_versions(con), default=0) if "schema_version" in tables else 0
    if have < latest:
        raise ConfigError(
            f"{path}: the store's schema is older than this litgrade (version {have}, needs {latest}); "
            f"run `litgrade refresh {project}` once to upgrade it"
        )


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, **frames: Any) -> Iterator[None]:
    """One all-or-nothing unit of work; DataFrames passed by name are visible to its SQL (bulk loads
    go through Arrow this way, ~100x faster than executemany)."""
    for name, frame in frames.items():
        con.register(name, frame)
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in frames:
            con.unregister(name)


def is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


@contextmanager
def connect(
    path: Path, *, read_only: bool = False, wait_seconds: float = DEFAULT_WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the store at `path`, migrated on first use in this process.

    Waits for its turn while another process holds the file; gives up with a clear StoreBusyError
    after `wait_seconds` (0: one try).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with _process_lock(path), open_waiting(
        path, read_only=read_only, deadline=deadline, holder_hint="a refresh or the web app?"
    ) as con:
        if not read_only:
            # Cheap when up to date (two small statements); a cache keyed on the file would be
            # fooled by a deleted store re-created with the same inode.
            apply_migrations(con)
        yield con


@contextmanager
def open_waiting(
    path: Path, *, read_only: bool, deadline: float, holder_hint: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection to `path`, opened once this process has the file's turn, closed on exit.

    Every litgrade process takes an flock on `<file>.turn` for as long as its connection is open.
    A waiter polls that flock every TURN_POLL_SECONDS (a system call), so it gets the file within
    milliseconds of the holder closing it; polling duckdb.connect itself costs ~4 ms of CPU a try,
    and its backoff used to miss a refresh's short gaps between batches for seconds at a time.
    A process that does not take turns (the duckdb CLI) is still waited out, with backoff.
    `holder_hint` names who probably holds the file, for the StoreBusyError a person reads.
    `deadline` is a time.monotonic() value.
    """
    with _turn(path, deadline, holder_hint):
        con = _connect_retrying(path, read_only, deadline, holder_hint)
        try:
            yield con
        finally:
            con.close()


TURN_POLL_SECONDS = 0.005


def _busy(path: Path, holder_hint: str) -> StoreBusyError:
    return StoreBusyError(
        f"{path}: stayed locked by another process ({holder_hint}); try again when it has finished"
    )


# The turns this process holds: file -> [flock'ed descriptor, connections open on it]. A turn is the
# process's (DuckDB shares one instance between a process's connections), so a nested or concurrent
# connection in the same process joins it instead of waiting for itself.
_held_turns: dict[Path, list[int]] = {}
_held_turns_guard = threading.Lock()


@contextmanager
def _turn(path: Path, deadline: float, holder_hint: str) -> Iterator[None]:
    key = path.resolve()
    while True:
        with _held_turns_guard:
            held = _held_turns.get(key)
            if held is not None:
                held[1] += 1
                break
            fd = _try_turn(key)
            if fd is not None:
                _held_turns[key] = [fd, 1]
                break
        if time.monotonic() >= deadline:
            raise _busy(path, holder_hint)
        time.sleep(TURN_POLL_SECONDS)
    try:
        yield
    finally:
        with _held_turns_guard:
            held = _held_turns[key]
            held[1] -= 1
            if held[1] == 0:
                del _held_turns[key]
                if held[0] >= 0:
                    os.close(held[0])  # releases the flock


def turn_file(path: Path) -> Path:
    """The file whose flock is `path`'s turn (see open_waiting). Remove it only with the DuckDB file
    it serves, and only when no other process can be waiting for that file (a private build)."""
    return path.with_name(path.name + ".turn")


def _forget_turns_in_child() -> None:
    """A forked child has copies of the turn descriptors: closing them leaves the parent's flock
    alone, and a copy kept open would hold the turn until the child exits, after the parent let go.
    The guard is new too: another thread of the parent may have held it at the fork."""
    global _held_turns_guard
    _held_turns_guard = threading.Lock()
    for fd, _ in _held_turns.values():
        if fd >= 0:
            os.close(fd)
    _held_turns.clear()


os.register_at_fork(after_in_child=_forget_turns_in_child)


def _try_turn(path: Path) -> int | None:
    """The flock'ed descriptor of `path`'s turn file; None while another process has the turn; -1
    where no turn file can be made (a read-only folder: DuckDB's own lock still guards the file)."""
    try:
        fd = os.open(turn_file(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _connect_retrying(
    path: Path, read_only: bool, deadline: float, holder_hint: str
) -> duckdb.DuckDBPyConnection:
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only and path.exists())
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise _busy(path, holder_hint) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)
