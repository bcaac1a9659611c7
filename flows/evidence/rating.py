"""A claim's verdict: the direction of its body of evidence plus its certainty (GRADE), per outcome.

This replaces the design-counting ladder (schemas/rating_rules.yaml, retired). The grades that count
(included, levelled, not retracted) are split by the claim's outcomes (claims.yaml; a claim naming
none has one), each outcome is rated by flows.evidence.certainty, and the claim's verdict follows
from its outcome rows by one rule:

- nothing counted: insufficient, certainty none;
- no outcome with a finding: insufficient, very low;
- otherwise the deciding rows are the outcomes with a finding of the most important kind present
  (clinical, or no kind given, before surrogate before mechanistic: GRADE's critical outcomes are the
  ones patients feel); the verdict is the direction they share (mixed when they differ) and the
  lowest certainty among them (GRADE's overall certainty across critical outcomes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from flows.curation.events import FinalGrade
from flows.curation.ladder import Ladder, load_ladder
from flows.evidence.certainty import OutcomeCertainty, Step, assess_outcome
from flows.evidence.certainty_rules import CERTAINTY_ORDER, CertaintyRules, load_certainty_rules
from flows.project.claims import DEFAULT_OUTCOME, Claim
from flows.pubmed.records import Article

UNCLEAR = "unclear"
UNASSIGNED = "unassigned"  # grades of a several-outcome claim that name none of its outcomes
DEFAULT_LABEL = "the claimed effect"
RULES_FILE_NAME = "schemas/certainty_rules.yaml"
KIND_RANK = {None: 0, "clinical": 0, "surrogate": 1, "mechanistic": 2}

Counts = dict[str, dict[str, int]]
RatingRules = CertaintyRules
load_rules = load_certainty_rules


@dataclass(frozen=True, slots=True)
class Rating:
    rating: str  # verdict key: "<direction>/<certainty>", or "insufficient" without a finding
    label: str  # e.g. "Supports · low certainty"
    color: str
    direction: str  # supports | no_effect | contradicts | mixed | insufficient
    certainty: str | None  # high | moderate | low | very_low; None when nothing counts
    rule_id: str
    explanation: str
    rests_on: tuple[str, ...]  # PMIDs of the bodies of evidence that decide, in grade order
    would_change: str
    counts: Counts  # level -> direction -> counted studies (every level and direction)
    outcomes: tuple[OutcomeCertainty, ...] = ()
    deciding: tuple[str, ...] = ()  # ids of the outcome rows the verdict follows from
    top_level: str | None = None
    retracted: tuple[str, ...] = field(default=())  # included but retracted: never counted

    @property
    def counted(self) -> int:
        return sum(sum(row.values()) for row in self.counts.values())

    def steps(self, kind: str) -> list[tuple[OutcomeCertainty, Step]]:
        """The downgrades (or upgrades) of the outcome rows that decide the verdict."""
        deciding = [o for o in self.outcomes if o.outcome in self.deciding]
        return [(o, s) for o in deciding for s in (o.downgrades if kind == "down" else o.upgrades)]


def verdict_key(direction: str, certainty: str | None) -> str:
    return f"{direction}/{certainty}" if certainty and direction != "insufficient" else direction


def verdict_label(direction: str, certainty: str | None, rules: CertaintyRules) -> str:
    text = rules.verdict(direction).label
    if certainty and direction != "insufficient":
        text += f" · {rules.level(certainty).label.lower()} certainty"
    return text


def counted_grades(
    final_grades: Iterable[FinalGrade], articles: Mapping[str, Article]
) -> tuple[list[FinalGrade], list[str]]:
    """Included, levelled grades that count, and the PMIDs left out because they are retracted.

    An article not in `articles` (not fetched yet) counts: its curator saw it, and the store cannot
    say it is retracted.
    """
    counted: list[FinalGrade] = []
    retracted: list[str] = []
    for grade in final_grades:
        if grade.relevance != "include" or not grade.level:
            continue
        article = articles.get(grade.pmid)
        if article is not None and article.is_retracted:
            retracted.append(grade.pmid)
        else:
            counted.append(grade)
    return counted, retracted


def count_matrix(grades: Iterable[FinalGrade], ladder: Ladder | None = None) -> Counts:
    ladder = ladder or load_ladder()
    counts: Counts = {lvl: {d.id: 0 for d in ladder.directions} for lvl in ladder.level_ids}
    for grade in grades:
        if grade.level in counts:
            direction = grade.direction if grade.direction in counts[grade.level] else UNCLEAR
            counts[grade.level][direction] += 1
    return counts


def outcome_groups(
    claim: Claim | None, grades: Sequence[FinalGrade]
) -> list[tuple[str, str, str | None, list[FinalGrade]]]:
    """(outcome id, label, kind, its grades) per outcome of the claim, in claims.yaml order.

    A claim naming one outcome (or none) takes every grade into it; with several, a grade naming
    none of them goes to an "outcome not recorded" row, shown only when it has studies.
    """
    outcomes = claim.outcomes if claim else ()
    if len(outcomes) <= 1:
        only = outcomes[0] if outcomes else None
        return [
            (
                only.id if only else DEFAULT_OUTCOME,
                only.label if only else DEFAULT_LABEL,
                only.kind if only else None,
                list(grades),
            )
        ]
    groups: list[tuple[str, str, str | None, list[FinalGrade]]] = [
        (o.id, o.label, o.kind, []) for o in outcomes
    ]
    index = {o.id: i for i, o in enumerate(outcomes)}
    stray: list[FinalGrade] = []
    for grade in grades:
        if grade.outcome in index:
            groups[index[grade.outcome]][3].append(grade)
        else:
            stray.append(grade)
    if stray:
        groups.append((UNASSIGNED, "Outcome not recorded", None, stray))
    return groups


def _top_level(
    outcomes: Sequence[OutcomeCertainty], grades: Sequence[FinalGrade], ladder: Ladder
) -> str | None:
    body = {p for o in outcomes for p in o.body}
    levels = {g.level for g in grades if g.pmid in body}
    for level in reversed(ladder.primary_level_ids):
        if level in levels:
            return level
    return None


def rate_claim(
    final_grades: Iterable[FinalGrade],
    articles: Mapping[str, Article],
    rules: CertaintyRules | None = None,
    claim: Claim | None = None,
) -> Rating:
    """The verdict of one claim from its final grades; `articles` tells retracted studies apart."""
    rules = rules or load_certainty_rules()
    ladder = load_ladder()
    counted, retracted = counted_grades(final_grades, articles)
    exposure = claim.exposure if claim else None
    rows = tuple(
        assess_outcome(oid, label, kind, grades, rules, exposure)
        for oid, label, kind, grades in outcome_groups(claim, counted)
    )
    with_finding = [o for o in rows if o.direction != "insufficient"]
    best_kind = min((KIND_RANK.get(o.kind, 0) for o in with_finding), default=0)
    deciding = [o for o in with_finding if KIND_RANK.get(o.kind, 0) == best_kind]
    if not counted:
        direction, certainty, rule_id = "insufficient", None, "nothing-included"
        explanation = (
            "No included study counts yet (retracted studies never count)."
            if retracted
            else ("No included study yet.")
        )
        would_change = "Grading the studies the search found: any included study with a clear finding."
    elif not deciding:
        direction, certainty, rule_id = "insufficient", CERTAINTY_ORDER[-1], "no-clear-finding"
        explanation = " ".join(dict.fromkeys(o.explanation for o in rows if o.studies))
        would_change = " ".join(dict.fromkeys(w for o in rows for w in o.would_change))
    else:
        directions = {o.direction for o in deciding}
        direction = directions.pop() if len(directions) == 1 else "mixed"
        certainty = max((o.certainty or CERTAINTY_ORDER[-1] for o in deciding), key=CERTAINTY_ORDER.index)
        if len(rows) == 1:
            rule_id = f"{deciding[0].tier}-evidence"
            explanation = deciding[0].explanation
            would_change = " ".join(deciding[0].would_change)
        else:
            rule_id = "outcomes-agree" if direction != "mixed" else "outcomes-disagree"
            per = "; ".join(
                f"{o.label}: {verdict_label(o.direction, o.certainty, rules).lower()}" for o in deciding
            )
            aside = [o for o in with_finding if o not in deciding]
            empty = [o.label for o in rows if not o.studies]
            explanation = (
                f"By outcome: {per}. "
                + (
                    "The claim takes the lowest certainty of these outcomes"
                    + (", and is mixed because they point different ways." if direction == "mixed" else ".")
                    if len(deciding) > 1
                    else "The verdict follows this outcome."
                )
                + (
                    " Less direct outcomes ("
                    + "; ".join(
                        f"{o.label}: {verdict_label(o.direction, o.certainty, rules).lower()}" for o in aside
                    )
                    + ") are shown but do not decide while a more important outcome has a finding."
                    if aside
                    else ""
                )
                + (f" No included study yet for: {'; '.join(empty)}." if empty else "")
            )
            weakest = [o for o in deciding if o.certainty == certainty]
            would_change = " ".join(f"{o.label}: {' '.join(o.would_change)}" for o in weakest)
    return Rating(
        rating=verdict_key(direction, certainty),
        label=verdict_label(direction, certainty, rules),
        color=rules.verdict(direction).color,
        direction=direction,
        certainty=certainty,
        rule_id=rule_id,
        explanation=explanation,
        rests_on=tuple(dict.fromkeys(p for o in deciding for p in o.body)),
        would_change=would_change,
        counts=count_matrix(counted, ladder),
        outcomes=rows,
        deciding=tuple(o.outcome for o in deciding),
        top_level=_top_level(deciding, counted, ladder),
        retracted=tuple(dict.fromkeys(retracted)),
    )
