"""The grade as data: one curator's decision on one (claim, PMID), and the final grade reports use.

Pure types shared by grading (files, blind review, conflicts), evidence rules, reports and the web app.
Vocabularies (levels, directions, reasons) come from schemas/evidence_ladder.yaml via flows.curation.ladder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Relevance = Literal["include", "exclude"]
EventKind = Literal["grade", "adjudication", "retract"]  # retract = curator withdraws their grade (undo)


@dataclass(frozen=True, slots=True)
class GradeEvent:
    """One line of curated/<project>/grades/<curator>.jsonl."""

    claim: str
    pmid: str
    curator: str
    timestamp: str  # ISO 8601 UTC
    relevance: Relevance | None = None
    exclude_reason: str | None = None
    level: str | None = None
    direction: str | None = None
    population: int | None = None
    risk_of_bias: str | None = None
    # Appraisal (GRADE inputs); all optional so events written before them stay valid.
    bias_domain: str | None = None  # the domain that drove risk_of_bias (schemas/evidence_ladder.yaml)
    exposure: str | None = None  # what was actually studied, e.g. "MK-7 180 µg/day, 12 weeks"
    indirectness: str | None = None  # direct | indirect (exposure or population differs from the claim's)
    indirect_reason: str | None = None  # why indirect, in words; required when indirect
    outcome: str | None = None  # id of one of the claim's outcomes (claims.yaml)
    outcome_kind: str | None = None  # clinical | surrogate | mechanistic
    quote: str | None = None
    note: str | None = None
    kind: EventKind = "grade"


@dataclass(frozen=True, slots=True)
class FinalGrade:
    """The decision a report counts: agreed by both reviewers, single-reviewer, or adjudicated."""

    claim: str
    pmid: str
    relevance: Relevance
    exclude_reason: str | None = None
    level: str | None = None
    direction: str | None = None
    population: int | None = None
    risk_of_bias: str | None = None
    # Appraisal (GRADE inputs); all optional so events written before them stay valid.
    bias_domain: str | None = None  # the domain that drove risk_of_bias (schemas/evidence_ladder.yaml)
    exposure: str | None = None  # what was actually studied, e.g. "MK-7 180 µg/day, 12 weeks"
    indirectness: str | None = None  # direct | indirect (exposure or population differs from the claim's)
    indirect_reason: str | None = None  # why indirect, in words; required when indirect
    outcome: str | None = None  # id of one of the claim's outcomes (claims.yaml)
    outcome_kind: str | None = None  # clinical | surrogate | mechanistic
    quote: str | None = None
    note: str | None = None
    curators: tuple[str, ...] = ()
    decided_by: Literal["single", "agreement", "adjudication"] = "single"
    decided_at: str = ""
    # Settled by an adjudicator who had graded the study too (allowed only when no other adjudicator
    # exists; see flows.curation.review): the report says so.
    self_adjudicated: bool = False


StudyState = Literal["ungraded", "partial", "conflict", "final"]
