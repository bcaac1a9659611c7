"""Certainty of evidence (GRADE) for one outcome of a claim, by the rules in schemas/certainty_rules.yaml.

Pure: final grades in, one OutcomeCertainty out. The body of evidence is the outcome's studies at the
best tier present; its direction comes from the weight (participants, else one per study) behind
each finding; certainty starts at the tier's level and each downgrade or upgrade is a Step naming its
domain, the reason in words and the PMIDs behind it. Missing appraisal is a reason, never "fine".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flows.curation.events import FinalGrade
from flows.curation.ladder import load_ladder
from flows.evidence.certainty_rules import CERTAINTY_ORDER, CertaintyRules, Tier, load_certainty_rules

DIRECTIONAL = ("supports", "no_effect", "contradicts")
FINDINGS = (*DIRECTIONAL, "mixed")  # `unclear` never decides
DOWNGRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
UPGRADE_DOMAINS = ("large_effect", "dose_response")
NOT_ASSESSED = "not assessed"


@dataclass(frozen=True, slots=True)
class Step:
    domain: str
    reason: str
    levels: int  # how many certainty levels this step moves (1 serious, 2 very serious)
    pmids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutcomeCertainty:
    outcome: str
    label: str
    kind: str | None
    studies: tuple[str, ...]  # every counted study of this outcome, once, in grade order
    body: tuple[str, ...]  # the studies that rate it (best tier, with a finding)
    tier: str | None
    participants: int  # recorded sample sizes of the body, summed
    participants_unknown: int  # body studies without a recorded sample size
    direction: str  # supports | no_effect | contradicts | mixed | insufficient
    certainty: str | None  # high … very_low; None when no study counts
    start: str | None
    downgrades: tuple[Step, ...]
    upgrades: tuple[Step, ...]
    explanation: str
    would_change: tuple[str, ...]
    designs: dict[str, int]  # level -> body studies at that level


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _ids(grades: Iterable[FinalGrade]) -> str:
    pmids = [g.pmid for g in grades]
    return ("PMID " if len(pmids) == 1 else "PMIDs ") + ", ".join(pmids)


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _label(vocabulary: str, value: str) -> str:
    return load_ladder().label(vocabulary, value).lower()


class _Body:
    """The body of evidence and its weights."""

    def __init__(self, grades: Sequence[FinalGrade]) -> None:
        self.grades = tuple(grades)
        sizes = [g.population for g in grades]
        self.by_participants = bool(grades) and all(s is not None and s > 0 for s in sizes)
        self.weights = {g.pmid: float(g.population or 0) if self.by_participants else 1.0 for g in grades}
        self.total = sum(self.weights.values()) or 1.0

    def share(self, grades: Iterable[FinalGrade]) -> float:
        return sum(self.weights[g.pmid] for g in grades) / self.total

    @property
    def unit(self) -> str:
        return "participants" if self.by_participants else "studies"


def _direction(body: _Body, rules: CertaintyRules) -> tuple[str, dict[str, float]]:
    """The direction holding `dominant_share` of the directional weight; a study graded mixed does not
    vote (it counts against the direction in inconsistency); no directional study at all is mixed."""
    weight = {d: sum(body.weights[g.pmid] for g in body.grades if g.direction == d) for d in DIRECTIONAL}
    total = sum(weight.values())
    shares = {d: (w / total if total else 0.0) for d, w in weight.items()}
    best = max(DIRECTIONAL, key=lambda d: shares[d])  # ties: the first in DIRECTIONAL order
    return (best if total and shares[best] >= rules.dominant_share else "mixed"), shares


def _risk_of_bias(body: _Body, rules: CertaintyRules) -> Step | None:
    high, concerns, unassessed, flagged = [], [], [], []  # flagged: all three, in the body's order
    for g in body.grades:
        rob = g.risk_of_bias
        if rob == "not_applicable" and g.level not in rules.rob_not_applicable_levels:
            rob = None  # not applicable to a trial or a human observational study: not assessed
        if rob is None:
            unassessed.append(g)
        elif rob == "high":
            high.append(g)
        elif rob == "some_concerns":
            concerns.append(g)
        else:
            continue
        flagged.append(g)
    if high and body.share(high) >= rules.rob_very_serious_share:
        return Step(
            "risk_of_bias",
            f"{_pct(body.share(high))} of the weight ({body.unit}) is from studies at high risk of bias "
            f"({_ids(high)}).",
            2,
            tuple(g.pmid for g in flagged),
        )
    if flagged and body.share(flagged) >= rules.rob_serious_share:
        parts = []
        if high:
            parts.append(f"high risk {_ids(high)}")
        if concerns:
            parts.append(f"some concerns {_ids(concerns)}")
        if unassessed:
            parts.append(f"risk of bias not assessed {_ids(unassessed)}")
        return Step(
            "risk_of_bias",
            f"{_pct(body.share(flagged))} of the weight ({body.unit}) is from studies at risk of bias or "
            f"not appraised ({'; '.join(parts)}).",
            1,
            tuple(g.pmid for g in flagged),
        )
    return None


def _inconsistency(
    body: _Body, direction: str, shares: dict[str, float], rules: CertaintyRules
) -> Step | None:
    if direction == "mixed":
        spread = [f"{_label('directions', d)} {_pct(s)}" for d, s in shares.items() if s]
        mixed = [g for g in body.grades if g.direction == "mixed"]
        if mixed:
            spread.append(f"mixed findings {_ids(mixed)}")
        return Step(
            "inconsistency",
            f"No direction carries {_pct(rules.dominant_share)} of the weight ({body.unit}): "
            f"{'; '.join(spread)}.",
            2,
            tuple(g.pmid for g in body.grades),
        )
    against = [g for g in body.grades if g.direction != direction]
    if against and body.share(against) > rules.inconsistency_minority_share:
        found = "; ".join(f"PMID {g.pmid} {_label('directions', g.direction or 'unclear')}" for g in against)
        return Step(
            "inconsistency",
            f"{_n(len(against), 'study', 'studies')} ({_pct(body.share(against))} of the weight) "
            f"{'disagrees' if len(against) == 1 else 'disagree'} "
            f"with the body's direction ({_label('directions', direction)}): {found}.",
            1,
            tuple(g.pmid for g in against),
        )
    return None


def _serious_part(
    body: _Body,
    rules: CertaintyRules,
    named: Sequence[tuple[FinalGrade, str]],
    unassessed: Sequence[FinalGrade],
    unassessed_label: str,
    what: str,
) -> tuple[str, list[str]] | None:
    """One serious indirectness concern, when the studies it names (each with its words) plus those
    not appraised for it carry the rules' share of the weight: the reason and the PMIDs behind it."""
    flagged = [g for g, _ in named] + list(unassessed)
    if not flagged or body.share(flagged) < rules.indirect_serious_share:
        return None
    bits = [words for _, words in named]
    if unassessed:
        bits.append(f"{unassessed_label} {_ids(unassessed)}")
    return f"{_pct(body.share(flagged))} of the weight {what} ({'; '.join(bits)})", [g.pmid for g in flagged]


