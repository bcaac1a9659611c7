"""The rules of review, as pure functions over grade events (no files, no store, no UI).

- Each curator's latest grade per (claim, PMID) is their standing grade; an adjudication is a separate
  decision beside it (it never replaces anyone's grade); a `retract` withdraws the curator's latest
  standing decision (grade or adjudication, whichever came last).
- Blind review: a curator is *unblinded* on a study at the first moment (event timestamps) when both
  they and another curator have a standing grade there; from then on they are shown the other grade.
  Their **independent grade** is their standing grade at that moment: changes before it are blind
  second thoughts, changes after it (including a retract) are revisions after unblinding. Nothing in
  an event says "independent": it follows from the timestamps, so it cannot be claimed.
- An adjudicator's grade is an independent review only when it was made blind, i.e. no other
  curator had graded the study when it was written (adjudicators may see every grade, so a grade made
  after another one existed may have been made looking at it). Other grades by an adjudicator stand as
  opinions but count for nothing (neither review nor agreement).
- A study needs `project.reviewers_for(claim)` independent grades. A study is in conflict as soon as
  two independent grades disagree on relevance, level or direction, or two reviewers' standing grades
  do (a revision after unblinding reopens an agreed study); a revision never settles a conflict, only
  an adjudication does (the latest one wins).
- With fewer independent grades than needed the study is `partial`; for reports it still counts as
  decided by a single reviewer (`decided_by="single"`), awaiting the second. A study in conflict counts
  nowhere until settled.
- An adjudicator who is party to a conflict (has graded the study) may not settle it when another
  adjudicator exists (`adjudication_refusal`); when none does, the final grade says so
  (`FinalGrade.self_adjudicated`).
- Agreement (per curator pair and field, percent and Cohen's kappa) compares independent grades only.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flows.curation.events import FinalGrade, GradeEvent, StudyState
from flows.curation.ladder import load_ladder
from flows.project.claims import Project
from flows.project.curators import CURATORS_FILE, Curator, load_curators

Key = tuple[str, str]  # (claim, pmid)
DECISION_FIELDS: tuple[str, ...] = ("relevance", "level", "direction")
# Agreement fields: the decision, then the categorical appraisal fields (free text — exposure,
# indirect_reason, quote, note — and the population count have no categories to agree on).
AGREEMENT_FIELDS: tuple[str, ...] = (
    *DECISION_FIELDS,
    "risk_of_bias",
    "bias_domain",
    "indirectness",
    "outcome",
    "outcome_kind",
)
# Ordered fields get a linearly weighted kappa over the values on their ordered scale.
KAPPA_WEIGHTS = "linear"


def _ordered_scales() -> dict[str, tuple[str, ...]]:
    ladder = load_ladder()
    return {
        "level": ladder.primary_level_ids,  # weakest first; narrative review, case report, other are off it
        "risk_of_bias": ("low", "some_concerns", "high"),  # not_applicable is off the scale
    }


def decision_key(event: GradeEvent) -> tuple[str | None, str | None, str | None]:
    """What two reviewers must agree on (an exclusion's reason may differ)."""
    if event.relevance == "exclude":
        return ("exclude", None, None)
    return (event.relevance, event.level, event.direction)


def _moment(event: GradeEvent) -> tuple[str, str]:
    """Sort key of an event's time in UTC: (seconds as text, fraction as text). UTC stamps (the
    journal writes "…Z") are compared as text without parsing; an offset is converted first; an
    unparsable stamp sorts last (the schema refuses those on the way in)."""
    stamp = event.timestamp
    if stamp.endswith("Z"):
        return (stamp[:19], stamp[19:-1])  # fractions compare left-aligned, as text does
    try:
        moment = dt.datetime.fromisoformat(stamp).astimezone(dt.UTC)
    except ValueError:
        return ("~", stamp)  # "~" sorts after every digit
    return (moment.strftime("%Y-%m-%dT%H:%M:%S"), f".{moment.microsecond:06d}" if moment.microsecond else "")


@dataclass(slots=True)
class _Slots:
    """One curator's standing decisions on one study while the timeline is replayed."""

    grade: GradeEvent | None = None
    adjudication: GradeEvent | None = None
    order: list[str] = field(default_factory=list)  # "grade"/"adjudication", latest last

    def put(self, event: GradeEvent) -> None:
        if event.kind == "retract":
            if self.order:
                setattr(self, self.order.pop(), None)
            return
        slot = "adjudication" if event.kind == "adjudication" else "grade"
        setattr(self, slot, event)
        if slot in self.order:
            self.order.remove(slot)
        self.order.append(slot)

    @property
    def latest(self) -> GradeEvent | None:
        return getattr(self, self.order[-1]) if self.order else None


def standing_events(events: Iterable[GradeEvent]) -> dict[tuple[str, str, str], GradeEvent]:
    """(claim, pmid, curator) → that curator's latest standing decision (grade or adjudication).

    `events` must keep each curator's own order (read_events does: one append-only file each).
    Replayed events answer from their one computation (a web request asks this several times).
    """
    if isinstance(events, Replayed):
        return events.standing
    return _standing_events(events)


def _standing_events(events: Iterable[GradeEvent]) -> dict[tuple[str, str, str], GradeEvent]:
    slots: dict[tuple[str, str, str], _Slots] = {}
    for event in events:
        slots.setdefault((event.claim, event.pmid, event.curator), _Slots()).put(event)
    return {k: latest for k, s in slots.items() if (latest := s.latest) is not None}


@dataclass(frozen=True, slots=True)
class StudyDecisions:
    """What stands on one (claim, PMID), and the review history that matters.

    grades: each curator's standing grade (kind="grade"), sorted by curator.
    independent: each reviewer's independent grade (see the module docstring), sorted by curator.
    unblinded: curators who have been shown another grade (from their unblinding on).
    parties: every curator who ever graded the study.
    """

    claim: str
    pmid: str
    grades: tuple[GradeEvent, ...]
    adjudication: GradeEvent | None = None
    independent: tuple[GradeEvent, ...] = ()
    unblinded: frozenset[str] = frozenset()
    parties: frozenset[str] = frozenset()
    reopened: bool = False  # reviewers' standing grades disagree although their independent ones agree

    def state(self, reviewers: int) -> StudyState:
        if self.adjudication is not None:
            return "final"
        if not self.independent and not self.grades:
            return "ungraded"
        if self.disagree:
            return "conflict"
        if len(self.independent) < reviewers:
            return "partial"
        return "final"

    @property
    def disagree(self) -> bool:
        return len({decision_key(g) for g in self.independent}) > 1 or self.reopened

    def graded_by(self, curator: str) -> bool:
        return any(g.curator == curator for g in self.grades) or (
            self.adjudication is not None and self.adjudication.curator == curator
        )

    def independent_of(self, curator: str) -> GradeEvent | None:
        return next((g for g in self.independent if g.curator == curator), None)


def _replay(
    claim: str, pmid: str, timeline: list[GradeEvent], adjudicators: frozenset[str]
) -> StudyDecisions:
    slots: dict[str, _Slots] = {}
    independent: dict[str, GradeEvent] = {}
    unblinded: set[str] = set()
    seen_other: set[str] = set()  # adjudicators who graded when another grade already existed
    ever_graded: set[str] = set()
    for event in timeline:
        who = event.curator
        if event.kind == "grade" and who in adjudicators and (ever_graded - {who}):
            seen_other.add(who)
        slots.setdefault(who, _Slots()).put(event)
        if event.kind == "grade":
            ever_graded.add(who)
        standing = {c: s.grade for c, s in slots.items() if s.grade is not None}
        if len(standing) >= 2:
            for c, grade in standing.items():
                if c not in unblinded:
                    unblinded.add(c)
                    if c not in seen_other:
                        independent[c] = grade
    # Not yet unblinded: the standing (blind) grade is the independent grade so far.
    for c, s in slots.items():
        if c not in unblinded and c not in seen_other and s.grade is not None:
            independent[c] = s.grade
    grades = tuple(s.grade for _, s in sorted(slots.items()) if s.grade is not None)
    reviewers_now = [g for g in grades if g.curator in independent]
    adjudications = [s.adjudication for s in slots.values() if s.adjudication is not None]
    return StudyDecisions(
        claim=claim,
        pmid=pmid,
        grades=grades,
        adjudication=max(adjudications, key=lambda e: (_moment(e), e.curator), default=None),
        independent=tuple(independent[c] for c in sorted(independent)),
        unblinded=frozenset(unblinded),
        parties=frozenset(ever_graded),
        reopened=len({decision_key(g) for g in reviewers_now}) > 1,
    )


def decisions(events: Iterable[GradeEvent], adjudicators: Iterable[str] = ()) -> dict[Key, StudyDecisions]:
    """(claim, pmid) → StudyDecisions; `adjudicators` are the curators with that role.

    Events are replayed per study in timestamp order (a stable sort: each curator's file order
    breaks ties).
    """
    per_study: dict[Key, list[GradeEvent]] = {}
    for event in events:
        per_study.setdefault((event.claim, event.pmid), []).append(event)
    roles = frozenset(adjudicators)
    out: dict[Key, StudyDecisions] = {}
    for key, timeline in per_study.items():
        if len(timeline) == 1 and timeline[0].kind == "grade":  # the common case, nothing to replay
            only = timeline[0]
            out[key] = StudyDecisions(
                claim=key[0], pmid=key[1], grades=(only,), independent=(only,),
                parties=frozenset((only.curator,)),
            )  # fmt: skip
        else:
            out[key] = _replay(key[0], key[1], sorted(timeline, key=_moment), roles)
    return out


def adjudicator_ids(project: Project, curators: Mapping[str, Curator] | None = None) -> frozenset[str]:
    """The ids of the project's adjudicators: from `curators` when given, else from its curators.yaml
    (none when the project declares no curators)."""
    if curators is None:
        if not (project.dir / CURATORS_FILE).is_file():
            return frozenset()
        curators = load_curators(project.dir)
    return frozenset(c for c, v in curators.items() if v.is_adjudicator)


Roles = Iterable[str] | None  # adjudicator ids; None = read the project's curators.yaml


class Replayed:
    """Events replayed once (`decisions`), to hand to several rules in one go (a web request asks
    queue, status and final grades of the same events). Iterates as the events themselves."""

    def __init__(self, events: Iterable[GradeEvent], adjudicators: Iterable[str]) -> None:
        self.events = list(events)
        self.adjudicators = frozenset(adjudicators)
        self.table = decisions(self.events, self.adjudicators)
        self._standing: dict[tuple[str, str, str], GradeEvent] | None = None

    @classmethod
    def prepared(
        cls,
        events: list[GradeEvent],
        adjudicators: frozenset[str],
        table: dict[Key, StudyDecisions],
        standing: dict[tuple[str, str, str], GradeEvent],
    ) -> Replayed:
        """Events whose `decisions` and `standing_events` were computed already (kept up to date
        study by study, flows.curation.claim_index); none of them is changed afterwards."""
        replayed = cls.__new__(cls)
        replayed.events = events
        replayed.adjudicators = adjudicators
        replayed.table = table
        replayed._standing = standing
        return replayed

    @property
    def standing(self) -> dict[tuple[str, str, str], GradeEvent]:
        """standing_events of these events, computed on first use."""
        if self._standing is None:
            self._standing = _standing_events(self.events)
        return self._standing

    def __iter__(self) -> Iterator[GradeEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


def _table(project: Project, events: Iterable[GradeEvent], adjudicators: Roles) -> dict[Key, StudyDecisions]:
    same_roles = isinstance(events, Replayed) and (
        adjudicators is None or frozenset(adjudicators) == events.adjudicators
    )
    if isinstance(events, Replayed) and same_roles:
        return events.table
    roles = adjudicator_ids(project) if adjudicators is None else adjudicators
    return decisions(events, roles)


def _study(table: Mapping[Key, StudyDecisions], claim: str, pmid: str) -> StudyDecisions:
    return table.get((claim, pmid)) or StudyDecisions(claim=claim, pmid=pmid, grades=())


def standing_grades(events: Iterable[GradeEvent], claim: str, pmid: str) -> dict[str, GradeEvent]:
    """curator → standing decision (grade or adjudication) on one study."""
    return {c: e for (cl, p, c), e in standing_events(events).items() if cl == claim and p == pmid}


def study_decisions(
    events: Iterable[GradeEvent], claim: str, pmid: str, adjudicators: Iterable[str] = ()
) -> StudyDecisions:
    """The StudyDecisions of one study."""
    mine = [e for e in events if e.claim == claim and e.pmid == pmid]
    return _study(decisions(mine, adjudicators), claim, pmid)


def study_state(
    project: Project, events: Iterable[GradeEvent], claim_id: str, pmid: str, adjudicators: Roles = None
) -> StudyState:
    return _study(_table(project, events, adjudicators), claim_id, pmid).state(
        project.reviewers_for(claim_id)
    )


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

    Blind rule: others' grades stay hidden until the viewer has graded the study themself (once
    unblinded they stay shown, even after an undo), unless the viewer is an adjudicator or the claim
    has a single reviewer (nothing to be blind to).
    """
    if not isinstance(events, Replayed):  # a Replayed answers standing_grades from its one computation
        events = list(events)
    standing = standing_grades(events, claim, pmid)
    sees_all = adjudicator or reviewers < 2 or viewer in standing
    if not sees_all:
        sees_all = viewer in study_decisions(events, claim, pmid).unblinded
    return [e for c, e in sorted(standing.items()) if sees_all or c == viewer]


def _first_text(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


# Appraisal details a final grade carries (besides population); the first reviewer who gave each wins.
APPRAISAL_TEXT_FIELDS = (
    "risk_of_bias",
    "bias_domain",
    "exposure",
    "indirectness",
    "indirect_reason",
    "outcome",
    "outcome_kind",
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
    """The grade reports count: adjudicated, agreed, or (awaiting a second review) single."""
    if study.adjudication is not None:
        a = study.adjudication
        graders = tuple(sorted(study.parties - {a.curator}))
        return _final_from(
            study, a, population=a.population, quote=a.quote, note=a.note, **_appraisal(a),
            curators=(*graders, a.curator), decided_by="adjudication", decided_at=a.timestamp,
            self_adjudicated=a.curator in study.parties,
        )  # fmt: skip
    if study.state(reviewers) not in ("final", "partial") or not study.independent:
        return None
    # Each reviewer's standing grade (their independent one when they withdrew it after unblinding).
    standing = {g.curator: g for g in study.grades}
    basis = [standing.get(g.curator, g) for g in study.independent]
    # Oldest grade first: the optional details of the first reviewer who gave them are kept.
    ordered = sorted(basis, key=lambda e: (_moment(e), e.curator))
    notes = [f"{g.curator}: {g.note}" for g in ordered if g.note]
    return _final_from(
        study, ordered[0],
        population=next((g.population for g in ordered if g.population is not None), None),
        **{name: _first_text(getattr(g, name) for g in ordered) for name in APPRAISAL_TEXT_FIELDS},
        quote=_first_text(g.quote for g in ordered),
        note=" | ".join(notes) or None,
        curators=tuple(sorted(g.curator for g in basis)),
        decided_by="agreement" if len(basis) > 1 else "single",
        decided_at=ordered[-1].timestamp,
    )  # fmt: skip


def _pmid_order(pmid: str) -> tuple[int, str]:
    return (int(pmid), pmid) if pmid.isdigit() else (0, pmid)


def final_grades(
    project: Project, events: Iterable[GradeEvent], adjudicators: Roles = None
) -> list[FinalGrade]:
    """Every grade reports count, in claim order then PMID order: adjudicated, agreed, and studies
    graded by one reviewer so far (decided_by "single"); studies in conflict are left out."""
    table = _table(project, events, adjudicators)
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
    adjudicators: Roles = None,
) -> list[str]:
    """PMIDs of the claim's studies whose reviewers disagree and no adjudicator has decided yet.

    In `pmids` order when given (e.g. the claim's search hits), else by PMID.
    """
    table = _table(project, events, adjudicators)
    reviewers = project.reviewers_for(claim_id)
    candidates = (
        list(dict.fromkeys(pmids))
        if pmids is not None
        else sorted((p for c, p in table if c == claim_id), key=_pmid_order)
    )
    return [p for p in candidates if _study(table, claim_id, p).state(reviewers) == "conflict"]


def queue(
    project: Project,
    events: Iterable[GradeEvent],
    claim_id: str,
    curator: str,
    pmids: Sequence[str],
    adjudicators: Roles = None,
) -> list[str]:
    """The PMIDs `curator` still has to grade for a claim, in `pmids` order (stable across calls).

    A study is on the queue while it has fewer independent grades than the claim needs, no
    conflict, no adjudication, and no standing grade by this curator.
    """
    table = _table(project, events, adjudicators)
    reviewers = project.reviewers_for(claim_id)
    out = []
    for pmid in dict.fromkeys(pmids):
        study = table.get((claim_id, pmid))
        if study is None:  # never graded (most of a claim's studies): no empty record built for it
            out.append(pmid)
            continue
        if study.state(reviewers) in ("ungraded", "partial") and not study.graded_by(curator):
            out.append(pmid)
    return out


def adjudication_refusal(
    events: Iterable[GradeEvent], claim: str, pmid: str, adjudicator: str, adjudicators: Iterable[str]
) -> str | None:
    """Why `adjudicator` may not settle this study (one line), or None when they may.

    A party to the conflict (someone who graded the study) may not settle it while another
    adjudicator exists; with no other adjudicator it is allowed and the final grade is flagged.
    """
    roles = frozenset(adjudicators)
    study = study_decisions(events, claim, pmid, roles)
    others = sorted(roles - {adjudicator})
    if adjudicator in study.parties and others:
        return (
            f"you graded PMID {pmid} yourself, so you are party to this conflict; "
            f"another adjudicator ({', '.join(others)}) settles it"
        )
    return None


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
    project: Project,
    events: Iterable[GradeEvent],
    hits: Mapping[str, Sequence[str]],
    adjudicators: Roles = None,
) -> dict[str, Counts]:
    """claim id → Counts over the PMIDs that claim's searches found (`hits`)."""
    table = _table(project, events, adjudicators)
    out: dict[str, Counts] = {}
    for claim_id, pmids in hits.items():
        reviewers = project.reviewers_for(claim_id)
        states = Counter(
            study.state(reviewers) if (study := table.get((claim_id, p))) is not None else "ungraded"
            for p in dict.fromkeys(pmids)
        )
        out[claim_id] = Counts(
            graded=states["partial"] + states["conflict"] + states["final"],
            ungraded=states["ungraded"],
            conflict=states["conflict"],
            final=states["final"],
        )
    return out


# -- inter-rater agreement -------------------------------------------------------------------------
def cohen_kappa(
    first: Sequence[str | int],
    second: Sequence[str | int],
    weights: str | None = None,
    labels: Sequence[int] | None = None,
) -> float | None:
    """Cohen's kappa (scikit-learn's cohen_kappa_score) of two raters' labels on the same items.

    None when undefined: no items, or both raters used one and the same label throughout (p_e = 1).
    `weights` ("linear" or "quadratic") for labels that are positions on an ordered scale; pass the
    whole scale as `labels` (scikit-learn weighs by position in the label list, so without it two
    labels that skip an unused one in between would count as one step apart).
    """
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    if not first or len(set(first) | set(second)) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score  # heavy import, only when agreement is computed

    value = float(
        cohen_kappa_score(
            list(first), list(second), weights=weights, labels=list(labels) if labels is not None else None
        )
    )
    return None if math.isnan(value) else value


@dataclass(frozen=True, slots=True)
class Agreement:
    claim: str | None  # None = all claims together
    curators: tuple[str, str]
    field: str  # one of AGREEMENT_FIELDS
    items: int  # studies both reviewers' independent grades rate on this field
    percent: float | None
    kappa: float | None
    weights: str | None = None  # "linear" for the ordered fields (level, risk_of_bias)


def _field_rows(
    field_name: str, pairs: list[tuple[GradeEvent, GradeEvent]]
) -> tuple[list[Any], list[Any], str | None]:
    """Both raters' labels on `field_name` (positions on the scale for ordered fields)."""
    if field_name == "relevance":
        return [a.relevance for a, _ in pairs], [b.relevance for _, b in pairs], None
    both_in = [(a, b) for a, b in pairs if a.relevance == "include" and b.relevance == "include"]
    if field_name == "direction":
        return [str(a.direction) for a, _ in both_in], [str(b.direction) for _, b in both_in], None
    scale = _ordered_scales().get(field_name)
    rated = [(getattr(a, field_name), getattr(b, field_name)) for a, b in both_in]
    if scale is None:
        rated = [(x, y) for x, y in rated if x is not None and y is not None]
        return [x for x, _ in rated], [y for _, y in rated], None
    on_scale = [(scale.index(x), scale.index(y)) for x, y in rated if x in scale and y in scale]
    return [x for x, _ in on_scale], [y for _, y in on_scale], KAPPA_WEIGHTS


def _pair_agreement(
    claim: str | None, pair: tuple[str, str], pairs: list[tuple[GradeEvent, GradeEvent]]
) -> list[Agreement]:
    out = []
    for name in AGREEMENT_FIELDS:
        first, second, weights = _field_rows(name, pairs)
        scale = _ordered_scales().get(name) if weights else None
        same = sum(x == y for x, y in zip(first, second, strict=True))
        out.append(
            Agreement(
                claim=claim,
                curators=pair,
                field=name,
                items=len(first),
                percent=100.0 * same / len(first) if first else None,
                kappa=cohen_kappa(
                    first, second, weights=weights, labels=range(len(scale)) if scale else None
                ),
                weights=weights,
            )
        )
    return out


def agreement(project: Project, events: Iterable[GradeEvent], adjudicators: Roles = None) -> list[Agreement]:
    """Percent agreement and Cohen's kappa per curator pair and field, per claim (claim order) and
    overall (last), over the pair's independent grades (never revisions, never adjudications)."""
    table = _table(project, events, adjudicators)
    claim_ids = [c.id for c in project.claims]
    per_claim: dict[str, dict[tuple[str, str], list[tuple[GradeEvent, GradeEvent]]]] = {
        c: {} for c in claim_ids
    }
    for (claim, _pmid), study in sorted(table.items(), key=lambda kv: (kv[0][0], _pmid_order(kv[0][1]))):
        if claim not in per_claim:
            continue
        for a, b in itertools.combinations(study.independent, 2):  # sorted by curator
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
