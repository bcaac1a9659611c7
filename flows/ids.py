"""The identifiers every stage shares: PubMed ids, project and claim slugs, curator ids.

One rule each, always matched against the WHOLE string: the compiled patterns are anchored with
``\\A…\\Z`` (so even ``.match`` cannot stop early), and ``^…$`` is never used because Python's ``$``
also matches before a trailing newline, which would let ``"alice\\n"`` name a file.

The JSON Schemas in schemas/ carry the same rule bodies as ``^BODY(?![\\s\\S])`` (see `schema_pattern`):
JSON Schema has no ``\\z``, and jsonschema runs ``pattern`` through Python's ``re.search``, where a
bare ``$`` accepts that newline too. tests/test_ids.py checks the schemas and this module agree.
"""

from __future__ import annotations

import re
from typing import Final

# PubMed ids: ASCII digits, no leading zero, at most 10 digits (PMIDs are 8 digits today; the
# E-utilities return them without padding, so "0123" is never one).
PMID_RULE: Final = r"[1-9][0-9]{0,9}"
# Project and claim ids: lowercase slugs, because they become folder and file names.
SLUG_RULE: Final = r"[a-z0-9][a-z0-9-]{0,79}"
# Curator ids name grades/<id>.jsonl and password entries: short, and '_' is allowed.
CURATOR_ID_RULE: Final = r"[a-z0-9][a-z0-9_-]{0,39}"


def _whole(rule: str) -> re.Pattern[str]:
    return re.compile(rf"\A(?:{rule})\Z")


PMID: Final = _whole(PMID_RULE)
SLUG: Final = _whole(SLUG_RULE)
CURATOR_ID: Final = _whole(CURATOR_ID_RULE)


def schema_pattern(rule: str) -> str:
    """The JSON-Schema `pattern` for a rule: ``(?![\\s\\S])`` is 'end of text' in ECMA-262 and in Python."""
    return rf"^{rule}(?![\s\S])"


def is_pmid(value: object) -> bool:
    return isinstance(value, str) and PMID.fullmatch(value) is not None


def is_slug(value: object) -> bool:
    return isinstance(value, str) and SLUG.fullmatch(value) is not None


def is_curator_id(value: object) -> bool:
    return isinstance(value, str) and CURATOR_ID.fullmatch(value) is not None
