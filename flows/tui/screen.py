"""One full screen of the terminal grader, as data, and its layout into exactly the terminal's rows.

The grader describes what to show (header, study text, message, question, keys); `layout` fits it into
width × height: the header and the key legend always keep their rows, the study text gets what is left
(cropped, with a line saying how to see the rest), and the legend is packed item by item so it never
breaks inside a key's label. rich does the cell-width-aware wrapping and the styling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

HIGHLIGHT_ON, HIGHLIGHT_OFF = "\x0e", "\x0f"  # shift-out/in: stripped from outside text before marking
HIGHLIGHT_STYLE = "bold yellow"
STYLES = {
    "title": "bold reverse",
    "status": "bold",
    "claim": "italic",
    "rule": "dim",
    "warn": "bold red",
    "ok": "green",
    "conflict": "bold magenta",
    "muted": "dim",
    "prompt": "bold cyan",
    "legend": "",
}


@dataclass(frozen=True, slots=True)
class Screen:
    title: str  # e.g. "litgrade grade · <claim id>"
    status: str  # position and progress
    claim: str  # the claim's text
    body: Sequence[tuple[str, str]] = ()  # (paragraph, style name); HIGHLIGHT_ON/OFF mark query words
    body_offset: int = 0  # first body row shown ([v] pages through the rest)
    message: str = ""  # what just happened ("Saved: …", a conflict, an error)
    message_style: str = "ok"
    prompt: str = ""  # the question being asked, if any
    keys: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (key, what it does)


@dataclass(frozen=True, slots=True)
class Layout:
    rows: tuple[Text, ...]  # exactly `height` rows, none wider than `width`
    body_rows: int  # how many rows the study text has in all at this width
    body_shown: int  # how many of them fit


def _styled(text: str, style: str) -> Text:
    """A Text from `text` whose HIGHLIGHT_ON … HIGHLIGHT_OFF runs are highlighted."""
    out = Text(style=STYLES.get(style, style))
    highlighted = False
    for part in text.replace(HIGHLIGHT_OFF, HIGHLIGHT_ON).split(HIGHLIGHT_ON):
        if part:
            out.append(part, style=HIGHLIGHT_STYLE if highlighted else None)
        highlighted = not highlighted
    # The markers come in pairs; a stray one simply ends the highlight at the end of the text.
    return out


def _wrap(console: Console, text: Text, width: int) -> list[Text]:
    lines = text.wrap(console, width, overflow="fold")
    return list(lines) or [Text("")]


def _one_row(text: str, style: str, width: int) -> Text:
    row = _styled(text, style)
    row.truncate(width, overflow="ellipsis")
    return row


def pack_legend(keys: Sequence[tuple[str, str]], width: int) -> list[str]:
    """Legend items '[k] label' packed into rows of at most `width` cells, broken only between items."""
    rows: list[str] = []
    current = ""
    for key, label in keys:
        item = f"[{key}] {label}" if key else label
        if len(item) > width:
            item = item[: max(1, width - 1)] + "…"
        candidate = f"{current}  {item}" if current else item
        if len(candidate) <= width:
            current = candidate
        else:
            rows.append(current)
            current = item
    if current:
        rows.append(current)
    return rows


def layout(screen: Screen, width: int, height: int) -> Layout:
    """Fit `screen` into width × height (at least 40 × 12): header and legend first, then the study."""
    width, height = max(40, width), max(12, height)
    console = Console(width=width, color_system=None, file=None, legacy_windows=False)
    legend = pack_legend(screen.keys, width)
    top: list[Text] = [
        _one_row(screen.title, "title", width),
        _one_row(screen.status, "status", width),
    ]
    claim_rows = _wrap(console, Text("Claim: " + screen.claim, style=STYLES["claim"]), width)
    if len(claim_rows) > 2:
        claim_rows = claim_rows[:2]
        claim_rows[1].truncate(width - 1)
        claim_rows[1].append("…")
    top += claim_rows
    top.append(Text("─" * width, style=STYLES["rule"]))
    bottom: list[Text] = [Text("─" * width, style=STYLES["rule"])]
    message_rows: list[Text] = []
    if screen.message:
        message_rows = _wrap(console, _styled(screen.message, screen.message_style), width)
        bottom += message_rows[:3]
    if screen.prompt:
        bottom += _wrap(console, _styled(screen.prompt, "prompt"), width)[:2]
    bottom += [Text(row, style=STYLES["legend"]) for row in legend]
    room = height - len(top) - len(bottom)
    if room < 1:
        # A small terminal: the title, status and keys matter most; the claim gets one row, the
        # message and the rules go, in that order, until a row is left for the study.
        del claim_rows[1:]
        top = [*top[:2], *claim_rows]
        bottom = bottom[1:]
        if screen.message and height - len(top) - len(bottom) < 1:
            bottom = bottom[len(message_rows[:3]):]
        room = height - len(top) - len(bottom)
    body: list[Text] = []
    for paragraph, style in screen.body:
        body += _wrap(console, _styled(paragraph, style), width) if paragraph else [Text("")]
    offset = min(max(0, screen.body_offset), max(0, len(body) - 1))
    visible = body[offset:]
    if len(visible) > room:
        hidden = len(visible) - (room - 1)
        visible = visible[: max(0, room - 1)]
        visible.append(Text(f"… {hidden} more line(s): press v to page", style=STYLES["muted"]))
    elif offset:
        visible = [*visible, Text("(end; v returns to the top)", style=STYLES["muted"])]
    visible = visible[: max(0, room)]
    shown = len([r for r in visible if r.plain and not r.plain.startswith(("… ", "(end;"))])
    filler = [Text("") for _ in range(max(0, room - len(visible)))]
    rows = (top + visible + filler + bottom)[:height]
    for row in rows:
        row.truncate(width)
    return Layout(rows=tuple(rows), body_rows=len(body), body_shown=shown)
