"""flows/ids.py and the JSON Schemas agree on every id field, and neither lets a trailing newline in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest

from flows import ids
from flows.resources import json_schema

SCHEMAS = ("grade.schema.json", "claims.schema.json", "curators.schema.json", "report.schema.json")
# (schema, path to the field, the rule it must carry, the helper code uses for the same id)
ID_FIELDS: list[tuple[str, tuple[str, ...], str, Callable[[object], bool]]] = [
    ("grade.schema.json", ("properties", "claim"), ids.SLUG_RULE, ids.is_slug),
    ("grade.schema.json", ("properties", "pmid"), ids.PMID_RULE, ids.is_pmid),
    ("grade.schema.json", ("properties", "curator"), ids.CURATOR_ID_RULE, ids.is_curator_id),
    ("claims.schema.json", ("properties", "project"), ids.SLUG_RULE, ids.is_slug),
    ("claims.schema.json", ("properties", "claims", "items", "properties", "id"), ids.SLUG_RULE, ids.is_slug),
    ("curators.schema.json", ("properties", "curators", "items", "properties", "id"),
     ids.CURATOR_ID_RULE, ids.is_curator_id),
    ("report.schema.json", ("$defs", "claim_report", "properties", "claim", "properties", "id"),
     ids.SLUG_RULE, ids.is_slug),
]  # fmt: skip
SAMPLES = [
    "abc", "abc\n", "\nabc", "abc\r\n", "", " abc", "k2-bone", "k2_bone", "K2", "bob_2", "-x",
    "a" * 40, "a" * 41, "a" * 80, "a" * 81, "15514282", "15514282\n", "0123", "1", "1234567890",
    "12345678901", "12a", "١٢٣", "１２３",
]  # fmt: skip


def _at(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = schema
    for key in path:
        node = node[key]
    return dict(node)


def _patterns(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield where, node["pattern"]
        for key, value in node.items():
            yield from _patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _patterns(value, f"{where}/{index}")


@pytest.mark.parametrize(("schema", "path", "rule", "helper"), ID_FIELDS, ids=lambda v: "/".join(v) if isinstance(v, tuple) else None)
def test_schema_id_patterns_are_the_ids_module(
    schema: str, path: tuple[str, ...], rule: str, helper: Callable[[object], bool]
) -> None:
    field = _at(json_schema(schema), path)
    assert field["pattern"] == ids.schema_pattern(rule)
    check = jsonschema.Draft202012Validator(field)
    for sample in SAMPLES:
        assert check.is_valid(sample) == helper(sample), (schema, path, sample)
    assert not check.is_valid("abc\n") and not helper("abc\n")


def test_every_anchored_schema_pattern_ends_the_text() -> None:
    """'^…$' would let "value\\n" through jsonschema (Python's re.search); every anchor must be exact."""
    for name in SCHEMAS:
        for where, pattern in _patterns(json_schema(name), name):
            if pattern.startswith("^"):
                assert pattern.endswith(r"(?![\s\S])") and not pattern.endswith("$"), (where, pattern)


def test_compiled_patterns_match_the_whole_string_whatever_the_method() -> None:
    for pattern, good in ((ids.PMID, "15514282"), (ids.SLUG, "k2-bone"), (ids.CURATOR_ID, "bob_2")):
        for method in (pattern.match, pattern.fullmatch, pattern.search):
            assert method(good) and not method(good + "\n") and not method(good + "x!") and not method("!" + good)


def test_the_pmid_rule() -> None:
    """Digits, no leading zero, 1 to 10 of them; ASCII only (str.isdigit would take '١٢٣')."""
    assert [ids.is_pmid(p) for p in ("1", "15514282", "9999999999", "0", "0123", "12345678901", "١٢٣", 123)] == [
        True, True, True, False, False, False, False, False,
    ]  # fmt: skip
