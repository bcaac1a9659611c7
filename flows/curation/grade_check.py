"""One grade validator, derived from schemas/grade.schema.json: the journal, the CSV sheet, the web form
and the CLI all check a grade here (its vocabularies are the ladder's: tests/test_grading.py).

Two paths, one source. `is_valid` is the schema compiled into plain Python predicates, because the web
app re-reads every grade file on each request and jsonschema takes seconds for thousands of lines.
Anything it rejects goes through jsonschema itself for the messages (`problems`). The compiler knows
only the keywords the schema uses and refuses any other, so the fast path cannot silently drift from
the schema; a property test checks the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema

from flows.resources import json_schema

Check = Callable[[Any], bool]
LEAD_FIELDS = ("claim", "pmid", "curator", "timestamp", "kind")
# Valid stand-ins for the fields a decision is tied to later (web form, before claim/study/curator are
# attached): checking a decision is then the schema itself, not a copy of its rules.
_STAND_IN = {"claim": "a", "pmid": "1", "curator": "a", "timestamp": "2000-01-01T00:00:00Z", "kind": "grade"}
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description"})


@lru_cache(maxsize=1)
def grade_schema() -> dict[str, Any]:
    return json_schema("grade.schema.json")


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(grade_schema())


def decision_fields() -> tuple[str, ...]:
    """The fields of a decision (relevance … note), in the schema's order."""
    return tuple(name for name in grade_schema()["properties"] if name not in LEAD_FIELDS)


# ---- the fast path: the schema compiled to predicates --------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    # jsonschema counts 3.0 as an integer; so does the fast path, or the two would disagree.
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
}


def _strings(values: Any, where: str) -> frozenset[str]:
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"grade.schema.json: {where}: the fast validator only knows string values")
    return frozenset(values)


