"""The certainty rules (schemas/certainty_rules.yaml) as typed data, checked on load.

The file is checked against schemas/certainty_rules.schema.json, then against the ladder (every tier
level a known level, no level in two tiers); any problem is one InputError naming the file and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from flows.curation.ladder import load_ladder
from flows.errors import InputError
from flows.resources import json_schema, schema_path

RULES_FILE = schema_path("certainty_rules.yaml")
CERTAINTY_ORDER = ("high", "moderate", "low", "very_low")  # best first


@dataclass(frozen=True, slots=True)
class CertaintyLevel:
    id: str
    label: str
    symbols: str
    color: str


@dataclass(frozen=True, slots=True)
class Verdict:
    id: str
    label: str
    color: str


@dataclass(frozen=True, slots=True)
class Tier:
    id: str
    label: str
    levels: tuple[str, ...]
    start: str
    start_for_mechanistic_outcome: str | None = None
    upgradable: bool = False
    human: bool = True


@dataclass(frozen=True, slots=True)
class CertaintyRules:
    certainty: tuple[CertaintyLevel, ...]
    verdicts: tuple[Verdict, ...]
    tiers: tuple[Tier, ...]
    dominant_share: float
    rob_serious_share: float
    rob_very_serious_share: float
    rob_not_applicable_levels: tuple[str, ...]
    inconsistency_minority_share: float
    indirect_serious_share: float
    optimal_information_size: int
    imprecision_small_study: int
    imprecision_human_only: bool
    pub_bias_small_study: int
    pub_bias_min_studies: int
    upgrade_tags: dict[str, str]  # domain -> tag in the note
    upgrade_only_without_downgrades: bool
    source: Path = RULES_FILE

    def level(self, certainty_id: str) -> CertaintyLevel:
        return next(c for c in self.certainty if c.id == certainty_id)

    def verdict(self, verdict_id: str) -> Verdict:
        return next(v for v in self.verdicts if v.id == verdict_id)

    def tier_of(self, level: str | None) -> Tier | None:
        return next((t for t in self.tiers if level in t.levels), None)

    def rank(self, key: str) -> int:
        """Sort key of a verdict key ("supports/low", "insufficient"): 0 for the best."""
        direction, _, certainty = key.partition("/")
        ids = [v.id for v in self.verdicts]
        d = ids.index(direction) if direction in ids else len(ids)
        c = CERTAINTY_ORDER.index(certainty) if certainty in CERTAINTY_ORDER else len(CERTAINTY_ORDER)
        return d * 10 + c


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


@lru_cache(maxsize=4)
def load_certainty_rules(path: Path = RULES_FILE) -> CertaintyRules:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: YAML error: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the certainty rules ({exc.strerror})") from None
    validator = jsonschema.Draft202012Validator(json_schema("certainty_rules.schema.json"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        raise InputError(f"{path}: field '{_where(first)}': {first.message}; see the comments at the top")
    if [c["id"] for c in data["certainty"]] != list(CERTAINTY_ORDER):
        raise InputError(f"{path}: field 'certainty': list {', '.join(CERTAINTY_ORDER)} in that order")
    known = load_ladder().level_ids
    seen: dict[str, str] = {}
    for index, tier in enumerate(data["tiers"]):
        for level in tier["levels"]:
            if level not in known:
                raise InputError(
                    f"{path}: field 'tiers.{index}.levels': unknown level '{level}' "
                    f"(known: {', '.join(known)})"
                )
            if level in seen:
                raise InputError(
                    f"{path}: field 'tiers.{index}.levels': level '{level}' is already in tier "
                    f"'{seen[level]}'"
                )
            seen[level] = tier["id"]
    for level in data["risk_of_bias"]["not_applicable_levels"]:
        if level not in known:
            raise InputError(f"{path}: field 'risk_of_bias.not_applicable_levels': unknown level '{level}'")
    rob, imp, pub, up = (data[k] for k in ("risk_of_bias", "imprecision", "publication_bias", "upgrades"))
    return CertaintyRules(
        certainty=tuple(CertaintyLevel(**c) for c in data["certainty"]),
        verdicts=tuple(Verdict(**v) for v in data["verdicts"]),
        tiers=tuple(
            Tier(
                id=t["id"],
                label=t["label"],
                levels=tuple(t["levels"]),
                start=t["start"],
                start_for_mechanistic_outcome=t.get("start_for_mechanistic_outcome"),
                upgradable=bool(t.get("upgradable", False)),
                human=bool(t.get("human", True)),
            )
            for t in data["tiers"]
        ),
        dominant_share=float(data["direction"]["dominant_share"]),
        rob_serious_share=float(rob["serious_share"]),
        rob_very_serious_share=float(rob["very_serious_share"]),
        rob_not_applicable_levels=tuple(rob["not_applicable_levels"]),
        inconsistency_minority_share=float(data["inconsistency"]["serious_minority_share"]),
        indirect_serious_share=float(data["indirectness"]["serious_share"]),
        optimal_information_size=int(imp["optimal_information_size"]),
        imprecision_small_study=int(imp["small_study"]),
        imprecision_human_only=bool(imp["human_only"]),
        pub_bias_small_study=int(pub["small_study"]),
        pub_bias_min_studies=int(pub["min_studies"]),
        upgrade_tags=dict(up["tags"]),
        upgrade_only_without_downgrades=bool(up["only_without_downgrades"]),
        source=path,
    )
