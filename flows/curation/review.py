"""The rules of review, as pure functions over grade events (no files, no store, no UI).

- Each curator's latest event per (claim, PMID) is their standing decision; a `retract` withdraws it.
- A study needs `project.reviewers_for(claim)` independent grades. When it has them and they agree on
  relevance, level and direction, that is the final grade; when they disagree it is a conflict.
- An adjudicator's `adjudication` event is final whatever the grades say (the latest one wins).
- Blind review: with two reviewers a curator sees others' grades on a study only once they have graded
  it themself; adjudicators see everything.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flows.curation.events import FinalGrade, GradeEvent, StudyState
from flows.project.claims import Project

Key = tuple[str, str]  # (claim, pmid)
AGREEMENT_FIELDS: tuple[str, ...] = ("relevance", "level", "direction")


@dataclass(frozen=True, slots=True)
class StudyDecisions:
    """What stands on one (claim, PMID): each curator's grade, and the adjudication if any."""

    claim: str
    pmid: str
    grades: tuple[GradeEvent, ...]  # kind="grade", one per curator, sorted by curator
    adjudication: GradeEvent | None = None

    def state(self, reviewers: int) -> StudyState:
        if self.adjudication is not None:
            return "final"
        if not self.grades:
            return "ungraded"
        if len(self.grades) < reviewers:
            return "partial"
        return "final" if len({decision_key(g) for g in self.grades}) == 1 else "conflict"

    def graded_by(self, curator: str) -> bool:
        return any(g.curator == curator for g in self.grades) or (
            self.adjudication is not None and self.adjudication.curator == curator
        )


def decision_key(event: GradeEvent) -> tuple[str | None, str | None, str | None]:
    """What two reviewers must agree on (an exclusion's reason may differ)."""
    if event.relevance == "exclude":
        return ("exclude", None, None)
    return (event.relevance, event.level, event.direction)


def standing_events(events: Iterable[GradeEvent]) -> dict[tuple[str, str, str], GradeEvent]:
    """(claim, pmid, curator) → that curator's latest grade or adjudication; retracted ones are gone.

    `events` must keep each curator's own order (read_events does: one append-only file each).
    """
    latest: dict[tuple[str, str, str], GradeEvent] = {}
    for event in events:
        key = (event.claim, event.pmid, event.curator)
        if event.kind == "retract":
            latest.pop(key, None)
        else:
            latest[key] = event
    return latest


def decisions(events: Iterable[GradeEvent]) -> dict[Key, StudyDecisions]:
    grades: dict[Key, list[GradeEvent]] = {}
    adjudications: dict[Key, list[GradeEvent]] = {}
    for (claim, pmid, _), event in standing_events(events).items():
        target = adjudications if event.kind == "adjudication" else grades
        target.setdefault((claim, pmid), []).append(event)
    out: dict[Key, StudyDecisions] = {}
    for key in grades.keys() | adjudications.keys():
        adjudication = max(adjudications.get(key, []), key=lambda e: (e.timestamp, e.curator), default=None)
        out[key] = StudyDecisions(
            claim=key[0],
            pmid=key[1],
            grades=tuple(sorted(grades.get(key, []), key=lambda e: e.curator)),
            adjudication=adjudication,
        )
    return out


def _study(table: Mapping[Key, StudyDecisions], claim: str, pmid: str) -> StudyDecisions:
    return table.get((claim, pmid)) or StudyDecisions(claim=claim, pmid=pmid, grades=())


def standing_grades(events: Iterable[GradeEvent], claim: str, pmid: str) -> dict[str, GradeEvent]:
    """curator → standing decision (grade or adjudication) on one study."""
    return {c: e for (cl, p, c), e in standing_events(events).items() if cl == claim and p == pmid}


def study_state(project: Project, events: Iterable[GradeEvent], claim_id: str, pmid: str) -> StudyState:
    return _study(decisions(events), claim_id, pmid).state(project.reviewers_for(claim_id))


