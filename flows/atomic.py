"""Atomic file writes: a crash, a full disk or Ctrl-C never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

Staged = tuple[str, Path]  # (a written, fsync'ed temp file, the file it will replace)


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage_files(files: Mapping[Path, str], *, mode: int = 0o644) -> list[Staged]:
    """Write every text to a temp file beside its target and fsync it; nothing is replaced yet (see
    commit_staged). A failure removes the temp files written so far.

    Temp files are all written before any fsync so the kernel can write them back together
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
        for tmp, _ in temps:
            _fsync_path(tmp)
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
