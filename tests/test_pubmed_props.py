"""Property tests: generated Articles → PubMed XML (a small test-side serializer) → parse → equal."""

from __future__ import annotations

import datetime as dt
import gzip
import html
import json
import re
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from markupsafe import escape

from flows.pubmed.codec import article_from_json, article_to_json
from flows.pubmed.dates import MONTHS, SEASONS
from flows.pubmed.parser import parse, parse_articles
from flows.pubmed.records import (
    AbstractSection,
    Article,
    Author,
    Chemical,
    CommentCorrection,
    DeletedCitations,
    Grant,
    Journal,
    MeshHeading,
    MeshQualifier,
    OtherAbstract,
    PubDate,
    PublicationType,
)

MONTH_NAMES = [m.capitalize() for m in MONTHS]
DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)

# -- strategies -------------------------------------------------------------------------------------

# Any character XML 1.0 can carry; whitespace normalised the way the parser promises to give it back.
_chars = st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Co"))
words = st.text(_chars, min_size=1, max_size=40).map(lambda s: " ".join(s.split())).filter(bool)
maybe = st.none() | words
short = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=3)
ui = st.none() | st.from_regex(r"[DQC][0-9]{6}", fullmatch=True)


def _section(text: str, label: str | None, category: str | None) -> AbstractSection:
    return AbstractSection(text=text, html=str(escape(text)), label=label, category=category)


sections = st.lists(
    st.builds(_section, words, maybe, st.none() | st.sampled_from(["BACKGROUND", "METHODS", "UNASSIGNED"])),
    max_size=4,
).map(tuple)


@st.composite
def pub_dates(draw: st.DrawFn) -> PubDate:
    day = draw(st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31)))
    kind = draw(st.sampled_from(["year", "month", "day", "season", "range", "years"]))
    mon = MONTH_NAMES[day.month - 1]
    if kind == "year":
        return PubDate(f"{day.year}", f"{day.year}-01-01", "year")
    if kind == "month":
        return PubDate(f"{day.year} {mon}", f"{day:%Y-%m}-01", "month")
    if kind == "day":
        return PubDate(f"{day.year} {mon} {day.day:02d}", day.isoformat(), "day")
    if kind == "season":
        season = draw(st.sampled_from(sorted(SEASONS)))
        return PubDate(f"{day.year} {season.capitalize()}", f"{day.year}-{SEASONS[season]:02d}-01", "month")
    if kind == "range":  # MedlineDate "2015 Oct-Dec"
        end = MONTH_NAMES[(day.month + 1) % 12]
        return PubDate(f"{day.year} {mon}-{end}", f"{day:%Y-%m}-01", "month")
    return PubDate(f"{day.year}-{day.year + 1}", f"{day.year}-01-01", "year")  # MedlineDate "1976-1977"


iso_dates = st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)).map(dt.date.isoformat)
orcids = st.none() | st.from_regex(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]", fullmatch=True)

persons = st.builds(
    Author,
    last_name=words,
    fore_name=maybe,
    initials=st.none() | short,
    suffix=st.none() | st.sampled_from(["Jr", "III"]),
    orcid=orcids,
    affiliations=st.lists(words, max_size=2).map(tuple),
)
collectives = st.builds(Author, collective_name=words, affiliations=st.just(()))


def _with_html_title(article: Article) -> Article:
    return replace(article, title_html=str(escape(article.title)))


