"""Suggest a study design (ladder level) for one PubMed record, with the reasons a curator can check.

Pure: an Article in, a Suggestion out; the rules are data in schemas/suggest_rules.yaml. Publication
types decide first, then MeSH, then title/abstract cues (all In-Process records have). When nothing is
clear the level is UNCLEAR, which is NOT a ladder level: consumers must show it as "no suggestion" and
never count a suggestion of any level as a grade until a curator accepts or changes it.

Guarantee: a record with any animal or in-vitro signal is never suggested as `rct`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from flows.errors import InputError
from flows.pubmed.records import Article
from flows.resources import schema_path

RULES_FILE = schema_path("suggest_rules.yaml")
UNCLEAR = "unclear"  # not a ladder level: "the suggester will not guess"
RCT = "rct"
NOTHING_CLEAR = "no publication type, MeSH heading or title/abstract cue names a design"


def _rules_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    except OSError:
        return "missing"


# Names the rules that made a suggestion (stored beside it): changes whenever the rules file changes,
# so stale suggestions can be found and recomputed.
SUGGESTER_VERSION = f"litgrade-rules/1+{_rules_digest(RULES_FILE)}"


@dataclass(frozen=True, slots=True)
class Suggestion:
    level: str  # a ladder level id, or UNCLEAR
    confidence: float  # 0..1; 0.0 for UNCLEAR
    reasons: tuple[str, ...] = ()

    @property
    def is_unclear(self) -> bool:
        return self.level == UNCLEAR

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "confidence": self.confidence, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class PublicationTypeRule:
    level: str
    priority: int
    confidence: float
    names: frozenset[str]
    requires_mesh: tuple[str, ...] = ()
    refine_by_text: str | None = None
    refined_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class TextCue:
    id: str
    kind: str
    where: str  # title | abstract | any
    confidence: float
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class MeshRules:
    humans: str
    animals: str
    observational: frozenset[str]
    observational_confidence: float
    lab: frozenset[str]
    lab_confidence: float
    animal_confidence: float
    mixed_animal_confidence: float
    animal_and_lab_confidence: float


@dataclass(frozen=True, slots=True)
class Fallback:
    level: str
    confidence: float
    reason: str


@dataclass(frozen=True, slots=True)
class Rules:
    version: int
    strong_confidence: float
    reason_templates: Mapping[str, str]
    neutral_publication_types: frozenset[str]
    publication_types: tuple[PublicationTypeRule, ...]  # by priority
    mesh: MeshRules
    text_cues: tuple[TextCue, ...]
    text_precedence: tuple[str, ...]  # cue ids, the one that decides first
    no_abstract: Fallback
    human_only: Fallback
    no_results: Fallback
    results_pattern: re.Pattern[str]

    @property
    def levels(self) -> frozenset[str]:
        """Every level the rules can suggest (each must be a ladder level)."""
        found = {r.level for r in self.publication_types}
        found |= {r.refine_by_text for r in self.publication_types if r.refine_by_text}
        found |= {c.kind for c in self.text_cues if c.kind != "human"}
        found |= {self.no_abstract.level, self.human_only.level, self.no_results.level}
        return frozenset(found | {"human_observational", "in_vitro", "animal"})


def _field(data: Mapping[str, Any], key: str, where: str, path: Path) -> Any:
    if not isinstance(data, Mapping) or key not in data:
        raise InputError(f"{path}: {where} is missing field '{key}'; see the comments at the top of the file")
    return data[key]


def _names(value: Any, where: str, path: Path) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{path}: {where} must be a list of names (quote names that contain commas)")
    return frozenset(value)


def _compile(raw: Any, where: str, path: Path) -> re.Pattern[str]:
    try:
        return re.compile(str(raw), re.IGNORECASE)
    except re.error as exc:
        raise InputError(f"{path}: {where}: pattern is not a valid regular expression: {exc}") from exc


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> Rules:
    """Read and check the rules file; a broken file is an InputError naming the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read suggestion rules ({exc})") from exc
    pub_rules = []
    for i, item in enumerate(_field(data, "publication_types", "the file", path)):
        where = f"publication_types[{i}]"
        pub_rules.append(
            PublicationTypeRule(
                level=str(_field(item, "level", where, path)),
                priority=int(_field(item, "priority", where, path)),
                confidence=float(_field(item, "confidence", where, path)),
                names=_names(_field(item, "names", where, path), f"{where}.names", path),
                requires_mesh=tuple(item.get("requires_mesh", ())),
                refine_by_text=item.get("refine_by_text"),
                refined_confidence=item.get("refined_confidence"),
            )
        )
    cues = []
    for i, item in enumerate(_field(data, "text_cues", "the file", path)):
        where = f"text_cues[{i}]"
        pattern = _compile(_field(item, "pattern", where, path), where, path)
        location = str(_field(item, "where", where, path))
        if location not in ("title", "abstract", "any"):
            raise InputError(f"{path}: {where}.where must be title, abstract or any, not {location!r}")
        cues.append(
            TextCue(
                id=str(_field(item, "id", where, path)),
                kind=str(_field(item, "kind", where, path)),
                where=location,
                confidence=float(_field(item, "confidence", where, path)),
                pattern=pattern,
            )
        )
    known = {c.id for c in cues}
    precedence = tuple(str(c) for c in _field(data, "text_precedence", "the file", path))
    unknown = [c for c in precedence if c not in known]
    if unknown:
        raise InputError(f"{path}: text_precedence names cues that text_cues does not define: {unknown}")
    fallbacks = _field(data, "fallbacks", "the file", path)

    def fallback(name: str) -> Fallback:
        item = _field(fallbacks, name, "fallbacks", path)
        where = f"fallbacks.{name}"
        return Fallback(
            level=str(_field(item, "level", where, path)),
            confidence=float(_field(item, "confidence", where, path)),
            reason=str(_field(item, "reason", where, path)),
        )

    mesh = _field(data, "mesh", "the file", path)
    observational = _field(mesh, "human_observational", "mesh", path)
    lab = _field(mesh, "in_vitro", "mesh", path)
    return Rules(
        version=int(_field(data, "version", "the file", path)),
        strong_confidence=float(_field(data, "strong_confidence", "the file", path)),
        reason_templates=dict(_field(data, "reasons", "the file", path)),
        neutral_publication_types=_names(
            _field(data, "neutral_publication_types", "the file", path), "neutral_publication_types", path
        ),
        publication_types=tuple(sorted(pub_rules, key=lambda r: r.priority)),
        mesh=MeshRules(
            humans=str(_field(mesh, "humans", "mesh", path)),
            animals=str(_field(mesh, "animals", "mesh", path)),
            observational=_names(
                _field(observational, "names", "mesh.human_observational", path),
                "mesh.human_observational.names",
                path,
            ),
            observational_confidence=float(
                _field(observational, "confidence", "mesh.human_observational", path)
            ),
            lab=_names(_field(lab, "names", "mesh.in_vitro", path), "mesh.in_vitro.names", path),
            lab_confidence=float(_field(lab, "confidence", "mesh.in_vitro", path)),
            animal_confidence=float(_field(mesh, "animal_confidence", "mesh", path)),
            mixed_animal_confidence=float(_field(mesh, "mixed_animal_confidence", "mesh", path)),
            animal_and_lab_confidence=float(_field(mesh, "animal_and_lab_confidence", "mesh", path)),
        ),
        text_cues=tuple(cues),
        text_precedence=precedence,
        no_abstract=fallback("no_abstract"),
        human_only=fallback("human_only"),
        no_results=fallback("no_results"),
        results_pattern=_compile(_field(fallbacks, "results_pattern", "fallbacks", path), "fallbacks", path),
    )


