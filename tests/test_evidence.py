"""Rating rules case by case, from schemas/rating_rules.yaml, on FinalGrade objects and real Articles."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.curation.events import FinalGrade
from flows.errors import InputError
from flows.evidence.rating import load_rules, rate_claim
from flows.pubmed.records import RETRACTED_PUBLICATION_TYPE, Article, CommentCorrection, PublicationType


def g(pmid: str, level: str, direction: str, relevance: str = "include") -> FinalGrade:
    return FinalGrade(claim="c", pmid=pmid, relevance=relevance, level=level, direction=direction)  # type: ignore[arg-type]


def rate(*grades: FinalGrade, articles: dict[str, Article] | None = None) -> tuple[str, str]:
    r = rate_claim(grades, articles or {})
    return r.rating, r.rule_id


def test_nothing_included_is_insufficient() -> None:
    assert rate() == ("insufficient", "no-clear-finding")
    assert rate(g("1", "rct", "supports", relevance="exclude")) == ("insufficient", "no-clear-finding")


def test_only_non_primary_or_unclear_findings_is_insufficient() -> None:
    assert rate(g("1", "narrative_review", "supports"), g("2", "case_report", "supports")) == (
        "insufficient", "no-clear-finding")
    assert rate(g("1", "rct", "mixed"), g("2", "rct", "unclear"))[0] == "insufficient"


def test_systematic_review_alone_is_strong() -> None:
    r = rate_claim([g("1", "systematic_review", "supports"), g("2", "animal", "contradicts")], {})
    assert (r.rating, r.rule_id) == ("strong", "strong")
    assert r.rests_on == ("1",)
    assert "1 supporting systematic review" in r.explanation


def test_two_rcts_strong_one_rct_moderate() -> None:
    assert rate(g("1", "rct", "supports"), g("2", "rct", "supports")) == ("strong", "strong")
    assert rate(g("1", "rct", "supports")) == ("moderate", "one-rct")


def test_no_effect_rct_blocks_strong() -> None:
    # Two supporting RCTs plus one null RCT at the top level: conflicting, never strong.
    assert rate(g("1", "rct", "supports"), g("2", "rct", "supports"), g("3", "rct", "no_effect")) == (
        "conflicting", "conflicting-at-top")
    # A supporting SR with a null RCT below it: still blocked.
    assert rate(g("1", "systematic_review", "supports"), g("2", "rct", "no_effect")) == (
        "conflicting", "trials-disagree")


def test_conflicting_at_highest_level_rests_on_that_level() -> None:
    r = rate_claim(
        [g("1", "human_observational", "supports"), g("2", "human_observational", "contradicts"),
         g("3", "animal", "supports")], {})
    assert (r.rating, r.rule_id) == ("conflicting", "conflicting-at-top")
    assert r.rests_on == ("1", "2")
    assert "Human observational" in r.explanation


def test_contradicted_at_top_even_with_lower_support() -> None:
    r = rate_claim([g("1", "rct", "no_effect"), g("2", "animal", "supports"), g("3", "in_vitro", "supports")], {})
    assert (r.rating, r.rule_id) == ("contradicted", "contradicted-at-top")
    assert r.rests_on == ("1",)


def test_observational_consistency() -> None:
    assert rate(g("1", "human_observational", "supports"), g("2", "nonrandomized_trial", "supports")) == (
        "moderate", "consistent-human")
    assert rate(g("1", "human_observational", "supports")) == ("preliminary", "single-human")
    # Support at the top (non-randomised trial) but a contradicting observational study below.
    assert rate(g("1", "nonrandomized_trial", "supports"), g("2", "human_observational", "no_effect")) == (
        "conflicting", "human-disagree")


def test_lab_only_is_preliminary() -> None:
    r = rate_claim([g("1", "animal", "supports"), g("2", "in_vitro", "supports")], {})
    assert (r.rating, r.rule_id) == ("preliminary", "lab-only")
    assert "1 in vitro, 1 animal" in r.explanation
    assert rate(g("1", "animal", "contradicts"))[0] == "contradicted"


def test_mixed_top_level_does_not_decide() -> None:
    # A mixed SR is shown but the rating comes from the RCTs under it.
    assert rate(g("1", "systematic_review", "mixed"), g("2", "rct", "supports")) == ("moderate", "one-rct")


def _retracted(pmid: str, via_notice: bool) -> Article:
    if via_notice:
        return Article(pmid=pmid, title="t", comments_corrections=(CommentCorrection("RetractionIn", "999"),))
    return Article(pmid=pmid, title="t", publication_types=(PublicationType(RETRACTED_PUBLICATION_TYPE),))


@pytest.mark.parametrize("via_notice", [False, True])
def test_retracted_studies_never_count(via_notice: bool) -> None:
    grades = [g("1", "rct", "supports"), g("2", "rct", "supports")]
    r = rate_claim(grades, {"2": _retracted("2", via_notice), "1": Article(pmid="1", title="ok")})
    assert (r.rating, r.rule_id) == ("moderate", "one-rct")
    assert r.retracted == ("2",)
    assert r.counts["rct"]["supports"] == 1
    assert "2" not in r.rests_on


def test_retracted_contradiction_does_not_block() -> None:
    grades = [g("1", "rct", "supports"), g("2", "rct", "supports"), g("3", "rct", "no_effect")]
    assert rate_claim(grades, {"3": _retracted("3", False)}).rating == "strong"


def test_counts_cover_every_level_and_direction() -> None:
    r = rate_claim([g("1", "other", "supports"), g("2", "rct", "weird")], {})
    assert r.counts["other"]["supports"] == 1
    assert r.counts["rct"]["unclear"] == 1  # an unknown direction is shown as unclear, never lost
    assert set(r.counts) >= {"in_vitro", "systematic_review", "case_report"}


def test_bad_rules_file_names_rule(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "schemas" / "rating_rules.yaml").read_text()
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace("levels: [systematic_review], directions: [for]", "levels: [meta], directions: [for]", 1))
    with pytest.raises(InputError, match=r"rules\[4\] \(strong\).*unknown name 'meta'"):
        load_rules.__wrapped__(bad)
    bad.write_text(text.replace("{top_level} study", "{nope} study", 1))
    with pytest.raises(InputError, match=r"unknown template field '\{nope\}'"):
        load_rules.__wrapped__(bad)
