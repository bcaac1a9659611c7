"""One writer per project: a refresh holds an OS file lock; a second one is refused with who holds it.

`fcntl.flock` is released by the kernel when the holder dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from flows import config
from flows.errors import LitgradeError


class ProjectBusyError(LitgradeError):
    """Another refresh of the same project is running."""

    exit_code = 75  # EX_TEMPFAIL: try again later


def lock_path(project: str) -> Path:
    return config.data_dir() / "locks" / f"{project}.lock"


@contextlib.contextmanager
def project_lock(project: str, *, wait_seconds: float = 0.0) -> Iterator[None]:
    path = lock_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = dt.datetime.now() + dt.timedelta(seconds=wait_seconds)
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if dt.datetime.now() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise ProjectBusyError(
                        f"another refresh of '{project}' is running ({holder}); this one did not "
                        f"start — wait for it to finish (lock: {path})"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        yield
    finally:
        handle.close()


def ensure_free(project: str) -> None:
    """Refuse early, before any engine starts, when another process holds the project's lock.

    Only a courtesy for a clear message: the run itself still takes the lock, which is what guards.
    """
    with project_lock(project):
        pass
