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

EXIT_INTERRUPTED = 130
GRACE_SECONDS = 4.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}  # the whole stop, marking included, stays under 5 s


def mark_interrupted(project: str, db_path: Path) -> int:
    """Mark the project's search runs still "running" as interrupted; return how many."""
    if not db_path.exists():
        return 0
    from flows.store.db import connect
    from flows.store.searches import interrupt_open_runs

    with connect(db_path, wait_seconds=GRACE_SECONDS / 2) as con:
        return interrupt_open_runs(con, project, "stopped by a signal (Ctrl-C or SIGTERM)")


_stopping = threading.Lock()


def _stop(project: str, db_path: Path) -> None:
    """Mark the open runs, say so in one line, end the process now (only the first caller does)."""
    if not _stopping.acquire(blocking=False):
        return
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


def block_sigterm() -> None:
    """Block SIGTERM and SIGINT in this thread and every thread started after it: call it before
    Prefect is imported (its threads must not take them) and after the local server is started
    (children inherit the mask)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def interruptible(project: str, db_path: Path) -> Iterator[None]:
    """Within this block SIGTERM or Ctrl-C ends the process with exit code 130 after marking the
    project's open search runs, never waiting for worker threads.

    SIGTERM and SIGINT are blocked in this thread (and so in every thread started from now on) and
    taken by a thread waiting for them: Prefect's flow engine installs its own SIGTERM handler during a
    run and handles KeyboardInterrupt itself, and both graceful paths could wait for the flow's threads
    (seen: a run that hung past 30 s). A KeyboardInterrupt that still reaches the main thread is
    caught here too.
    """
    terms = STOP_SIGNALS
    block_sigterm()  # a no-op when the command blocked it before importing Prefect

    def wait_for_term() -> None:
        signal.sigwait(terms)
        _stop(project, db_path)

    threading.Thread(target=wait_for_term, name="litgrade-sigterm", daemon=True).start()
    try:
        yield
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(project, db_path)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, terms)
