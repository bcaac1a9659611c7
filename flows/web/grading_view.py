"""Screening, dashboard and conflict data, composed from flows.curation.review's rules (never re-implemented).

The grading form is checked by flows.curation.grade_check (the grade schema), its problems told in the
form's words; flows.curation.journal checks every event again before it is appended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from flows.web.parked import parked_studies

PREFETCH = 50
_HINTS = {
    "relevance": "choose include (a level and a direction) or exclude (x and a reason)",
    "level": "pick a level (keys 1–9)",
    "direction": "pick a direction (s, c, n, m, u)",
    "exclude_reason": "pick an exclusion reason",
    "population": "sample size must be a whole number above 0",
    "indirect_reason": "say why the study is indirect",
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
    bias_domain: str | None = None
    population: int | None = None
    exposure: str | None = None
    indirectness: str | None = None
    indirect_reason: str | None = None
    outcome: str | None = None
    outcome_kind: str | None = None
    quote: str | None = None
    note: str | None = None
    error: str | None = None
    key: str | None = None  # the form's save key (flows.curation.save): a retry records one event

    @classmethod
    def parse(cls, form: Mapping[str, str], key: str | None = None) -> GradeForm:
        """The form as a decision, checked by flows.curation.grade_check; errors in the form's words."""
        decision, problems = decision_from_text(form)
        for name in _UNUSED.get(decision.get("relevance", ""), ()):
            decision.pop(name, None)
        if decision.get("indirectness") != "indirect":
            decision.pop("indirect_reason", None)
        problems += decision_problems(decision)
        if problems:
            hints = dict.fromkeys(_hint(p, decision) for p in problems)  # once each, in order
            return cls(error="Not saved: " + "; ".join(hints) + ".", key=key)
        return cls(**decision, key=key)

    def outcome_problem(self, claim: Claim) -> str | None:
        """An outcome the claim does not name (the form offers only the claim's own)."""
        if self.outcome is not None and self.outcome not in claim.outcome_ids():
            return f"Not saved: unknown outcome {self.outcome!r} for claim {claim.id}."
        return None

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
            bias_domain=self.bias_domain,
            exposure=self.exposure,
            indirectness=self.indirectness,
            indirect_reason=self.indirect_reason,
            outcome=self.outcome,
            outcome_kind=self.outcome_kind,
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
    maybe: bool = False  # the curator marked this study "maybe" (parked, to come back to)


def _names(config: data.WebConfig) -> dict[str, str]:
    return {c: v.name for c, v in data.curators(config).items()}


def _is_adjudicator(config: data.WebConfig, curator: str) -> bool:
    found = data.curators(config).get(curator)
    return found is not None and found.is_adjudicator


def adjudicators(config: data.WebConfig) -> frozenset[str]:
    return grading.adjudicator_ids(config.project, data.curators(config))


def my_queue(
    config: data.WebConfig, events: Iterable[GradeEvent], claim: Claim, curator: str, pmids: Sequence[str]
) -> list[str]:
    """The curator's queue, skipped and "maybe" studies moved to its end (flows.web.parked)."""
    todo = grading.queue(config.project, events, claim.id, curator, pmids, adjudicators(config))
    parked = parked_studies(config, curator, claim.id)
    return [p for p in todo if p not in parked] + [p for p in todo if p in parked]


