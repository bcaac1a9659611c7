"""Atomic file writes: a crash, a full disk or Ctrl-C never leaves a half-written file behind."""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

Staged = tuple[str, Path]  # (a written, fsync'ed temp file, the file it will replace)
SYNCFS_MIN_FILES = 64  # from this many temp files, one syncfs per file system instead of an fsync each


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@lru_cache(maxsize=1)
def _syncfs() -> Any | None:
    """Linux's syncfs(2) (not in the os module), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def _flush(temps: Sequence[Staged]) -> None:
    """Make the temp files' data durable before any is renamed. Many files: one syncfs per file system
    holding them (every dirty page there, these included, reaches the disk): measured on 1,053 report
    files (105 MB), 0.16–0.19 s against 0.39–2.9 s for an fsync each, which commits the journal once
    per file. syncfs reports write-back errors since Linux 5.8; a failing call falls back to fsync."""
    syncfs = _syncfs() if len(temps) >= SYNCFS_MIN_FILES else None
    if syncfs is not None:
        folders = {os.stat(path.parent).st_dev: path.parent for _, path in temps}
        if all(_syncfs_ok(syncfs, folder) for folder in folders.values()):
            return
    for tmp, _ in temps:
        _fsync_path(tmp)


def _syncfs_ok(syncfs: Any, folder: Path) -> bool:
    fd = os.open(folder, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def stage_files(files: Mapping[Path, str], *, mode: int = 0o644) -> list[Staged]:
    """Write every text to a temp file beside its target and make it durable (fsync, or syncfs for
    many: see _flush); nothing is replaced yet (see commit_staged). A failure removes the temp files
    written so far.

    Temp files are all written before any is flushed so the kernel can write them back together
    (one fsync per file right after writing costs several times more on thousands of files).
    `mode` is set explicitly because temp files start as 0600.
    """
    temps: list[Staged] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((tmp, path))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        _flush(temps)
    except BaseException:
        discard_staged(temps)
        raise
    return temps


def commit_staged(staged: Sequence[Staged]) -> None:
    """Rename each staged temp file over its target, in order, then fsync their folders. A failure
    removes the temp files not yet renamed."""
    try:
        for tmp, path in staged:
            os.replace(tmp, path)
        for folder in {path.parent for _, path in staged}:
            _fsync_path(folder)
    except BaseException:
        discard_staged(staged)
        raise


def discard_staged(staged: Sequence[Staged]) -> None:
    """Remove staged temp files (those already renamed are gone from their temp names)."""
    for tmp, _ in staged:
        Path(tmp).unlink(missing_ok=True)


def write_files_atomic(files: Mapping[Path, str], *, mode: int = 0o644) -> None:
    """Replace every file in `files` atomically: all are written to temp files and fsync'ed first,
    then renamed into place."""
    commit_staged(stage_files(files, mode=mode))


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace one file atomically (temp file, fsync, rename)."""
    write_files_atomic({path: text}, mode=mode)