# -- evidence gathered from one record ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextHit:
    cue: TextCue
    where: str  # "title" | "abstract"
    text: str  # the words that matched, as written


def text_hits(article: Article, rules: Rules | None = None) -> tuple[TextHit, ...]:
    """Every title/abstract cue that fires, first match per cue and place."""
    rules = rules or load_rules()
    places = (("title", article.title or ""), ("abstract", article.abstract_text))
    hits = []
    for cue in rules.text_cues:
        for where, text in places:
            if cue.where not in ("any", where) or not text:
                continue
            match = cue.pattern.search(text)
            if match:
                hits.append(TextHit(cue, where, " ".join(match.group(0).split())))
    return tuple(hits)


class _Evidence:
    """What one record says, computed once and read by each step."""

    def __init__(self, article: Article, rules: Rules) -> None:
        self.rules = rules
        self.article = article
        self.pub_types = set(article.publication_type_names)
        self.mesh = set(article.mesh_descriptors)
        self.hits = text_hits(article, rules)

    def reason(self, kind: str, **values: str) -> str:
        return self.rules.reason_templates[kind].format(**values)

    def pub_reason(self, name: str) -> str:
        return self.reason("publication_type", name=name)

    def mesh_reason(self, name: str) -> str:
        return self.reason("mesh", name=name)

    def hit_reason(self, hit: TextHit) -> str:
        return self.reason("text", where=hit.where, text=hit.text)

    def hits_of(self, kind: str) -> list[TextHit]:
        return [h for h in self.hits if h.cue.kind == kind]

    @property
    def humans(self) -> bool:
        return self.rules.mesh.humans in self.mesh

    @property
    def animals(self) -> bool:
        return self.rules.mesh.animals in self.mesh

    def signals(self) -> list[str]:
        """Reasons saying the record studies animals or cells: any of them rules out `rct`."""
        found = [
            self.pub_reason(r_name)
            for rule in self.rules.publication_types
            if rule.level in ("animal", "in_vitro")
            for r_name in sorted(rule.names & self.pub_types)
        ]
        if self.animals:
            found.append(self.mesh_reason("Animals and Humans" if self.humans else "Animals, no Humans"))
        found += [self.mesh_reason(n) for n in sorted(self.mesh & self.rules.mesh.lab)]
        found += [self.hit_reason(h) for h in self.hits if h.cue.kind in ("animal", "in_vitro")]
        return found