def _object_check(schema: Mapping[str, Any]) -> Check:
    props = {name: compile_schema(spec) for name, spec in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):
        raise ValueError("grade.schema.json: additionalProperties must be true or false for the fast validator")
    closed = extra is False

    def check_closed(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key, value in v.items():
            sub = props.get(key)
            if sub is None or not sub(value):
                return False
        return True

    def check_open(v: Any) -> bool:  # `if` clauses: look up their few fields, don't walk the event
        if not isinstance(v, dict):
            return True
        for key, sub in props.items():
            if key in v and not sub(v[key]):
                return False
        return True

    return check_closed if closed else check_open


def _required(names: tuple[str, ...]) -> Check:
    def check(v: Any) -> bool:
        if isinstance(v, dict):
            for name in names:
                if name not in v:
                    return False
        return True

    return check


def _any_of(subs: tuple[Check, ...]) -> Check:
    def check(v: Any) -> bool:
        for sub in subs:
            if sub(v):
                return True
        return False

    return check


def _keyword_checks(schema: Mapping[str, Any]) -> list[Check]:  # noqa: C901 - one branch per keyword
    checks: list[Check] = []
    for key, arg in schema.items():
        if key in _ANNOTATIONS or key in ("properties", "additionalProperties", "then", "else"):
            continue
        if key == "type":
            if arg not in _TYPES:
                raise ValueError(f"grade.schema.json: type {arg!r} is unknown to the fast validator")
            checks.append(_TYPES[arg])
        elif key == "enum":
            allowed = _strings(arg, "enum")
            checks.append(lambda v, allowed=allowed: isinstance(v, str) and v in allowed)
        elif key == "const":
            (value,) = _strings([arg], "const")
            checks.append(lambda v, value=value: isinstance(v, str) and v == value)
        elif key == "pattern":
            search = re.compile(arg).search  # jsonschema uses re.search too
            checks.append(lambda v, search=search: not isinstance(v, str) or search(v) is not None)
        elif key in ("minLength", "maxLength"):
            low, high = (arg, 1 << 62) if key == "minLength" else (0, arg)
            checks.append(lambda v, low=low, high=high: not isinstance(v, str) or low <= len(v) <= high)
        elif key in ("minimum", "maximum"):
            low, high = (arg, float("inf")) if key == "minimum" else (float("-inf"), arg)
            checks.append(lambda v, low=low, high=high: not _is_number(v) or low <= v <= high)
        elif key == "required":
            checks.append(_required(tuple(arg)))
        elif key == "allOf":
            checks.extend(compile_schema(s) for s in arg)  # a conjunction: the same as listing them here
        elif key == "anyOf":
            checks.append(_any_of(tuple(compile_schema(s) for s in arg)))
        elif key == "not":
            sub = compile_schema(arg)
            checks.append(lambda v, sub=sub: not sub(v))
        elif key == "if":
            cond = compile_schema(arg)
            then = compile_schema(schema.get("then", {}))
            other = compile_schema(schema.get("else", {}))
            checks.append(lambda v, cond=cond, then=then, other=other: then(v) if cond(v) else other(v))
        else:
            raise ValueError(
                f"grade.schema.json: keyword {key!r} is unknown to the fast validator; "
                "teach flows/curation/grade_check.py or use another keyword"
            )
    return checks


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A predicate equal to `jsonschema.Draft202012Validator(schema).is_valid` for the keywords used."""
    checks = _keyword_checks(schema)
    if "properties" in schema or "additionalProperties" in schema:
        checks.insert(0, _object_check(schema))
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]

    def check(v: Any) -> bool:
        for one in checks:
            if not one(v):
                return False
        return True

    return check


@lru_cache(maxsize=1)
def _fast() -> Check:
    return compile_schema(grade_schema())


def is_valid(data: Any) -> bool:
    """Whether one decoded line is a valid grade event (the fast path; same answer as jsonschema)."""
    return _fast()(data)


# ---- the messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # the field to fix, or 'event' for the combination
    message: str

    def __str__(self) -> str:
        return f"field '{self.field}': {self.message}"


def _problem(error: jsonschema.ValidationError) -> Problem:
    path = ".".join(str(p) for p in error.path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [f for f in error.validator_value if f not in error.instance]
        return Problem(missing[0] if missing else path, "is required here")
    if error.validator == "not":
        return Problem(path or "event", "has a field that does not belong with this relevance/kind")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = grade_schema()["properties"]
        extra = sorted(k for k in error.instance if k not in known)
        return Problem(extra[0] if extra else path, "unknown field; remove it or check its spelling")
    if error.validator == "maxLength":  # not the message with the whole over-long text in it
        return Problem(path, f"is longer than {error.validator_value} characters")
    return Problem(path or "event", error.message)


def problems(data: Any) -> list[Problem]:
    """Every schema problem of one decoded event, each naming its field (empty = valid)."""
    if not isinstance(data, dict):
        return [Problem("event", "a line must be a JSON object")]
    if is_valid(data):
        return []
    found: list[Problem] = []
    for error in sorted(validator().iter_errors(data), key=lambda e: str(list(e.path))):
        problem = _problem(error)
        if problem not in found:
            found.append(problem)
    return found


def event_problems(data: Any) -> list[str]:
    """Every schema problem of one decoded line, as 'field ...: what is wrong' texts (empty = valid)."""
    return [str(p) for p in problems(data)]


def decision_problems(decision: Mapping[str, Any]) -> list[Problem]:
    """The schema's problems with a decision (relevance … note) before it is tied to a claim and study."""
    return [p for p in problems({**_STAND_IN, **decision}) if p.field not in LEAD_FIELDS]


def decision_from_text(cells: Mapping[str, str | None]) -> tuple[dict[str, Any], list[Problem]]:
    """A decision typed in as text (a sheet row, a web form): blank is unset, vocabulary ids are
    lower-cased, whole numbers are read as numbers. Whether the result is a valid grade is the schema's
    question (`decision_problems`); only text that is not a number at all is reported here."""
    props = grade_schema()["properties"]
    decision: dict[str, Any] = {}
    found: list[Problem] = []
    for name in decision_fields():
        raw = (cells.get(name) or "").strip()
        if not raw:
            continue
        spec = props[name]
        if spec.get("type") == "integer":
            if raw.isascii() and raw.isdigit():  # str.isdigit alone takes '²', which int() refuses
                decision[name] = int(raw)
            else:
                found.append(Problem(name, f"{raw!r} is not a whole number"))
        elif "enum" in spec:
            decision[name] = raw.lower()
        else:
            decision[name] = raw
    return decision, found