articles = st.builds(
    Article,
    pmid=st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True),
    title=words,
    version=st.integers(1, 9),
    vernacular_title=maybe,
    abstract=sections,
    other_abstracts=st.lists(
        st.builds(
            OtherAbstract,
            sections=sections.filter(bool),
            type=st.none() | st.sampled_from(["Publisher", "plain-language-summary"]),
            language=st.none() | st.sampled_from(["eng", "pol"]),
        ),
        max_size=2,
    ).map(tuple),
    copyright=maybe,
    authors=st.lists(persons | collectives, max_size=5).map(tuple),
    journal=st.builds(
        Journal, title=maybe, iso_abbreviation=maybe, issn=maybe, volume=maybe, issue=maybe, pages=maybe
    ),
    pub_date=pub_dates(),
    article_date=iso_dates,
    date_revised=iso_dates,
    doi=st.none() | st.from_regex(r"10\.[0-9]{4}/[a-z0-9.\-]{1,20}", fullmatch=True),
    pmc=st.none() | st.from_regex(r"PMC[1-9][0-9]{0,7}", fullmatch=True),
    pii=maybe,
    publication_types=st.lists(st.builds(PublicationType, words, ui), max_size=3).map(tuple),
    mesh=st.lists(
        st.builds(
            MeshHeading,
            words,
            ui,
            st.booleans(),
            st.lists(st.builds(MeshQualifier, words, ui, st.booleans()), max_size=2).map(tuple),
        ),
        max_size=3,
    ).map(tuple),
    chemicals=st.lists(st.builds(Chemical, words, ui, maybe), max_size=2).map(tuple),
    keywords=st.lists(words, max_size=3).map(tuple),
    languages=st.lists(st.sampled_from(["eng", "fre", "nor", "jpn"]), max_size=2).map(tuple),
    grants=st.lists(st.builds(Grant, words, maybe, maybe), max_size=2).map(tuple),
    status=st.none() | st.sampled_from(["MEDLINE", "In-Process", "PubMed-not-MEDLINE"]),
    comments_corrections=st.lists(
        st.builds(
            CommentCorrection,
            st.sampled_from(["RetractionIn", "ErratumIn", "CommentOn", "ExpressionOfConcernIn"]),
            st.none() | st.from_regex(r"[1-9][0-9]{0,7}", fullmatch=True),
            maybe,
        ),
        max_size=3,
    ).map(tuple),
).map(_with_html_title)


# -- serializer ---------------------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
    el = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def _ymd(parent: etree._Element, tag: str, iso: str | None, **attrs: str) -> None:
    if iso:
        el = _sub(parent, tag, **attrs)
        year, month, day = iso.split("-")
        _sub(el, "Year", year)
        _sub(el, "Month", month)
        _sub(el, "Day", day)


def _abstract_texts(parent: etree._Element, items: tuple[AbstractSection, ...]) -> None:
    for s in items:
        _sub(parent, "AbstractText", s.text, Label=s.label, NlmCategory=s.category)


def _pub_date(parent: etree._Element, date: PubDate) -> None:
    el = _sub(parent, "PubDate")
    parts = date.raw.split(" ")
    if "-" in date.raw:
        _sub(el, "MedlineDate", date.raw)
        return
    _sub(el, "Year", parts[0])
    if len(parts) > 1:
        _sub(el, "Season" if parts[1].lower() in SEASONS else "Month", parts[1])
    if len(parts) > 2:
        _sub(el, "Day", parts[2])