def _indirectness(body: _Body, kind: str | None, rules: CertaintyRules) -> Step | None:
    indirect = [g for g in body.grades if g.indirectness == "indirect"]
    stand_ins = [g for g in body.grades if g.outcome_kind in ("surrogate", "mechanistic")]
    concerns = [
        _serious_part(
            body, rules,
            [(g, f"PMID {g.pmid}: {g.indirect_reason or 'indirect'}") for g in indirect],
            [g for g in body.grades if g.indirectness not in ("direct", "indirect")],
            "indirectness not assessed",
            "is from an exposure or population other than the claim's, or not appraised",
        )
    ]  # fmt: skip
    if kind == "clinical":
        concerns.append(
            _serious_part(
                body, rules,
                [(g, f"PMID {g.pmid} {g.outcome_kind}") for g in stand_ins],
                [g for g in body.grades if g.outcome_kind is None],
                "outcome kind not recorded",
                "measures a surrogate or mechanistic outcome for a clinical one",
            )
        )  # fmt: skip
    found = [c for c in concerns if c is not None]
    if not found:
        return None
    reason = "; ".join(text for text, _ in found) + "."
    pmids = tuple(dict.fromkeys(p for _, ids in found for p in ids))
    return Step("indirectness", reason, min(len(found), 2), pmids)


def _imprecision(body: _Body, tier: Tier, rules: CertaintyRules) -> Step | None:
    if rules.imprecision_human_only and not tier.human:
        return None
    known = [g for g in body.grades if g.population is not None]
    unknown = [g for g in body.grades if g.population is None]
    total = sum(g.population or 0 for g in known)
    ois = rules.optimal_information_size
    pmids = tuple(g.pmid for g in body.grades)
    if len(body.grades) == 1 and known and total < rules.imprecision_small_study:
        return Step(
            "imprecision",
            f"A single small study ({total} participants, below {rules.imprecision_small_study}).",
            2,
            pmids,
        )
    if unknown and total < ois:
        recorded = (
            f"the {total} participants recorded are below" if known else "precision cannot be judged against"
        )
        return Step(
            "imprecision",
            f"Sample size not recorded for {_ids(unknown)}; {recorded} the optimal information size "
            f"of {ois}.",
            1,
            pmids,
        )
    if total < ois:
        return Step(
            "imprecision",
            f"{total} participants in total, below the optimal information size of {ois}"
            + (" (a single study)." if len(body.grades) == 1 else "."),
            1,
            pmids,
        )
    return None


