"""The terminal the grader draws on: single keys without Enter, and one full screen redrawn in place.

On a terminal the screen is rich's alternate screen (`Live(screen=True)`): each redraw replaces the
last, nothing scrolls, and the shell's screen comes back on exit. Piped output (scripts, logs) gets
each screen printed in turn as plain text.
"""

from __future__ import annotations

import os
import select
import shutil
import sys
from types import TracebackType
from typing import Any, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live

from flows.tui.screen import Screen, layout

ESC = "\x1b"
CTRL_C, CTRL_D = "\x03", "\x04"


class Terminal(Protocol):
    def key(self) -> str: ...
    def show(self, screen: Screen) -> None: ...
    def say(self, text: str) -> None: ...  # a line for after the full screen is gone
    def __enter__(self) -> Terminal: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class StdTerminal:
    """stdin keys in cbreak mode; stdout through rich (alternate screen on a terminal)."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.tty = self.stdout.isatty()
        self.console = Console(
            file=self.stdout,
            force_terminal=self.tty,
            no_color="NO_COLOR" in os.environ,
            highlight=False,
            soft_wrap=False,
        )
        self._live: Live | None = None
        self._after: list[str] = []
        self._saved_mode: list[Any] | None = None

    def size(self) -> tuple[int, int]:
        columns, lines = shutil.get_terminal_size((80, 24))
        return max(40, columns), max(12, lines)

    def __enter__(self) -> StdTerminal:
        if self.stdin.isatty():
            # cbreak for the whole session: keys typed while a screen is drawn wait in the input
            # queue as keys (switching back to line mode between keys would hold them as a line).
            import termios
            import tty

            self._saved_mode = termios.tcgetattr(self.stdin.fileno())
            tty.setcbreak(self.stdin.fileno())
        if self.tty:
            self._live = Live(console=self.console, screen=True, auto_refresh=False, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
        if self._saved_mode is not None:
            import termios

            termios.tcsetattr(self.stdin.fileno(), termios.TCSADRAIN, self._saved_mode)
            self._saved_mode = None
        for line in self._after:
            self.stdout.write(line + "\n")
        self._after.clear()
        self.stdout.flush()

    def show(self, screen: Screen) -> None:
        width, height = self.size()
        if self._live is not None:
            # One row fewer than the screen: a full last row would make some terminals scroll.
            rows = layout(screen, width, height - 1).rows
            self._live.update(Group(*rows), refresh=True)
            return
        for row in layout(screen, width, height).rows:
            self.console.print(row, crop=True)
        self.console.print("=" * width)

    def say(self, text: str) -> None:
        if self._live is not None:
            self._after.append(text)
        else:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def key(self) -> str:
        if not self.stdin.isatty():
            char = self.stdin.read(1)
            return char or CTRL_D
        import termios
        import tty

        fd = self.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            if self._saved_mode is None:  # outside a session: cbreak for this key only
                tty.setcbreak(fd)
            data = os.read(fd, 1)
            if data == ESC.encode():
                # Arrow keys and friends arrive as ESC + more bytes: swallow them as one "escape".
                while select.select([fd], [], [], 0.03)[0]:
                    os.read(fd, 16)
            elif data and data[0] >= 0xC0:  # a multi-byte UTF-8 character
                while select.select([fd], [], [], 0.01)[0] and len(data) < 4:
                    data += os.read(fd, 1)
        finally:
            if self._saved_mode is None:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        return data.decode("utf-8", "replace") if data else CTRL_D
