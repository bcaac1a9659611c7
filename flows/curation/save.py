"""Idempotent saves: a form's key makes a retried save record one event, not two.

Every grading form carries a fresh random key. `save_once` takes an exclusive lock on the key index
(`<index>.lock`), appends the event through the given `append` (flows.curation.journal, validated and
fsync'ed) only when the key is new, then records the key (one fsync'ed line). A retry of the same form
— a double click, a browser resend after a dropped answer — finds its key and writes nothing.
A crash between the event's fsync and the key's leaves the key unrecorded: that one retry would save
again (the same decision, at a later time), never lose a grade.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable
from pathlib import Path

from flows.curation.events import GradeEvent
from flows.errors import InputError

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise InputError(
            "save key: expected 16–64 letters, digits, '-' or '_'; reload the page to get a fresh form"
        )
    return key


def _keys(path: Path) -> set[str]:
    try:
        return set(path.read_text(encoding="utf-8").split())
    except FileNotFoundError:
        return set()


def save_once(index: Path, key: str, event: GradeEvent, append: Callable[[GradeEvent], None]) -> bool:
    """Append `event` unless a save with `key` was already recorded; True when it was written now."""
    check_key(key)
    index.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(index.with_name(index.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if key in _keys(index):
            return False
        append(event)
        with index.open("a", encoding="utf-8") as out:
            out.write(key + "\n")
            out.flush()
            os.fsync(out.fileno())
        return True
    finally:
        os.close(fd)  # closing releases the lock