def _publication_bias(body: _Body, tier: Tier, rules: CertaintyRules) -> Step | None:
    if not tier.human or len(body.grades) < rules.pub_bias_min_studies:
        return None
    small = rules.pub_bias_small_study
    if all(
        g.direction == "supports" and g.population is not None and g.population < small for g in body.grades
    ):
        return Step(
            "publication_bias",
            f"Suspected: only small positive studies ({_n(len(body.grades), 'study', 'studies')}, each under "
            f"{small} participants: {_ids(body.grades)}); small null studies may be unpublished.",
            1,
            tuple(g.pmid for g in body.grades),
        )
    return None


def _upgrades(body: _Body, direction: str, rules: CertaintyRules) -> list[Step]:
    found: list[Step] = []
    for domain in UPGRADE_DOMAINS:
        tag = rules.upgrade_tags[domain]
        tagged = [g for g in body.grades if g.direction == direction and tag in (g.note or "")]
        if tagged:
            what = "a large effect" if domain == "large_effect" else "a dose-response gradient"
            found.append(
                Step(
                    domain,
                    f"{_ids(tagged)} report {what} (curator tag {tag}).",
                    1,
                    tuple(g.pmid for g in tagged),
                )
            )
    return found


def _start(tier: Tier, kind: str | None) -> str:
    if kind == "mechanistic" and tier.start_for_mechanistic_outcome:
        return tier.start_for_mechanistic_outcome
    return tier.start


def _would_change(
    label: str,
    tier: Tier,
    body: _Body,
    direction: str,
    downgrades: Sequence[Step],
    certainty: str,
    rules: CertaintyRules,
    exposure: str | None,
) -> list[str]:
    out: list[str] = []
    levels = {g.level for g in body.grades}
    label = label[:1].lower() + label[1:] if label[1:2].islower() else label  # inside a sentence
    if tier.id != rules.tiers[0].id:
        if not tier.human:
            out.append(f"Any study in people measuring {label} (there is none with a finding yet).")
        out.append(f"A randomised trial of {label} with a clear finding (there is none yet).")
    for step in downgrades:
        by_pmid = {g.pmid: g for g in body.grades}
        flagged = [by_pmid[p] for p in step.pmids if p in by_pmid]
        if step.domain == "risk_of_bias":
            todo = [g for g in flagged if g.risk_of_bias is None]
            if todo:
                out.append(f"Appraising risk of bias for {_ids(todo)} (not assessed yet).")
            if len(todo) < len(flagged):
                out.append("A study of this outcome at low risk of bias.")
        elif step.domain == "inconsistency":
            if "systematic_review" in levels:
                out.append("A large trial at low risk of bias that settles the disagreement.")
            else:
                out.append("A systematic review pooling the disagreeing studies, or a larger trial.")
        elif step.domain == "indirectness":
            todo = [g for g in flagged if g.indirectness not in ("direct", "indirect")]
            if todo:
                out.append(f"Appraising indirectness for {_ids(todo)} (not assessed yet).")
            if any(g.indirectness == "indirect" for g in flagged):
                out.append(
                    "A study without the indirectness noted: the claim's own exposure"
                    f"{f' ({exposure})' if exposure else ''}, population and outcome."
                )
            if "surrogate or mechanistic" in step.reason:
                out.append(f"A study measuring {label} itself rather than a surrogate.")
        elif step.domain == "imprecision":
            unknown = [g for g in flagged if g.population is None]
            if unknown:
                out.append(f"Recording the sample size of {_ids(unknown)}.")
            total = sum(g.population or 0 for g in body.grades)
            if total < rules.optimal_information_size:
                out.append(
                    f"About {rules.optimal_information_size - total} more participants in studies of {label} "
                    f"(now {total}; optimal information size {rules.optimal_information_size})."
                )
        elif step.domain == "publication_bias":
            out.append(
                f"A larger study (at least {rules.pub_bias_small_study} participants) or a registered "
                "trial reporting its result, whatever it is."
            )
    if certainty == CERTAINTY_ORDER[0]:
        other = "no effect" if direction == "supports" else "an effect"
        out.append(f"Down: a large trial at low risk of bias finding {other}.")
    return list(dict.fromkeys(out))