def animal_or_lab_signals(article: Article, rules: Rules | None = None) -> tuple[str, ...]:
    """Why a record looks like an animal or in-vitro study (empty when it does not)."""
    return tuple(_Evidence(article, rules or load_rules()).signals())


# -- the steps, strongest source first -----------------------------------------------------------------


def _publication_type_step(ev: _Evidence, *, strong: bool) -> Suggestion | None:
    """The highest-priority matching publication-type rule of the strong (or, later, the weak) kind."""
    for rule in ev.rules.publication_types:
        if (rule.confidence >= ev.rules.strong_confidence) != strong:
            continue
        matched = sorted(rule.names & ev.pub_types)
        if not matched or any(m not in ev.mesh for m in rule.requires_mesh):
            continue
        reasons = [ev.pub_reason(m) for m in matched] + [ev.mesh_reason(m) for m in rule.requires_mesh]
        if rule.refine_by_text:
            refined = ev.hits_of(rule.refine_by_text)
            if refined:
                return Suggestion(
                    rule.refine_by_text,
                    rule.refined_confidence or rule.confidence,
                    (*reasons, *[ev.hit_reason(h) for h in refined]),
                )
        return Suggestion(rule.level, rule.confidence, tuple(reasons))
    return None


def _mesh_step(ev: _Evidence) -> Suggestion | None:
    rules = ev.rules.mesh
    if not ev.mesh:
        return None
    lab = sorted(ev.mesh & rules.lab)
    design = sorted(ev.mesh & rules.observational)
    animal_text = ev.hits_of("animal")
    if ev.animals and not ev.humans:
        animals_reason = ev.mesh_reason("Animals, no Humans")
        if not lab:
            return Suggestion("animal", rules.animal_confidence, (animals_reason,))
        lab_reasons = [ev.mesh_reason(n) for n in lab]
        if animal_text:  # whole animals named: the lab work is part of an animal study
            return Suggestion(
                "animal",
                rules.animal_and_lab_confidence,
                (animals_reason, *lab_reasons, *[ev.hit_reason(h) for h in animal_text]),
            )
        return Suggestion("in_vitro", rules.animal_and_lab_confidence, (*lab_reasons, animals_reason))
    if ev.animals and ev.humans and animal_text:
        return Suggestion(
            "animal",
            rules.mixed_animal_confidence,
            (ev.mesh_reason("Animals and Humans"), *[ev.hit_reason(h) for h in animal_text]),
        )
    if design and not ev.animals:
        return Suggestion(
            "human_observational", rules.observational_confidence, tuple(ev.mesh_reason(n) for n in design)
        )
    if lab and not design:
        return Suggestion("in_vitro", rules.lab_confidence, tuple(ev.mesh_reason(n) for n in lab))
    return None


