"""The Summary-of-Findings table against a hand-worked example, and its CSV / Markdown exports.

Hand-worked (schemas/certainty_rules.yaml as shipped):
- Cramp frequency (clinical): two RCTs, 199 + 120 = 319 participants, both supporting, low risk of bias
  for the larger (120/319 = 38% with some concerns: under half, no step), direct, clinical. Starts
  high; 319 < 400 (optimal information size): down one for imprecision → moderate.
- =INR stability (surrogate; a hostile label): one observational study, no effect, risk of bias not
  assessed (down one), K1 not K2 (indirect: down one), no sample size (imprecision: down one).
  Starts low; three steps → very low (the floor).
- The claim: both rows have a finding; the clinical row decides → supports, moderate.
"""

from __future__ import annotations

import csv
import io

from flows.curation.events import FinalGrade
from flows.evidence.rating import load_rules, rate_claim
from flows.project.claims import Claim, Outcome
from flows.reports.render import md
from flows.reports.sof import build_sof, sof_csv, sof_markdown

CLAIM = Claim(
    id="cramps",
    text="K2 reduces cramps",
    query="q",
    exposure="vitamin K2 (MK-7)",
    outcomes=(
        Outcome("cramps", "Cramp frequency", "clinical"),
        Outcome("inr", "=INR stability", "surrogate"),
    ),
)
GRADES = [
    FinalGrade(
        claim="cramps",
        pmid="1",
        relevance="include",
        level="rct",
        direction="supports",
        population=199,
        risk_of_bias="low",
        indirectness="direct",
        outcome="cramps",
        outcome_kind="clinical",
    ),
    FinalGrade(
        claim="cramps",
        pmid="2",
        relevance="include",
        level="rct",
        direction="supports",
        population=120,
        risk_of_bias="some_concerns",
        indirectness="direct",
        outcome="cramps",
        outcome_kind="clinical",
    ),
    FinalGrade(
        claim="cramps",
        pmid="3",
        relevance="include",
        level="human_observational",
        direction="no_effect",
        indirectness="indirect",
        indirect_reason="K1, not K2",
        outcome="inr",
        outcome_kind="surrogate",
    ),
]


def sof() -> dict:
    rating = rate_claim(GRADES, {}, claim=CLAIM)
    assert (rating.rating, rating.deciding) == ("supports/moderate", ("cramps",))
    return build_sof(rating.outcomes, load_rules())


def test_rows_and_footnotes_match_the_hand_worked_example() -> None:
    table = sof()
    rows = [
        (
            r["label"],
            r["studies"],
            r["participants"],
            r["participants_unknown"],
            r["direction"],
            r["certainty"],
            r["symbols"],
            r["footnotes"],
        )
        for r in table["rows"]
    ]
    assert rows == [
        ("Cramp frequency", 2, 319, 0, "supports", "moderate", "⊕⊕⊕◯", [1]),
        ("=INR stability", 1, 0, 1, "no_effect", "very_low", "⊕◯◯◯", [2, 3, 4]),
    ]
    assert [(n["n"], n["domain"], n["pmids"]) for n in table["footnotes"]] == [
        (1, "imprecision", ["1", "2"]),
        (2, "risk_of_bias", ["3"]),
        (3, "indirectness", ["3"]),
        (4, "imprecision", ["3"]),
    ]
    assert (
        table["footnotes"][0]["text"]
        == "319 participants in total, below the optimal information size of 400."
    )
    assert "PMID 3: K1, not K2" in table["footnotes"][2]["text"]


def test_csv_export_is_exact_and_formula_safe() -> None:
    text = sof_csv(sof())
    lines = text.splitlines()
    assert lines[0] == (
        "outcome,kind,studies,studies_rating_it,designs,participants,participants_not_stated,"
        "direction,certainty,symbols,reasons"
    )
    assert lines[1] == (
        "Cramp frequency,clinical,2,2,Randomised controlled trial: 2,319,0,Supports,Moderate,⊕⊕⊕◯,"
        '"1. Down (imprecision): 319 participants in total, below the optimal information size of 400."'
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[1]["outcome"] == "'=INR stability"  # a spreadsheet would run "=…" as a formula
    assert rows[1]["reasons"].startswith("2. Down (risk_of_bias): 100% of the weight (studies)")
    assert (
        " | 3. Down (indirectness): " in rows[1]["reasons"]
        and " | 4. Down (imprecision): " in rows[1]["reasons"]
    )
    assert (rows[1]["participants"], rows[1]["participants_not_stated"]) == ("0", "1")


def test_markdown_export_is_a_table_with_footnotes() -> None:
    text = sof_markdown(sof(), "K2 reduces cramps", md)
    lines = text.splitlines()
    assert lines[0] == "# Summary of findings: K2 reduces cramps"
    assert lines[2:6] == [
        "| Outcome | Studies | Participants | Direction | Certainty |",
        "|---|---|---:|---|---|",
        "| Cramp frequency (clinical) | 2 \\(2 Randomised controlled trial\\) | 319 | Supports | ⊕⊕⊕◯ Moderate<sup>1</sup> |",
        "| =INR stability (surrogate) | 1 \\(1 Human observational\\) | 0 \\(+1 not stated\\) | No effect | "
        "⊕◯◯◯ Very low<sup>2,3,4</sup> |",
    ]
    assert (
        "1. Rated down for imprecision: 319 participants in total, below the optimal information size of 400."
        in lines
    )
