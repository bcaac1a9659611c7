"""`litgrade grade`: grade a claim's studies one key at a time, on one full screen redrawn in place.

The store is read once at the start on a short read-only connection (a refresh may need the file
while someone grades for an hour); grade files are re-read before each study so another curator's
work and blind-review visibility stay current. Every decision is appended (fsync'ed) the moment the
key that completes it is pressed. Appraisal fields (risk of bias and its domain, sample size,
exposure, indirectness and why, outcome, outcome kind) are set with their own keys before the level
and direction, and saved with the grade; set on a study already graded, they revise that grade.

The screen (flows.tui.screen) always shows the claim, the position and the progress at the top and
every key that works at the bottom; flows.tui.terminal draws it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flows.curation.events import GradeEvent
from flows.curation.journal import append_event, now_timestamp, read_events
from flows.curation.ladder import Choice, Ladder, load_ladder
from flows.curation.review import conflicts, queue, standing_grades, study_state, visible_grades
from flows.errors import InputError
from flows.project.claims import Claim, Project
from flows.project.curators import Curator, load_curators, require_curator
from flows.pubmed.highlight import mark, query_pattern
from flows.pubmed.text import strip_controls
from flows.store.studies import ClaimStudies, load_studies
from flows.tui.screen import HIGHLIGHT_OFF, HIGHLIGHT_ON, Screen
from flows.tui.terminal import CTRL_C, CTRL_D, ESC, StdTerminal, Terminal

SKIP_KEYS = (" ", "k")
ENTER = ("\r", "\n")
BACKSPACE = ("\x7f", "\x08")
PAGE_ROWS = 8
# Appraisal keys → the GradeEvent field they set (documented on screen with these labels).
APPRAISAL_KEYS: tuple[tuple[str, str, str], ...] = (
    ("h", "risk_of_bias", "risk of bias"),
    ("n", "population", "sample size"),
    ("e", "exposure", "exposure"),
    ("i", "indirectness", "indirectness"),
    ("o", "outcome", "outcome"),
    ("y", "outcome_kind", "outcome kind"),
)
APPRAISAL_FIELDS = ("risk_of_bias", "bias_domain", "population", "exposure", "indirectness",
                    "indirect_reason", "outcome", "outcome_kind")  # fmt: skip


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
        self.maybe: list[str] = []  # set aside with "?": back at the end of this session's queue
        self.pending_note: dict[str, str] = {}
        self.draft: dict[str, dict[str, Any]] = {}  # pmid → appraisal fields given before the grade
        self.events: list[GradeEvent] = []
        # What the current screen shows besides the study (set by the loop, read by _draw).
        self.pmid = ""
        self.todo: list[str] = []
        self.message = ""
        self.message_style = "ok"
        self.offset = 0

    # -- the screen ----------------------------------------------------------------------------
    def _mark(self, text: str) -> str:
        clean = strip_controls(text)
        if self.pattern is None:
            return clean
        return mark(clean, self.pattern, lambda s: f"{HIGHLIGHT_ON}{s}{HIGHLIGHT_OFF}")

    def _describe(self, event: GradeEvent | dict[str, Any]) -> str:
        get = event.get if isinstance(event, dict) else lambda name: getattr(event, name)
        if get("relevance") == "exclude":
            text = f"exclude ({self.ladder.label('exclude_reasons', get('exclude_reason') or '')})"
        elif get("relevance") == "include":
            text = (
                f"include · {self.ladder.label('levels', get('level') or '')} · "
                f"{self.ladder.label('directions', get('direction') or '')}"
            )
        else:
            text = ""
        if get("kind") == "adjudication":
            text = "adjudicated: " + text
        appraisal = self._appraisal_text(get)
        if appraisal:
            text += f" · {appraisal}" if text else appraisal
        if get("note"):
            text += f" · note: {strip_controls(get('note'))}"
        return text

    def _appraisal_text(self, get: Callable[[str], Any]) -> str:
        parts = []
        if get("risk_of_bias"):
            label = self.ladder.label("risk_of_bias", get("risk_of_bias")).split(" (")[0]
            bias = f"risk of bias {label.lower()}"
            if get("bias_domain"):
                bias += f" ({self.ladder.label('bias_domains', get('bias_domain')).lower()})"
            parts.append(bias)
        if get("population") is not None:
            parts.append(f"n={get('population')}")
        if get("exposure"):
            parts.append(f"exposure: {strip_controls(get('exposure'))}")
        if get("indirectness"):
            why = f" ({strip_controls(get('indirect_reason'))})" if get("indirect_reason") else ""
            parts.append(f"{get('indirectness')}{why}")
        if get("outcome"):
            labels = {o.id: o.label for o in self.claim.outcomes}
            parts.append(f"outcome: {strip_controls(labels.get(get('outcome'), get('outcome')))}")
        if get("outcome_kind"):
            parts.append(f"{get('outcome_kind')} outcome")
        return " · ".join(parts)

    def _status(self) -> str:
        total = len(self.pmids)
        where = f"study {total - len(self.todo) + 1}/{total}" if self.pmid in self.todo else "review"
        left = f"{len(self.todo)} {self._left_text()}"
        maybe = f" · {len(self.maybe)} maybe" if self.maybe else ""
        return f"{where} · PMID {self.pmid} · {left} · saved {self.result.saved}{maybe}"

    def _body(self) -> list[tuple[str, str]]:
        pmid = self.pmid
        article = self.studies.articles.get(pmid)
        body: list[tuple[str, str]] = []
        if pmid in self.maybe:
            body.append(("You marked this study maybe: decide now, or ? again to keep it aside.", "muted"))
        if article is None:
            body.append(("(this record is not in the store yet: run `litgrade refresh`, or skip it)", "warn"))
        else:
            body.append((self._mark(article.title), "status"))
            journal = article.journal.iso_abbreviation or article.journal.title or "?"
            year = article.pub_date.year or "?"
            types = ", ".join(article.publication_type_names) or "not given"
            body.append((f"{strip_controls(journal)} · {year} · {strip_controls(types)}", "muted"))
            if article.is_retracted:
                body.append(("!! PubMed lists this article as RETRACTED", "warn"))
        suggestion = self.studies.suggestions.get(pmid)
        if suggestion is not None:
            label = self.ladder.label("levels", suggestion.level)
            body.append((f"Suggested level: {label} ({suggestion.confidence:.0%}) — press a to accept", "ok"))
            reasons = "; ".join(strip_controls(r) for r in suggestion.reasons)
            if reasons:
                body.append((f"  because: {reasons}", "muted"))
        for event in visible_grades(
            self.events, self.curator.id, self.claim.id, pmid,
            adjudicator=self.curator.is_adjudicator, reviewers=self.project.reviewers_for(self.claim.id),
        ):  # fmt: skip
            who = "you" if event.curator == self.curator.id else event.curator
            body.append((f"Graded by {who}: {self._describe(event)}", "conflict" if who != "you" else ""))
        draft = self.draft.get(pmid)
        if draft:
            body.append((f"Appraisal (saved with your grade): {self._appraisal_text(draft.get)}", "prompt"))
        if article is not None:
            body.append(("", ""))
            abstract = article.abstract_text
            for para in (abstract.split("\n") if abstract else ["(no abstract)"]):
                body.append((self._mark(para), ""))
        return body

    def _keys(self) -> list[tuple[str, str]]:
        levels = [(c.key, c.label) for c in self.ladder.levels if c.key]
        keys: list[tuple[str, str]] = [("", "Include at level:"), *levels]
        keys += [("a", "accept suggestion"), ("x", "exclude"), ("?", "maybe"), ("space", "skip"),
                 ("b", "back"), ("t", "note"), ("r", "retract mine"), ("v", "more text"), ("q", "quit")]
        keys += [("", "Appraise:")] + [(k, label) for k, _, label in APPRAISAL_KEYS]
        return keys  # fmt: skip

    def _draw(self, prompt: str = "", keys: Sequence[tuple[str, str]] | None = None) -> None:
        self.term.show(
            Screen(
                title=f"litgrade grade · {self.claim.id} · {self.curator.id}"
                + (" (adjudicating)" if self.kind == "adjudication" else ""),
                status=self._status(),
                claim=strip_controls(self.claim.text),
                body=self._body(),
                body_offset=self.offset,
                message=self.message,
                message_style=self.message_style,
                prompt=prompt,
                keys=self._keys() if keys is None else keys,
            )
        )

    def _tell(self, message: str, style: str = "ok") -> None:
        """Set the message line the next screen shows."""
        self.message, self.message_style = message, style

    def _say(self, message: str, style: str = "ok") -> None:
        self._tell(message, style)
        self._draw()

    # -- questions -----------------------------------------------------------------------------
    def _key(self) -> str:
        key = self.term.key()
        if key == CTRL_C:
            raise KeyboardInterrupt
        return key

    def _pick(self, title: str, options: Sequence[tuple[str, str, str]]) -> str | None:
        """Wait for one of `options` (key, id, label); None when the curator cancels with esc or b."""
        keys = {key: value for key, value, _ in options}
        legend = [(k, label) for k, _, label in options] + [("esc", "cancel")]
        while True:
            self._draw(prompt=f"{title}:", keys=legend)
            key = self._key()
            if key in (ESC, "b"):
                self._tell("Cancelled.", "muted")
                return None
            if key == CTRL_D:
                raise KeyboardInterrupt
            if key.lower() in keys:
                return keys[key.lower()]
            self.message = f"'{strip_controls(key)}' is not one of {', '.join(keys)} (or esc)"
            self.message_style = "warn"

    def _numbered(self, choices: Sequence[Choice]) -> list[tuple[str, str, str]]:
        # Vocabularies other than levels and directions carry no keys: number them (fewer than ten).
        return [(str(i), c.id, c.label) for i, c in enumerate(choices, 1)]

    def _text(self, title: str) -> str | None:
        """A line of text typed on the screen; None when cancelled with esc."""
        typed = ""
        while True:
            self._draw(prompt=f"{title}: {typed}▌", keys=[("enter", "done"), ("backspace", "erase"),
                                                          ("esc", "cancel")])  # fmt: skip
            key = self._key()
            if key in ENTER:
                return strip_controls(typed).strip()
            if key == ESC:
                return None
            if key == CTRL_D:
                raise KeyboardInterrupt
            if key in BACKSPACE:
                typed = typed[:-1]
            elif key.isprintable():
                typed = (typed + key)[:500]

    def _ask_direction(self) -> str | None:
        return self._pick("Direction", [(c.key, c.id, c.label) for c in self.ladder.directions if c.key])

    # -- saving --------------------------------------------------------------------------------
    def _after_save(self, event: GradeEvent) -> None:
        """Say what was saved, and on the spot when it makes a conflict: what the other reviewer chose."""
        self._tell(f"Saved: {self._describe(event)}", "ok")
        if self.kind != "grade" or event.kind == "retract":
            return
        if study_state(self.project, self.events, self.claim.id, event.pmid) != "conflict":
            return
        others = [
            e for e in visible_grades(self.events, self.curator.id, self.claim.id, event.pmid,
                                      reviewers=self.project.reviewers_for(self.claim.id))
            if e.curator != self.curator.id
        ]  # fmt: skip
        # The other reviewer's decision without their note (the study's screen shows it in full).
        chose = "; ".join(f"{e.curator} chose {self._describe(replace(e, note=None))}" for e in others)
        self.message += f"\nConflict: {chose}. An adjudicator settles it; your grade stands."
        self.message_style = "conflict"

    def _save(self, event: GradeEvent) -> None:
        append_event(self.project.dir, event)
        self.events.append(event)
        self.result.saved += 1
        self._after_save(event)
        self._draw()  # the confirmation, on this study's screen, before the next study appears

    def _base(self, pmid: str) -> dict[str, Any]:
        base: dict[str, Any] = {
            "claim": self.claim.id,
            "pmid": pmid,
            "curator": self.curator.id,
            "timestamp": self.clock(),
            "note": self.pending_note.pop(pmid, None),
        }
        base.update(self.draft.pop(pmid, {}))
        return base

    def _include(self, pmid: str, level: str) -> bool:
        self._tell(f"Level: {self.ladder.label('levels', level)}", "ok")
        direction = self._ask_direction()
        if direction is None:
            return False
        self._save(GradeEvent(**self._base(pmid), relevance="include", level=level, direction=direction,
                              kind=self.kind))
        return True

    def _exclude(self, pmid: str) -> bool:
        reason = self._pick("Exclude because", self._numbered(self.ladder.exclude_reasons))
        if reason is None:
            return False
        base = self._base(pmid)
        if reason == "other" and not base["note"]:
            note = self._text("Say why (a note is required for 'other')")
            if not note:
                self._tell("Cancelled: no note given.", "muted")
                self.draft[pmid] = {k: base[k] for k in APPRAISAL_FIELDS if base.get(k) is not None}
                return False
            base["note"] = note
        self._save(GradeEvent(**base, relevance="exclude", exclude_reason=reason, kind=self.kind))
        return True

    def _revise(self, pmid: str, changes: dict[str, Any], kept: str) -> None:
        """Apply `changes` to this curator's standing grade (a new event), or keep them for the grade."""
        mine = standing_grades(self.events, self.claim.id, pmid).get(self.curator.id)
        if mine is not None:
            self._save(replace(mine, timestamp=self.clock(), **changes))
        else:
            self.draft.setdefault(pmid, {}).update(changes)
            self._tell(kept, "ok")

    def _note(self, pmid: str) -> None:
        text = self._text("Note (Enter to save, esc to cancel)")
        if not text:
            self._tell("No note added.", "muted")
            return
        mine = standing_grades(self.events, self.claim.id, pmid).get(self.curator.id)
        if mine is not None:
            self._save(replace(mine, timestamp=self.clock(), note=text))
        else:
            self.pending_note[pmid] = text
            self._tell("Note kept; it is saved with your grade of this study.", "ok")

    def _appraise(self, pmid: str, key: str) -> None:
        name = next(field_name for k, field_name, _ in APPRAISAL_KEYS if k == key)
        changes: dict[str, Any] = {}
        if name == "risk_of_bias":
            value = self._pick("Risk of bias", self._numbered(self.ladder.risk_of_bias))
            if value is None:
                return
            changes["risk_of_bias"] = value
            if value != "not_applicable":
                domain = self._pick("The domain that drove it", self._numbered(self.ladder.bias_domains))
                changes["bias_domain"] = domain
        elif name == "population":
            typed = self._text("Sample size (participants, animals or studies; a whole number)")
            if not typed:
                return
            if not typed.isdigit() or not 0 < int(typed) < 10**9:
                self._tell(f"'{typed}' is not a whole number above 0; not set.", "warn")
                return
            changes["population"] = int(typed)
        elif name == "exposure":
            typed = self._text("Exposure as studied (e.g. MK-7 180 µg/day, 12 weeks)")
            if not typed:
                return
            changes["exposure"] = typed
        elif name == "indirectness":
            value = self._pick("Indirectness", self._numbered(self.ladder.indirectness))
            if value is None:
                return
            changes = {"indirectness": value, "indirect_reason": None}
            if value == "indirect":
                why = self._text("Why indirect (population, exposure or outcome differs from the claim's)")
                if not why:
                    self._tell("Cancelled: indirect needs a reason.", "muted")
                    return
                changes["indirect_reason"] = why
        elif name == "outcome":
            outcomes = self.claim.outcomes
            if not outcomes:
                self._tell("This claim names no outcomes (claims.yaml: outcomes).", "warn")
                return
            value = self._pick("Outcome", [(str(i), o.id, o.label) for i, o in enumerate(outcomes[:9], 1)])
            if value is None:
                return
            changes["outcome"] = value
            kind = next((o.kind for o in outcomes if o.id == value), None)
            if kind:  # the outcome's usual kind; y changes it
                changes["outcome_kind"] = kind
        elif name == "outcome_kind":
            value = self._pick("Outcome kind", self._numbered(self.ladder.outcome_kinds))
            if value is None:
                return
            changes["outcome_kind"] = value
        self._revise(pmid, changes, "Appraisal kept; it is saved with your grade of this study.")

    def _retract(self, pmid: str) -> None:
        if self.curator.id not in standing_grades(self.events, self.claim.id, pmid):
            self._tell("You have no grade on this study to retract.", "warn")
            return
        event = GradeEvent(claim=self.claim.id, pmid=pmid, curator=self.curator.id, timestamp=self.clock(),
                           kind="retract")
        append_event(self.project.dir, event)
        self.events.append(event)
        self.result.saved += 1
        self._tell("Retracted your grade; the study is back on your queue.", "ok")

    # -- the loop ------------------------------------------------------------------------------
    def _left_text(self) -> str:
        return "conflict(s) open" if self.kind == "adjudication" else f"left for {self.curator.id}"

    def _todo(self) -> list[str]:
        if self.kind == "adjudication":
            return conflicts(self.project, self.events, self.claim.id, self.pmids)
        return queue(self.project, self.events, self.claim.id, self.curator.id, self.pmids)

    def run(self) -> SessionResult:
        with self.term:
            try:
                return self._loop()
            except KeyboardInterrupt:
                # Ctrl-C is a normal way out of a terminal session: say what is safe, then let it propagate.
                saved = self.result.saved
                self.term.say(f"Interrupted: saved {saved} this session; everything saved is kept.")
                raise

    def _next(self, todo: list[str]) -> str | None:
        fresh = [p for p in todo if p not in self.result.skipped and p not in self.maybe]
        if fresh:
            return fresh[0]
        later = [p for p in self.maybe if p in todo]
        return later[0] if later else None

    def _loop(self) -> SessionResult:
        level_keys = {c.key: c.id for c in self.ladder.levels if c.key}
        appraisal_keys = {k for k, _, _ in APPRAISAL_KEYS}
        target: str | None = None
        while True:
            self.events = read_events(self.project.dir)
            self.todo = todo = self._todo()
            pmid = target or self._next(todo)
            if pmid is None:
                self.result.remaining = len([p for p in todo])
                skipped = f" ({len(self.result.skipped)} skipped)" if self.result.skipped else ""
                self.term.say(f"Nothing left to grade for {self.claim.id}{skipped}. "
                              f"Saved {self.result.saved} this session.")  # fmt: skip
                return self.result
            if pmid != self.pmid:
                self.offset = 0
            self.pmid = pmid
            done = False
            while not done:
                self._draw()
                key = self._key()
                if key in ("q", CTRL_D):
                    self.result.remaining = len(todo)
                    self.result.quit_early = True
                    self.term.say(f"Saved {self.result.saved} this session; {len(todo)} "
                                  f"{self._left_text()} on {self.claim.id}. Bye.")  # fmt: skip
                    return self.result
                self.message = ""
                if key in level_keys:
                    done = self._include(pmid, level_keys[key])
                elif key == "a":
                    suggestion = self.studies.suggestions.get(pmid)
                    level = suggestion.level if suggestion is not None else ""
                    if level in self.ladder.level_ids:
                        done = self._include(pmid, level)
                    else:
                        self._tell("No suggested level for this study; press 1-9.", "warn")
                elif key == "x":
                    done = self._exclude(pmid)
                elif key in SKIP_KEYS:
                    if pmid in todo and pmid not in self.result.skipped:
                        self.result.skipped.append(pmid)
                    if pmid in self.maybe:
                        self.maybe.remove(pmid)
                    self._say("Skipped.", "muted")
                    done = True
                elif key == "?":
                    if pmid in self.maybe:
                        self.maybe.remove(pmid)  # to the very end again
                    self.maybe.append(pmid)
                    self._say("Maybe: set aside; it comes back after the other studies.", "muted")
                    done = True
                elif key == "b":
                    previous = [p for p in self.history if p != pmid]
                    if not previous:
                        self._tell("Nothing to go back to yet.", "warn")
                        continue
                    back = previous[-1]
                    self.history = self.history[: len(self.history) - self.history[::-1].index(back) - 1]
                    if back in self.result.skipped:
                        self.result.skipped.remove(back)
                    target = back
                    self._tell("Back to the previous study.", "muted")
                    break
                elif key == "v":
                    body_rows = len(self._body()) * 3  # paragraphs wrap: page by rows, wrap to the top
                    self.offset = self.offset + PAGE_ROWS if self.offset + PAGE_ROWS < body_rows else 0
                elif key == "t":
                    self._note(pmid)
                elif key == "r":
                    self._retract(pmid)
                elif key in appraisal_keys:
                    self._appraise(pmid, key)
                else:
                    self.message = f"'{strip_controls(key)}' does nothing here; the keys are listed below."
                    self.message_style = "warn"
                if done:
                    self.history.append(pmid)
                    target = None


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
