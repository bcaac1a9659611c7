"""Query AST → a WHERE clause on the mirror's search columns (their format: `flows.store.mirror`).

Every user-supplied string reaches SQL as a bound parameter; the SQL text itself is assembled only from
the fixed column names below.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.pubmed.query import BoolOp, DateRange, Field, Node, Term

_TEXT_COLUMNS: dict[Field, tuple[str, ...]] = {
    Field.TIAB: ("ti_n", "ab_n", "kw_n"),
    Field.TITLE: ("ti_n",),
    Field.ABSTRACT: ("ab_n",),
}
_ENTRY_COLUMNS: dict[Field, str] = {
    Field.MESH: "mesh_n",
    Field.MAJR: "majr_n",
    Field.PT: "pt_n",
    Field.LANG: "la_n",
}
_WORD_WILDCARD = "[^ |]*"
_ENTRY_WILDCARD = "[^|]*"

Sql = tuple[str, list[object]]


@dataclass(frozen=True, slots=True)
class _Match:
    """One term as a substring test on some columns: `literal` for `contains` when it has no inner
    wildcard, and always an equivalent RE2 `regex` (query words hold only \\w characters and '*',
    so nothing needs escaping)."""

    columns: tuple[str, ...]
    literal: str | None
    regex: str

    def sql(self) -> Sql:
        if self.literal is not None:
            return _any_column(self.columns, "contains"), [self.literal] * len(self.columns)
        return _any_column(self.columns, "regexp_matches"), [self.regex] * len(self.columns)


def _any_column(columns: tuple[str, ...], function: str) -> str:
    return "(" + " OR ".join(f"{function}({c}, ?)" for c in columns) + ")"


def _phrase_match(columns: tuple[str, ...], words: tuple[str, ...]) -> _Match:
    phrase = " ".join(words)
    inner = phrase.rstrip("*")
    if "*" in inner:
        return _Match(columns, None, " " + phrase.replace("*", _WORD_WILDCARD) + " ")
    # Exact words: " w1 w2 "; a trailing wildcard only: the prefix " w1 w2".
    needle = f" {inner}" if inner != phrase else f" {phrase} "
    return _Match(columns, needle, needle)


def _entry_match(column: str, entry: str) -> _Match:
    inner = entry.rstrip("*")
    if "*" in inner:
        return _Match((column,), None, r"\|" + entry.replace("*", _ENTRY_WILDCARD) + r"\|")
    if inner != entry:
        return _Match((column,), f"|{inner}", r"\|" + inner)
    return _Match((column,), f"|{entry}|", r"\|" + entry + r"\|")


def _author_sql(words: tuple[str, ...]) -> Sql:
    name = " ".join(words)
    if "*" in name:
        return "regexp_matches(au_n, ?)", [r"\|" + name.replace("*", _WORD_WILDCARD)]
    if len(words) == 1:
        # A bare last name matches every author with that last name, not longer names.
        return "(contains(au_n, ?) OR contains(au_n, ?))", [f"|{name} ", f"|{name}|"]
    return "contains(au_n, ?)", [f"|{name}"]  # initials match as a prefix: "smith j" → Smith JA


def _and_all(parts: list[Sql]) -> Sql:
    return "(" + " AND ".join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]


def _match_of(term: Term) -> _Match | None:
    """The single substring test a tagged term is, if it is one (untagged and author terms are not)."""
    if term.field in _TEXT_COLUMNS:
        return _phrase_match(_TEXT_COLUMNS[term.field], term.words)
    if term.field in _ENTRY_COLUMNS:
        entry = " ".join(term.words)
        if term.qualifier:
            entry += "/" + " ".join(term.qualifier)
        return _entry_match(_ENTRY_COLUMNS[term.field], entry)
    return None


def _term_sql(term: Term) -> Sql:
    match = _match_of(term)
    if match is not None:
        return match.sql()
    if term.field is Field.AUTHOR:
        return _author_sql(term.words)
    tiab = _TEXT_COLUMNS[Field.TIAB]  # untagged: title/abstract words, or an exact heading
    if term.quoted or len(term.words) == 1:
        text = _phrase_match(tiab, term.words).sql()
    else:
        text = _and_all([_phrase_match(tiab, (w,)).sql() for w in term.words])
    mesh = _entry_match("mesh_n", " ".join(term.words)).sql()
    return f"({text[0]} OR {mesh[0]})", text[1] + mesh[1]


def _or_operands(node: Node) -> list[Node]:
    if isinstance(node, BoolOp) and node.op == "OR":
        return _or_operands(node.left) + _or_operands(node.right)
    return [node]


def _or_sql(node: BoolOp) -> Sql:
    """OR is associative, so synonyms ORed on the same field become one regex alternation: one pass
    over the column instead of one per synonym (4-5x faster on long abstracts)."""
    groups: dict[tuple[str, ...], list[_Match]] = {}
    others: list[Sql] = []
    for operand in _or_operands(node):
        match = _match_of(operand) if isinstance(operand, Term) else None
        if match is None:
            others.append(to_sql(operand))
        else:
            groups.setdefault(match.columns, []).append(match)
    parts: list[Sql] = []
    for columns, matches in groups.items():
        if len(matches) == 1:
            parts.append(matches[0].sql())
        else:
            regex = "(?:" + "|".join(dict.fromkeys(m.regex for m in matches)) + ")"
            parts.append((_any_column(columns, "regexp_matches"), [regex] * len(columns)))
    parts += others
    return "(" + " OR ".join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]


def _date_sql(node: DateRange) -> Sql:
    if node.field is Field.DP:
        # PubMed's [dp] covers both the print and the electronic publication date.
        return (
            "(coalesce(pub_date BETWEEN ? AND ?, false) OR coalesce(epub_date BETWEEN ? AND ?, false))",
            [node.start, node.end, node.start, node.end],
        )
    return "coalesce(entry_date BETWEEN ? AND ?, false)", [node.start, node.end]


def to_sql(node: Node) -> Sql:
    """A WHERE clause and its parameters for the query AST (never NULL, so NOT is safe)."""
    if isinstance(node, Term):
        return _term_sql(node)
    if isinstance(node, DateRange):
        return _date_sql(node)
    assert isinstance(node, BoolOp)
    if node.op == "OR":
        return _or_sql(node)
    left, lp = to_sql(node.left)
    right, rp = to_sql(node.right)
    if node.op == "NOT":
        return f"({left} AND NOT {right})", lp + rp
    return f"({left} AND {right})", lp + rp