def visible_grades(
    events: Iterable[GradeEvent],
    viewer: str,
    claim: str,
    pmid: str,
    *,
    adjudicator: bool = False,
    reviewers: int = 2,
) -> list[GradeEvent]:
    """The standing decisions on a study that `viewer` may see, sorted by curator.

    Blind rule: others' grades stay hidden until the viewer has graded the study themself, unless
    the viewer is an adjudicator or the claim has a single reviewer (nothing to be blind to).
    """
    standing = standing_grades(events, claim, pmid)
    sees_all = adjudicator or reviewers < 2 or viewer in standing
    return [e for c, e in sorted(standing.items()) if sees_all or c == viewer]


def _first_text(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


# Appraisal details a final grade carries (besides population); the first reviewer who gave each wins.
APPRAISAL_TEXT_FIELDS = (
    "risk_of_bias", "bias_domain", "exposure", "indirectness", "indirect_reason", "outcome", "outcome_kind",
)


def _appraisal(event: GradeEvent) -> dict[str, str | None]:
    return {name: getattr(event, name) for name in APPRAISAL_TEXT_FIELDS}


def _final_from(study: StudyDecisions, decision: GradeEvent, **details: Any) -> FinalGrade:
    """The final grade carrying `decision`'s relevance, level and direction."""
    return FinalGrade(
        claim=study.claim,
        pmid=study.pmid,
        relevance=decision.relevance or "exclude",
        exclude_reason=decision.exclude_reason,
        level=decision.level,
        direction=decision.direction,
        **details,
    )


def _final(study: StudyDecisions, reviewers: int) -> FinalGrade | None:
    if study.state(reviewers) != "final":
        return None
    graders = tuple(g.curator for g in study.grades)
    if study.adjudication is not None:
        a = study.adjudication
        return _final_from(
            study, a, population=a.population, quote=a.quote, note=a.note, **_appraisal(a),
            curators=(*graders, a.curator) if a.curator not in graders else graders,
            decided_by="adjudication", decided_at=a.timestamp,
        )  # fmt: skip
    # Oldest grade first: the optional details of the first reviewer who gave them are kept.
    ordered = sorted(study.grades, key=lambda e: (e.timestamp, e.curator))
    notes = [f"{g.curator}: {g.note}" for g in ordered if g.note]
    return _final_from(
        study, ordered[0],
        population=next((g.population for g in ordered if g.population is not None), None),
        **{name: _first_text(getattr(g, name) for g in ordered) for name in APPRAISAL_TEXT_FIELDS},
        quote=_first_text(g.quote for g in ordered),
        note=" | ".join(notes) or None,
        curators=graders,
        decided_by="agreement" if len(study.grades) > 1 else "single",
        decided_at=ordered[-1].timestamp,
    )  # fmt: skip


def _pmid_order(pmid: str) -> tuple[int, str]:
    return (int(pmid), pmid) if pmid.isdigit() else (0, pmid)


def final_grades(project: Project, events: Iterable[GradeEvent]) -> list[FinalGrade]:
    """Every final grade of the project's claims, in claim order then PMID order."""
    table = decisions(events)
    order = {c.id: i for i, c in enumerate(project.claims)}
    out = []
    for key in sorted((k for k in table if k[0] in order), key=lambda k: (order[k[0]], _pmid_order(k[1]))):
        final = _final(table[key], project.reviewers_for(key[0]))
        if final is not None:
            out.append(final)
    return out


def conflicts(
    project: Project,
    events: Iterable[GradeEvent],
    claim_id: str,
    pmids: Sequence[str] | None = None,
) -> list[str]:
    """PMIDs of the claim's studies whose reviewers disagree and no adjudicator has decided yet.

    In `pmids` order when given (e.g. the claim's search hits), else by PMID.
    """
    table = decisions(events)
    reviewers = project.reviewers_for(claim_id)
    candidates = (
        list(dict.fromkeys(pmids))
        if pmids is not None
        else sorted((p for c, p in table if c == claim_id), key=_pmid_order)
    )
    return [p for p in candidates if _study(table, claim_id, p).state(reviewers) == "conflict"]


def queue(
    project: Project, events: Iterable[GradeEvent], claim_id: str, curator: str, pmids: Sequence[str]
) -> list[str]:
    """The PMIDs `curator` still has to grade for a claim, in `pmids` order (stable across calls).

    A study is on the queue while it has fewer grades than the claim needs, no adjudication, and no
    standing grade by this curator.
    """
    table = decisions(events)
    reviewers = project.reviewers_for(claim_id)
    out = []
    for pmid in dict.fromkeys(pmids):
        study = _study(table, claim_id, pmid)
        if study.state(reviewers) in ("ungraded", "partial") and not study.graded_by(curator):
            out.append(pmid)
    return out


@dataclass(frozen=True, slots=True)
class Counts:
    """Grading progress of one claim's studies: graded + ungraded = all; conflict and final ⊆ graded."""

    graded: int
    ungraded: int
    conflict: int
    final: int

    @property
    def total(self) -> int:
        return self.graded + self.ungraded

    @property
    def partial(self) -> int:
        """Graded, but waiting for another reviewer."""
        return self.graded - self.conflict - self.final

    def __str__(self) -> str:
        return (
            f"{self.final} final, {self.conflict} in conflict, {self.partial} awaiting a second "
            f"review, {self.ungraded} ungraded (of {self.total})"
        )


def grading_status(
    project: Project, events: Iterable[GradeEvent], hits: Mapping[str, Sequence[str]]
) -> dict[str, Counts]:
    """claim id → Counts over the PMIDs that claim's searches found (`hits`)."""
    table = decisions(events)
    out: dict[str, Counts] = {}
    for claim_id, pmids in hits.items():
        reviewers = project.reviewers_for(claim_id)
        states = Counter(_study(table, claim_id, p).state(reviewers) for p in dict.fromkeys(pmids))
        out[claim_id] = Counts(
            graded=states["partial"] + states["conflict"] + states["final"],
            ungraded=states["ungraded"],
            conflict=states["conflict"],
            final=states["final"],
        )
    return out


# -- inter-rater agreement -------------------------------------------------------------------------
def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when undefined.

    κ = (p_o − p_e) / (1 − p_e), p_e from each rater's own label frequencies. Undefined (None) with
    no items, or when both raters used one and the same label throughout (p_e = 1).
    """
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[label] * count_b[label] for label in count_a.keys() | count_b.keys()) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True, slots=True)
class Agreement:
    claim: str | None  # None = all claims together
    curators: tuple[str, str]
    field: Literal["relevance", "level", "direction"]
    items: int  # studies both graded (for level/direction: both included)
    percent: float | None
    kappa: float | None


def _pair_agreement(
    claim: str | None, pair: tuple[str, str], pairs: list[tuple[GradeEvent, GradeEvent]]
) -> list[Agreement]:
    out = []
    for field in AGREEMENT_FIELDS:
        rows = pairs if field == "relevance" else [
            (a, b) for a, b in pairs if a.relevance == "include" and b.relevance == "include"
        ]
        first = [str(getattr(a, field)) for a, _ in rows]
        second = [str(getattr(b, field)) for _, b in rows]
        same = sum(x == y for x, y in zip(first, second, strict=True))
        out.append(
            Agreement(
                claim=claim,
                curators=pair,
                field=field,  # type: ignore[arg-type]
                items=len(rows),
                percent=100.0 * same / len(rows) if rows else None,
                kappa=cohen_kappa(first, second),
            )
        )
    return out


def agreement(project: Project, events: Iterable[GradeEvent]) -> list[Agreement]:
    """Percent agreement and Cohen's kappa per curator pair, per claim (claim order) and overall (last).

    Compares standing grades (not adjudications) on studies both curators of a pair graded.
    """
    table = decisions(events)
    claim_ids = [c.id for c in project.claims]
    per_claim: dict[str, dict[tuple[str, str], list[tuple[GradeEvent, GradeEvent]]]] = {
        c: {} for c in claim_ids
    }
    for (claim, _pmid), study in sorted(table.items(), key=lambda kv: (kv[0][0], _pmid_order(kv[0][1]))):
        if claim not in per_claim:
            continue
        for a, b in itertools.combinations(study.grades, 2):  # grades are sorted by curator
            per_claim[claim].setdefault((a.curator, b.curator), []).append((a, b))
    out: list[Agreement] = []
    overall: dict[tuple[str, str], list[tuple[GradeEvent, GradeEvent]]] = {}
    for claim in claim_ids:
        for pair, rows in sorted(per_claim[claim].items()):
            out.extend(_pair_agreement(claim, pair, rows))
            overall.setdefault(pair, []).extend(rows)
    for pair, rows in sorted(overall.items()):
        out.extend(_pair_agreement(None, pair, rows))
    return out
