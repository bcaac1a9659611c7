"""Stop a run within seconds on Ctrl-C or SIGTERM, marking its open search runs "interrupted".

Worker threads may be waiting on NCBI; the process does not wait for them: whatever was stored stays
stored (records are written batch by batch) and the next refresh resumes from the store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

EXIT_INTERRUPTED = 130
GRACE_SECONDS = 4.0  # the whole stop, marking included, stays under 5 s


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def mark_interrupted(project: str, db_path: Path) -> int:
    """Mark the project's search runs still "running" as interrupted; return how many."""
    if not db_path.exists():
        return 0
    from flows.store.db import connect
    from flows.store.searches import interrupt_open_runs

    with connect(db_path, wait_seconds=GRACE_SECONDS / 2) as con:
        return interrupt_open_runs(con, project, "stopped by a signal (Ctrl-C or SIGTERM)")


@contextlib.contextmanager
def interruptible(project: str, db_path: Path) -> Iterator[None]:
    """Within this block SIGTERM acts as Ctrl-C; either ends the process with exit code 130 after
    marking the project's open search runs, never waiting for worker threads."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        guard = threading.Timer(GRACE_SECONDS, os._exit, (EXIT_INTERRUPTED,))
        guard.daemon = True
        guard.start()
        try:
            marked = mark_interrupted(project, db_path)
            note = f"{marked} open search run(s) marked interrupted; " if marked else ""
        except Exception as exc:  # the store busy or broken: still stop now
            note = f"search runs not marked ({exc}); "
        print(f"litgrade: interrupted; {note}everything stored so far is kept", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)  # worker threads may sit in a request: do not join them
    finally:
        signal.signal(signal.SIGTERM, previous)
