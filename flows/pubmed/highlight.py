"""Which words of a claim's PubMed query to highlight in a study, and where they occur (pure).

The query parser (flows.pubmed.query) decides which words are searched in the title and abstract:
words of [tiab]/[ti]/[ab] and untagged terms, including those under NOT (a curator checks those
too). MeSH headings, publication types, languages, authors and dates are not text the study's
title or abstract is matched on, so they are not marked. Words shorter than MIN_TERM_LENGTH and
pure numbers (years, doses) would light up half the abstract and are left out. A query the parser
refuses still gets its plain words marked, by a lexical rule.

The web app (flows.web.sanitize, HTML <mark>) and the terminal (flows.tui.grader, ANSI) render the
same matches through `mark`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from flows.pubmed.query import DATE_FIELDS, Field, QuerySyntaxError, Term, iter_nodes, parse_query

MIN_TERM_LENGTH = 3
_NOT_IN_TEXT = frozenset({*DATE_FIELDS, Field.MESH, Field.MAJR, Field.PT, Field.LANG, Field.AUTHOR})
# The lexical fallback: PubMed field tags and operators are not search words.
_FIELD_TAG = re.compile(r"\[[^\]]*\]")
_OPERATORS = frozenset({"and", "or", "not"})
_WORD = re.compile(r"\w[\w\-']*\*?")


def _worth_marking(word: str) -> bool:
    bare = word.replace("*", "")
    return len(bare) >= MIN_TERM_LENGTH and not bare.isdigit()


def _parsed_words(query: str) -> list[str]:
    nodes = iter_nodes(parse_query(query))
    return [w for n in nodes if isinstance(n, Term) and n.field not in _NOT_IN_TEXT for w in n.words]


def _lexical_words(query: str) -> list[str]:
    words = (m.group(0).strip("'") for m in _WORD.finditer(_FIELD_TAG.sub(" ", query)))
    return [w for w in words if w.lower() not in _OPERATORS]


def query_terms(query: str) -> tuple[str, ...]:
    """The query's title/abstract words worth highlighting, lower case, in query order, once each.

    A `*` (truncation) is kept so `highlighter` can match the variants.
    """
    try:
        words = _parsed_words(query)
    except QuerySyntaxError:
        words = _lexical_words(query)
    return tuple(dict.fromkeys(w.lower() for w in words if _worth_marking(w)))


def highlighter(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern for all terms (longest first, `*` matching any word
    characters), or None when there are none."""
    escaped = {re.escape(t).replace(r"\*", r"\w*") for t in terms if t.strip("*")}
    parts = sorted(escaped, key=len, reverse=True)
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def query_pattern(query: str) -> re.Pattern[str] | None:
    """The highlight pattern for a claim's query."""
    return highlighter(query_terms(query))


def mark(
    text: str,
    pattern: re.Pattern[str] | None,
    matched: Callable[[str], str],
    between: Callable[[str], str] = lambda s: s,
) -> str:
    """`text` with each match rendered by `matched` and the text between by `between`."""
    if pattern is None:
        return between(text)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(between(text[last : match.start()]))
        out.append(matched(match.group(0)))
        last = match.end()
    out.append(between(text[last:]))
    return "".join(out)
