"""Opening the DuckDB file: migrations in order, and short connections that wait out another process.

DuckDB lets one process hold the file at a time (even read-only). Every user of the store opens a
connection for one unit of work and closes it, and `connect` retries for a while when another process
holds the lock, so a web app and a scheduled refresh can take turns on the same file.
"""

from __future__ import annotations

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

    Retries with jittered backoff while another process holds the file; gives up with a clear
    StoreBusyError after `wait_seconds`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _process_lock(path), _open(path, read_only, wait_seconds) as con:
        yield con


def open_waiting(
    path: Path, *, read_only: bool, wait_seconds: float, holder_hint: str
) -> duckdb.DuckDBPyConnection:
    """duckdb.connect that waits (jittered backoff) while another process holds the file.

    `holder_hint` names who probably holds it, for the StoreBusyError a person reads.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only and path.exists())
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"{path}: stayed locked by another process for {wait_seconds:.0f} s "
                    f"({holder_hint}); try again when it has finished"
                ) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)


@contextmanager
def _open(path: Path, read_only: bool, wait_seconds: float) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_waiting(
        path, read_only=read_only, wait_seconds=wait_seconds, holder_hint="a refresh or the web app?"
    )
    try:
        if not read_only:
            # Cheap when up to date (two small statements); a cache keyed on the file would be
            # fooled by a deleted store re-created with the same inode.
            apply_migrations(con)
        yield con
    finally:
        con.close()
