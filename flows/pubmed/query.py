"""PubMed query syntax → a small AST the local mirror can evaluate (pure: no I/O, no SQL).

What is supported, and how it differs from PubMed (the differences are reported by
``describe_approximations`` so every search run records them):

* Boolean operators ``AND`` / ``OR`` / ``NOT`` must be upper case (lower-case ``and`` is a word, as in
  PubMed). PubMed gives them **equal precedence and evaluates left to right**, so ``a OR b AND c`` means
  ``(a OR b) AND c``; use parentheses for anything else. ``NOT`` is binary (``a NOT b``). Two terms
  side by side with no operator are ANDed, left to right like the rest.
* A field tag applies to the whole unquoted run of words before it: ``heart attack[tiab]`` is the phrase
  "heart attack" (PubMed's rule). Quotes and hyphens also make phrases: ``"vitamin k2"``, ``MK-7``.
  Words are compared case- and accent-insensitively with punctuation dropped, so ``MK-7`` is the word
  sequence ``mk 7``.
* ``*`` is a wildcard for 0+ characters inside one word (``menaquinon*``, ``organi*ation*``), with at
  least four characters of the term before the first ``*`` (PubMed's rule since 2024). It works
  inside phrases (``"vitamin k*"``).
  PubMed stops at 600 variants of a truncated word; the mirror matches all of them.
* Tags: [tiab] (title, abstract, other abstracts, author keywords) [ti] [ab] [mh]/[mesh] [majr] [pt]
  [la] [au] [dp] [edat] and their long forms ([Title/Abstract], [MeSH Terms], [MeSH Major Topic],
  [Publication Type], [Language], [Author], [Date - Publication], [Date - Entry]). ``[mh:noexp]`` and
  ``[majr:noexp]`` are exact; plain [mh]/[majr] is an approximation (see below). A MeSH term may name a
  subheading: ``"vitamin k 2/therapeutic use"[mh]``.
* Dates: ``2015[dp]``, ``2015/03[dp]``, ``2015/03/01[dp]``, ranges ``2015:2020[dp]`` or
  ``2015/01/01:2020/06/30[dp]`` (inclusive; a year or month end expands to its last day).

Approximations (evaluated, and described): untagged terms (PubMed's automatic term mapping is not
available offline: they become title/abstract words OR an exact MeSH heading), [mh]/[majr] without
explosion (the mirror holds no MeSH tree), broad [pt] types such as "clinical trial" without their
narrower types, [ab] (not a PubMed field), [au] (name-prefix matching),
[edat] (records carry no entry date, so the e-publication date, else the print date, stands in).

Refused with a ``QuerySyntaxError`` naming the column: [All Fields]/[tw] and other unindexed fields,
proximity searches ([tiab:~3]), tags on parenthesised groups, malformed dates, bad wildcards, unbalanced
parentheses or quotes, operators without operands.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from flows.errors import LitgradeError
from flows.pubmed.dates import date_bound


class QuerySyntaxError(LitgradeError):
    """The query cannot be parsed, or asks for something the mirror cannot evaluate honestly."""

    def __init__(self, query: str, position: int, message: str) -> None:
        self.query = query
        self.position = position
        self.reason = message
        near = query[position : position + 40].strip()
        where = f' (at "{near}")' if near else ""
        # One line: it lands in CLI errors and in refresh summaries' table cells.
        super().__init__(f"query column {position + 1}: {message}{where}")

    def caret(self) -> str:
        """The query with a caret under the offending column, for terminals."""
        return f"  {self.query}\n  {' ' * self.position}^"


class Field(Enum):
    TIAB = "Title/Abstract"
    TITLE = "Title"
    ABSTRACT = "Abstract"
    MESH = "MeSH Terms"
    MAJR = "MeSH Major Topic"
    PT = "Publication Type"
    LANG = "Language"
    AUTHOR = "Author"
    DP = "Date - Publication"
    EDAT = "Date - Entry"


DATE_FIELDS = frozenset({Field.DP, Field.EDAT})
MESH_FIELDS = frozenset({Field.MESH, Field.MAJR})

_TAGS: dict[str, tuple[Field, bool]] = {}  # lower-case tag → (field, noexp)
for _names, _field in (
    (("tiab", "title/abstract"), Field.TIAB),
    (("ti", "title"), Field.TITLE),
    (("ab", "abstract"), Field.ABSTRACT),
    (("mh", "mesh", "mesh terms"), Field.MESH),
    (("majr", "mesh major topic"), Field.MAJR),
    (("pt", "publication type"), Field.PT),
    (("la", "language"), Field.LANG),
    (("au", "author"), Field.AUTHOR),
    (("dp", "pdat", "date - publication", "publication date"), Field.DP),
    (("edat", "date - entry", "entry date"), Field.EDAT),
):
    for _name in _names:
        _TAGS[_name] = (_field, False)
        if _field in MESH_FIELDS:
            _TAGS[f"{_name}:noexp"] = (_field, True)

_REFUSED_TAGS: dict[str, str] = {
    "all": "[All Fields] relies on PubMed's automatic term mapping and fields the mirror does not "
    'index; tag the term instead, e.g. term[tiab] OR "Heading"[mh]',
    "tw": "[Text Word] covers fields the mirror does not index (other terms, substance names, "
    'subheadings); use [tiab], optionally OR "Heading"[mh]',
    "sh": 'subheading searches are written as "Descriptor/Subheading"[mh] in the mirror',
    "sb": "subsets/filters ([sb]) are not held by the mirror; use [pt] or [la] instead",
    "filter": "subsets/filters are not held by the mirror; use [pt] or [la] instead",
}
for _alias, _target in (
    ("all fields", "all"), ("text word", "tw"), ("mesh subheading", "sh"), ("subheading", "sh"),
    ("subset", "sb"),
):  # fmt: skip
    _REFUSED_TAGS[_alias] = _REFUSED_TAGS[_target]

SUPPORTED_TAGS = "[tiab] [ti] [ab] [mh] [mh:noexp] [majr] [majr:noexp] [pt] [la] [au] [dp] [edat]"

# MEDLINE language codes for the names people type; a three-letter code is accepted as is.
LANGUAGE_CODES: dict[str, str] = {
    "english": "eng", "french": "fre", "german": "ger", "spanish": "spa", "italian": "ita",
    "portuguese": "por", "russian": "rus", "japanese": "jpn", "chinese": "chi", "korean": "kor",
    "dutch": "dut", "polish": "pol", "swedish": "swe", "danish": "dan", "norwegian": "nor",
    "finnish": "fin", "czech": "cze", "hungarian": "hun", "turkish": "tur", "greek": "gre",
    "hebrew": "heb", "arabic": "ara", "persian": "per", "croatian": "hrv", "serbian": "srp",
    "slovak": "slo", "slovenian": "slv", "romanian": "rum", "bulgarian": "bul", "ukrainian": "ukr",
    "lithuanian": "lit", "latvian": "lav", "estonian": "est", "icelandic": "ice", "catalan": "cat",
    "afrikaans": "afr", "indonesian": "ind", "malay": "may", "thai": "tha", "vietnamese": "vie",
    "hindi": "hin", "bengali": "ben", "urdu": "urd", "latin": "lat", "welsh": "wel", "irish": "gle",
}  # fmt: skip

# Publication types with narrower types beneath them in MeSH's publication-characteristics tree,
# which PubMed's [pt] includes and the mirror (holding no tree) does not.
PUBLICATION_TYPES_WITH_NARROWER = frozenset(
    {"clinical study", "clinical trial", "controlled clinical trial", "review", "observational study"}
)

_WILDCARD_MIN_PREFIX = 4
_NON_WORD = re.compile(r"[\W_]+")
_NON_WORD_KEEP_STAR = re.compile(r"[^\w*]+|_+")


_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def _fold(text: str) -> str:
    """Lower case without accents (PubMed matches 'cafe' and 'café' alike)."""
    if not text.isascii():
        text = _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", text))
    return text.casefold()


def normalize_words(text: str) -> tuple[str, ...]:
    """The words PubMed-style matching compares: folded, punctuation (hyphens too) dropped."""
    return tuple(w for w in _NON_WORD.split(_fold(text)) if w)


def normalize_text(text: str) -> str:
    """`text` as space-separated normalised words: the form stored in the mirror's search columns."""
    return _NON_WORD.sub(" ", _fold(text)).strip()


