"""A JSON Schema compiled into one plain-Python predicate: the fast path for validating many records.

Only the keywords litgrade's schemas use are known; any other raises at compile time, so a schema
edit can never make the fast path quietly more permissive than jsonschema. Semantics follow
Draft 2020-12 as jsonschema implements it (``re.search`` for patterns, 3.0 counts as an integer,
keywords for one JSON type pass values of other types). tests/test_grading.py compares the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default"})


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
        raise ValueError(f"{where}: the fast validator only knows string values")
    return frozenset(values)


def _object_check(schema: Mapping[str, Any]) -> Check:
    props = {name: compile_schema(spec) for name, spec in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):
        raise ValueError("the fast validator needs additionalProperties true or false")
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
        for key, sub in props.items():  # noqa: SIM110 - loops, not all(genexpr): this is the hot path
            if key in v and not sub(v[key]):
                return False
        return True

    return check_closed if closed else check_open


# One builder per keyword: (the keyword's value, the whole schema it sits in) → a predicate.
# Keywords for one JSON type pass other types, as JSON Schema says.


def _type(arg: Any, _: Mapping[str, Any]) -> Check:
    if arg not in _TYPES:
        raise ValueError(f"type {arg!r} is unknown to the fast validator")
    return _TYPES[arg]


def _enum(arg: Any, _: Mapping[str, Any]) -> Check:
    allowed = _strings(arg, "enum")
    return lambda v: isinstance(v, str) and v in allowed


def _const(arg: Any, _: Mapping[str, Any]) -> Check:
    (value,) = _strings([arg], "const")
    return lambda v: isinstance(v, str) and v == value


def _pattern(arg: Any, _: Mapping[str, Any]) -> Check:
    search = re.compile(arg).search  # jsonschema uses re.search too
    return lambda v: not isinstance(v, str) or search(v) is not None


def _min_length(arg: Any, _: Mapping[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= arg


def _max_length(arg: Any, _: Mapping[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) <= arg


def _minimum(arg: Any, _: Mapping[str, Any]) -> Check:
    return lambda v: not _is_number(v) or v >= arg


def _maximum(arg: Any, _: Mapping[str, Any]) -> Check:
    return lambda v: not _is_number(v) or v <= arg


def _required(arg: Any, _: Mapping[str, Any]) -> Check:
    names = tuple(arg)

    def check(v: Any) -> bool:
        if isinstance(v, dict):
            for name in names:
                if name not in v:
                    return False
        return True

    return check


def _all_of(arg: Any, _: Mapping[str, Any]) -> Check:
    return _all(tuple(compile_schema(s) for s in arg))


def _any_of(arg: Any, _: Mapping[str, Any]) -> Check:
    subs = tuple(compile_schema(s) for s in arg)

    def check(v: Any) -> bool:
        for sub in subs:  # noqa: SIM110 - loops, not any(genexpr): this is the hot path
            if sub(v):
                return True
        return False

    return check


def _not(arg: Any, _: Mapping[str, Any]) -> Check:
    sub = compile_schema(arg)
    return lambda v: not sub(v)


def _if(arg: Any, schema: Mapping[str, Any]) -> Check:
    cond = compile_schema(arg)
    then = compile_schema(schema.get("then", {}))
    other = compile_schema(schema.get("else", {}))
    return lambda v: then(v) if cond(v) else other(v)


_BUILDERS: dict[str, Callable[[Any, Mapping[str, Any]], Check]] = {
    "type": _type, "enum": _enum, "const": _const, "pattern": _pattern,
    "minLength": _min_length, "maxLength": _max_length, "minimum": _minimum, "maximum": _maximum,
    "required": _required, "allOf": _all_of, "anyOf": _any_of, "not": _not, "if": _if,
}  # fmt: skip
_HANDLED_ELSEWHERE = frozenset({"properties", "additionalProperties", "then", "else"})


def _all(checks: Sequence[Check]) -> Check:
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]

    def check(v: Any) -> bool:
        for one in checks:  # noqa: SIM110
            if not one(v):
                return False
        return True

    return check


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A predicate equal to `jsonschema.Draft202012Validator(schema).is_valid` for the keywords used."""
    checks: list[Check] = []
    if "properties" in schema or "additionalProperties" in schema:
        checks.append(_object_check(schema))
    for key, arg in schema.items():
        if key in _ANNOTATIONS or key in _HANDLED_ELSEWHERE:
            continue
        build = _BUILDERS.get(key)
        if build is None:
            raise ValueError(
                f"keyword {key!r} is unknown to the fast validator; "
                "teach flows/curation/fast_schema.py or use a keyword it knows"
            )
        checks.append(build(arg, schema))
    return _all(checks)