def screen_state(
    config: data.WebConfig, store: data.StoreReader, claim: Claim, curator: str, pmid: str | None
) -> ScreenState:
    project = config.project
    # This claim's events only, replayed study by study as they change (flows.curation.claim_index).
    events = data.replayed(config, claim.id, adjudicators(config))
    pmids = store.claim_pmids(claim.id)
    roles = adjudicators(config)
    todo = my_queue(config, events, claim, curator, pmids)
    target = pmid or (todo[0] if todo else None)
    counts = grading.grading_status(project, events, {claim.id: pmids}, roles).get(claim.id)
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
        maybe=target in parked_studies(config, curator, claim.id, maybe_only=True) if target else False,
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
    events = grading.Replayed(data.events(config), adjudicators(config))
    ids = [c.id for c in project.claims]
    hits = {c: store.claim_pmids(c) for c in ids}
    roles = adjudicators(config)
    status = grading.grading_status(project, events, hits, roles)
    final = list(grading.final_grades(project, events, roles))
    runs = store.newest_runs(ids)
    rows = []
    for claim in project.claims:
        pmids = hits.get(claim.id, [])
        rows.append(
            ClaimRow(
                claim=claim,
                total=len(pmids),
                counts=status.get(claim.id),
                my_remaining=len(grading.queue(project, events, claim.id, curator, pmids, roles)),
                rating=_rating(final, store, claim.id),
                run=runs.get(claim.id),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class ConflictRow:
    pmid: str
    title: Markup | str  # the study's safe title, or its PMID when the record is not stored
    # Each reviewer's independent grade (what agreement counts), with their standing one when revised.
    grades: tuple[tuple[views.GradeView, GradeEvent], ...]
    summary: views.StudyView | None = None  # the record: journal, year, types, abstract
    revised: tuple[views.GradeView, ...] = ()  # revisions after unblinding (shown, never counted)
    refusal: str | None = None  # why this adjudicator may not settle it (party to it, others exist)
    party: bool = False  # the adjudicator graded it too (allowed as the only adjudicator; flagged)


def conflict_rows(
    config: data.WebConfig, store: data.StoreReader, claim: Claim, adjudicator: str
) -> list[ConflictRow]:
    project = config.project
    events = grading.Replayed(data.events(config), adjudicators(config))
    roles = adjudicators(config)
    pmids = store.claim_pmids(claim.id)
    open_pmids = grading.conflicts(project, events, claim.id, pmids, roles)
    found = store.articles(open_pmids)
    names = _names(config)
    rows = []
    for pmid in open_pmids:
        study = grading.study_decisions(events, claim.id, pmid, roles)
        standing = {g.curator: g for g in study.grades}
        article = found.get(pmid)
        summary = views.study_view(article, claim.query) if article else None
        rows.append(
            ConflictRow(
                pmid=pmid,
                title=summary.title if summary else pmid,
                grades=tuple((views.grade_view(e, names), e) for e in study.independent),
                summary=summary,
                revised=tuple(
                    views.grade_view(standing[e.curator], names)
                    for e in study.independent
                    if e.curator in standing and standing[e.curator] != e
                ),
                refusal=grading.adjudication_refusal(events, claim.id, pmid, adjudicator, roles),
                party=adjudicator in study.parties,
            )
        )
    return rows


def conflict_feedback(config: data.WebConfig, claim: Claim, pmid: str, curator: str) -> str | None:
    """On the spot, after a save: the other reviewers' grades when this save left the study in
    conflict (both have graded by then, so nothing blind is given away)."""
    # This claim's replay (as the next screen's): the study's entry is study_decisions' answer.
    table = data.replayed(config, claim.id, adjudicators(config)).table
    study = table.get((claim.id, pmid)) or grading.StudyDecisions(claim=claim.id, pmid=pmid, grades=())
    if study.state(config.project.reviewers_for(claim.id)) != "conflict":
        return None
    names = _names(config)
    others = [g for g in study.independent if g.curator != curator]
    if not others or curator not in {g.curator for g in study.grades}:
        return None
    said = "; ".join(f"{names.get(g.curator, g.curator)} chose {views.summarize(g)}" for g in others)
    return f"Conflict on PMID {pmid}: {said}. An adjudicator will settle it."


def still_in_conflict(config: data.WebConfig, claim: Claim, pmid: str) -> bool:
    study = grading.study_decisions(data.events(config), claim.id, pmid, adjudicators(config))
    return study.state(config.project.reviewers_for(claim.id)) == "conflict"


RECORD_FILTERS = {
    "all": "all",
    "mine": "mine to do",
    "awaiting": "awaiting a second grade",
    "conflict": "in conflict",
    "included": "included",
    "excluded": "excluded",
    "maybe": "my maybes",
}


@dataclass(frozen=True, slots=True)
class RecordRow:
    pmid: str
    title: Markup | str
    year: str
    status: str  # to grade | awaiting a second grade | in conflict | included | excluded
    mine: str | None  # the curator's own grade, summarised
    level: str | None  # the final grade's level (included studies)
    maybe: bool


@dataclass(frozen=True, slots=True)
class RecordsPage:
    rows: tuple[RecordRow, ...]
    shown: str
    level: str | None
    total: int
    mine_done: int
    mine_todo: int
    counts: dict[str, int]


def records_page(
    config: data.WebConfig, store: data.StoreReader, claim: Claim, curator: str, shown: str, level: str | None
) -> RecordsPage:
    """Every record of a claim with its status for this curator, filtered by status and level."""
    project = config.project
    events = grading.Replayed(data.events(config), adjudicators(config))
    roles = adjudicators(config)
    pmids = store.claim_pmids(claim.id)
    reviewers = project.reviewers_for(claim.id)
    table = grading.decisions([e for e in events if e.claim == claim.id], roles)
    finals = {f.pmid: f for f in grading.final_grades(project, events, roles) if f.claim == claim.id}
    todo = set(grading.queue(project, events, claim.id, curator, pmids, roles))
    maybes = parked_studies(config, curator, claim.id, maybe_only=True)
    articles = store.articles(pmids)
    rows: list[RecordRow] = []
    counts = dict.fromkeys(RECORD_FILTERS, 0)
    for pmid in pmids:
        study = table.get((claim.id, pmid))
        state = study.state(reviewers) if study else "ungraded"
        final = finals.get(pmid)
        status = {
            "conflict": "in conflict",
            "ungraded": "to grade",
            "partial": "awaiting a second grade",
        }.get(state, "included" if final and final.relevance == "include" else "excluded")
        mine = next((g for g in study.grades if g.curator == curator), None) if study else None
        first = study.independent_of(curator) if study else None
        tags = {
            "all": True, "mine": pmid in todo, "awaiting": status == "awaiting a second grade",
            "conflict": status == "in conflict", "maybe": pmid in maybes,
            "included": final is not None and final.relevance == "include",
            "excluded": final is not None and final.relevance == "exclude",
        }  # fmt: skip
        for name, on in tags.items():
            counts[name] += on
        if not tags.get(shown, False):
            continue
        if level and (final is None or final.level != level):
            continue
        article = articles.get(pmid)
        rows.append(
            RecordRow(
                pmid=pmid,
                title=views.study_view(article, claim.query).title if article else pmid,
                year=str(article.pub_date.year or "") if article else "",
                status=status,
                mine=views.summarize(mine)
                if mine
                else (
                    f"withdrawn after unblinding; still counts: {views.summarize(first)}" if first else None
                ),
                level=final.level if final and final.relevance == "include" else None,
                maybe=pmid in maybes,
            )
        )
    mine_done = sum(1 for p in pmids if (s := table.get((claim.id, p))) and s.graded_by(curator))
    return RecordsPage(
        rows=tuple(rows), shown=shown, level=level, total=len(pmids), mine_done=mine_done,
        mine_todo=len(todo), counts=counts,
    )  # fmt: skip


def undo_target(events: Sequence[GradeEvent] | grading.Replayed, claim: str, curator: str) -> str | None:
    """The study this curator graded most recently whose grade still stands."""
    position = {id(e): i for i, e in enumerate(events)}
    live = [
        e
        for (c, _, who), e in grading.standing_events(events).items()
        if c == claim and who == curator and e.kind == "grade"
    ]
    return max(live, key=lambda e: position[id(e)]).pmid if live else None
