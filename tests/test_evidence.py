"""A claim's verdict from its outcome rows (flows/evidence/rating.py), on FinalGrade objects and real
Articles: what counts, how grades map to outcomes, and the one rule from rows to a claim."""

from __future__ import annotations

from typing import Any

import pytest

from flows.curation.events import FinalGrade
from flows.evidence.rating import load_rules, outcome_groups, rate_claim
from flows.project.claims import Claim, Outcome
from flows.pubmed.records import RETRACTED_PUBLICATION_TYPE, Article, CommentCorrection, PublicationType

BONE = Claim(
    id="bone",
    text="K2 directs calcium into bone",
    query="q",
    exposure="vitamin K2",
    outcomes=(
        Outcome("fractures", "Fractures", "clinical"),
        Outcome("bmd", "Bone mineral density", "surrogate"),
        Outcome("osteocalcin", "Osteocalcin carboxylation", "mechanistic"),
    ),
)


def g(
    pmid: str,
    level: str = "rct",
    direction: str = "supports",
    relevance: str = "include",
    population: int | None = 500,
    **appraisal: Any,
) -> FinalGrade:
    fields: dict[str, Any] = {"risk_of_bias": "low", "indirectness": "direct", "outcome_kind": "clinical"}
    fields.update(appraisal)
    return FinalGrade(
        claim="c",
        pmid=pmid,
        relevance=relevance,
        level=level,
        direction=direction,  # type: ignore[arg-type]
        population=population,
        **fields,
    )


def test_nothing_included_is_insufficient_without_certainty() -> None:
    r = rate_claim([], {})
    assert (r.rating, r.direction, r.certainty, r.rule_id) == (
        "insufficient",
        "insufficient",
        None,
        "nothing-included",
    )
    assert rate_claim([g("1", relevance="exclude")], {}).certainty is None


def test_only_non_primary_or_unclear_findings_is_insufficient_at_very_low() -> None:
    r = rate_claim([g("1", "narrative_review"), g("2", "rct", "unclear")], {})
    assert (r.rating, r.certainty, r.rule_id) == ("insufficient", "very_low", "no-clear-finding")


def test_one_outcome_claim_takes_its_row() -> None:
    r = rate_claim([g("1"), g("2")], {})
    assert (r.rating, r.label, r.rule_id) == (
        "supports/high",
        "Supports · high certainty",
        "randomised-evidence",
    )
    assert r.rests_on == ("1", "2") and r.top_level == "rct" and r.counted == 2


def test_grades_map_to_the_claim_outcomes_and_strays_get_their_own_row() -> None:
    grades = [
        g("1", outcome="bmd"),
        g("2", outcome="fractures"),
        g("3", outcome=None),
        g("4", outcome="teeth"),
    ]
    groups = outcome_groups(BONE, grades)
    assert [(oid, [x.pmid for x in gs]) for oid, _, _, gs in groups] == [
        ("fractures", ["2"]),
        ("bmd", ["1"]),
        ("osteocalcin", []),
        ("unassigned", ["3", "4"]),
    ]
    one = Claim(id="x", text="t", query="q", outcomes=(Outcome("cramps", "Cramps"),))
    assert [(oid, len(gs)) for oid, _, _, gs in outcome_groups(one, grades)] == [("cramps", 4)]
    assert [oid for oid, *_ in outcome_groups(None, grades)] == ["main"]


def test_the_most_important_outcome_kind_decides() -> None:
    # a null meta-analysis of fractures decides over positive surrogate and mechanistic rows
    grades = [
        g("1", "systematic_review", "no_effect", population=6000, outcome="fractures"),
        g("2", population=400, outcome="bmd", outcome_kind="surrogate"),
        g("3", population=42, outcome="osteocalcin", outcome_kind="mechanistic"),
    ]
    r = rate_claim(grades, {}, claim=BONE)
    assert (r.rating, r.rule_id, r.deciding) == ("no_effect/high", "outcomes-agree", ("fractures",))
    assert "Less direct outcomes" in r.explanation and "Bone mineral density: supports" in r.explanation
    assert r.rests_on == ("1",) and r.steps("down") == []
    assert [o.outcome for o in r.outcomes] == ["fractures", "bmd", "osteocalcin"]


def test_rows_of_the_same_kind_that_disagree_make_the_claim_mixed_at_the_lowest_certainty() -> None:
    claim = Claim(
        id="x", text="t", query="q", outcomes=(Outcome("a", "A", "clinical"), Outcome("b", "B", "clinical"))
    )
    grades = [g("1", population=5000, outcome="a"), g("2", "rct", "no_effect", population=150, outcome="b")]
    r = rate_claim(grades, {}, claim=claim)
    assert (r.rating, r.rule_id) == ("mixed/moderate", "outcomes-disagree")
    assert [(s.domain, o.outcome) for o, s in r.steps("down")] == [("imprecision", "b")]


def test_claim_verdict_is_symmetric() -> None:
    up = rate_claim(
        [
            g("1", "systematic_review", "supports", population=4000),
            g("2", "rct", "no_effect", population=300),
        ],
        {},
    )
    down = rate_claim(
        [
            g("1", "systematic_review", "no_effect", population=4000),
            g("2", "rct", "supports", population=300),
        ],
        {},
    )
    assert (up.rating, down.rating) == ("supports/moderate", "no_effect/moderate")
    assert (
        [s.domain for _, s in up.steps("down")]
        == [s.domain for _, s in down.steps("down")]
        == ["inconsistency"]
    )


def _retracted(pmid: str, via_notice: bool) -> Article:
    if via_notice:
        return Article(pmid=pmid, title="t", comments_corrections=(CommentCorrection("RetractionIn", "999"),))
    return Article(pmid=pmid, title="t", publication_types=(PublicationType(RETRACTED_PUBLICATION_TYPE),))


@pytest.mark.parametrize("via_notice", [False, True])
def test_retracted_studies_never_count(via_notice: bool) -> None:
    grades = [g("1"), g("2", direction="no_effect")]
    r = rate_claim(grades, {"2": _retracted("2", via_notice), "1": Article(pmid="1", title="ok")})
    assert (r.rating, r.retracted, r.rests_on) == ("supports/high", ("2",), ("1",))
    assert r.counts["rct"]["no_effect"] == 0
    only = rate_claim([g("2")], {"2": _retracted("2", via_notice)})
    assert (only.rating, only.certainty) == ("insufficient", None)
    assert "retracted studies never count" in only.explanation


def test_counts_cover_every_level_and_direction() -> None:
    r = rate_claim([g("1", "other", "supports"), g("2", "rct", "weird")], {})
    assert r.counts["other"]["supports"] == 1
    assert r.counts["rct"]["unclear"] == 1  # an unknown direction is shown as unclear, never lost
    assert set(r.counts) >= {"in_vitro", "systematic_review", "case_report"}


def test_verdicts_sort_best_first() -> None:
    rules = load_rules()
    keys = ["insufficient", "mixed/low", "supports/low", "no_effect/high", "supports/high"]
    assert sorted(keys, key=rules.rank) == [
        "supports/high",
        "supports/low",
        "no_effect/high",
        "mixed/low",
        "insufficient",
    ]
