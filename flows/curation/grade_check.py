"""One grade validator, derived from schemas/grade.schema.json: the journal, the CSV sheet, the web form
and the CLI all check a grade here (its vocabularies are the ladder's: tests/test_grading.py).

Two paths, one source. `is_valid` is the schema compiled into plain Python predicates
(flows.curation.fast_schema), because the web app re-reads every grade file on each request and
jsonschema takes seconds for thousands of lines. Anything it rejects goes through jsonschema itself for
the messages (`problems`); a property test checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema

from flows.curation.fast_schema import Check, compile_schema
from flows.resources import json_schema

LEAD_FIELDS = ("claim", "pmid", "curator", "timestamp", "kind")
# Valid stand-ins for the fields a decision is tied to later (web form, before claim/study/curator are
# attached): checking a decision is then the schema itself, not a copy of its rules.
_STAND_IN = {"claim": "a", "pmid": "1", "curator": "a", "timestamp": "2000-01-01T00:00:00Z", "kind": "grade"}


@lru_cache(maxsize=1)
def grade_schema() -> dict[str, Any]:
    return json_schema("grade.schema.json")


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(grade_schema())


def decision_fields() -> tuple[str, ...]:
    """The fields of a decision (relevance … note), in the schema's order."""
    return tuple(name for name in grade_schema()["properties"] if name not in LEAD_FIELDS)


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
