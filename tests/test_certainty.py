"""Certainty of evidence (GRADE) for one outcome: every rule of schemas/certainty_rules.yaml and its edge.

Grades here are fully appraised (low risk of bias, direct, clinical, large) unless a test says
otherwise, so each test moves exactly the domain it is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.curation.events import FinalGrade
from flows.errors import InputError
from flows.evidence.certainty import OutcomeCertainty, assess_outcome
from flows.evidence.certainty_rules import RULES_FILE, load_certainty_rules

RULES = load_certainty_rules()


def g(
    pmid: str, level: str = "rct", direction: str = "supports", population: int | None = 500, **appraisal: Any
) -> FinalGrade:
    fields: dict[str, Any] = {"risk_of_bias": "low", "indirectness": "direct", "outcome_kind": "clinical"}
    fields.update(appraisal)
    return FinalGrade(
        claim="c",
        pmid=pmid,
        relevance="include",
        level=level,
        direction=direction,
        population=population,
        **fields,
    )


def assess(
    *grades: FinalGrade, kind: str | None = "clinical", exposure: str | None = None
) -> OutcomeCertainty:
    return assess_outcome("o", "cramps", kind, list(grades), RULES, exposure)


def domains(row: OutcomeCertainty) -> list[tuple[str, int]]:
    return [(s.domain, s.levels) for s in row.downgrades]


# -- starting points -------------------------------------------------------------------------------


def test_appraised_randomised_evidence_stays_high() -> None:
    row = assess(g("1"), g("2", "systematic_review", population=3000))
    assert (row.direction, row.certainty, row.start, row.tier) == ("supports", "high", "high", "randomised")
    assert row.downgrades == () and row.participants == 3500
    assert any(w.startswith("Down: a large trial") for w in row.would_change)
    assert not any("randomised trial" in w for w in row.would_change)  # one is already there


def test_observational_starts_low_and_asks_for_a_trial() -> None:
    row = assess(
        g("1", "human_observational", population=5000), g("2", "human_observational", population=900)
    )
    assert (row.start, row.certainty, row.downgrades) == ("low", "low", ())
    assert any("randomised trial of cramps" in w for w in row.would_change)


def test_mechanistic_only_for_a_claim_about_people_starts_at_the_bottom() -> None:
    row = assess(
        g("1", "animal", population=None, risk_of_bias="not_applicable"),
        g("2", "in_vitro", population=None, risk_of_bias="not_applicable"),
    )
    assert (row.tier, row.start, row.certainty) == ("lab", "very_low", "very_low")
    assert "imprecision" not in dict(domains(row))  # sample size is not asked of cells
    assert row.would_change[0].startswith("Any study in people")


def test_lab_work_for_a_mechanistic_outcome_starts_at_low() -> None:
    row = assess(
        g("1", "animal", population=None, risk_of_bias="not_applicable", outcome_kind="mechanistic"),
        kind="mechanistic",
    )
    assert (row.start, row.certainty) == ("low", "low")


def test_best_tier_rates_and_lower_tiers_are_only_listed() -> None:
    row = assess(g("1"), g("2", "animal", "contradicts", population=None))
    assert row.body == ("1",) and row.studies == ("1", "2") and row.direction == "supports"
    assert "1 other study" in row.explanation


def test_nothing_included_has_no_certainty_and_unclear_only_is_very_low() -> None:
    assert assess().certainty is None and assess().direction == "insufficient"
    row = assess(g("1", direction="unclear"), g("2", "narrative_review"))
    assert (row.direction, row.certainty, row.body) == ("insufficient", "very_low", ())


def test_a_study_counts_once_per_outcome() -> None:
    row = assess(g("1"), g("1", direction="no_effect"), g("2"))
    assert row.studies == ("1", "2") and row.participants == 1000 and row.downgrades == ()


# -- risk of bias ----------------------------------------------------------------------------------


def test_risk_of_bias_some_concerns_in_most_weight_rates_down_once() -> None:
    row = assess(g("1", risk_of_bias="some_concerns", population=800), g("2", population=200))
    assert domains(row) == [("risk_of_bias", 1)] and row.certainty == "moderate"
    assert row.downgrades[0].pmids == ("1",)


def test_risk_of_bias_below_half_the_weight_does_not_rate_down() -> None:
    assert assess(g("1", risk_of_bias="high", population=300), g("2", population=700)).downgrades == ()


def test_high_risk_in_most_weight_rates_down_twice() -> None:
    row = assess(g("1", risk_of_bias="high", population=800), g("2", population=200))
    assert domains(row) == [("risk_of_bias", 2)] and row.certainty == "low"


def test_risk_of_bias_not_assessed_is_a_reason_never_fine() -> None:
    row = assess(g("1", risk_of_bias=None))
    assert domains(row) == [("risk_of_bias", 1)]
    assert "not assessed PMID 1" in row.downgrades[0].reason
    assert "Appraising risk of bias for PMID 1 (not assessed yet)." in row.would_change
    # not_applicable is for reviews of reviews and lab work; on a trial it counts as not assessed
    assert domains(assess(g("1", risk_of_bias="not_applicable"))) == [("risk_of_bias", 1)]
    assert assess(g("1", "systematic_review", risk_of_bias="not_applicable")).downgrades == ()


def test_an_old_event_without_any_appraisal_gets_every_missing_reason() -> None:
    old = FinalGrade(claim="c", pmid="9", relevance="include", level="rct", direction="supports")
    row = assess(old)
    assert [d for d, _ in domains(row)] == ["risk_of_bias", "indirectness", "imprecision"]
    assert row.certainty == "very_low"


# -- inconsistency and the symmetry of the direction rule ------------------------------------------


def test_any_disagreement_rates_down_once() -> None:
    row = assess(g("1", population=900), g("2", direction="no_effect", population=100))
    assert (row.direction, domains(row)) == ("supports", [("inconsistency", 1)])
    assert row.downgrades[0].pmids == ("2",)
    assert "A systematic review pooling the disagreeing studies, or a larger trial." in row.would_change


def test_no_dominant_direction_is_mixed_and_very_serious() -> None:
    row = assess(g("1", population=500), g("2", direction="no_effect", population=500))
    assert (row.direction, domains(row)) == ("mixed", [("inconsistency", 2)])
    assert row.certainty == "low"


def test_a_mixed_study_does_not_vote_but_counts_as_disagreeing() -> None:
    row = assess(g("1", population=500), g("2", direction="mixed", population=500))
    assert (row.direction, domains(row)) == ("supports", [("inconsistency", 1)])
    assert "PMID 2 mixed" in row.downgrades[0].reason
    only = assess(g("1", direction="mixed"), g("2", direction="mixed"))
    assert (only.direction, domains(only)) == ("mixed", [("inconsistency", 2)])
    assert "mixed findings PMIDs 1, 2" in only.downgrades[0].reason


@pytest.mark.parametrize(("review", "trials"), [("no_effect", "supports"), ("supports", "no_effect")])
def test_a_review_against_trials_is_judged_the_same_both_ways(review: str, trials: str) -> None:
    row = assess(
        g("1", "systematic_review", review, population=5000),
        g("2", "rct", trials, population=300),
        g("3", "rct", trials, population=200),
    )
    assert row.direction == review  # 91% of the participants
    assert (domains(row), row.certainty) == ([("inconsistency", 1)], "moderate")
    assert "A large trial at low risk of bias that settles the disagreement." in row.would_change
    assert "systematic review pooling" not in " ".join(row.would_change)  # a review is already there


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("supports", "no_effect"),
        ("no_effect", "supports"),
        ("supports", "contradicts"),
        ("contradicts", "supports"),
    ],
)
def test_swapping_directions_mirrors_the_verdict(one: str, other: str) -> None:
    a = assess(g("1", "systematic_review", one, population=2000), g("2", "rct", other, population=100))
    b = assess(g("1", "systematic_review", other, population=2000), g("2", "rct", one, population=100))
    assert (a.direction, b.direction) == (one, other)
    assert (a.certainty, domains(a)) == (b.certainty, domains(b))


def test_weights_are_per_study_when_a_size_is_missing() -> None:
    row = assess(
        g("1", population=5000),
        g("2", direction="no_effect", population=None),
        g("3", direction="no_effect", population=None),
    )
    assert row.direction == "mixed"  # 1 of 3 studies: no participant count can outweigh the unknown


# -- indirectness ----------------------------------------------------------------------------------


def test_indirect_exposure_rates_down_with_its_reason() -> None:
    row = assess(g("1", indirectness="indirect", indirect_reason="vitamin K1, not K2"), exposure="vitamin K2")
    assert domains(row) == [("indirectness", 1)]
    assert "PMID 1: vitamin K1, not K2" in row.downgrades[0].reason
    assert (
        "A study without the indirectness noted: the claim's own exposure (vitamin K2), population and outcome."
        in row.would_change
    )


def test_surrogate_outcome_for_a_clinical_claim_rates_down() -> None:
    row = assess(g("1", outcome_kind="surrogate"))
    assert domains(row) == [("indirectness", 1)] and "surrogate" in row.downgrades[0].reason
    assert assess(g("1", outcome_kind="surrogate"), kind="surrogate").downgrades == ()


def test_indirect_exposure_and_surrogate_outcome_rate_down_twice() -> None:
    row = assess(g("1", indirectness="indirect", indirect_reason="K1", outcome_kind="surrogate"))
    assert domains(row) == [("indirectness", 2)]


def test_indirectness_not_assessed_is_a_reason() -> None:
    row = assess(g("1", indirectness=None))
    assert domains(row) == [("indirectness", 1)] and "not assessed PMID 1" in row.downgrades[0].reason


# -- imprecision -----------------------------------------------------------------------------------


def test_below_the_optimal_information_size_rates_down_once() -> None:
    row = assess(g("1", population=150), g("2", population=150))
    assert domains(row) == [("imprecision", 1)]
    assert "About 100 more participants" in " ".join(row.would_change)


def test_at_the_optimal_information_size_is_precise() -> None:
    assert assess(g("1", population=200), g("2", population=200)).downgrades == ()


def test_a_single_small_study_rates_down_twice() -> None:
    row = assess(g("1", population=42))
    assert domains(row) == [("imprecision", 2)] and row.certainty == "low"
    assert "A single small study (42 participants" in row.downgrades[0].reason
    assert domains(assess(g("1", population=100))) == [("imprecision", 1)]  # the edge: not "small"


def test_sample_size_not_recorded_is_a_reason() -> None:
    row = assess(g("1", population=None))
    assert domains(row) == [("imprecision", 1)]
    assert "Recording the sample size of PMID 1." in row.would_change


# -- publication bias ------------------------------------------------------------------------------


def test_only_small_positive_studies_suggest_publication_bias() -> None:
    row = assess(*(g(str(i), population=99) for i in range(1, 6)))  # 495 participants: precise enough
    assert domains(row) == [("publication_bias", 1)]


def test_a_small_null_study_or_a_large_one_lifts_the_suspicion() -> None:
    assert "publication_bias" not in dict(
        domains(
            assess(
                *(g(str(i), population=99) for i in range(1, 5)), g("9", direction="no_effect", population=99)
            )
        )
    )
    assert "publication_bias" not in dict(
        domains(assess(*(g(str(i), population=99) for i in range(1, 5)), g("9", population=100)))
    )
    assert assess(g("1", population=50)).downgrades[0].domain == "imprecision"  # one study: imprecision's job


# -- upgrades --------------------------------------------------------------------------------------


def obs(pmid: str, note: str | None = None, population: int = 5000, **kw: Any) -> FinalGrade:
    return g(pmid, "human_observational", population=population, note=note, **kw)


def test_large_effect_rates_observational_evidence_up() -> None:
    row = assess(obs("1", "RR 0.4 #large-effect"), obs("2"))
    assert [(s.domain, s.pmids) for s in row.upgrades] == [("large_effect", ("1",))]
    assert row.certainty == "moderate"


def test_dose_response_and_large_effect_rate_up_twice() -> None:
    row = assess(obs("1", "#large-effect #dose-response"))
    assert [s.domain for s in row.upgrades] == ["large_effect", "dose_response"] and row.certainty == "high"


def test_no_upgrade_for_trials_a_null_body_or_a_body_with_limitations() -> None:
    assert assess(g("1", note="#large-effect")).upgrades == ()  # randomised: already high
    assert assess(obs("1", "#dose-response", direction="no_effect")).upgrades == ()  # no effect to grade
    row = assess(obs("1", "#large-effect", risk_of_bias="high"))
    assert row.upgrades == () and "not applied" in row.explanation and row.certainty == "very_low"


# -- the rules file --------------------------------------------------------------------------------


def test_rules_file_problems_name_the_field(tmp_path: Path) -> None:
    text = RULES_FILE.read_text(encoding="utf-8")
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace("levels: [systematic_review, rct]", "levels: [systematic_review, meta]"))
    with pytest.raises(InputError, match=r"field 'tiers.0.levels': unknown level 'meta'"):
        load_certainty_rules.__wrapped__(bad)
    bad.write_text(text.replace("optimal_information_size: 400", "optimal_information_size: lots"))
    with pytest.raises(InputError, match=r"field 'imprecision.optimal_information_size': 'lots' is not"):
        load_certainty_rules.__wrapped__(bad)
    bad.write_text(text.replace("levels: [nonrandomized_trial, human_observational]", "levels: [rct]"))
    with pytest.raises(InputError, match=r"level 'rct' is already in tier 'randomised'"):
        load_certainty_rules.__wrapped__(bad)
    bad.write_text("certainty: [")
    with pytest.raises(InputError, match="YAML error"):
        load_certainty_rules.__wrapped__(bad)


def test_changing_a_threshold_in_the_file_changes_the_rating(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        RULES_FILE.read_text(encoding="utf-8").replace(
            "optimal_information_size: 400", "optimal_information_size: 2000"
        )
    )
    strict = load_certainty_rules.__wrapped__(bad)
    assert assess_outcome("o", "x", "clinical", [g("1", population=1500)], strict).certainty == "moderate"
    assert assess(g("1", population=1500)).certainty == "high"