def to_xml(article: Article) -> etree._Element:
    """One PubmedArticle element, laid out as efetch returns it (only what the record holds)."""
    root = etree.Element("PubmedArticle")
    mc = _sub(root, "MedlineCitation", Status=article.status, Owner="NLM")
    _sub(mc, "PMID", article.pmid, Version=str(article.version))
    _ymd(mc, "DateRevised", article.date_revised)
    art = _sub(mc, "Article", PubModel="Print")
    journal = _sub(art, "Journal")
    j = article.journal
    if j.issn is not None:
        _sub(journal, "ISSN", j.issn, IssnType="Print")
    issue = _sub(journal, "JournalIssue", CitedMedium="Print")
    if j.volume is not None:
        _sub(issue, "Volume", j.volume)
    if j.issue is not None:
        _sub(issue, "Issue", j.issue)
    _pub_date(issue, article.pub_date)
    if j.title is not None:
        _sub(journal, "Title", j.title)
    if j.iso_abbreviation is not None:
        _sub(journal, "ISOAbbreviation", j.iso_abbreviation)
    _sub(art, "ArticleTitle", article.title)
    if j.pages is not None:
        _sub(_sub(art, "Pagination"), "MedlinePgn", j.pages)
    if article.abstract or article.copyright:
        abstract = _sub(art, "Abstract")
        _abstract_texts(abstract, article.abstract)
        if article.copyright is not None:
            _sub(abstract, "CopyrightInformation", article.copyright)
    if article.authors:
        authors = _sub(art, "AuthorList", CompleteYN="Y")
        for a in article.authors:
            el = _sub(authors, "Author", ValidYN="Y")
            for tag, value in (
                ("LastName", a.last_name),
                ("ForeName", a.fore_name),
                ("Initials", a.initials),
                ("Suffix", a.suffix),
                ("CollectiveName", a.collective_name),
            ):
                if value is not None:
                    _sub(el, tag, value)
            if a.orcid:
                _sub(el, "Identifier", f"https://orcid.org/{a.orcid}", Source="ORCID")
            for aff in a.affiliations:
                _sub(_sub(el, "AffiliationInfo"), "Affiliation", aff)
    for lang in article.languages:
        _sub(art, "Language", lang)
    if article.grants:
        grants = _sub(art, "GrantList", CompleteYN="Y")
        for g in article.grants:
            el = _sub(grants, "Grant")
            for tag, value in (("GrantID", g.grant_id), ("Agency", g.agency), ("Country", g.country)):
                if value is not None:
                    _sub(el, tag, value)
    types = _sub(art, "PublicationTypeList")
    for p in article.publication_types:
        _sub(types, "PublicationType", p.name, UI=p.ui)
    if article.vernacular_title is not None:
        _sub(art, "VernacularTitle", article.vernacular_title)
    _ymd(art, "ArticleDate", article.article_date, DateType="Electronic")
    if article.chemicals:
        chems = _sub(mc, "ChemicalList")
        for c in article.chemicals:
            el = _sub(chems, "Chemical")
            if c.registry_number is not None:
                _sub(el, "RegistryNumber", c.registry_number)
            _sub(el, "NameOfSubstance", c.name, UI=c.ui)
    if article.comments_corrections:
        ccs = _sub(mc, "CommentsCorrectionsList")
        for cc in article.comments_corrections:
            el = _sub(ccs, "CommentsCorrections", RefType=cc.ref_type)
            if cc.source is not None:
                _sub(el, "RefSource", cc.source)
            if cc.pmid is not None:
                _sub(el, "PMID", cc.pmid, Version="1")
    if article.mesh:
        mesh = _sub(mc, "MeshHeadingList")
        for m in article.mesh:
            el = _sub(mesh, "MeshHeading")
            _sub(el, "DescriptorName", m.descriptor, UI=m.ui, MajorTopicYN="Y" if m.major else "N")
            for q in m.qualifiers:
                _sub(el, "QualifierName", q.name, UI=q.ui, MajorTopicYN="Y" if q.major else "N")
    for other in article.other_abstracts:
        el = _sub(mc, "OtherAbstract", Type=other.type, Language=other.language)
        _abstract_texts(el, other.sections)
    if article.keywords:
        kws = _sub(mc, "KeywordList", Owner="NOTNLM")
        for k in article.keywords:
            _sub(kws, "Keyword", k, MajorTopicYN="N")
    data = _sub(root, "PubmedData")
    ids = _sub(data, "ArticleIdList")
    _sub(ids, "ArticleId", article.pmid, IdType="pubmed")
    for kind, value in (("doi", article.doi), ("pmc", article.pmc), ("pii", article.pii)):
        if value is not None:
            _sub(ids, "ArticleId", value, IdType=kind)
    return root


