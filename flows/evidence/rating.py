"""A claim's overall rating from its final grades, by the rules in schemas/rating_rules.yaml.

The rules are data so a team can read and change them; this module only counts (level × direction
among included, non-retracted final grades) and evaluates the first rule whose conditions hold.
The rules file is validated on load: an unknown level, direction, group, operator or template field
is an InputError naming the rule, never a surprise during a report.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from flows.curation.events import FinalGrade
from flows.curation.ladder import Ladder, load_ladder
from flows.errors import InputError
from flows.pubmed.records import Article
from flows.resources import schema_path

RULES_FILE = schema_path("rating_rules.yaml")
TOP = "top"
UNCLEAR = "unclear"
_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}

Counts = dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class RatingLevel:
    id: str
    label: str
    color: str


@dataclass(frozen=True, slots=True)
class Selector:
    levels: tuple[str, ...]  # ids, or (TOP,) for the top level
    directions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    rating: str
    when: tuple[dict[str, Any], ...]
    explanation: str
    would_change: str
    rests_on: Selector


@dataclass(frozen=True, slots=True)
class RatingRules:
    ratings: tuple[RatingLevel, ...]
    direction_groups: dict[str, tuple[str, ...]]
    level_groups: dict[str, tuple[str, ...]]
    rules: tuple[Rule, ...]

    def rating(self, rating_id: str) -> RatingLevel:
        for item in self.ratings:
            if item.id == rating_id:
                return item
        raise KeyError(rating_id)

    def rank(self, rating_id: str) -> int:
        """0 for the best rating."""
        return [r.id for r in self.ratings].index(rating_id)


@dataclass(frozen=True, slots=True)
class Rating:
    rating: str
    rule_id: str
    explanation: str
    rests_on: tuple[str, ...]  # PMIDs, in grade order
    would_change: str
    counts: Counts  # level -> direction -> number of counted studies (every level and direction)
    top_level: str | None = None
    retracted: tuple[str, ...] = field(default=())  # included but retracted: never counted

    @property
    def counted(self) -> int:
        return sum(sum(row.values()) for row in self.counts.values())


# -- loading ---------------------------------------------------------------------------------------


def _expand(
    names: Iterable[str],
    groups: Mapping[str, tuple[str, ...]],
    known: Sequence[str],
    where: str,
    allow_top: bool = False,
) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if allow_top and name == TOP:
            out.append(TOP)
        elif name in groups:
            out.extend(groups[name])
        elif name in known:
            out.append(name)
        else:
            raise InputError(f"{RULES_FILE}: {where}: unknown name '{name}' (known: {', '.join(known)})")
    return tuple(dict.fromkeys(out))


def _template_fields(
    ladder: Ladder, level_groups: Mapping[str, Any], direction_groups: Mapping[str, Any]
) -> set[str]:
    directions = [*(d.id for d in ladder.directions), *direction_groups]
    fields = {"top_level", "included", "retracted"}
    for level in [*ladder.level_ids, *level_groups]:
        fields.update(f"{level}_{d}" for d in directions)
    return fields


def _check_template(text: str, fields: set[str], where: str) -> None:
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None and name not in fields:
            raise InputError(f"{RULES_FILE}: {where}: unknown template field '{{{name}}}'")


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> RatingRules:
    ladder = load_ladder()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: YAML error: {exc}") from None
    direction_ids = [d.id for d in ladder.directions]
    direction_groups = {
        k: _expand(v, {}, direction_ids, f"direction_groups.{k}")
        for k, v in data.get("direction_groups", {}).items()
    }
    level_groups = {
        k: _expand(v, {}, ladder.level_ids, f"level_groups.{k}")
        for k, v in data.get("level_groups", {}).items()
    }
    ratings = tuple(RatingLevel(**r) for r in data["ratings"])
    rating_ids = {r.id for r in ratings}
    fields = _template_fields(ladder, level_groups, direction_groups)

    def selector(raw: Mapping[str, Any], where: str) -> Selector:
        return Selector(
            levels=_expand(raw["levels"], level_groups, ladder.level_ids, where, allow_top=True),
            directions=_expand(raw["directions"], direction_groups, direction_ids, where),
        )

    def condition(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        if "all" in raw or "any" in raw:
            key = "all" if "all" in raw else "any"
            return {key: [condition(c, f"{where}.{key}") for c in raw[key]]}
        if "top_level_in" in raw:
            return {"top_level_in": _expand(raw["top_level_in"], level_groups, ladder.level_ids, where)}
        if "count" in raw:
            if raw.get("op") not in _OPS or not isinstance(raw.get("value"), int):
                raise InputError(
                    f"{path}: {where}: a count needs op (one of {' '.join(_OPS)}) and an integer value"
                )
            return {"count": selector(raw["count"], where), "op": raw["op"], "value": raw["value"]}
        raise InputError(
            f"{path}: {where}: a condition is count, top_level_in, all or any; got {sorted(raw)}"
        )

    rules = []
    for index, raw in enumerate(data["rules"]):
        where = f"rules[{index}] ({raw.get('id', '?')})"
        if raw.get("rating") not in rating_ids:
            raise InputError(
                f"{path}: {where}: rating '{raw.get('rating')}' is not one of {sorted(rating_ids)}"
            )
        for key in ("explanation", "would_change"):
            _check_template(raw[key], fields, f"{where}.{key}")
        rules.append(
            Rule(
                id=raw["id"],
                rating=raw["rating"],
                when=tuple(condition(c, f"{where}.when") for c in raw.get("when", [])),
                explanation=" ".join(raw["explanation"].split()),
                would_change=" ".join(raw["would_change"].split()),
                rests_on=selector(raw["rests_on"], f"{where}.rests_on"),
            )
        )
    if not rules or rules[-1].when:
        raise InputError(f"{path}: the last rule must have an empty `when` so every claim gets a rating")
    return RatingRules(ratings, direction_groups, level_groups, tuple(rules))


# -- evaluation ------------------------------------------------------------------------------------


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


def _top_level(counts: Counts, rules: RatingRules, ladder: Ladder) -> str | None:
    directional = rules.direction_groups.get("directional", ("supports", "contradicts", "no_effect"))
    for level in reversed(ladder.primary_level_ids):
        if any(counts[level][d] for d in directional):
            return level
    return None


def _select(selector: Selector, top: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    levels: list[str] = []
    for lvl in selector.levels:
        if lvl != TOP:
            levels.append(lvl)
        elif top is not None:
            levels.append(top)
    return tuple(levels), selector.directions


def _count(counts: Counts, selector: Selector, top: str | None) -> int:
    levels, directions = _select(selector, top)
    return sum(counts[lvl][d] for lvl in levels for d in directions)


def _holds(cond: Mapping[str, Any], counts: Counts, top: str | None) -> bool:
    if "all" in cond:
        return all(_holds(c, counts, top) for c in cond["all"])
    if "any" in cond:
        return any(_holds(c, counts, top) for c in cond["any"])
    if "top_level_in" in cond:
        return top in cond["top_level_in"]
    return bool(_OPS[cond["op"]](_count(counts, cond["count"], top), cond["value"]))


def _template_values(
    counts: Counts, rules: RatingRules, ladder: Ladder, top: str | None, retracted: int
) -> dict[str, object]:
    directions: dict[str, tuple[str, ...]] = {d.id: (d.id,) for d in ladder.directions}
    directions.update(rules.direction_groups)
    levels: dict[str, tuple[str, ...]] = {lvl: (lvl,) for lvl in ladder.level_ids}
    levels.update(rules.level_groups)
    values: dict[str, object] = {
        f"{lname}_{dname}": sum(counts[lv][d] for lv in lvs for d in ds)
        for lname, lvs in levels.items()
        for dname, ds in directions.items()
    }
    values["top_level"] = ladder.label("levels", top) if top else "none"
    values["included"] = sum(sum(row.values()) for row in counts.values())
    values["retracted"] = retracted
    return values


def rate_claim(
    final_grades: Iterable[FinalGrade],
    articles: Mapping[str, Article],
    rules: RatingRules | None = None,
) -> Rating:
    """Rate one claim from its final grades; `articles` tells retracted studies apart."""
    rules = rules or load_rules()
    ladder = load_ladder()
    counted, retracted = counted_grades(final_grades, articles)
    counts = count_matrix(counted, ladder)
    top = _top_level(counts, rules, ladder)
    rule = next(r for r in rules.rules if all(_holds(c, counts, top) for c in r.when))
    values = _template_values(counts, rules, ladder, top, len(retracted))
    levels, directions = _select(rule.rests_on, top)
    rests_on = tuple(
        dict.fromkeys(
            g.pmid
            for g in counted
            if g.level in levels and (g.direction if g.direction in directions else UNCLEAR) in directions
        )
    )
    return Rating(
        rating=rule.rating,
        rule_id=rule.id,
        explanation=rule.explanation.format_map(values),
        rests_on=rests_on,
        would_change=rule.would_change.format_map(values),
        counts=counts,
        top_level=top,
        retracted=tuple(dict.fromkeys(retracted)),
    )
