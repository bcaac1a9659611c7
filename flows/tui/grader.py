"""`litgrade grade`: grade a claim's studies one key at a time in a terminal.

The store is read once at the start on a short read-only connection (a refresh may need the file
while someone grades for an hour); grade files are re-read before each study so another curator's
work and blind-review visibility stay current. Every decision is appended (fsync'ed) the moment the
key that completes it is pressed.
"""

from __future__ import annotations

import os
import select
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TextIO

from flows.curation.events import GradeEvent
from flows.curation.journal import append_event, now_timestamp, read_events
from flows.curation.ladder import Ladder, load_ladder
from flows.curation.review import conflicts, queue, standing_grades, visible_grades
from flows.errors import InputError
from flows.project.claims import Claim, Project
from flows.project.curators import Curator, load_curators, require_curator
from flows.pubmed.highlight import mark, query_pattern
from flows.pubmed.text import strip_controls
from flows.store.studies import ClaimStudies, load_studies

_ESC = "\x1b"
_CTRL_C, _CTRL_D = "\x03", "\x04"
SKIP_KEYS = (" ", "k")


class Terminal(Protocol):
    def key(self) -> str: ...
    def line(self, prompt: str) -> str: ...
    def write(self, text: str) -> None: ...
    @property
    def color(self) -> bool: ...
    @property
    def width(self) -> int: ...


