"""Screening, dashboard and conflict data, composed from flows.curation.review's rules (never re-implemented).

The grading form is checked by flows.curation.grade_check (the grade schema), its problems told in the
form's words; flows.curation.journal checks every event again before it is appended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from flows.curation import review as grading
from flows.curation.events import FinalGrade, GradeEvent
from flows.curation.grade_check import Problem, decision_from_text, decision_problems
from flows.evidence.rating import Rating, rate_claim
from flows.project.claims import Claim
from flows.store.searches import SearchRun
from flows.web import data, views

PREFETCH = 50
_HINTS = {
    "relevance": "choose include (a level and a direction) or exclude (x and a reason)",
    "level": "pick a level (keys 1–9)",
    "direction": "pick a direction (s, c, n, m, u)",
    "exclude_reason": "pick an exclusion reason",
    "population": "population must be a whole number above 0",
}


# One form carries every field: what the chosen relevance does not use is dropped, not an error.
_UNUSED = {"include": ("exclude_reason",), "exclude": ("level", "direction")}


def _hint(problem: Problem, decision: Mapping[str, Any]) -> str:
    """A schema problem in the words of the grading form (its keys and buttons)."""
    if problem.field in _HINTS:
        return _HINTS[problem.field]
    if problem.field == "risk_of_bias":
        return f"unknown risk of bias {decision.get('risk_of_bias')!r}"
    return f"{problem.field} {problem.message}"  # e.g. "note is longer than 4000 characters"


@dataclass(frozen=True, slots=True)
class GradeForm:
    relevance: str | None = None
    level: str | None = None
    direction: str | None = None
    exclude_reason: str | None = None
    risk_of_bias: str | None = None
    population: int | None = None
    quote: str | None = None
    note: str | None = None
    error: str | None = None

    @classmethod
    def parse(cls, form: Mapping[str, str]) -> GradeForm:
        """The form as a decision, checked by flows.curation.grade_check; errors in the form's words."""
        decision, problems = decision_from_text(form)
        for name in _UNUSED.get(decision.get("relevance", ""), ()):
            decision.pop(name, None)
        problems += decision_problems(decision)
        if problems:
            hints = dict.fromkeys(_hint(p, decision) for p in problems)  # once each, in order
            return cls(error="Not saved: " + "; ".join(hints) + ".")
        return cls(**decision)

    def event(self, claim: str, pmid: str, curator: str, timestamp: str) -> GradeEvent:
        return GradeEvent(
            claim=claim,
            pmid=pmid,
            curator=curator,
            timestamp=timestamp,
            relevance=self.relevance,  # type: ignore[arg-type]
            exclude_reason=self.exclude_reason,
            level=self.level,
            direction=self.direction,
            population=self.population,
            risk_of_bias=self.risk_of_bias,
            quote=self.quote,
            note=self.note,
        )


@dataclass(frozen=True, slots=True)
class ScreenState:
    study: views.StudyView | None
    remaining: int  # studies this curator still has to grade
    total: int  # studies the claim's searches found
    mine_done: int
    counts: grading.Counts | None  # None for a claim with no studies yet
    history: tuple[views.GradeView, ...]
    history_hidden: int
    reviewers: int
    can_undo: bool
    stale: bool = False  # a refresh held the store: studies shown as last read


def _names(config: data.WebConfig) -> dict[str, str]:
    return {c: v.name for c, v in data.curators(config).items()}


def _is_adjudicator(config: data.WebConfig, curator: str) -> bool:
    found = data.curators(config).get(curator)
    return found is not None and found.is_adjudicator


