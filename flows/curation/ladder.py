"""The evidence ladder and its vocabularies, read from schemas/evidence_ladder.yaml (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from flows.resources import schema_path

LADDER_FILE = schema_path("evidence_ladder.yaml")


@dataclass(frozen=True, slots=True)
class Choice:
    id: str
    label: str
    key: str | None = None
    primary: bool = True
    design: str | None = None  # bias domains only: trial, observational, review or any


@dataclass(frozen=True, slots=True)
class Ladder:
    levels: tuple[Choice, ...]
    directions: tuple[Choice, ...]
    exclude_reasons: tuple[Choice, ...]
    risk_of_bias: tuple[Choice, ...]
    bias_domains: tuple[Choice, ...]
    indirectness: tuple[Choice, ...]
    outcome_kinds: tuple[Choice, ...]

    @property
    def level_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.levels)

    @property
    def primary_level_ids(self) -> tuple[str, ...]:
        """Primary-evidence levels, weakest first."""
        return tuple(c.id for c in self.levels if c.primary)

    def rank(self, level: str) -> int:
        """Position on the primary ladder (higher is stronger); -1 for non-primary levels."""
        primary = self.primary_level_ids
        return primary.index(level) if level in primary else -1

    def label(self, vocabulary: str, value: str) -> str:
        for choice in getattr(self, vocabulary):
            if choice.id == value:
                return str(choice.label)
        return value


@lru_cache(maxsize=1)
def load_ladder(path: Path = LADDER_FILE) -> Ladder:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))

    def choices(name: str) -> tuple[Choice, ...]:
        return tuple(Choice(**item) for item in data[name])

    return Ladder(
        levels=choices("levels"),
        directions=choices("directions"),
        exclude_reasons=choices("exclude_reasons"),
        risk_of_bias=choices("risk_of_bias"),
        bias_domains=choices("bias_domains"),
        indirectness=choices("indirectness"),
        outcome_kinds=choices("outcome_kinds"),
    )