class StdTerminal:
    """Single keys from stdin without Enter (cbreak mode when stdin is a terminal)."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    @property
    def color(self) -> bool:
        return self.stdout.isatty() and "NO_COLOR" not in os.environ

    @property
    def width(self) -> int:
        return max(40, min(100, shutil.get_terminal_size((88, 24)).columns))

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def key(self) -> str:
        if not self.stdin.isatty():
            char = self.stdin.read(1)
            return char or _CTRL_D
        import termios
        import tty

        fd = self.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            data = os.read(fd, 1)
            if data == _ESC.encode():
                # Arrow keys and friends arrive as ESC + more bytes: swallow them as one "escape".
                while select.select([fd], [], [], 0.03)[0]:
                    os.read(fd, 16)
            elif data and data[0] >= 0xC0:  # a multi-byte UTF-8 character
                while select.select([fd], [], [], 0.01)[0] and len(data) < 4:
                    data += os.read(fd, 1)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        return data.decode("utf-8", "replace") if data else _CTRL_D

    def line(self, prompt: str) -> str:
        self.write(prompt)
        if not self.stdin.isatty():
            return self.stdin.readline().rstrip("\n")
        # Same unbuffered descriptor as key(): a buffered readline could swallow keys typed after Enter.
        fd = self.stdin.fileno()
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace").rstrip("\r\n")


@dataclass
class SessionResult:
    saved: int = 0
    skipped: list[str] = field(default_factory=list)
    remaining: int = 0
    quit_early: bool = False


class GradingSession:
    """One curator grading one claim. Drive it with `run()`; keys come from a Terminal."""

    def __init__(
        self,
        project: Project,
        claim: Claim,
        curator: Curator,
        studies: ClaimStudies,
        term: Terminal,
        clock: Callable[[], str] = now_timestamp,
        adjudicate: bool = False,
    ) -> None:
        if adjudicate and not curator.is_adjudicator:
            raise InputError(
                f"curator '{curator.id}' is a {curator.role}, not an adjudicator; only adjudicators "
                f"(role: adjudicator in {project.dir / 'curators.yaml'}) settle conflicts"
            )
        # Adjudicating walks the claim's open conflicts and records decisions that are final.
        self.kind: Any = "adjudication" if adjudicate else "grade"
        self.project = project
        self.claim = claim
        self.curator = curator
        self.studies = studies
        self.term = term
        self.clock = clock
        self.ladder: Ladder = load_ladder()
        self.pattern = query_pattern(claim.query)
        self.pmids = studies.hits.get(claim.id, [])
        self.result = SessionResult()
        self.history: list[str] = []  # studies shown this session, for "back"
        self.pending_note: dict[str, str] = {}
        self.events: list[GradeEvent] = []

    # -- display -------------------------------------------------------------------------------
    def _mark(self, line: str) -> str:
        if self.pattern is None:
            return line
        if self.term.color:
            return mark(line, self.pattern, lambda s: f"\x1b[1;33m{s}\x1b[0m")
        return mark(line, self.pattern, lambda s: f"*{s}*")

    def _wrap(self, text: str, indent: str = "  ") -> list[str]:
        width = self.term.width
        out: list[str] = []
        for para in strip_controls(text).split("\n") if text else []:
            out.extend(textwrap.wrap(para, width, initial_indent=indent, subsequent_indent=indent) or [""])
        return out

    def _describe(self, event: GradeEvent) -> str:
        if event.relevance == "exclude":
            text = f"exclude ({self.ladder.label('exclude_reasons', event.exclude_reason or '')})"
        else:
            text = (
                f"include · {self.ladder.label('levels', event.level or '')} · "
                f"{self.ladder.label('directions', event.direction or '')}"
            )
        if event.kind == "adjudication":
            text = "adjudicated: " + text
        if event.note:
            text += f" · note: {strip_controls(event.note)}"
        return text

    def _show(self, pmid: str, todo: Sequence[str]) -> None:
        article = self.studies.articles.get(pmid)
        total = len(self.pmids)
        position = f"{len(self.pmids) - len(todo) + 1}/{total}" if pmid in todo else "review"
        lines = [
            "",
            "─" * min(self.term.width, 88),
            f"{self.claim.id} [{position}] · PMID {pmid} · {len(todo)} {self._left_text()}",
            f"Claim: {strip_controls(self.claim.text)}",
            "",
        ]
        if article is None:
            lines.append("  (this record is not in the store yet: run `litgrade refresh`, or skip it)")
        else:
            lines += [self._mark(line) for line in self._wrap(article.title)]
            journal = article.journal.iso_abbreviation or article.journal.title or "?"
            year = article.pub_date.year or "?"
            types = ", ".join(article.publication_type_names) or "not given"
            lines.append(f"  {strip_controls(journal)} · {year} · {strip_controls(types)}")
            if article.is_retracted:
                lines.append("  !! PubMed lists this article as RETRACTED")
            lines.append("")
            abstract = article.abstract_text
            lines += [self._mark(line) for line in self._wrap(abstract)] if abstract else ["  (no abstract)"]
        suggestion = self.studies.suggestions.get(pmid)
        if suggestion is not None:
            label = self.ladder.label("levels", suggestion.level)
            reasons = "; ".join(strip_controls(r) for r in suggestion.reasons)
            lines.append("")
            lines.append(f"  Suggested level: {label} ({suggestion.confidence:.0%}) — press a to accept")
            if reasons:
                lines.append(f"    because: {reasons}")
        for event in visible_grades(
            self.events, self.curator.id, self.claim.id, pmid,
            adjudicator=self.curator.is_adjudicator, reviewers=self.project.reviewers_for(self.claim.id),
        ):
            who = "you" if event.curator == self.curator.id else event.curator
            lines.append(f"  Graded by {who}: {self._describe(event)}")
        lines.append("")
        lines.append(self._legend())
        self.term.write("\n".join(lines) + "\n")

    def _legend(self) -> str:
        levels = "  ".join(f"{c.key} {c.label}" for c in self.ladder.levels if c.key)
        return (
            f"Level (include): {levels}\n"
            "[a] accept suggestion  [x] exclude  [space] skip  [b] back  [t] note  [r] retract mine  [q] quit"
        )

    # -- saving --------------------------------------------------------------------------------
    def _save(self, event: GradeEvent) -> None:
        append_event(self.project.dir, event)
        self.events.append(event)
        self.result.saved += 1
        self.term.write(f"Saved: {self._describe(event)}\n")

    def _base(self, pmid: str) -> dict[str, Any]:
        return {
            "claim": self.claim.id,
            "pmid": pmid,
            "curator": self.curator.id,
            "timestamp": self.clock(),
            "note": self.pending_note.pop(pmid, None),
        }

    def _pick(self, title: str, options: Sequence[tuple[str, str, str]]) -> str | None:
        """Wait for one of `options` (key, id, label); None when the curator cancels with esc or b."""
        keys = {key: value for key, value, _ in options}
        listed = "  ".join(f"[{k}] {label}" for k, _, label in options)
        self.term.write(f"{title}: {listed}  [esc] cancel\n")
        while True:
            key = self.term.key()
            if key in (_ESC, "b"):
                self.term.write("Cancelled.\n")
                return None
            if key in (_CTRL_C, _CTRL_D):
                raise KeyboardInterrupt
            if key.lower() in keys:
                return keys[key.lower()]
            self.term.write(f"'{strip_controls(key)}' is not one of {', '.join(keys)} (or esc)\n")

    def _ask_direction(self) -> str | None:
        return self._pick("Direction", [(c.key, c.id, c.label) for c in self.ladder.directions if c.key])

    def _include(self, pmid: str, level: str) -> bool:
        self.term.write(f"Level: {self.ladder.label('levels', level)}\n")
        direction = self._ask_direction()
        if direction is None:
            return False
        self._save(GradeEvent(**self._base(pmid), relevance="include", level=level, direction=direction,
                              kind=self.kind))
        return True

    def _exclude(self, pmid: str) -> bool:
        # Reasons carry no keys in the ladder: number them (there are fewer than ten).
        reasons = [(str(i), c.id, c.label) for i, c in enumerate(self.ladder.exclude_reasons, 1)]
        reason = self._pick("Exclude because", reasons)
        if reason is None:
            return False
        base = self._base(pmid)
        if reason == "other" and not base["note"]:
            note = self.term.line("Say why (a note is required for 'other'): ").strip()
            if not note:
                self.term.write("Cancelled: no note given.\n")
                return False
            base["note"] = note
        self._save(GradeEvent(**base, relevance="exclude", exclude_reason=reason, kind=self.kind))
        return True

    def _note(self, pmid: str) -> None:
        text = strip_controls(self.term.line("Note (Enter to cancel): ")).strip()
        if not text:
            self.term.write("No note added.\n")
            return
        mine = standing_grades(self.events, self.claim.id, pmid).get(self.curator.id)
        if mine is not None:
            self._save(replace(mine, timestamp=self.clock(), note=text))
        else:
            self.pending_note[pmid] = text
            self.term.write("Note kept; it is saved with your grade of this study.\n")

    def _retract(self, pmid: str) -> None:
        if self.curator.id not in standing_grades(self.events, self.claim.id, pmid):
            self.term.write("You have no grade on this study to retract.\n")
            return
        event = GradeEvent(claim=self.claim.id, pmid=pmid, curator=self.curator.id, timestamp=self.clock(),
                           kind="retract")
        append_event(self.project.dir, event)
        self.events.append(event)
        self.result.saved += 1
        self.term.write("Retracted your grade; the study is back on your queue.\n")

    # -- the loop ------------------------------------------------------------------------------
    def _left_text(self) -> str:
        return "conflict(s) open" if self.kind == "adjudication" else f"left for {self.curator.id}"

    def _todo(self) -> list[str]:
        if self.kind == "adjudication":
            return conflicts(self.project, self.events, self.claim.id, self.pmids)
        return queue(self.project, self.events, self.claim.id, self.curator.id, self.pmids)

    def run(self) -> SessionResult:
        try:
            return self._loop()
        except KeyboardInterrupt:
            # Ctrl-C is a normal way out of a terminal session: say what is safe, then let it propagate.
            self.term.write(
                f"\nInterrupted: saved {self.result.saved} this session; everything saved is kept.\n"
            )
            raise

    def _loop(self) -> SessionResult:
        level_keys = {c.key: c.id for c in self.ladder.levels if c.key}
        target: str | None = None
        while True:
            self.events = read_events(self.project.dir)
            todo = [p for p in self._todo() if p not in self.result.skipped]
            pmid = target or (todo[0] if todo else None)
            if pmid is None:
                self.result.remaining = len(todo) + len(self.result.skipped)
                skipped = f" ({len(self.result.skipped)} skipped)" if self.result.skipped else ""
                self.term.write(f"Nothing left to grade for {self.claim.id}{skipped}. "
                                f"Saved {self.result.saved} this session.\n")
                return self.result
            self._show(pmid, todo)
            done = False
            while not done:
                key = self.term.key()
                if key in (_CTRL_C,):
                    raise KeyboardInterrupt
                if key in ("q", _CTRL_D):
                    self.result.remaining = len(todo)
                    self.result.quit_early = True
                    self.term.write(f"Saved {self.result.saved} this session; {len(todo)} "
                                    f"{self._left_text()} on {self.claim.id}. Bye.\n")
                    return self.result
                if key in level_keys:
                    done = self._include(pmid, level_keys[key])
                elif key == "a":
                    suggestion = self.studies.suggestions.get(pmid)
                    level = suggestion.level if suggestion is not None else ""
                    if level in self.ladder.level_ids:
                        done = self._include(pmid, level)
                    else:
                        self.term.write("No suggested level for this study; press 1-9.\n")
                elif key == "x":
                    done = self._exclude(pmid)
                elif key in SKIP_KEYS:
                    if pmid in todo and pmid not in self.result.skipped:
                        self.result.skipped.append(pmid)
                    self.term.write("Skipped.\n")
                    done = True
                elif key == "b":
                    previous = [p for p in self.history if p != pmid]
                    if not previous:
                        self.term.write("Nothing to go back to yet.\n")
                        continue
                    back = previous[-1]
                    self.history = self.history[: len(self.history) - self.history[::-1].index(back) - 1]
                    if back in self.result.skipped:
                        self.result.skipped.remove(back)
                    target = back
                    break
                elif key == "t":
                    self._note(pmid)
                    continue
                elif key == "r":
                    self._retract(pmid)
                    continue
                else:
                    self.term.write(f"'{strip_controls(key)}' does nothing here; see the keys above.\n")
                    continue
                if done:
                    self.history.append(pmid)
                    target = None
                else:
                    self.term.write(self._legend() + "\n")


def run_grading(
    project: Project,
    claim_id: str,
    curator_id: str,
    db_path: Path,
    term: Terminal | None = None,
    *,
    adjudicate: bool = False,
) -> SessionResult:
    claim = project.claim(claim_id)
    curator = require_curator(load_curators(project.dir), curator_id, project.dir)
    studies = load_studies(db_path, project.name, [claim.id])
    session = GradingSession(project, claim, curator, studies, term or StdTerminal(), adjudicate=adjudicate)
    return session.run()