# -- AST ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Term:
    """Words to match as one phrase in `field`; for MeSH, `words` name one heading (qualifier in
    `qualifier`). `field=None` is an untagged term (approximated). Words may contain '*'."""

    words: tuple[str, ...]
    field: Field | None
    raw: str
    position: int
    quoted: bool = False
    noexp: bool = False
    qualifier: tuple[str, ...] = ()

    @property
    def has_wildcard(self) -> bool:
        return any("*" in w for w in (*self.words, *self.qualifier))


@dataclass(frozen=True, slots=True)
class DateRange:
    field: Field
    start: dt.date
    end: dt.date
    raw: str
    position: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: Literal["AND", "OR", "NOT"]
    left: Node
    right: Node


Node = Term | DateRange | BoolOp


# -- tokenizer ----------------------------------------------------------------------------------
TokenKind = Literal["LPAREN", "RPAREN", "QUOTED", "WORD", "TAG", "OP"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str
    position: int


_OPERATORS = frozenset({"AND", "OR", "NOT"})
_WORD_END = frozenset('()[]"') | frozenset(" \t\r\n")


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c == "(":
            tokens.append(_Token("LPAREN", c, i))
            i += 1
        elif c == ")":
            tokens.append(_Token("RPAREN", c, i))
            i += 1
        elif c in '"[':
            close = '"' if c == '"' else "]"
            end = query.find(close, i + 1)
            if end < 0:
                what = "quote" if c == '"' else "field tag '['"
                raise QuerySyntaxError(query, i, f"this {what} is never closed")
            kind: TokenKind = "QUOTED" if c == '"' else "TAG"
            tokens.append(_Token(kind, query[i + 1 : end], i))
            i = end + 1
        elif c == "]":
            raise QuerySyntaxError(query, i, "']' without a matching '['")
        else:
            start = i
            while i < n and query[i] not in _WORD_END:
                i += 1
            word = query[start:i]
            tokens.append(_Token("OP" if word in _OPERATORS else "WORD", word, start))
    return tokens


# -- parser -------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.i = 0

    def error(self, position: int, message: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.query, position, message)

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise self.error(0, "the query is empty")
        node = self.expression()
        extra = self.peek()
        if extra is not None:  # only a stray ')' can stop an expression early
            raise self.error(extra.position, "')' has no matching '('")
        return node

    def expression(self) -> Node:
        # Equal precedence, left to right: PubMed's documented evaluation order.
        node = self.operand()
        while (token := self.peek()) is not None and token.kind != "RPAREN":
            if token.kind == "OP":
                self.take()
                nxt = self.peek()
                if nxt is None or nxt.kind in ("OP", "RPAREN"):
                    raise self.error(token.position, f"{token.text} needs a term on its right")
                op: Literal["AND", "OR", "NOT"] = token.text  # type: ignore[assignment]
            else:
                op = "AND"  # terms side by side: PubMed ANDs them
            node = BoolOp(op, node, self.operand())
        return node

    def operand(self) -> Node:
        token = self.peek()
        if token is None:
            raise self.error(len(self.query), "the query ends where a term was expected")
        if token.kind == "OP":
            raise self.error(token.position, f"{token.text} needs a term on its left")
        if token.kind == "RPAREN":
            raise self.error(token.position, "')' where a term was expected (empty parentheses?)")
        if token.kind == "TAG":
            raise self.error(token.position, f"field tag [{token.text}] follows no term")
        if token.kind == "LPAREN":
            self.take()
            inner = self.expression()
            close = self.peek()
            if close is None or close.kind != "RPAREN":
                raise self.error(token.position, "this '(' is never closed")
            self.take()
            after = self.peek()
            if after is not None and after.kind == "TAG":
                raise self.error(
                    after.position,
                    f"a field tag cannot apply to a parenthesised group; tag each term inside "
                    f"instead, e.g. (a[{after.text}] OR b[{after.text}])",
                )
            return inner
        return self.term()

    def term(self) -> Node:
        first = self.take()
        if first.kind == "QUOTED":
            raw, quoted = first.text, True
        else:
            parts = [first.text]
            while (nxt := self.peek()) is not None and nxt.kind == "WORD":
                parts.append(self.take().text)
            raw, quoted = " ".join(parts), False
        tag = self.peek()
        if tag is not None and tag.kind == "TAG":
            self.take()
            field, noexp = self.field_of(tag)
        else:
            field, noexp = None, False
        if field in DATE_FIELDS:
            assert field is not None
            return self.date_range(raw, field, first.position)
        return self.text_term(raw, field, noexp, quoted, first.position)

    def field_of(self, tag: _Token) -> tuple[Field, bool]:
        name = " ".join(tag.text.split()).lower()
        if name in _TAGS:
            return _TAGS[name]
        if ":~" in name:
            raise self.error(tag.position, f"proximity search [{tag.text}] is not supported by the mirror")
        base = name.split(":", 1)[0]
        if base in _REFUSED_TAGS:
            raise self.error(tag.position, f"[{tag.text}] is not supported: {_REFUSED_TAGS[base]}")
        if base in _TAGS:
            raise self.error(tag.position, f"[{tag.text}]: only [mh:noexp] and [majr:noexp] take options")
        raise self.error(
            tag.position,
            f"field tag [{tag.text}] is not supported by the mirror; use one of {SUPPORTED_TAGS}",
        )

    def words(self, raw: str, position: int) -> tuple[str, ...]:
        words = tuple(w for w in _NON_WORD_KEEP_STAR.split(_fold(raw)) if w)
        if not any(w.strip("*") for w in words):
            raise self.error(position, f"nothing searchable in {raw!r} (words are letters and digits)")
        star = " ".join(words).find("*")
        if 0 <= star < _WILDCARD_MIN_PREFIX:
            raise self.error(
                position,
                f"wildcard in {raw!r}: PubMed needs at least {_WILDCARD_MIN_PREFIX} characters "
                "before the first '*'",
            )
        return words

    def text_term(self, raw: str, field: Field | None, noexp: bool, quoted: bool, position: int) -> Term:
        qualifier: tuple[str, ...] = ()
        if field in MESH_FIELDS and "/" in raw:
            heading, _, sub = raw.partition("/")
            if "/" in sub:
                raise self.error(position, f"{raw!r}: give one subheading per term (Heading/Subheading)")
            qualifier = self.words(sub, position)
            raw_words = self.words(heading, position)
        else:
            raw_words = self.words(raw, position)
        if field is Field.LANG:
            raw_words = tuple(LANGUAGE_CODES.get(w, w) for w in raw_words)
        return Term(raw_words, field, raw, position, quoted, noexp, qualifier)

    def date_range(self, raw: str, field: Field, position: int) -> DateRange:
        text = raw.strip()
        first, sep, second = text.partition(":")
        start = date_bound(first, end=False)
        end = date_bound(second if sep else first, end=True)
        if start is None or end is None:
            raise self.error(
                position,
                f"date {raw!r} is not YYYY, YYYY/MM, YYYY/MM/DD or a range like 2015:2020 "
                f"(tag [{field.value}])",
            )
        if start > end:
            raise self.error(position, f"date range {raw!r} ends before it starts")
        return DateRange(field, start, end, raw, position)


def parse_query(query: str) -> Node:
    """Parse PubMed query syntax; raises QuerySyntaxError naming the column and the problem."""
    return _Parser(query).parse()


def parse_entrez_date(value: str, *, end: bool) -> dt.date:
    """An E-utilities mindate/maxdate (YYYY, YYYY/MM or YYYY/MM/DD) as a date, inclusive."""
    parsed = date_bound(value, end=end)
    if parsed is None:
        raise QuerySyntaxError(value, 0, f"date {value!r} is not YYYY, YYYY/MM or YYYY/MM/DD")
    return parsed


# -- rendering and approximations ----------------------------------------------------------------
def _quote(words: tuple[str, ...]) -> str:
    return '"' + " ".join(words) + '"'


def _render_term(term: Term) -> str:
    if term.field is None:
        # What the approximation evaluates, spelled out.
        words = " AND ".join(f"{w}[Title/Abstract]" for w in term.words)
        if len(term.words) > 1:
            words = f"({words})"
        tiab = f"{_quote(term.words)}[Title/Abstract]" if term.quoted else words
        return f"({tiab} OR {_quote(term.words)}[MeSH Terms:noexp])"
    heading = _quote(term.words)
    if term.qualifier:
        heading = '"' + " ".join(term.words) + "/" + " ".join(term.qualifier) + '"'
    if term.field in MESH_FIELDS:
        return f"{heading}[{term.field.value}:noexp]"  # the mirror never explodes
    return f"{heading}[{term.field.value}]"


def render_query(node: Node) -> str:
    """The normalised query exactly as the mirror evaluates it (goes on the search run)."""

    def walk(n: Node, top: bool) -> str:
        if isinstance(n, Term):
            return _render_term(n)
        if isinstance(n, DateRange):
            return f"{n.start:%Y/%m/%d}:{n.end:%Y/%m/%d}[{n.field.value}]"
        text = f"{walk(n.left, False)} {n.op} {walk(n.right, False)}"
        return text if top else f"({text})"

    return walk(node, True)


def iter_nodes(node: Node) -> list[Node]:
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, BoolOp):
            stack.extend((n.right, n.left))
    return out


