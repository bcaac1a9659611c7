"""PubMed query language: operators, precedence, phrases, wildcards, field tags, dates, refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from flows.errors import LitgradeError
from flows.pubmed.dates import date_bound
from flows.pubmed.query import (
    BoolOp,
    DateRange,
    Field,
    QuerySyntaxError,
    Term,
    describe_approximations,
    normalize_words,
    parse_query,
    render_query,
)


def term(query: str) -> Term:
    node = parse_query(query)
    assert isinstance(node, Term)
    return node


# -- operators and precedence --------------------------------------------------------------------
@pytest.mark.parametrize("op", ["AND", "OR", "NOT"])
def test_each_operator_is_binary(op: str) -> None:
    node = parse_query(f"a[ti] {op} b[ti]")
    assert isinstance(node, BoolOp)
    assert node.op == op
    assert node.left == term("a[ti]") and isinstance(node.right, Term) and node.right.words == ("b",)


def test_operators_are_evaluated_left_to_right_with_equal_precedence() -> None:
    # PubMed: "a OR b AND c" is "(a OR b) AND c", not "a OR (b AND c)".
    node = parse_query("a[ti] OR b[ti] AND c[ti]")
    assert isinstance(node, BoolOp) and node.op == "AND"
    assert isinstance(node.left, BoolOp) and node.left.op == "OR"
    assert render_query(node) == '("a"[Title] OR "b"[Title]) AND "c"[Title]'
    node = parse_query("a[ti] NOT b[ti] OR c[ti]")
    assert render_query(node) == '("a"[Title] NOT "b"[Title]) OR "c"[Title]'


def test_parentheses_override_left_to_right() -> None:
    node = parse_query("a[ti] OR (b[ti] AND c[ti])")
    assert isinstance(node, BoolOp) and node.op == "OR"
    assert isinstance(node.right, BoolOp) and node.right.op == "AND"
    assert render_query(node) == '"a"[Title] OR ("b"[Title] AND "c"[Title])'


def test_lower_case_operators_are_words_and_adjacent_terms_are_anded() -> None:
    assert term("salt and pepper[tiab]").words == ("salt", "and", "pepper")
    node = parse_query('"vitamin k2"[tiab] muscle[ti]')
    assert isinstance(node, BoolOp) and node.op == "AND"


# -- phrases, normalisation, wildcards -----------------------------------------------------------
def test_tag_applies_to_the_whole_unquoted_run_of_words() -> None:
    t = term("heart attack[tiab]")
    assert t.words == ("heart", "attack") and t.field is Field.TIAB and not t.quoted


def test_quotes_and_hyphens_make_phrases_with_punctuation_and_accents_dropped() -> None:
    assert term('"Vitamin K2"[tiab]').words == ("vitamin", "k2")
    assert term("MK-7[tiab]").words == ("mk", "7")
    assert term("Café-au-lait[ti]").words == ("cafe", "au", "lait")
    assert normalize_words("Muscle, Skeletal") == ("muscle", "skeletal")


def test_wildcards_trailing_inner_and_in_phrases() -> None:
    assert term("menaquinon*[tiab]").words == ("menaquinon*",)
    assert term("organi*ation*[tiab]").words == ("organi*ation*",)
    t = term('"vitamin k*"[tiab]')
    assert t.words == ("vitamin", "k*") and t.has_wildcard


def test_wildcard_needs_four_characters_before_it() -> None:
    with pytest.raises(QuerySyntaxError, match=r"at least 4 characters before the first '\*'"):
        parse_query("col*[tiab]")


# -- field tags ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "field"),
    [
        ("tiab", Field.TIAB), ("Title/Abstract", Field.TIAB), ("ti", Field.TITLE),
        ("Title", Field.TITLE), ("ab", Field.ABSTRACT), ("mh", Field.MESH), ("mesh", Field.MESH),
        ("MeSH Terms", Field.MESH), ("majr", Field.MAJR), ("MeSH Major Topic", Field.MAJR),
        ("pt", Field.PT), ("Publication Type", Field.PT), ("la", Field.LANG),
        ("Language", Field.LANG), ("au", Field.AUTHOR), ("Author", Field.AUTHOR),
        ("TIAB", Field.TIAB), (" tiab ", Field.TIAB),
    ],
)  # fmt: skip
def test_each_field_tag_short_and_long_form(tag: str, field: Field) -> None:
    t = term(f"word[{tag}]")
    assert t.field is field and t.words == ("word",)


def test_mesh_noexp_subheading_and_language_names() -> None:
    assert term('"vitamin k 2"[mh]').noexp is False
    assert term('"vitamin k 2"[mh:noexp]').noexp is True
    assert term('"Vitamin K 2"[MeSH Terms:noexp]').noexp is True
    assert term("x[majr:noexp]").noexp is True
    t = term('"Vitamin K 2/therapeutic use"[mh]')
    assert t.words == ("vitamin", "k", "2") and t.qualifier == ("therapeutic", "use")
    assert term("english[la]").words == ("eng",)
    assert term("eng[la]").words == ("eng",)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("2015:2020[dp]", dt.date(2015, 1, 1), dt.date(2020, 12, 31)),
        ("2015/01/01:2020/06/30[dp]", dt.date(2015, 1, 1), dt.date(2020, 6, 30)),
        ("2016/02[dp]", dt.date(2016, 2, 1), dt.date(2016, 2, 29)),
        ("2015[Date - Publication]", dt.date(2015, 1, 1), dt.date(2015, 12, 31)),
        ('"2015/03/04"[dp]', dt.date(2015, 3, 4), dt.date(2015, 3, 4)),
        ("2020:3000[pdat]", dt.date(2020, 1, 1), dt.date(3000, 12, 31)),
        ("2019:2020[edat]", dt.date(2019, 1, 1), dt.date(2020, 12, 31)),
    ],
)
def test_dates_and_date_ranges(query: str, start: dt.date, end: dt.date) -> None:
    node = parse_query(query)
    assert isinstance(node, DateRange)
    assert (node.start, node.end) == (start, end)


def test_render_is_what_the_mirror_evaluates() -> None:
    node = parse_query(
        '(menaquinone*[tiab] OR "vitamin k 2"[mh] OR MK-7[tiab]) AND cramp*[ti] NOT review[pt] '
        "AND 2015:2020[dp]"
    )
    assert (
        render_query(node)
        == (
            '((((("menaquinone*"[Title/Abstract] OR "vitamin k 2"[MeSH Terms:noexp]) OR '
            '"mk 7"[Title/Abstract]) AND "cramp*"[Title]) NOT "review"[Publication Type]) AND '
            "2015/01/01:2020/12/31[Date - Publication])"
        )[1:-1]
    )


# -- approximations ------------------------------------------------------------------------------
def test_exact_queries_have_no_approximation() -> None:
    query = '"vitamin k 2"[mh:noexp] AND menaquinon*[tiab] AND english[la] AND 2015:2020[dp]'
    assert describe_approximations(parse_query(query)) is None
    # PubMed turns explosion off for truncated MeSH terms, so that is exact too.
    assert describe_approximations(parse_query("vitamin k*[mh]")) is None
    assert describe_approximations(parse_query('"randomized controlled trial"[pt]')) is None


def test_untagged_terms_are_approximated_and_described() -> None:
    node = parse_query("vitamin k2 muscle")
    assert render_query(node) == (
        "((vitamin[Title/Abstract] AND k2[Title/Abstract] AND muscle[Title/Abstract]) OR "
        '"vitamin k2 muscle"[MeSH Terms:noexp])'
    )
    text = describe_approximations(node)
    assert text is not None
    assert "untagged terms ('vitamin k2 muscle')" in text and "automatic term mapping" in text


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ('"vitamin k 2"[mh]', "narrower headings"),
        ("muscle[majr]", "narrower headings"),
        ("cramp[ab]", "[ab] ('cramp') is not a PubMed field"),
        ("clinical trial[pt]", "includes narrower types"),
        ("Review[Publication Type]", "includes narrower types"),
        ("smith j[au]", "'Lastname Initials'"),
        ("2020[edat]", "electronic publication date"),
    ],
)
def test_each_approximation_is_named(query: str, needle: str) -> None:
    text = describe_approximations(parse_query(query))
    assert text is not None and needle in text and text.startswith("Mirror approximation: ")


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("", 1, "the query is empty"),
        ("   ", 1, "the query is empty"),
        ("a[ti] AND", 7, "AND needs a term on its right"),
        ("OR b[ti]", 1, "OR needs a term on its left"),
        ("a[ti] AND OR b[ti]", 7, "AND needs a term on its right"),
        ("(a[ti] OR b[ti]", 1, "this '(' is never closed"),
        ("a[ti])", 6, "')' has no matching '('"),
        ("()", 2, "')' where a term was expected"),
        ('"vitamin k', 1, "this quote is never closed"),
        ("vitamin[tiab", 8, "this field tag '[' is never closed"),
        ("vitamin]", 8, "']' without a matching '['"),
        ("[tiab]", 1, "field tag [tiab] follows no term"),
        ("vitamin k[All Fields]", 10, "[All Fields] is not supported: [All Fields] relies on PubMed's"),
        ("vitamin k[all]", 10, "automatic term mapping"),
        ("vitamin k[tw]", 10, "[Text Word] covers fields the mirror does not index"),
        ("therapy[sh]", 8, "Descriptor/Subheading"),
        ("humans[sb]", 7, "subsets/filters"),
        ('"vitamin k muscle"[tiab:~3]', 19, "proximity search [tiab:~3] is not supported"),
        ("nature[ta]", 7, "field tag [ta] is not supported by the mirror; use one of [tiab]"),
        ("x[tiab:noexp]", 2, "only [mh:noexp] and [majr:noexp] take options"),
        ("(a[ti] OR b[ti])[tiab]", 17, "a field tag cannot apply to a parenthesised group"),
        ("col*[tiab]", 1, "PubMed needs at least 4 characters"),
        ("--[tiab]", 1, "nothing searchable in '--'"),
        ("2015/13[dp]", 1, "date '2015/13' is not YYYY, YYYY/MM, YYYY/MM/DD"),
        ("2015/02/30[dp]", 1, "is not YYYY"),
        ("last year[dp]", 1, "is not YYYY"),
        ("2020:2015[dp]", 1, "date range '2020:2015' ends before it starts"),
        ('"a/b/c"[mh]', 1, "give one subheading per term"),
    ],
)
def test_refusals_name_the_column_and_the_problem(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    assert isinstance(info.value, LitgradeError)
    text = str(info.value)
    assert text.startswith(f"query column {column}: ")
    assert message in text
    assert "\n" not in text
    near = query[column - 1 : column + 39].strip()
    assert text.endswith(f'(at "{near}")' if near else message)
    assert info.value.caret() == f"  {query}\n  " + " " * (column - 1) + "^"


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2020", dt.date(2020, 1, 1), dt.date(2020, 12, 31)),
        ("2020/02", dt.date(2020, 2, 1), dt.date(2020, 2, 29)),
        (" 2019/2 ", dt.date(2019, 2, 1), dt.date(2019, 2, 28)),
        ("2020/03/05", dt.date(2020, 3, 5), dt.date(2020, 3, 5)),
        ("2020-03-05", dt.date(2020, 3, 5), dt.date(2020, 3, 5)),
        ("2020/13", None, None),
        ("2020/02/30", None, None),
        ("2020/03/05/01", None, None),
        ("yesterday", None, None),
    ],
)
def test_date_bounds_shared_by_the_mirror_and_eutils(
    text: str, start: dt.date | None, end: dt.date | None
) -> None:
    assert (date_bound(text, end=False), date_bound(text, end=True)) == (start, end)
