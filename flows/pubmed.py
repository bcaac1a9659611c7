"""Streaming PubMed XML parser: efetch responses, baseline/update files, legacy MedlineCitationSet.

``parse(source)`` yields one event per record as the XML streams in (lxml ``iterparse``; each record's
elements are freed once it is built, so memory does not grow with the file):

* ``Article`` for every PubmedArticle, PubmedBookArticle or bare MedlineCitation;
* ``DeletedCitations`` for every DeleteCitation block (the store removes those PMIDs);
* ``ParseProblem`` for a record that has no PMID or no title — reported and skipped.

XML that does not parse to its end (truncated, not XML, an HTML error page, an E-utilities ERROR
document) raises ``PubmedXMLError`` naming the source, after the records already read were yielded,
so the E-utilities client can retry the batch.

Parsing is safe for hostile input: entities are not resolved (no billion-laughs expansion, no external
files), no DTD is loaded, no network is used and libxml2's huge-tree limits stay on.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from flows.errors import LitgradeError
from flows.pubmed_dates import iso_date, pub_date
from flows.pubmed_text import clean, plain, render
from flows.records import (
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
    ParseEvent,
    ParseProblem,
    PubDate,
    PublicationType,
)

__all__ = ["PubmedXMLError", "parse", "parse_articles"]

Source = str | Path | bytes | BinaryIO

_RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle", "MedlineCitation", "DeleteCitation")
_ROOTS = frozenset({"PubmedArticleSet", "MedlineCitationSet", "PubmedBookArticleSet"})
_GZIP_MAGIC = b"\x1f\x8b"


class PubmedXMLError(LitgradeError):
    """The XML did not parse to its end as PubMed XML; retrying the request may help."""


# -- input ---------------------------------------------------------------------------------------


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read from its head put back (to sniff gzip without seeking)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _describe(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray):
        return f"<{len(source)} bytes>"
    name = getattr(source, "name", None) or getattr(source, "url", None)
    return str(name) if name else f"<{type(source).__name__} stream>"


def _open(source: Source) -> tuple[BinaryIO, bool]:
    """A binary stream of XML bytes (gunzipped when needed) and whether we must close it."""
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            handle: BinaryIO = path.open("rb")
        except OSError as exc:
            raise PubmedXMLError(f"{path}: cannot read PubMed XML ({exc.strerror or exc})") from exc
        head = handle.read(2)
        handle.seek(0)
        if head == _GZIP_MAGIC:
            return gzip.GzipFile(fileobj=handle, mode="rb"), True  # type: ignore[return-value]
        return handle, True
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        if data[:2] == _GZIP_MAGIC:
            return gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), True  # type: ignore[return-value]
        return io.BytesIO(data), True
    head = source.read(2)
    if isinstance(head, str):
        raise PubmedXMLError(f"{_describe(source)}: open the PubMed XML in binary mode ('rb')")
    stream: BinaryIO = _Prefixed(head, source)  # type: ignore[assignment]
    if head == _GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    return stream, False


# -- parsing -------------------------------------------------------------------------------------


def parse(source: Source) -> Iterator[ParseEvent]:
    """Every record event in a PubMed XML document, in document order (see module doc)."""
    name = _describe(source)
    stream, owned = _open(source)
    seen = 0
    try:
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=_RECORD_TAGS,
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        checked = False
        try:
            for _, elem in context:
                if not checked:
                    _check_root(elem.getroottree().getroot(), name)
                    checked = True
                parent = elem.getparent()
                tag = elem.tag
                if tag == "MedlineCitation" and parent is not None and parent.tag != "MedlineCitationSet":
                    continue  # wrapped in PubmedArticle: built when that ends
                if tag == "DeleteCitation":
                    event: ParseEvent = DeletedCitations(
                        tuple(p for p in (clean(e.text) for e in elem.iterfind("PMID")) if p)
                    )
                else:
                    event = _record(elem)
                seen += 1
                yield event
                # Free what was built: the record, and anything before it still hanging off the root.
                elem.clear(keep_tail=False)
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
            if not checked:
                _check_root(context.root, name)
        except etree.XMLSyntaxError as exc:
            raise PubmedXMLError(
                f"{name}: not complete PubMed XML after {seen} record(s): {exc.msg or exc}; "
                "the response was cut short or is not XML — retry the request"
            ) from exc
        except (OSError, EOFError, zlib.error) as exc:
            raise PubmedXMLError(
                f"{name}: could not read PubMed XML after {seen} record(s): {exc}; "
                "the gzip stream is damaged or was cut short — retry or re-download it"
            ) from exc
    finally:
        if owned:
            stream.close()


def _check_root(root: etree._Element | None, name: str) -> None:
    if root is None:
        raise PubmedXMLError(f"{name}: empty document, expected PubMed XML — retry the request")
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag in _ROOTS:
        return
    error = root.findtext(".//ERROR")
    detail = f"E-utilities said: {clean(error)}" if error else f"root element is <{tag}>"
    raise PubmedXMLError(f"{name}: not PubMed XML ({detail}); check the request and retry")


def parse_articles(source: Source) -> list[Article]:
    """Just the articles (deletions and unreadable records dropped)."""
    return [event for event in parse(source) if isinstance(event, Article)]


def _record(elem: etree._Element) -> Article | ParseProblem:
    tag = elem.tag
    if tag == "PubmedBookArticle":
        doc = elem.find("BookDocument")
        pmid = clean(doc.findtext("PMID")) if doc is not None else ""
    else:
        citation = elem if tag == "MedlineCitation" else elem.find("MedlineCitation")
        pmid = clean(citation.findtext("PMID")) if citation is not None else ""
    if not pmid or not pmid.isdigit():
        return ParseProblem(pmid or None, f"{tag} without a usable PMID ({pmid or 'missing'}); skipped")
    try:
        if tag == "PubmedBookArticle":
            assert doc is not None
            return _book(elem, doc, pmid)
        assert citation is not None
        return _citation(citation, elem.find("PubmedData"), pmid)
    except _Unusable as exc:
        return ParseProblem(pmid, str(exc))
    except (ValueError, TypeError) as exc:
        return ParseProblem(pmid, f"{tag} {pmid} could not be read: {exc}; skipped")


class _Unusable(Exception):
    """A record without what litgrade needs (title); reported as a ParseProblem."""


# -- field builders ------------------------------------------------------------------------------


def _text(parent: etree._Element | None, path: str) -> str | None:
    if parent is None:
        return None
    return clean(parent.findtext(path)) or None


def _version(pmid_el: etree._Element | None) -> int:
    raw = pmid_el.get("Version", "1") if pmid_el is not None else "1"
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def _sections(abstract: etree._Element | None) -> tuple[AbstractSection, ...]:
    if abstract is None:
        return ()
    out = []
    for part in abstract.iterfind("AbstractText"):
        text, html = render(part)
        label = clean(part.get("Label")) or None
        if not text and not label:
            continue
        out.append(AbstractSection(text=text, html=html, label=label, category=part.get("NlmCategory")))
    return tuple(out)


def _other_abstracts(citation: etree._Element) -> tuple[OtherAbstract, ...]:
    out = []
    for other in citation.iterfind("OtherAbstract"):
        sections = _sections(other)
        if sections:
            out.append(OtherAbstract(sections, type=other.get("Type"), language=other.get("Language")))
    return tuple(out)


def _orcid(author: etree._Element) -> str | None:
    for ident in author.iterfind("Identifier"):
        if (ident.get("Source") or "").upper() == "ORCID":
            value = clean(ident.text)
            if value:
                # "https://orcid.org/0000-0002-1825-0097", "http://orcid.org/…" or bare → bare id
                return value.rstrip("/").rpartition("/")[2]
    return None


def _authors(author_list: etree._Element | None) -> tuple[Author, ...]:
    if author_list is None:
        return ()
    out = []
    for author in author_list.iterfind("Author"):
        affiliations = [plain(a) for a in author.iterfind("AffiliationInfo/Affiliation")]
        affiliations += [plain(a) for a in author.iterfind("Affiliation")]  # pre-2015 DTDs
        collective = plain(author.find("CollectiveName")) or None
        item = Author(
            last_name=_text(author, "LastName"),
            fore_name=_text(author, "ForeName") or _text(author, "FirstName"),
            initials=_text(author, "Initials"),
            suffix=_text(author, "Suffix"),
            collective_name=collective,
            orcid=_orcid(author),
            affiliations=tuple(a for a in affiliations if a),
        )
        if item.last_name or item.collective_name or item.fore_name:
            out.append(item)
    return tuple(out)


def _pub_date(date: etree._Element | None) -> PubDate:
    if date is None:
        return PubDate()
    return pub_date(
        year=date.findtext("Year"),
        month=date.findtext("Month"),
        day=date.findtext("Day"),
        season=date.findtext("Season"),
        medline_date=date.findtext("MedlineDate"),
    )


def _iso(date: etree._Element | None) -> str | None:
    if date is None:
        return None
    return iso_date(date.findtext("Year"), date.findtext("Month"), date.findtext("Day"))


def _pages(article: etree._Element) -> str | None:
    pagination = article.find("Pagination")
    if pagination is None:
        return None
    medline = _text(pagination, "MedlinePgn")
    if medline:
        return medline
    start, end = _text(pagination, "StartPage"), _text(pagination, "EndPage")
    if start and end:
        return f"{start}-{end}"
    return start


def _ids(*lists: etree._Element | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for id_list in lists:
        if id_list is None:
            continue
        for ident in id_list.iterfind("ArticleId"):
            kind = (ident.get("IdType") or "").lower()
            value = clean(ident.text)
            if kind and value:
                found.setdefault(kind, value)
    return found


def _elocations(parent: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for loc in parent.iterfind("ELocationID"):
        if loc.get("ValidYN", "Y") != "Y":
            continue
        kind = (loc.get("EIdType") or "").lower()
        value = clean(loc.text)
        if kind and value:
            found.setdefault(kind, value)
    return found


def _pmc(value: str | None) -> str | None:
    if not value:
        return None
    return value if value.upper().startswith("PMC") else f"PMC{value}"


def _publication_types(parent: etree._Element, path: str) -> tuple[PublicationType, ...]:
    return tuple(
        PublicationType(name=name, ui=p.get("UI")) for p in parent.iterfind(path) if (name := clean(p.text))
    )


def _yes(el: etree._Element) -> bool:
    return el.get("MajorTopicYN") == "Y"


def _mesh(citation: etree._Element) -> tuple[MeshHeading, ...]:
    out = []
    for heading in citation.iterfind("MeshHeadingList/MeshHeading"):
        descriptor = heading.find("DescriptorName")
        name = clean(descriptor.text) if descriptor is not None else ""
        if descriptor is None or not name:
            continue
        qualifiers = tuple(
            MeshQualifier(name=q_name, ui=q.get("UI"), major=_yes(q))
            for q in heading.iterfind("QualifierName")
            if (q_name := clean(q.text))
        )
        out.append(MeshHeading(name, ui=descriptor.get("UI"), major=_yes(descriptor), qualifiers=qualifiers))
    return tuple(out)


def _chemicals(citation: etree._Element) -> tuple[Chemical, ...]:
    out = []
    for chem in citation.iterfind("ChemicalList/Chemical"):
        substance = chem.find("NameOfSubstance")
        name = clean(substance.text) if substance is not None else ""
        if substance is None or not name:
            continue
        registry = _text(chem, "RegistryNumber")
        out.append(Chemical(name, ui=substance.get("UI"), registry_number=registry))
    return tuple(out)


def _keywords(parent: etree._Element) -> tuple[str, ...]:
    return tuple(k for k in (plain(e) for e in parent.iterfind("KeywordList/Keyword")) if k)


def _languages(parent: etree._Element) -> tuple[str, ...]:
    return tuple(v for v in (clean(e.text) for e in parent.iterfind("Language")) if v)


def _grants(parent: etree._Element | None) -> tuple[Grant, ...]:
    if parent is None:
        return ()
    out = []
    for grant in parent.iterfind("GrantList/Grant"):
        item = Grant(
            grant_id=_text(grant, "GrantID"), agency=_text(grant, "Agency"), country=_text(grant, "Country")
        )
        if item.grant_id or item.agency:
            out.append(item)
    return tuple(out)


def _comments(citation: etree._Element) -> tuple[CommentCorrection, ...]:
    return tuple(
        CommentCorrection(
            ref_type=c.get("RefType", ""),
            pmid=_text(c, "PMID"),
            source=_text(c, "RefSource"),
        )
        for c in citation.iterfind("CommentsCorrectionsList/CommentsCorrections")
        if c.get("RefType")
    )


def _title(article: etree._Element | None, pmid: str, *fallbacks: etree._Element | None) -> tuple[str, str]:
    text, html = render(article.find("ArticleTitle") if article is not None else None)
    for fallback in fallbacks:
        if text:
            break
        text, html = render(fallback)
    if not text:
        raise _Unusable(f"PMID {pmid} has no title; skipped")
    return text, html


def _citation(citation: etree._Element, pubmed_data: etree._Element | None, pmid: str) -> Article:
    article = citation.find("Article")
    if article is None:
        raise _Unusable(f"PMID {pmid} has no Article element; skipped")
    vernacular = article.find("VernacularTitle")
    title, title_html = _title(article, pmid, vernacular)
    journal_el = article.find("Journal")
    issue = journal_el.find("JournalIssue") if journal_el is not None else None
    abstract = article.find("Abstract")
    ids = _ids(pubmed_data.find("ArticleIdList") if pubmed_data is not None else None)
    locations = _elocations(article)
    return Article(
        pmid=pmid,
        version=_version(citation.find("PMID")),
        title=title,
        title_html=title_html,
        vernacular_title=plain(vernacular) or None,
        abstract=_sections(abstract),
        other_abstracts=_other_abstracts(citation),
        copyright=_text(abstract, "CopyrightInformation"),
        authors=_authors(article.find("AuthorList")),
        journal=Journal(
            title=_text(journal_el, "Title"),
            iso_abbreviation=_text(journal_el, "ISOAbbreviation"),
            issn=_text(journal_el, "ISSN"),
            volume=_text(issue, "Volume"),
            issue=_text(issue, "Issue"),
            pages=_pages(article),
        ),
        pub_date=_pub_date(issue.find("PubDate") if issue is not None else None),
        article_date=_iso(article.find("ArticleDate")),
        date_revised=_iso(citation.find("DateRevised")),
        doi=ids.get("doi") or locations.get("doi"),
        pmc=_pmc(ids.get("pmc")),
        pii=ids.get("pii") or locations.get("pii"),
        publication_types=_publication_types(article, "PublicationTypeList/PublicationType"),
        mesh=_mesh(citation),
        chemicals=_chemicals(citation),
        keywords=_keywords(citation),
        languages=_languages(article),
        grants=_grants(article),
        status=citation.get("Status"),
        comments_corrections=_comments(citation),
    )


def _book(elem: etree._Element, doc: etree._Element, pmid: str) -> Article:
    book = doc.find("Book")
    book_title = book.find("BookTitle") if book is not None else None
    title, title_html = _title(doc, pmid, doc.find("VernacularTitle"), book_title)
    # Editors edit the book; they did not write this chapter.
    authors = next(
        (lst for lst in doc.iterfind("AuthorList") if lst.get("Type", "authors") != "editors"), None
    )
    if authors is None and book is not None:
        authors = next(
            (lst for lst in book.iterfind("AuthorList") if lst.get("Type", "authors") != "editors"), None
        )
    abstract = doc.find("Abstract")
    book_data = elem.find("PubmedBookData")
    ids = _ids(doc.find("ArticleIdList"), book_data.find("ArticleIdList") if book_data is not None else None)
    locations = _elocations(doc)
    return Article(
        pmid=pmid,
        version=_version(doc.find("PMID")),
        title=title,
        title_html=title_html,
        vernacular_title=plain(doc.find("VernacularTitle")) or None,
        abstract=_sections(abstract),
        copyright=_text(abstract, "CopyrightInformation"),
        authors=_authors(authors),
        journal=Journal(
            title=plain(book_title) or None,
            volume=_text(book, "Volume"),
            pages=_pages(doc),
        ),
        pub_date=_pub_date(book.find("PubDate") if book is not None else None),
        article_date=_iso(doc.find("ContributionDate")),
        date_revised=_iso(doc.find("DateRevised")),
        doi=ids.get("doi") or locations.get("doi"),
        pmc=_pmc(ids.get("pmc")),
        pii=ids.get("pii") or locations.get("pii"),
        publication_types=_publication_types(doc, "PublicationType"),
        keywords=_keywords(doc),
        languages=_languages(doc),
        grants=_grants(doc),
        is_book=True,
    )