def describe_approximations(node: Node) -> str | None:
    """One paragraph saying where the mirror's evaluation differs from PubMed's, or None if nowhere."""
    terms = [n for n in iter_nodes(node) if isinstance(n, Term)]
    dates = [n for n in iter_nodes(node) if isinstance(n, DateRange)]

    def listed(items: list[Term]) -> str:
        seen = dict.fromkeys(t.raw for t in items)
        return ", ".join(f"'{raw}'" for raw in seen)

    notes: list[str] = []
    untagged = [t for t in terms if t.field is None]
    if untagged:
        notes.append(
            f"untagged terms ({listed(untagged)}) were searched as title/abstract words OR an exact MeSH "
            "heading; PubMed's automatic term mapping (synonyms, MeSH explosion, all fields) was not "
            "applied"
        )
    exploded = [t for t in terms if t.field in MESH_FIELDS and not t.noexp and not t.has_wildcard]
    if exploded:
        notes.append(
            f"MeSH terms ({listed(exploded)}) matched the heading itself only: PubMed's [mh]/[majr] also "
            "include narrower headings from the MeSH tree, which the mirror does not hold "
            "(write [mh:noexp] to say so, or OR in the narrower headings)"
        )
    broad_types = [
        t for t in terms if t.field is Field.PT and " ".join(t.words) in PUBLICATION_TYPES_WITH_NARROWER
    ]
    if broad_types:
        notes.append(
            f"publication types ({listed(broad_types)}) matched that type only: PubMed's [pt] also "
            "includes narrower types (e.g. 'clinical trial' includes 'randomized controlled trial'); "
            "OR them in to match PubMed"
        )
    abstract = [t for t in terms if t.field is Field.ABSTRACT]
    if abstract:
        notes.append(f"[ab] ({listed(abstract)}) is not a PubMed field; the mirror searched abstracts only")
    authors = [t for t in terms if t.field is Field.AUTHOR]
    if authors:
        notes.append(
            f"author terms ({listed(authors)}) matched 'Lastname Initials' or 'Lastname Forename' "
            "prefixes; PubMed's full-name and author-identifier matching may differ"
        )
    if any(d.field is Field.EDAT for d in dates):
        notes.append(ENTRY_DATE_NOTE)
    if not notes:
        return None
    return "Mirror approximation: " + "; ".join(notes) + "."


ENTRY_DATE_NOTE = (
    "entry dates were taken as the electronic publication date, else the print publication date "
    "(PubMed's own entry date is not in the records the mirror holds)"
)