def to_document(records: list[Article], deleted: tuple[str, ...] = ()) -> bytes:
    root = etree.Element("PubmedArticleSet")
    for article in records:
        root.append(to_xml(article))
    if deleted:
        block = _sub(root, "DeleteCitation")
        for pmid in deleted:
            _sub(block, "PMID", pmid, Version="1")
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{DOCTYPE}\n{body}'.encode()


# -- properties ---------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(articles)
def test_article_round_trips_through_pubmed_xml(article: Article) -> None:
    assert parse_articles(to_document([article])) == [article]


@settings(max_examples=100, deadline=None)
@given(articles)
def test_record_json_is_canonical_and_round_trips(article: Article) -> None:
    # The one codec of the store and the mirror: sorted-key JSON (the store hashes it), and it reads
    # the field-ordered JSON mirrors wrote before it.
    text = article_to_json(article)
    assert text == json.dumps(article.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert article_from_json(text) == article
    assert article_from_json(json.dumps(article.to_dict(), ensure_ascii=False)) == article


@settings(max_examples=30, deadline=None)
@given(
    st.lists(articles, min_size=1, max_size=6),
    st.lists(st.from_regex(r"[1-9][0-9]{0,7}", fullmatch=True), max_size=3),
)
def test_many_records_and_deletions_stream_in_order_even_gzipped(
    records: list[Article], deleted: list[str]
) -> None:
    document = gzip.compress(to_document(records, tuple(deleted)))
    events = list(parse(document))
    expected: list[Any] = list(records) + ([DeletedCitations(tuple(deleted))] if deleted else [])
    assert events == expected


# Inline markup: text is the words with tags dropped, html keeps exactly the safe tags.
_SAFE = ["i", "b", "u"]
segments = st.lists(st.tuples(st.none() | st.sampled_from(_SAFE), words), min_size=1, max_size=6)


@settings(max_examples=100, deadline=None)
@given(segments)
def test_inline_markup_text_and_html(parts: list[tuple[str | None, str]]) -> None:
    title = "".join(
        html.escape(text, quote=False) if tag is None else f"<{tag}>{html.escape(text, quote=False)}</{tag}>"
        for tag, text in parts
    )
    document = (
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
        f"<ArticleTitle>{title}</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    ).encode()
    [article] = parse_articles(document)
    assert article.title == " ".join("".join(text for _, text in parts).split())
    assert html.unescape(re.sub(r"</?[a-z]+>", "", article.title_html)) == article.title
    assert not re.search(r"<(?![/]?(i|b|u)>)", article.title_html)  # every other "<" is escaped
    assert re.findall(r"<([a-z]+)>", article.title_html) == [tag for tag, _ in parts if tag]


# Every kind of character str.split() splits on, and near misses (printable or not, but no whitespace).
_SPACES = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_NOT_SPACES = "\u200b\u00ad\ufeff\x00\x7f\u0301é字"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(_SPACES + _NOT_SPACES + "ab1-"), max_size=12))
def test_clean_collapses_whitespace_as_split_and_join_do(value: str) -> None:
    from flows.pubmed.text import clean

    assert clean(value) == " ".join(value.split())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=200_000),
            st.sampled_from([b"</PubmedArticle>", b"</PubmedBookArticle>", b"</DeleteCitation>"]),
        ),
        max_size=4,
    ),
    st.integers(min_value=0, max_value=200_000),
)
def test_last_record_end_is_found_as_a_whole_buffer_search_finds_it(
    tags: list[tuple[int, bytes]], start: int
) -> None:
    from flows.pubmed.parser import _RECORD_ENDS, _last_record_end

    buffer = bytearray(b"x" * 200_020)
    for at, tag in sorted(tags):  # later tags may overwrite earlier ones: the search sees what is left
        buffer[at : at + len(tag)] = tag
    data = bytes(buffer)
    start = min(start, len(data))
    expected = max((at + len(tag) for tag in _RECORD_ENDS if (at := data.rfind(tag, start)) >= 0), default=-1)
    assert _last_record_end(data, start) == expected
