"""The one grade validator: the compiled fast path answers as jsonschema does on edge cases, and text
input (a sheet row, a web form) is typed by the schema."""

from __future__ import annotations

from typing import Any

import pytest

from flows.curation.fast_schema import compile_schema
from flows.curation.grade_check import decision_from_text, decision_problems, is_valid, validator

GOOD: dict[str, Any] = {"claim": "k2-bone", "pmid": "15514282", "curator": "alice",
                        "timestamp": "2026-11-24T09:00:00Z", "kind": "grade", "relevance": "include",
                        "level": "rct", "direction": "supports"}  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {}, {"pmid": "15514282\n"}, {"curator": "alice\n"}, {"claim": "k2-bone\n"},
        {"timestamp": "2026-11-24T09:00:00Z\n"}, {"population": 12.0}, {"population": 12.5},
        {"population": True}, {"population": 2_000_000_001}, {"kind": "retract"},
        {"relevance": "exclude", "exclude_reason": "other"}, {"quote": "x" * 4001}, {"note": ""},
    ],
)  # fmt: skip
def test_fast_path_answers_as_jsonschema(change: dict[str, Any]) -> None:
    data = {**GOOD, **change}
    assert is_valid(data) == validator().is_valid(data), change


def test_unknown_keywords_are_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="'minItems' is unknown"):
        compile_schema({"type": "object", "minItems": 1})


def test_text_is_typed_by_the_schema() -> None:
    decision, problems = decision_from_text({"relevance": " Include ", "level": "RCT", "population": "120",
                                             "quote": " Keep Case ", "note": "", "direction": "supports"})  # fmt: skip
    assert problems == [] and decision == {"relevance": "include", "level": "rct", "direction": "supports",
                                           "population": 120, "quote": "Keep Case"}  # fmt: skip
    assert decision_problems(decision) == []
    _, problems = decision_from_text({"population": "²"})  # str.isdigit() says yes; int() says no
    assert [str(p) for p in problems] == ["field 'population': '²' is not a whole number"]
    assert [p.field for p in decision_problems({"relevance": "include", "level": "rct"})] == ["direction"]