def assess_outcome(
    outcome: str,
    label: str,
    kind: str | None,
    grades: Sequence[FinalGrade],
    rules: CertaintyRules | None = None,
    exposure: str | None = None,
) -> OutcomeCertainty:
    """Certainty for one outcome from its counted grades (included, levelled, not retracted)."""
    rules = rules or load_certainty_rules()
    unique = list({g.pmid: g for g in reversed(grades)}.values())[::-1]  # once per outcome, first wins
    studies = tuple(g.pmid for g in unique)

    def empty(certainty: str | None, explanation: str, would_change: str) -> OutcomeCertainty:
        return OutcomeCertainty(
            outcome,
            label,
            kind,
            studies,
            (),
            None,
            0,
            0,
            "insufficient",
            certainty,
            None,
            (),
            (),
            explanation,
            (would_change,),
            {},
        )

    if not unique:
        return empty(
            None,
            "No included study for this outcome yet.",
            f"Grading the studies the search found: any included study of {label} with a clear finding.",
        )
    tier = next(
        (t for t in rules.tiers if any(g.level in t.levels and g.direction in FINDINGS for g in unique)), None
    )
    if tier is None:
        return empty(
            CERTAINTY_ORDER[-1],
            f"{_n(len(unique), 'study', 'studies')} counted, none a primary study with a clear finding "
            "(narrative reviews, case reports and unclear findings do not decide a direction).",
            f"An included primary study of {label} with a clear finding.",
        )
    body = _Body([g for g in unique if g.level in tier.levels and g.direction in FINDINGS])
    direction, shares = _direction(body, rules)
    start = _start(tier, kind)
    downgrades = [
        step
        for step in (
            _risk_of_bias(body, rules),
            _inconsistency(body, direction, shares, rules),
            _indirectness(body, kind, rules),
            _imprecision(body, tier, rules),
            _publication_bias(body, tier, rules),
        )
        if step is not None
    ]
    upgrades: list[Step] = []
    note = ""
    if tier.upgradable and direction in ("supports", "contradicts"):
        upgrades = _upgrades(body, direction, rules)
        if upgrades and downgrades and rules.upgrade_only_without_downgrades:
            note = " Tagged upgrades are not applied: the body has a serious limitation."
            upgrades = []
    index = CERTAINTY_ORDER.index(start) + sum(s.levels for s in downgrades) - len(upgrades)
    certainty = CERTAINTY_ORDER[max(0, min(len(CERTAINTY_ORDER) - 1, index))]
    participants = sum(g.population or 0 for g in body.grades)
    unknown = sum(1 for g in body.grades if g.population is None)
    designs: dict[str, int] = {}
    for g in body.grades:
        designs[g.level or "other"] = designs.get(g.level or "other", 0) + 1
    size = f" ({participants} participants" + (f", {unknown} without a sample size" if unknown else "") + ")"
    if not tier.human:
        size = ""
    moves = [
        f"down for {s.domain.replace('_', ' ')}" + (" (very serious)" if s.levels > 1 else "")
        for s in downgrades
    ] + [f"up for {s.domain.replace('_', ' ')}" for s in upgrades]
    others = len(unique) - len(body.grades)
    explanation = (
        f"Body of evidence: {_n(len(body.grades), 'study', 'studies')} of {tier.label}{size}; direction "
        f"{_label('directions', direction) if direction != 'mixed' else 'mixed'}. Starts at "
        f"{rules.level(start).label.lower()}"
        + (f", rated {', '.join(moves)}" if moves else ", nothing to rate down")
        + f": {rules.level(certainty).label.lower()} certainty."
        + (
            f" {_n(others, 'other study', 'other studies')} (lower tiers or unclear findings) "
            f"{'is listed but does' if others == 1 else 'are listed but do'} not rate this outcome."
            if others
            else ""
        )
        + note
    )
    return OutcomeCertainty(
        outcome=outcome,
        label=label,
        kind=kind,
        studies=studies,
        body=tuple(g.pmid for g in body.grades),
        tier=tier.id,
        participants=participants,
        participants_unknown=unknown,
        direction=direction,
        certainty=certainty,
        start=start,
        downgrades=tuple(downgrades),
        upgrades=tuple(upgrades),
        explanation=explanation,
        would_change=tuple(
            _would_change(label, tier, body, direction, downgrades, certainty, rules, exposure)
        ),
        designs=designs,
    )