def screen_state(
    config: data.WebConfig, store: data.StoreReader, claim: Claim, curator: str, pmid: str | None
) -> ScreenState:
    project = config.project
    events = data.events(config, claim.id)  # every rule below is about this claim only
    pmids = store.claim_pmids(claim.id)
    todo = list(grading.queue(project, events, claim.id, curator, pmids))
    target = pmid or (todo[0] if todo else None)
    counts = grading.grading_status(project, events, {claim.id: pmids}).get(claim.id)
    reviewers = project.reviewers_for(claim.id)
    names = _names(config)
    study = None
    history: tuple[views.GradeView, ...] = ()
    history_hidden = 0
    if target is not None:
        found, suggestion = store.study(target, todo[:PREFETCH])
        standing = grading.standing_grades(events, claim.id, target)
        visible = grading.visible_grades(
            events, curator, claim.id, target,
            adjudicator=_is_adjudicator(config, curator), reviewers=reviewers,
        )  # fmt: skip
        others = [e for e in visible if e.curator != curator]
        hidden = sum(1 for c in standing if c != curator) - len(others)
        # The history obeys the same blind rule as the grades: others' events only once visible.
        history = tuple(
            views.grade_view(e, names)
            for e in events
            if e.claim == claim.id and e.pmid == target and (e.curator == curator or not hidden)
        )
        history_hidden = (
            sum(1 for e in events if e.claim == claim.id and e.pmid == target and e.curator != curator)
            if hidden
            else 0
        )
        if found is not None:
            mine = standing.get(curator)
            study = views.study_view(
                found,
                claim.query,
                suggestion,
                mine=views.grade_view(mine, names) if mine else None,
                others=[views.grade_view(e, names) for e in others],
                hidden_others=hidden,
                blind=reviewers > 1,
            )
    in_claim = set(pmids)
    mine_done = sum(
        1
        for (c, p, who), e in grading.standing_events(events).items()
        if c == claim.id and who == curator and e.kind == "grade" and p in in_claim
    )
    return ScreenState(
        study=study,
        remaining=len(todo),
        total=len(pmids),
        mine_done=mine_done,
        counts=counts,
        history=history,
        history_hidden=history_hidden,
        reviewers=reviewers,
        can_undo=undo_target(events, claim.id, curator) is not None,
        stale=store.stale,
    )


@dataclass(frozen=True, slots=True)
class ClaimRow:
    claim: Claim
    total: int
    counts: grading.Counts | None
    my_remaining: int
    rating: Rating
    run: SearchRun | None  # the newest search run; None for a claim never searched


def _rating(final: Sequence[FinalGrade], store: data.StoreReader, claim_id: str) -> Rating:
    """The claim's rating so far (a broken rule table is the app's error page, not a blank cell)."""
    mine = [f for f in final if f.claim == claim_id]
    return rate_claim(mine, store.articles([f.pmid for f in mine]))


def claim_summaries(config: data.WebConfig, store: data.StoreReader, curator: str) -> list[ClaimRow]:
    project = config.project
    events = data.events(config)
    ids = [c.id for c in project.claims]
    hits = {c: store.claim_pmids(c) for c in ids}
    status = grading.grading_status(project, events, hits)
    final = list(grading.final_grades(project, events))
    runs = store.newest_runs(ids)
    rows = []
    for claim in project.claims:
        pmids = hits.get(claim.id, [])
        rows.append(
            ClaimRow(
                claim=claim,
                total=len(pmids),
                counts=status.get(claim.id),
                my_remaining=len(grading.queue(project, events, claim.id, curator, pmids)),
                rating=_rating(final, store, claim.id),
                run=runs.get(claim.id),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class ConflictRow:
    pmid: str
    title: Markup | str  # the study's safe title, or its PMID when the record is not stored
    grades: tuple[tuple[views.GradeView, GradeEvent], ...]


def conflict_rows(config: data.WebConfig, store: data.StoreReader, claim: Claim) -> list[ConflictRow]:
    project = config.project
    events = data.events(config)
    pmids = store.claim_pmids(claim.id)
    open_pmids = grading.conflicts(project, events, claim.id, pmids)
    found = store.articles(open_pmids)
    names = _names(config)
    rows = []
    for pmid in open_pmids:
        standing = {
            c: e for c, e in grading.standing_grades(events, claim.id, pmid).items() if e.kind == "grade"
        }
        article = found.get(pmid)
        title = views.study_view(article, claim.query).title if article else pmid
        rows.append(
            ConflictRow(
                pmid=pmid,
                title=title,
                grades=tuple((views.grade_view(e, names), e) for e in standing.values()),
            )
        )
    return rows


def undo_target(events: Sequence[GradeEvent], claim: str, curator: str) -> str | None:
    """The study this curator graded most recently whose grade still stands."""
    position = {id(e): i for i, e in enumerate(events)}
    live = [
        e
        for (c, _, who), e in grading.standing_events(events).items()
        if c == claim and who == curator and e.kind == "grade"
    ]
    return max(live, key=lambda e: position[id(e)]).pmid if live else None
