"""How a long refresh tells a person where it is: a live line on a terminal, one line per claim in a log.

The flow reports events here; the CLI decides how to show them. Library users get plain logging.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("litgrade.refresh")


class ProgressSink(Protocol):
    def started(self, claims: int) -> None: ...
    def claim_searched(self, claim_id: str, found: int) -> None: ...
    def records_fetched(self, count: int) -> None: ...
    def claim_finished(self, claim_id: str, line: str) -> None: ...


@dataclass
class LogProgress:
    """One line per claim (for logs and non-terminal output)."""

    stream: object = field(default_factory=lambda: sys.stderr)

    def started(self, claims: int) -> None:
        pass

    def claim_searched(self, claim_id: str, found: int) -> None:
        pass

    def records_fetched(self, count: int) -> None:
        pass

    def claim_finished(self, claim_id: str, line: str) -> None:
        print(line, file=self.stream, flush=True)  # type: ignore[call-overload]


@dataclass
class TerminalProgress:
    """A single live status line: claims searched, records fetched, the claim just searched."""

    total: int = 0
    searched: int = 0
    fetched: int = 0
    current: str = ""

    def _draw(self) -> None:
        text = (
            f"  [{self.searched}/{self.total} claims searched] {self.fetched} records fetched"
            + (f" · {self.current}" if self.current else "")
        )
        sys.stderr.write("\r\x1b[2K" + text[:160])
        sys.stderr.flush()

    def started(self, claims: int) -> None:
        self.total = claims
        self._draw()

    def claim_searched(self, claim_id: str, found: int) -> None:
        self.searched += 1
        self.current = f"{claim_id}: {found} found"
        self._draw()

    def records_fetched(self, count: int) -> None:
        self.fetched += count
        self._draw()

    def claim_finished(self, claim_id: str, line: str) -> None:
        sys.stderr.write("\r\x1b[2K" + line + "\n")
        sys.stderr.flush()


_sink: ProgressSink | None = None


def set_sink(sink: ProgressSink | None) -> None:
    global _sink
    _sink = sink


def sink() -> ProgressSink | None:
    return _sink