def _text_step(ev: _Evidence) -> Suggestion | None:
    """The first cue in precedence order, looking at confident title cues before anything else."""
    by_id: dict[str, list[TextHit]] = {}
    for hit in ev.hits:
        by_id.setdefault(hit.cue.id, []).append(hit)
    strong = ev.rules.strong_confidence
    for title_first in (True, False):
        for cue_id in ev.rules.text_precedence:
            hits = by_id.get(cue_id, [])
            if title_first and not any(h.where == "title" and h.cue.confidence >= strong for h in hits):
                continue
            if hits:
                return _from_text(ev, hits)
    return None


def _from_text(ev: _Evidence, hits: list[TextHit]) -> Suggestion:
    cue = hits[0].cue
    confidence = cue.confidence
    reasons = [ev.hit_reason(h) for h in hits]
    if cue.kind in ("animal", "in_vitro") and ev.hits_of("human"):
        # People are named too (often background: "in patients with ..."): a weaker call.
        confidence = min(confidence, 0.5)
    if cue.kind == "animal":
        reasons += [ev.hit_reason(h) for h in ev.hits_of("in_vitro")]
    return Suggestion(cue.kind, confidence, tuple(dict.fromkeys(reasons)))


def _fallback_step(ev: _Evidence) -> Suggestion | None:
    if not ev.article.abstract:
        fb = ev.rules.no_abstract
        return Suggestion(fb.level, fb.confidence, (fb.reason,))
    human = ev.hits_of("human")
    if not human:
        return None
    results = ev.rules.results_pattern.search(ev.article.abstract_text)
    if results is None:
        fb = ev.rules.no_results
        return Suggestion(fb.level, fb.confidence, (fb.reason,))
    fb = ev.rules.human_only
    shown = [ev.hit_reason(h) for h in human] + [f"abstract: '{results.group(0).strip()}'"]
    return Suggestion(fb.level, fb.confidence, (fb.reason, *shown))


def _guard(suggestion: Suggestion, ev: _Evidence) -> Suggestion:
    if suggestion.level != RCT:
        return suggestion
    signals = ev.signals()
    if not signals:
        return suggestion
    return Suggestion(
        UNCLEAR,
        0.0,
        (
            *suggestion.reasons,
            *signals,
            "trial signs and animal or in-vitro signs together: check who or what was studied",
        ),
    )


def suggest(article: Article, rules: Rules | None = None) -> Suggestion:
    """The suggested level for one record, its confidence and human-readable reasons."""
    ev = _Evidence(article, rules or load_rules())
    for step in (
        lambda: _publication_type_step(ev, strong=True),
        lambda: _mesh_step(ev),
        lambda: _text_step(ev),
        lambda: _publication_type_step(ev, strong=False),
        lambda: _fallback_step(ev),
    ):
        found = step()
        if found is not None:
            return _guard(found, ev)
    return Suggestion(UNCLEAR, 0.0, (NOTHING_CLEAR,))


def suggest_many(articles: Sequence[Article]) -> list[tuple[Article, Suggestion]]:
    """(article, suggestion) pairs, ready for flows.store.suggestions.save_suggestions."""
    rules = load_rules()
    return [(a, suggest(a, rules)) for a in articles]
